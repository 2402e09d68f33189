#include <iostream>

#include "experiments/cli/commands.h"
#include "experiments/experiment_config.h"

namespace lpt::cli {

void add_config_keys_command(CLI::App& app, int& exit_code) {
  CLI::App* cmd = app.add_subcommand("config-keys", "List every experiment config key with type, default and meaning");
  cmd->callback([&exit_code] {
    std::cout << describe_schema(experiment_schema());
    exit_code = 0;
  });
}

}  // namespace lpt::cli
