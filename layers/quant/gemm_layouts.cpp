#include "layers/quant/gemm_layouts.h"

namespace lpt {

using formats::BufferLayout;
using formats::RunGeometry;

namespace {

BufferLayout per_tensor(RunGeometry runs) { return {runs, {1, 1, runs.numel()}, false}; }

// Rows of `channels` contiguous values (NHWC activations and errors, row-major linear tensors),
// blocked within groups of `per_group` channels; a group of one channel (depthwise) keeps the
// whole row as the run.
BufferLayout rows_layout(int64_t rows, int64_t channels, int64_t per_group) {
  const int64_t run = per_group > 1 ? per_group : channels;
  return per_tensor({rows * (channels / run), run, 1});
}

// An OIHW weight (or [out, in] linear weight) of `outer` × `len` × `inner` blocked along `len`;
// channel groups along the axis given by (group_outer, group_len, group_inner) when f takes them.
BufferLayout weight_layout(RunGeometry runs, RunGeometry channels, const formats::Format& f) {
  if (!f.scales().channel_groups) return per_tensor(runs);
  return {runs, channels, true};
}

}  // namespace

BufferLayout forward_x_layout(const GemmGeometry& g) { return rows_layout(g.N * g.H * g.W, g.C, g.cin_per_group()); }

BufferLayout forward_w_layout(const GemmGeometry& g, const formats::Format& f) {
  const int64_t ci = g.cin_per_group(), k = g.KH * g.KW;
  const RunGeometry per_o{1, g.O, ci * k};
  if (ci == 1) return weight_layout({g.O, k, 1}, per_o, f);  // depthwise: along kh·kw
  BufferLayout l = weight_layout({g.O, ci, k}, per_o, f);
  l.block_rows = f.weight_block_rows();  // 2-D blocks: 16 output channels × 16 input channels
  return l;
}

BufferLayout data_dy_layout(const GemmGeometry& g) { return rows_layout(g.N * g.Ho * g.Wo, g.O, g.cout_per_group()); }

BufferLayout data_w_layout(const GemmGeometry& g, const formats::Format& f) {
  const int64_t ci = g.cin_per_group(), co = g.cout_per_group(), k = g.KH * g.KW;
  if (co == 1) return weight_layout({g.O, k, 1}, {1, g.O, k}, f);  // depthwise: along kh·kw, γ per channel
  // 2-D blocks cover C_out as well as C_in: the forward blocking quantizes wᵀ identically.
  if (ci > 1 && f.weight_block_rows() > 1) return forward_w_layout(g, f);
  return weight_layout({g.groups, co, ci * k}, {g.O, ci, k}, f);    // along C_out in the group, γ per i
}

BufferLayout weights_x_layout(const GemmGeometry& g) { return per_tensor({1, g.N * g.H * g.W, g.C}); }

BufferLayout weights_dy_layout(const GemmGeometry& g) { return per_tensor({1, g.N * g.Ho * g.Wo, g.O}); }

}  // namespace lpt
