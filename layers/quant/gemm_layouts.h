#pragma once
// Where the blocks of each GEMM operand of a conv or linear layer run (SPEC §2): always along that
// GEMM's reduction axis of the logical tensor, so both operands' blocks cover the same reduction
// indices. Activations and errors are channels-last (NHWC memory), conv weights OIHW, linear
// tensors row-major. A layout's groups (per-channel scales, two-level γ) are only set for formats
// that take them.
#include <cstdint>

#include "formats/format.h"
#include "formats/quantize_options.h"

namespace lpt {

// The shapes of one layer's GEMMs. A linear layer is a 1×1 "conv" on a 1×1 image: N = batch,
// C = in features, O = out features.
struct GemmGeometry {
  int64_t N = 1, C = 1, H = 1, W = 1;  // input
  int64_t O = 1, Ho = 1, Wo = 1;       // output
  int64_t KH = 1, KW = 1, groups = 1;
  bool is_linear = false;

  int64_t cin_per_group() const { return C / groups; }
  int64_t cout_per_group() const { return O / groups; }
  // Multiply-adds of one of the three GEMMs (they are equal).
  int64_t macs() const { return N * Ho * Wo * O * cin_per_group() * KH * KW; }
};

// Forward y = x ⊛ w: x along C_in per (n,h,w); w along C_in per (o,kh,kw), γ / channel scales per o.
// Grouped convolutions block within a group; depthwise ones (C_in/groups = 1) block w along kh·kw
// and keep x's C_in blocking.
formats::BufferLayout forward_x_layout(const GemmGeometry& g);
formats::BufferLayout forward_w_layout(const GemmGeometry& g, const formats::Format& f);
// NVFP4's 2-D weight blocks (Format::weight_block_rows() > 1) tile the forward weight layout 16
// output channels × 16 input channels; backward-data then uses that same layout (the tiles of wᵀ
// are the tiles of w). Depthwise weights keep 1-D blocks along kh·kw.
// Backward-data dx = dy ⊛ wᵀ: dy along C_out per (n,h,w); w along C_out per (i,kh,kw), γ per i.
formats::BufferLayout data_dy_layout(const GemmGeometry& g);
formats::BufferLayout data_w_layout(const GemmGeometry& g, const formats::Format& f);
// Backward-weights dw = xᵀ ⊛ dy: x and dy along the flattened (n,h,w) per channel.
formats::BufferLayout weights_x_layout(const GemmGeometry& g);
formats::BufferLayout weights_dy_layout(const GemmGeometry& g);

}  // namespace lpt
