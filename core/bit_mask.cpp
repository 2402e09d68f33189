#include "core/bit_mask.h"

#include "core/error.h"

namespace lpt {

Tensor zero_bit_mask(int64_t n) { return Tensor::zeros({(n + 7) / 8}, DType::u8); }

void masked_copy(const Tensor& mask, const float* dy, float* dx, int64_t n) {
  LPT_CHECK(mask.dtype() == DType::u8 && mask.numel() == (n + 7) / 8, "bit mask ", mask.describe(), " for ", n,
            " elements");
  const uint8_t* bits = mask.data<uint8_t>();
  // Eight elements per byte: the byte broadcast, its bits isolated lane by lane, and dy kept
  // (bitwise) where a lane's bit is set.
  const __m256i lane_bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
#pragma omp parallel for schedule(static)
  for (int64_t j = 0; j < n / 8; ++j) {
    const __m256i set = _mm256_and_si256(_mm256_set1_epi32(bits[j]), lane_bit);
    const __m256 keep = _mm256_castsi256_ps(_mm256_cmpeq_epi32(set, lane_bit));
    _mm256_storeu_ps(dx + 8 * j, _mm256_and_ps(_mm256_loadu_ps(dy + 8 * j), keep));
  }
  for (int64_t i = n / 8 * 8; i < n; ++i) dx[i] = (bits[i >> 3] >> (i & 7)) & 1 ? dy[i] : 0.0f;
}

}  // namespace lpt
