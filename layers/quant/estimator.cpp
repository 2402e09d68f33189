#include "layers/quant/estimator.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "core/elementwise.h"
#include "core/error.h"

namespace lpt {

const char* execution_name(Execution e) {
  switch (e) {
    case Execution::automatic: return "auto";
    case Execution::emulated: return "emulated";
    case Execution::native: return "native";
  }
  return "?";
}

const char* estimator_name(Estimator e) {
  switch (e) {
    case Estimator::ste: return "ste";
    case Estimator::pwl: return "pwl";
    case Estimator::mad: return "mad";
  }
  return "?";
}

namespace {
// f(begin, end, clip) over spans of elements of one group of `l` (a group index per span, not a
// division per element), in parallel over fixed chunks of 2^14 elements (a multiple of 8, so a
// thread that sets bits owns whole bytes).
template <class F>
void for_each_group_span(const formats::BufferLayout& l, const std::vector<float>& clip, F f) {
  const int64_t n = l.numel();
  const formats::RunGeometry& g = l.groups;
  constexpr int64_t kChunk = int64_t{1} << 14;
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < n; b += kChunk) {
    const int64_t e = std::min(n, b + kChunk);
    for (int64_t m = b; m < e;) {
      const int64_t span = m / g.inner, end = std::min(e, (span + 1) * g.inner);
      f(m, end, clip[size_t(span % g.len)]);
      m = end;
    }
  }
}
}  // namespace

void estimator_backward(Estimator e, const float* x, const float* dy, float* dx, const std::vector<float>& clip,
                        const formats::BufferLayout& l) {
  const int64_t n = l.numel();
  if (e == Estimator::ste || clip.empty()) {
#pragma omp parallel for simd schedule(static)
    for (int64_t m = 0; m < n; ++m) dx[m] = dy[m];
    return;
  }
  LPT_CHECK(int64_t(clip.size()) == l.num_groups(), "estimator: ", clip.size(), " clip values for ", l.num_groups(),
            " groups");
  const bool mad = e == Estimator::mad;
  for_each_group_span(l, clip, [&](int64_t m, int64_t end, float s) {
#pragma omp simd
    for (int64_t i = m; i < end; ++i) {
      const float a = std::fabs(x[i]);
      dx[i] = a <= s ? dy[i] : mad ? dy[i] * (s / a) : 0.0f;
    }
  });
}

namespace {
// Sets bit i of the mask for i in [m, end) where |x[i]| ≤ s: the bytes wholly inside eight
// elements at a time (an AVX2 compare and movemask: the x86-64-v3 baseline), the bytes shared with
// a neighbouring span bit by bit. A NaN compares false, as in the scalar |x| ≤ s.
void mask_span(const float* x, uint8_t* bits, int64_t m, int64_t end, float s) {
  const auto one = [&](int64_t i) { bits[i >> 3] |= uint8_t(uint8_t(std::fabs(x[i]) <= s) << (i & 7)); };
  for (; m < end && (m & 7) != 0; ++m) one(m);
  const __m256 vs = _mm256_set1_ps(s), abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  for (; m + 8 <= end; m += 8) {
    const __m256 a = _mm256_and_ps(_mm256_loadu_ps(x + m), abs_mask);
    bits[m >> 3] = uint8_t(_mm256_movemask_ps(_mm256_cmp_ps(a, vs, _CMP_LE_OQ)));
  }
  for (; m < end; ++m) one(m);
}
}  // namespace

Tensor pwl_mask(const float* x, const std::vector<float>& clip, const formats::BufferLayout& l) {
  const int64_t n = l.numel();
  LPT_CHECK(int64_t(clip.size()) == l.num_groups(), "estimator: ", clip.size(), " clip values for ", l.num_groups(),
            " groups");
  Tensor mask = Tensor::zeros({(n + 7) / 8}, DType::u8);
  uint8_t* bits = mask.data<uint8_t>();
  for_each_group_span(l, clip, [&](int64_t m, int64_t end, float s) { mask_span(x, bits, m, end, s); });
  return mask;
}

void pwl_backward(const Tensor& mask, const float* dy, float* dx, int64_t n) {
  LPT_CHECK(mask.dtype() == DType::u8 && mask.numel() == (n + 7) / 8, "estimator: mask ", mask.describe(), " for ", n,
            " elements");
  const uint8_t* bits = mask.data<uint8_t>();
  // Eight elements per mask byte: the byte broadcast, its bits isolated lane by lane, and dy kept
  // (bitwise) where a lane's bit is set, +0 elsewhere.
  const __m256i lane_bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
#pragma omp parallel for schedule(static)
  for (int64_t j = 0; j < n / 8; ++j) {
    const __m256i set = _mm256_and_si256(_mm256_set1_epi32(bits[j]), lane_bit);
    const __m256 keep = _mm256_castsi256_ps(_mm256_cmpeq_epi32(set, lane_bit));
    _mm256_storeu_ps(dx + 8 * j, _mm256_and_ps(_mm256_loadu_ps(dy + 8 * j), keep));
  }
  for (int64_t m = n / 8 * 8; m < n; ++m) dx[m] = (bits[m >> 3] >> (m & 7)) & 1 ? dy[m] : 0.0f;
}

Variable quantized_input(const Variable& x, const Tensor& source, Tensor xq, Estimator e, std::vector<float> clip,
                         const formats::BufferLayout& l, std::function<Tensor(const Tensor&)> grad_transform) {
  LPT_CHECK(source.shape() == xq.shape() && source.strides() == xq.strides(), "quantize: ", source.describe(),
            " and its quantization ", xq.describe(), " differ in layout");
  const bool identity = e == Estimator::ste || clip.empty();
  // What the estimator reads is kept: x for MAD, PWL's one bit per element, nothing for STE.
  const bool track = grad_enabled() && x.requires_grad() && !identity;
  const Tensor saved_x = track && e == Estimator::mad ? source : Tensor();
  const Tensor mask = track && e == Estimator::pwl ? pwl_mask(source.data<float>(), clip, l) : Tensor();
  const Shape strides = xq.strides();  // the layout l describes
  return make_result(std::move(xq), "quantize", {x},
                     [saved_x, mask, strides, e, clip = std::move(clip), l, grad_transform = std::move(grad_transform)](
                         std::vector<Variable>& in, const Tensor& dout) {
                       if (!in[0].requires_grad()) return;
                       Tensor dy = with_strides(dout, strides);
                       if (saved_x.defined() || mask.defined()) {
                         Tensor dx = Tensor::empty_like(dy);
                         if (mask.defined()) pwl_backward(mask, dy.data<float>(), dx.data<float>(), dy.numel());
                         else estimator_backward(e, saved_x.data<float>(), dy.data<float>(), dx.data<float>(), clip, l);
                         dy = dx;
                       }
                       in[0].accumulate_grad(grad_transform ? grad_transform(dy) : dy);
                     });
}

}  // namespace lpt
