#include "experiments/build_info.h"

#include <dnnl.hpp>

#include "git_commit.h"  // generated at build time

namespace lpt {
BuildInfo build_info() {
  const dnnl_version_t* v = dnnl_version();
  return {LPT_GIT_COMMIT, LPT_COMPILER, LPT_CXX_FLAGS,
          std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch) + " (" +
              v->hash + ")"};
}
}  // namespace lpt
