#pragma once
// Test data for the bf16 lane: values rounded to bfloat16, so conversion to bf16 is exact.
#include <cstdint>
#include <cstring>

#include "core/tensor.h"

namespace lpt::testing {

// A copy of a dense f32 tensor with every value rounded to the nearest bfloat16 (ties to even).
inline Tensor bf16_rounded(const Tensor& t) {
  Tensor out = t.clone();
  float* v = out.data<float>();
  for (int64_t i = 0; i < out.numel(); ++i) {
    uint32_t b;
    std::memcpy(&b, &v[i], sizeof b);
    b = (b + 0x7fffu + ((b >> 16) & 1u)) & 0xffff0000u;
    std::memcpy(&v[i], &b, sizeof b);
  }
  return out;
}

}  // namespace lpt::testing
