#include <filesystem>
#include <iostream>

#include "core/threads.h"
#include "experiments/checkpoint.h"
#include "experiments/cli/commands.h"
#include "experiments/data_setup.h"
#include "experiments/evaluate.h"
#include "experiments/experiment_config.h"
#include "experiments/export.h"
#include "experiments/quantization_setup.h"
#include "experiments/run_files.h"

namespace lpt::cli {

namespace {
struct ExportArgs {
  std::string target, checkpoint, out;
  std::vector<std::string> overrides;
};

// What is exported: the checkpoint, the config it is exported under (a run directory's or a
// checkpoint's own, or, for PTQ, an experiment config given with --checkpoint), and its epoch.
struct Source {
  std::string checkpoint;
  json config;
  int64_t epoch;
};

Source source_of(const ExportArgs& a) {
  const bool is_run = std::filesystem::is_directory(a.target);
  LPT_CHECK(!is_run || a.checkpoint.empty(), "export: '", a.target, "' is a run directory; it names its own checkpoint");
  const std::string ckpt = is_run ? a.target + "/" + run_files::checkpoint
                           : a.checkpoint.empty() ? a.target
                                                  : a.checkpoint;
  const LoadedCheckpoint header = peek_checkpoint(ckpt);
  const json config = a.checkpoint.empty() ? resolve_experiment(header.config, ckpt, a.overrides)
                                           : load_experiment(a.target, a.overrides);
  return {ckpt, config, header.progress.epoch};
}

void run_export(const ExportArgs& a) {
  const auto [ckpt, config, epoch] = source_of(a);
  std::error_code ec;
  LPT_CHECK(!std::filesystem::equivalent(ckpt, a.out, ec), "export: --out '", a.out,
            "' is the checkpoint being exported; write the export to another file");
  set_num_threads(config["threads"]);
  const DataSplits data = make_data(config);
  auto model = make_experiment_model(config, data, false);
  // The formats and frozen clip values `lpt eval` would evaluate the checkpoint with.
  apply_quantization(*model, config, config["training"]["epochs"].get<int64_t>() - 1);
  load_model_weights(ckpt, *model);
  if (const int64_t batches = calibrate_if_needed(*model, config, data))
    std::cout << "export: calibrated activation clip values on " << batches << " training batches (PTQ)\n";
  const std::vector<ExportedTensor> rows = write_export(a.out, *model, config, ckpt, epoch);
  std::cout << size_report(rows) << "export: wrote " << a.out << "\n";
}
}  // namespace

void add_export_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<ExportArgs>();
  CLI::App* cmd = app.add_subcommand(
      "export", "Write a run's trained weights in their low-precision encodings (codes and scales) to one HDF5 file "
                "that `lpt eval --weights` evaluates alone; prints the size of every tensor");
  cmd->add_option("target", args->target, "run directory, checkpoint file, or experiment config (with --checkpoint)")
      ->required();
  cmd->add_option("--checkpoint", args->checkpoint, "checkpoint to export under the config TARGET (e.g. PTQ of an fp32 run)");
  cmd->add_option("--out", args->out, "output HDF5 file")->required();
  cmd->add_option("--set", args->overrides, "override one config key (repeatable)");
  cmd->callback([args, &exit_code] {
    run_export(*args);
    exit_code = 0;
  });
}

}  // namespace lpt::cli
