#include <filesystem>
#include <iostream>

#include "core/threads.h"
#include "experiments/checkpoint.h"
#include "experiments/cli/commands.h"
#include "experiments/data_setup.h"
#include "experiments/evaluate.h"
#include "experiments/experiment_config.h"
#include "experiments/quantization_setup.h"
#include "experiments/run_files.h"

namespace lpt::cli {

void add_eval_command(CLI::App& app, int& exit_code) {
  struct Args {
    std::string target;
    std::string checkpoint;
    std::vector<std::string> overrides;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("eval", "Evaluate a run's checkpoint (or a config with --checkpoint) on the "
                                             "validation and test sets; prints JSON");
  cmd->add_option("target", args->target, "run directory or experiment config (JSON)")->required();
  cmd->add_option("--checkpoint", args->checkpoint, "checkpoint file (default: RUN_DIR/checkpoint.h5)");
  cmd->add_option("--set", args->overrides, "override one config key (repeatable)");
  cmd->callback([args, &exit_code] {
    const bool is_run = std::filesystem::is_directory(args->target);
    const std::string config_path = is_run ? args->target + "/" + run_files::config : args->target;
    const json config = load_experiment(config_path, args->overrides);
    std::string ckpt = args->checkpoint;
    if (ckpt.empty()) {
      LPT_CHECK(is_run, "eval: '", args->target, "' is a config: name the weights with --checkpoint FILE");
      ckpt = args->target + "/" + run_files::checkpoint;
    }
    set_num_threads(config["threads"]);
    const DataSplits data = make_data(config);
    auto model = make_experiment_model(config, data, false);
    // The formats of the last epoch (the Accuracy Booster's boosted one), before loading: a
    // quantized run's checkpoint holds its quantizers' frozen clip values.
    apply_quantization(*model, config, config["training"]["epochs"].get<int64_t>() - 1);
    load_model_weights(ckpt, *model);
    json out = {{"checkpoint", ckpt}};
    if (has_quantized_layers(*model)) {
      out["formats"] = config["quantization"];
      if (quantizer_state(*model).empty()) {  // an fp32 checkpoint under formats: PTQ
        const int64_t batches = config["quantization"]["calibration_batches"];
        calibrate(*model, data, batches, config["training"]["batch_size"], config["seed"]);
        out["calibrated_batches"] = batches;
      }
    }
    out.update(evaluate_splits(*model, data, config["training"]["eval_batch_size"]));
    std::cout << out.dump(2) << "\n";
    exit_code = 0;
  });
}

}  // namespace lpt::cli
