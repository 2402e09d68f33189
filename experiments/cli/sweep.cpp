#include "experiments/cli/commands.h"
#include "experiments/sweep.h"

namespace lpt::cli {

void add_sweep_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<sweep::Options>();
  CLI::App* cmd = app.add_subcommand(
      "sweep", "Run a grid of experiments (a base config and axes of values) and gather one table and one plot");
  cmd->add_option("grid", o->grid, "grid file (JSON): base config, axes, plot")->required();
  cmd->add_option("--set", o->overrides, "override one key of the base config: --set training.epochs=1 (repeatable)");
  cmd->add_flag("--dry-run", o->dry_run, "list the runs, their directories and status; run nothing");
  cmd->add_option("--parallel", o->parallel, "runs at a time; each gets threads / parallel threads")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--threads", o->threads, "threads of the whole sweep (default: the base config's threads)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--x", o->x,
                  "the plot's x: bits_per_value (the weights' format), activation_bits, or a config key (default: "
                  "the grid's plot.x, else bits_per_value for quantized grids, else the first axis)");
  cmd->add_option("--reference", o->reference, "a run directory whose final test accuracy is the plot's reference line");
  cmd->add_option("--plot", o->plot, "the plot's file, NAME.svg or NAME.png (default: results.svg in the sweep's directory)");
  cmd->callback([o, &exit_code] { exit_code = sweep::run_sweep(*o); });
}

}  // namespace lpt::cli
