#include "core/cpu.h"

#include <cstdlib>
#include <string_view>

namespace lpt {

namespace {
// The same cap that limits oneDNN limits our kernels, so one variable tests the AVX2 paths.
bool isa_capped_at_avx2() {
  for (const char* var : {"LPT_MAX_ISA", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"}) {
    const char* v = std::getenv(var);
    if (!v) continue;
    std::string_view s(v);
    if (s.starts_with("AVX2") || s.starts_with("avx2") || s == "SSE41" || s == "sse41") return true;
  }
  return false;
}
}  // namespace

bool cpu_has_avx512() {
  static const bool has = !isa_capped_at_avx2() && __builtin_cpu_supports("avx512f") &&
                          __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                          __builtin_cpu_supports("avx512dq");
  return has;
}

}  // namespace lpt
