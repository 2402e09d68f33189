#pragma once
// What this binary was built from, for run manifests.
#include <string>

namespace lpt {
struct BuildInfo {
  std::string commit, compiler, flags, onednn_version;
};
BuildInfo build_info();
}  // namespace lpt
