// lpt: the command-line entry point. Each subcommand lives in experiments/cli/.
#include <CLI/CLI.hpp>
#include <iostream>

#include "core/error.h"
#include "experiments/cli/commands.h"
#include "experiments/cli/quantize.h"

int main(int argc, char** argv) {
  CLI::App app{"lpt: low-precision training of neural networks on CPU"};
  app.require_subcommand(1);
  int exit_code = 0;
  lpt::cli::add_train_command(app, exit_code);
  lpt::cli::add_eval_command(app, exit_code);
  lpt::cli::add_export_command(app, exit_code);
  lpt::cli::add_report_command(app, exit_code);
  lpt::cli::add_quantize_command(app, exit_code);
  lpt::cli::add_config_keys_command(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const lpt::Error& e) {
    std::cerr << "lpt: error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "lpt: error: " << e.what() << "\n";
    return 1;
  }
  return exit_code;
}
