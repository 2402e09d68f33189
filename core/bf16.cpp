#include "core/bf16.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"

namespace lpt {

Bf16Copy to_bf16_exact(const Tensor& x) {
  LPT_CHECK(x.dtype() == DType::f32 && x.is_dense(), "to_bf16_exact: expected a dense f32 tensor, got ",
            dtype_name(x.dtype()), " ", shape_str(x.shape()));
  Tensor out = Tensor::empty_strided(x.shape(), x.strides(), DType::bf16);
  const uint32_t* in = reinterpret_cast<const uint32_t*>(x.data<float>());
  uint16_t* o = out.data<uint16_t>();
  const int64_t n = x.numel();
  // Bits of a positive fp32 order like its value, so the smallest nonzero magnitude is the
  // smallest nonzero |bits|; +inf's bits when all are zero.
  uint32_t min_bits = 0x7f800000u, low = 0, exponent_all_ones = 0;
#pragma omp parallel for simd schedule(static) reduction(min : min_bits) reduction(| : low, exponent_all_ones)
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t b = in[i], mag = b & 0x7fffffffu;
    o[i] = uint16_t(b >> 16);
    low |= b & 0xffffu;
    exponent_all_ones |= (mag >= 0x7f800000u) ? 1u : 0u;
    min_bits = std::min(min_bits, mag == 0 ? 0x7f800000u : mag);
  }
  LPT_CHECK(!exponent_all_ones, "to_bf16_exact: tensor ", shape_str(x.shape()), " holds NaN or Inf");
  LPT_CHECK(low == 0, "to_bf16_exact: tensor ", shape_str(x.shape()),
            " holds values that are not bfloat16: its format is not bf16-exact");
  float min_abs;
  std::memcpy(&min_abs, &min_bits, sizeof min_abs);
  return {std::move(out), min_abs};
}

Tensor bf16_to_f32(const Tensor& x) {
  LPT_CHECK(x.dtype() == DType::bf16 && x.is_dense(), "bf16_to_f32: expected a dense bf16 tensor, got ",
            dtype_name(x.dtype()), " ", shape_str(x.shape()));
  Tensor out = Tensor::empty_strided(x.shape(), x.strides(), DType::f32);
  const uint16_t* in = x.data<uint16_t>();
  uint32_t* o = reinterpret_cast<uint32_t*>(out.data<float>());
  const int64_t n = x.numel();
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) o[i] = uint32_t(in[i]) << 16;
  return out;
}

bool bf16_products_normal(float min_abs_a, float min_abs_b) {
  const double normal = std::ldexp(1.0, -126);
  return min_abs_a >= normal && min_abs_b >= normal && double(min_abs_a) * double(min_abs_b) >= normal;
}

}  // namespace lpt
