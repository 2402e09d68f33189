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
  CLI::App* cmd = app.add_subcommand("report", "Plot loss, accuracy and per-layer quantization diagnostics of runs");
  cmd->add_option("runs", args->runs, "run directories")->required();
  cmd->add_option("-o,--out", args->out, "output image: NAME.svg or NAME.png")->capture_default_str();
  cmd->callback([args, &exit_code] {
    const std::vector<std::string> panels = write_report(args->runs, args->out);
    std::cout << "wrote " << args->out << ":";
    for (size_t i = 0; i < panels.size(); ++i) std::cout << (i ? "; " : " ") << panels[i];
    std::cout << "\n";
    exit_code = 0;
  });
}

}  // namespace lpt::cli
