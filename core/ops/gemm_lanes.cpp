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

const char* lane_name(Lane l) {
  switch (l) {
    case Lane::fp32: return "fp32";
    case Lane::bf16: return "bf16";
    case Lane::int8: return "int8";
  }
  return "?";
}

std::string Int8Epilogue::label() const {
  static const char* const acts[] = {"", " relu", " relu6"};
  return std::string(shift ? " +shift" : "") + (relu ? " relu" : "") + (residual ? " +residual" : "") +
         acts[int(act)];
}

void GemmLanes::record(Gemm g, const std::string& impl, Lane ran, bool below_normal) const {
  if (!runs) return;
  GemmRun& r = (*runs)[int(g)];
  r.impl = impl;
  r.lane = ran;
  ++(ran == Lane::bf16 ? r.bf16_calls : ran == Lane::int8 ? r.int8_calls : r.fp32_calls);
  if (below_normal) ++r.below_normal_calls;
}

void GemmLanes::record_no_kernel(Gemm g, const std::string& impl) const {
  if (runs) (*runs)[int(g)].no_kernel = impl;
}

void GemmLanes::freeze_weights(bool on) { packs = on ? std::make_shared<onednn::WeightPacks>() : nullptr; }

bool is_reference_impl(const std::string& impl) { return impl.find("ref") != std::string::npos; }

namespace {
// y = q·scale, one scale per run of n/scales.size() elements (no division per element).
template <class T>
void scale_int8(const T* q, float* y, int64_t n, const std::vector<float>& scales) {
  if (scales.size() == 1) {
    const float s = scales[0];
#pragma omp parallel for simd schedule(static)
    for (int64_t m = 0; m < n; ++m) y[m] = float(q[m]) * s;
    return;
  }
  const int64_t per = n / int64_t(scales.size());
#pragma omp parallel for schedule(static)
  for (size_t g = 0; g < scales.size(); ++g) {
    const float s = scales[g];
    const int64_t b = int64_t(g) * per;
#pragma omp simd
    for (int64_t m = b; m < b + per; ++m) y[m] = float(q[m]) * s;
  }
}
}  // namespace

Tensor int8_to_f32(const Int8Copy& c) {
  const Tensor& q = c.data;
  LPT_CHECK(q.dtype() == DType::s8 || q.dtype() == DType::u8, "int8_to_f32: expected s8 or u8, got ", dtype_name(q.dtype()));
  LPT_CHECK(c.scales.size() == 1 || (q.is_contiguous() && int64_t(c.scales.size()) == q.shape()[0]),
            "int8_to_f32: ", c.scales.size(), " scales for ", q.describe(),
            ", expected one, or one per index of dimension 0 of a contiguous tensor");
  Tensor y = Tensor::empty_strided(q.shape(), q.strides());
  if (q.dtype() == DType::s8) scale_int8(q.data<int8_t>(), y.data<float>(), q.numel(), c.scales);
  else scale_int8(q.data<uint8_t>(), y.data<float>(), q.numel(), c.scales);
  return y;
}

Tensor codebook_to_f32(const CodebookCopy& c) {
  const Tensor& q = c.codes;
  LPT_CHECK(q.dtype() == DType::u8 && q.is_dense() && c.codebook && c.codebook->size() <= 256,
            "codebook_to_f32: expected dense u8 codes and at most 256 values, got ", q.describe());
  Tensor y = Tensor::empty_strided(q.shape(), q.strides());
  const uint8_t* codes = q.data<uint8_t>();
  float* out = y.data<float>();
  std::array<float, 256> book{};  // codes beyond the codebook cannot occur; +0 keeps reads in bounds
  std::copy(c.codebook->begin(), c.codebook->end(), book.begin());
  const int64_t n = q.numel();
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = book[codes[i]];
  return y;
}

Tensor int8_output_scales(const Int8Copy& a, const Int8Copy& b, int64_t out_channels) {
  LPT_CHECK(a.scales.size() == 1 && (b.scales.size() == 1 || int64_t(b.scales.size()) == out_channels),
            "int8 GEMM: ", a.scales.size(), " input scales and ", b.scales.size(), " weight scales for ", out_channels,
            " output channels, expected one and one or one per output channel");
  Tensor s = Tensor::empty({out_channels});
  float* p = s.data<float>();
  for (int64_t o = 0; o < out_channels; ++o) p[o] = a.scales[0] * b.scales[b.scales.size() == 1 ? 0 : size_t(o)];
  return s;
}

std::string why_no_bf16_gemms() {
  const dnnl::cpu_isa isa = onednn::effective_cpu_isa();
  if (isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx) return "";
  return "oneDNN's ISA on this CPU (" + onednn::effective_isa() + ") has no bf16 dot products (AVX512-BF16 or AMX)";
}

std::string why_no_int8_gemms() {
  using dnnl::cpu_isa;
  const cpu_isa isa = onednn::effective_cpu_isa();
  if (isa == cpu_isa::avx512_core_vnni || isa == cpu_isa::avx512_core_bf16 || isa == cpu_isa::avx512_core_amx ||
      isa == cpu_isa::avx2_vnni)
    return "";
  return "oneDNN's ISA on this CPU (" + onednn::effective_isa() +
         ") has no int8 dot products with 32-bit sums (VNNI or AMX): its u8×s8 path can saturate";
}

}  // namespace lpt::ops
