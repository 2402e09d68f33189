#include "core/ops/gemm_lanes.h"

#include "core/onednn/context.h"

namespace lpt::ops {

const char* gemm_name(Gemm g) {
  switch (g) {
    case Gemm::forward: return "forward";
    case Gemm::backward_data: return "backward_data";
    case Gemm::backward_weights: return "backward_weights";
  }
  return "?";
}

void GemmLanes::record(Gemm g, const std::string& impl, bool ran_bf16, bool below_normal) const {
  if (!runs) return;
  GemmRun& r = (*runs)[int(g)];
  r.impl = impl;
  r.bf16 = ran_bf16;
  ++(ran_bf16 ? r.bf16_calls : r.fp32_calls);
  if (below_normal) ++r.below_normal_calls;
}

void GemmLanes::record_no_kernel(Gemm g, const std::string& impl) const {
  if (runs) (*runs)[int(g)].no_kernel = impl;
}

bool is_reference_impl(const std::string& impl) { return impl.find("ref") != std::string::npos; }

std::string why_no_bf16_gemms() {
  const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
  if (isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx) return "";
  return "oneDNN's ISA on this CPU (" + onednn::effective_isa() + ") has no bf16 dot products (AVX512-BF16 or AMX)";
}

}  // namespace lpt::ops
