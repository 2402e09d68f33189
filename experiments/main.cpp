// lpt: the command-line entry point. Each subcommand lives in experiments/cli/.
#include <CLI/CLI.hpp>
#include <iostream>

#include "core/error.h"

int main(int argc, char** argv) {
  CLI::App app{"lpt: low-precision training of neural networks on CPU"};
  app.require_subcommand(1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const lpt::Error& e) {
    std::cerr << "lpt: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
