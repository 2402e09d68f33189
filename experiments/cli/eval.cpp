#include <filesystem>
#include <iostream>

#include "core/hdf5.h"
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
struct EvalArgs {
  std::string target, checkpoint, weights, logits;
  std::vector<std::string> overrides;
};

// The model of a config with the formats of its last epoch (the Accuracy Booster's boosted one),
// before any weights are loaded.
std::shared_ptr<Module> quantized_model(const json& config, const DataSplits& data) {
  auto model = make_experiment_model(config, data, false);
  apply_quantization(*model, config, config["training"]["epochs"].get<int64_t>() - 1);
  return model;
}

void run_eval(const EvalArgs& a) {
  json config, out;
  std::shared_ptr<Module> model;
  std::optional<DataSplits> data;
  if (!a.weights.empty()) {  // an export alone: its config, its weights, its frozen clip values
    LPT_CHECK(a.target.empty() && a.checkpoint.empty(),
              "eval: --weights evaluates an export alone; give no run directory, config or --checkpoint with it");
    config = resolve_experiment(export_config(a.weights), a.weights, a.overrides);
    set_num_threads(config["threads"]);
    data = make_data(config);
    model = quantized_model(config, *data);
    load_export(a.weights, *model);
    out["weights"] = a.weights;
  } else {
    LPT_CHECK(!a.target.empty(), "eval: name a run directory, a config with --checkpoint, or an export with --weights");
    const bool is_run = std::filesystem::is_directory(a.target);
    config = load_experiment(is_run ? a.target + "/" + run_files::config : a.target, a.overrides);
    std::string ckpt = a.checkpoint;
    if (ckpt.empty()) {
      LPT_CHECK(is_run, "eval: '", a.target, "' is a config: name the weights with --checkpoint FILE");
      ckpt = a.target + "/" + run_files::checkpoint;
    }
    set_num_threads(config["threads"]);
    data = make_data(config);
    model = quantized_model(config, *data);
    load_model_weights(ckpt, *model);  // a quantized run's checkpoint holds its frozen clip values
    out["checkpoint"] = ckpt;
    if (const int64_t batches = calibrate_if_needed(*model, config, *data)) out["calibrated_batches"] = batches;
  }
  if (quantization_enabled(config)) out["formats"] = config["quantization"];
  Tensor logits;
  out.update(evaluate_splits(*model, *data, config["training"]["eval_batch_size"], a.logits.empty() ? nullptr : &logits));
  if (!a.logits.empty()) h5::write_atomically(a.logits, [&](h5::File& f) { f.write("test_logits", logits); });
  std::cout << out.dump(2) << "\n";
}
}  // namespace

void add_eval_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<EvalArgs>();
  CLI::App* cmd = app.add_subcommand("eval", "Evaluate a run's checkpoint (or a config with --checkpoint, or an "
                                             "export with --weights) on the validation and test sets; prints JSON");
  cmd->add_option("target", args->target, "run directory or experiment config (JSON)");
  cmd->add_option("--checkpoint", args->checkpoint, "checkpoint file (default: RUN_DIR/checkpoint.h5)");
  cmd->add_option("--weights", args->weights, "an export (lpt export) to evaluate alone, with the config it holds");
  cmd->add_option("--logits", args->logits, "also write the test set's logits to this HDF5 file (test_logits)");
  cmd->add_option("--set", args->overrides, "override one config key (repeatable)");
  cmd->callback([args, &exit_code] {
    run_eval(*args);
    exit_code = 0;
  });
}

}  // namespace lpt::cli
