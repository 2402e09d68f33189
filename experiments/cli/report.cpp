#include <iostream>

#include "experiments/cli/commands.h"
#include "experiments/report.h"

namespace lpt::cli {

void add_report_command(CLI::App& app, int& exit_code) {
  struct Args {
    std::vector<std::string> runs;
    std::string out = "report.svg";
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("report", "Plot loss and accuracy curves of one or several runs (SVG)");
  cmd->add_option("runs", args->runs, "run directories")->required();
  cmd->add_option("-o,--out", args->out, "output image (SVG)")->capture_default_str();
  cmd->callback([args, &exit_code] {
    write_report_svg(args->runs, args->out);
    std::cout << "wrote " << args->out << "\n";
    exit_code = 0;
  });
}

}  // namespace lpt::cli
