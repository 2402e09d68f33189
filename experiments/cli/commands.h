#pragma once
// The lpt subcommands. Each registers itself on the app; `exit_code` receives its exit status.
#include <CLI/CLI.hpp>

namespace lpt::cli {

void add_train_command(CLI::App& app, int& exit_code);
void add_eval_command(CLI::App& app, int& exit_code);
void add_export_command(CLI::App& app, int& exit_code);
void add_report_command(CLI::App& app, int& exit_code);
void add_config_keys_command(CLI::App& app, int& exit_code);
void add_sweep_command(CLI::App& app, int& exit_code);

}  // namespace lpt::cli
