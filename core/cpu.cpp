#include "core/cpu.h"

#include <cctype>
#include <cstdlib>

#include "core/error.h"

namespace lpt {

namespace {
std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
std::string env(const char* var) {
  const char* v = std::getenv(var);
  return v ? lower(v) : "";
}
}  // namespace

std::string isa_cap() {
  const std::string lpt = env("LPT_MAX_ISA");
  std::string onednn = env("ONEDNN_MAX_CPU_ISA");
  if (onednn.empty()) onednn = env("DNNL_MAX_CPU_ISA");
  LPT_CHECK(lpt.empty() || onednn.empty() || lpt == onednn, "LPT_MAX_ISA=", lpt, " and ONEDNN_MAX_CPU_ISA=", onednn,
            " disagree: set one of them");
  return lpt.empty() ? onednn : lpt;
}

bool cpu_has_avx512() {
  // The cap that limits oneDNN limits our kernels, so one variable tests the AVX2 paths.
  static const bool capped = [] {
    const std::string cap = isa_cap();
    return cap == "sse41" || cap == "avx" || cap.starts_with("avx2");
  }();
  static const bool has = !capped && __builtin_cpu_supports("avx512f") &&
                          __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                          __builtin_cpu_supports("avx512dq");
  return has;
}

}  // namespace lpt
