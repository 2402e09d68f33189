#include <filesystem>

#include "experiments/cli/commands.h"
#include "experiments/distributed.h"
#include "experiments/experiment_config.h"
#include "experiments/run_files.h"
#include "experiments/trainer.h"

namespace lpt::cli {

void add_train_command(CLI::App& app, int& exit_code) {
  struct Args {
    std::string config;
    std::vector<std::string> overrides;
    std::string resume;
    int64_t stop_after_epochs = 0;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("train", "Train the experiment a JSON config describes");
  cmd->add_option("config", args->config, "experiment config (JSON); optional with --resume");
  cmd->add_option("--set", args->overrides, "override one config key: --set optimizer.lr=0.05 (repeatable)");
  cmd->add_option("--resume", args->resume, "continue the run in this directory from its checkpoint");
  cmd->add_option("--stop-after-epochs", args->stop_after_epochs,
                  "write a checkpoint and stop once this many epochs are done (split a run into jobs)")
      ->check(CLI::NonNegativeNumber);
  cmd->callback([args, &exit_code] {
    TrainRequest r;
    if (!args->resume.empty()) {
      // The run's own resolved config, unless another is named; --set still applies.
      const std::string source = args->config.empty() ? args->resume + "/" + run_files::config : args->config;
      // Data-parallel: rank 0 reads the run's config and sends it (no shared file system needed).
      const std::string local =
          args->config.empty() ? share_file_from_rank0(source, dist::World::get()) : source;
      try {
        r.config = load_experiment(local, args->overrides);
      } catch (...) {
        if (local != source) std::filesystem::remove(local);
        throw;
      }
      if (local != source) std::filesystem::remove(local);
      r.run_dir = args->resume;
      r.resume = true;
    } else {
      if (args->config.empty()) throw CLI::RequiredError("config (or --resume RUN_DIR)");
      r.config = load_experiment(args->config, args->overrides);
      r.run_dir = run_directory(r.config);
    }
    r.stop_after_epochs = args->stop_after_epochs;
    exit_code = train(r);
  });
}

}  // namespace lpt::cli
