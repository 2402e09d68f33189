#pragma once
// The random Hadamard transform of SPEC §2 on the backward-weights GEMM dw = xᵀ ⊛ dy: x and dy are
// multiplied along their shared reduction index (the rows (n,h,w) of a linear layer's or a 1×1,
// stride-1, unpadded conv's channels-last operands) by the same block-diagonal H₁₆·diag(σ) before
// they are quantized. H₁₆ is the normalised 16×16 Sylvester Hadamard matrix (entries ±1/4) and σ
// a ±1 sign per row, so (H₁₆·diag(σ))ᵀ(H₁₆·diag(σ)) = I: the exact product is unchanged while an
// outlier is spread over its block of 16, which narrow formats blocked along that index quantize
// with less error. A tail of fewer than 16 rows stays as it is (orthogonal too): padding it to 16,
// as SPEC says, would change the operands' shapes.
#include <cstdint>

#include "core/tensor.h"

namespace lpt {

inline constexpr int64_t kHadamardBlock = 16;

// The signs' key: one training step of one layer.
struct HadamardKey {
  uint64_t seed = 0, step = 0, layer = 0;  // layer: stable_hash of its name
};

// m: dense [rows, C] row-major (channels-last activations, row-major linear inputs) with rows
// `first_row` … of the whole (global) reduction index; σ of row r is a pure function of the key and
// first_row + r, so data-parallel shards transform as one process. Returns the transformed copy.
Tensor hadamard_rows(const Tensor& m, int64_t rows, int64_t C, const HadamardKey& key, int64_t first_row);

}  // namespace lpt
