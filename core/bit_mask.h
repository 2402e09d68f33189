#pragma once
// One bit per element, bit i % 8 of byte i / 8: what a backward pass keeps when all it needs is
// which elements passed a test (ReLU's x > 0, ReLU6's 0 < x < 6, PWL's |x| ≤ clip), 1/32 of their
// fp32 values. Masks are set and read eight elements per byte with AVX2 (the x86-64-v3 baseline).
#include <immintrin.h>

#include <cmath>
#include <cstdint>

#include "core/tensor.h"

namespace lpt {

// The tests, each as a scalar predicate and as an AVX2 compare of eight lanes; NaN fails all.
struct Positive {
  bool operator()(float v) const { return v > 0.0f; }
  __m256 eight(__m256 v) const { return _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GT_OQ); }
};
struct Between0And6 {  // strictly inside (0, 6)
  bool operator()(float v) const { return v > 0.0f && v < 6.0f; }
  __m256 eight(__m256 v) const {
    return _mm256_and_ps(_mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GT_OQ), _mm256_cmp_ps(v, _mm256_set1_ps(6.0f), _CMP_LT_OQ));
  }
};
struct AbsAtMost {
  float s;
  bool operator()(float v) const { return std::fabs(v) <= s; }
  __m256 eight(__m256 v) const {
    const __m256 abs = _mm256_and_ps(v, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)));
    return _mm256_cmp_ps(abs, _mm256_set1_ps(s), _CMP_LE_OQ);
  }
};

// An all-zero mask for n elements: u8 [(n + 7) / 8].
Tensor zero_bit_mask(int64_t n);

// Sets bit i for i in [begin, end) where pass(x[i]) (the bits start cleared): the bytes wholly
// inside eight elements at a time, the bytes shared with a neighbouring range bit by bit. Ranges
// that share no byte may be set in parallel.
template <class Test>
void set_mask_bits(const float* x, uint8_t* bits, int64_t begin, int64_t end, const Test& pass) {
  const auto one = [&](int64_t i) { bits[i >> 3] |= uint8_t(uint8_t(pass(x[i])) << (i & 7)); };
  int64_t i = begin;
  for (; i < end && (i & 7) != 0; ++i) one(i);
  for (; i + 8 <= end; i += 8) bits[i >> 3] = uint8_t(_mm256_movemask_ps(pass.eight(_mm256_loadu_ps(x + i))));
  for (; i < end; ++i) one(i);
}

// The mask of x[0, n) under one test, in parallel.
template <class Test>
Tensor bit_mask(const float* x, int64_t n, const Test& pass) {
  Tensor mask = zero_bit_mask(n);
  uint8_t* bits = mask.data<uint8_t>();
  constexpr int64_t kChunk = int64_t{1} << 14;  // a multiple of 8: chunks share no byte
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < n; b += kChunk) set_mask_bits(x, bits, b, std::min(n, b + kChunk), pass);
  return mask;
}

// dx[i] = dy[i] where bit i of the mask is set, else +0 (n elements).
void masked_copy(const Tensor& mask, const float* dy, float* dx, int64_t n);

}  // namespace lpt
