#include "core/bf16.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include "core/error.h"

namespace lpt {

namespace {

// min_abs from the smallest nonzero magnitude's bits (+inf's when all are zero).
float from_bits(uint32_t b) {
  float f;
  std::memcpy(&f, &b, sizeof f);
  return f;
}

// The elements e = x/s of a tensor whose values are fl32(e·s): x/s is within two fp32 roundings
// of e, far inside half a bf16 step, so rounding it to the nearest bf16 gives e back; each is
// checked by recomputing fl32(e·s).
Bf16Copy scaled_to_bf16(const Tensor& x, Tensor out, float s) {
  const float* in = x.data<float>();
  uint16_t* o = out.data<uint16_t>();
  const int64_t n = x.numel();
  uint32_t min_bits = 0x7f800000u, lost_normal = 0, lost_subnormal = 0, not_finite = 0;
#pragma omp parallel for simd schedule(static) reduction(min : min_bits) reduction(| : lost_normal, lost_subnormal, not_finite)
  for (int64_t i = 0; i < n; ++i) {
    uint32_t b;
    const float q = in[i] / s;
    std::memcpy(&b, &q, sizeof b);
    const uint32_t e16 = (b + 0x7fffu + ((b >> 16) & 1u)) >> 16;  // round to nearest even bf16
    const uint32_t eb = e16 << 16;
    float e;
    std::memcpy(&e, &eb, sizeof e);
    o[i] = uint16_t(e16);
    const bool held = e * s == in[i];
    const bool subnormal = std::fabs(in[i]) < 0x1p-126f;
    lost_normal |= (!held && !subnormal) ? 1u : 0u;
    lost_subnormal |= (!held && subnormal) ? 1u : 0u;
    not_finite |= std::isfinite(in[i]) ? 0u : 1u;
    const uint32_t mag = eb & 0x7fffffffu;
    min_bits = std::min(min_bits, mag == 0 ? 0x7f800000u : mag);
  }
  LPT_CHECK(!not_finite, "to_bf16_exact: tensor ", shape_str(x.shape()), " holds NaN or Inf");
  LPT_CHECK(!lost_normal, "to_bf16_exact: tensor ", shape_str(x.shape()), " holds values that are not a bfloat16 times its scale ",
            s, ": its format is not bf16-exact");
  return {std::move(out), lost_subnormal ? 0.0f : from_bits(min_bits), s};
}

}  // namespace

Bf16Copy to_bf16_exact(const Tensor& x) {
  LPT_CHECK(x.dtype() == DType::f32 && x.is_dense(), "to_bf16_exact: expected a dense f32 tensor, got ",
            dtype_name(x.dtype()), " ", shape_str(x.shape()));
  Tensor out = Tensor::empty_strided(x.shape(), x.strides(), DType::bf16);
  const float s = x.format_scale();
  LPT_CHECK(std::isfinite(s) && s > 0.0f, "to_bf16_exact: tensor ", shape_str(x.shape()), " has format scale ", s,
            ", expected a positive finite number");
  if (s != 1.0f) return scaled_to_bf16(x, std::move(out), s);
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
  return {std::move(out), from_bits(min_bits)};
}

Tensor bf16_to_f32(const Tensor& x, float scale) {
  LPT_CHECK(x.dtype() == DType::bf16 && x.is_dense(), "bf16_to_f32: expected a dense bf16 tensor, got ",
            dtype_name(x.dtype()), " ", shape_str(x.shape()));
  Tensor out = Tensor::empty_strided(x.shape(), x.strides(), DType::f32);
  const uint16_t* in = x.data<uint16_t>();
  float* o = out.data<float>();
  const int64_t n = x.numel();
  // One pass; times 1 is exact, so unscaled copies get their bf16 values bit for bit.
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) o[i] = std::bit_cast<float>(uint32_t(in[i]) << 16) * scale;
  out.set_format(nullptr, scale);
  return out;
}

bool bf16_products_normal(float min_abs_a, float min_abs_b) {
  const double normal = std::ldexp(1.0, -126);
  return min_abs_a >= normal && min_abs_b >= normal && double(min_abs_a) * double(min_abs_b) >= normal;
}

}  // namespace lpt
