#include "experiments/manifest.h"

#include <chrono>
#include <ctime>
#include <unistd.h>

#include "core/cpu.h"
#include "core/onednn/context.h"
#include "experiments/build_info.h"

namespace lpt {

json make_manifest(int threads) {
  const BuildInfo b = build_info();
  json primitives = json::array();
  for (const auto& [what, impl] : onednn::recorded_impls()) primitives.push_back({{"primitive", what}, {"impl", impl}});
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char when[64];
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return {{"commit", b.commit},
          {"compiler", b.compiler},
          {"flags", b.flags},
          {"onednn_version", b.onednn_version},
          {"onednn_isa", onednn::effective_isa()},
          {"isa_cap", isa_cap().empty() ? "none" : isa_cap()},
          {"lpt_kernels", cpu_has_avx512() ? "avx512" : "avx2"},
          {"threads", threads},
          {"host", host},
          {"written_at", when},
          {"primitives", primitives}};
}

}  // namespace lpt
