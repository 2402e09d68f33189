#pragma once
// What a conv or linear layer's two backward GEMMs consume when it is not the forward operands and
// the incoming gradient as they are: layers/ put quantized copies here, each blocked along its own
// GEMM's reduction axis (SPEC §2), while core stays free of number formats.
#include <functional>
#include <optional>

#include "core/ops/gemm_lanes.h"
#include "core/tensor.h"

namespace lpt::ops {

struct BackwardOperands {
  // Given the incoming gradient dy, the tensor each backward GEMM uses instead (empty: dy itself).
  std::function<Tensor(const Tensor& dy)> dy_for_data;     // dx = dy ⊛ wᵀ
  std::function<Tensor(const Tensor& dy)> dy_for_weights;  // dw = xᵀ ⊛ dy
  // Undefined: the forward operand. Same shape as it (conv: x channels-last, w OIHW).
  Tensor w_for_data;     // w in dx = dy ⊛ wᵀ
  Tensor x_for_weights;  // x in dw = xᵀ ⊛ dy
  // The forward operand x as one-byte codes (its format has a codebook): kept instead of its fp32
  // values when x_for_weights is undefined.
  std::optional<CodebookCopy> x_codes;
};

}  // namespace lpt::ops
