#include "layers/quant/hadamard.h"

#include "core/philox.h"

namespace lpt {

namespace {

// ±1 for row r: one bit of the step's stream.
float sign_of(const RandomStream& s, int64_t r) { return (s.bits4(uint64_t(r) >> 2)[r & 3] & 1u) ? -1.0f : 1.0f; }

}  // namespace

Tensor hadamard_rows(const Tensor& m, int64_t rows, int64_t C, const HadamardKey& key, int64_t first_row) {
  Tensor out = m.clone();
  float* o = out.data<float>();
  const RandomStream signs = step_stream(key.seed, key.step, key.layer ^ stable_hash("hadamard"));
  const int64_t blocks = rows / kHadamardBlock;
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    float* blk = o + b * kHadamardBlock * C;
    for (int64_t i = 0; i < kHadamardBlock; ++i) {
      const float s = sign_of(signs, first_row + b * kHadamardBlock + i);
      float* row = blk + i * C;
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) row[c] *= s;
    }
    // The fast Walsh–Hadamard transform: four butterfly stages give Sylvester's H₁₆ (unnormalised).
    for (int64_t h = 1; h < kHadamardBlock; h *= 2)
      for (int64_t i = 0; i < kHadamardBlock; i += 2 * h)
        for (int64_t j = i; j < i + h; ++j) {
          float* a = blk + j * C;
          float* z = blk + (j + h) * C;
#pragma omp simd
          for (int64_t c = 0; c < C; ++c) {
            const float u = a[c], v = z[c];
            a[c] = u + v;
            z[c] = u - v;
          }
        }
#pragma omp simd
    for (int64_t k = 0; k < kHadamardBlock * C; ++k) blk[k] *= 0.25f;  // 1/√16, exact
  }
  return out;
}

}  // namespace lpt
