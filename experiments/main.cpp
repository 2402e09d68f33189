// lpt: the command-line entry point. Each subcommand lives in experiments/cli/.
#include <CLI/CLI.hpp>
#include <iostream>

#include "core/dist/world.h"
#include "core/error.h"
#include "experiments/cli/commands.h"
#include "experiments/cli/quantize.h"

namespace {

// Under mpirun an error on one rank must end the whole job, not leave the other ranks waiting in a
// collective: MPI_Abort with status 1, after a message naming the rank. Without mpirun, status 1.
int fail_with(const std::string& what) {
  lpt::dist::World& world = lpt::dist::World::get();
  if (!lpt::dist::launched_by_mpirun()) {
    std::cerr << "lpt: error: " << what << "\n";
    return 1;
  }
  world.abort(1, "lpt: rank " + std::to_string(world.rank()) + " of " + std::to_string(world.size()) +
                     ": error: " + what);
}

}  // namespace

int main(int argc, char** argv) {
  if (lpt::dist::launched_by_mpirun()) {
    // Only `lpt train` is data-parallel: any other command would run N times over the same files.
    const lpt::dist::World& world = lpt::dist::World::get();
    if (world.distributed() && (argc < 2 || std::string(argv[1]) != "train"))
      return fail_with("under mpirun with more than one process only `lpt train` runs (data-parallel); run other "
                       "commands without mpirun");
  }
  CLI::App app{"lpt: low-precision training of neural networks on CPU"};
  app.require_subcommand(1);
  int exit_code = 0;
  lpt::cli::add_train_command(app, exit_code);
  lpt::cli::add_eval_command(app, exit_code);
  lpt::cli::add_export_command(app, exit_code);
  lpt::cli::add_report_command(app, exit_code);
  lpt::cli::add_quantize_command(app, exit_code);
  lpt::cli::add_config_keys_command(app, exit_code);
  lpt::cli::add_sweep_command(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    lpt::dist::World::get().finalize();  // --help under mpirun: a clean exit, not an MPI error
    return app.exit(e);
  } catch (const lpt::Error& e) {
    return fail_with(e.what());
  } catch (const std::exception& e) {
    return fail_with(e.what());
  }
  lpt::dist::World::get().finalize();
  return exit_code;
}
