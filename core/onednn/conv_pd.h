#pragma once
// Primitive descriptors for conv2d and linear, written against oneDNN 2.6's op-descriptor API
// (`*_forward::desc` then `primitive_desc(desc, engine[, forward hint])`). Each function records
// the implementation oneDNN chose (record_impl), so manifests and the allowlist test can see it.
//
// Layout choices (measured with oneDNN 2.6 on AVX-512, see tests/primitive_impl_conv_test.cpp):
// - conv activations are fixed to nhwc (channels-last, our tensors' layout) rather than
//   format_tag::any. With nhwc every ResNet-20 and MobileNetV2 conv gets brgconv / jit kernels in
//   all three directions, including C_in = 1, groups = 2 with 2 channels per group and depthwise.
//   With `any` oneDNN picks nChw16c, which gains < 10% per kernel but costs four activation
//   reorders per training step (more than the gain), and falls back to gemm for small groups
//   and for depthwise backward-weights on 2x2 maps.
// - conv weights use format_tag::any (blocked layouts); the op reorders OIHW into them.
// - linear uses matmul on plain layouts: brg:avx512_core in all three directions, no reorders.
//   (inner_product gets brgemm only with blocked weights and "gemm:jit" with plain ones.)
#include <string>
#include <unordered_map>

#include "core/onednn/context.h"
#include "core/ops/conv.h"

namespace lpt::onednn {

// "x[8, 16, 28, 28] w[32, 16, 3, 3] stride 2x2 pad 1x1 dil 1x1 groups 1 bias": names a conv in
// record_impl and in cache keys.
std::string conv_label(const Shape& x, const Shape& w, bool bias, const ops::Conv2dParams& p);

// nhwc descriptor of a channels-last activation tensor of the given logical shape.
dnnl::memory::desc conv_activation_desc(const Shape& s, dt type = dt::f32);
// The weights as the user holds them: OIHW, or goihw ([G, O/G, I/G, KH, KW], the same bytes).
dnnl::memory::desc conv_user_weights_desc(const Shape& w, int64_t groups, dt type = dt::f32);

// Shapes must already be validated (ops::conv2d_output_shape). `operands` is the type of the two
// GEMM operands (f32, or bf16 for the bf16 lane); outputs, bias and gradients are always f32.
dnnl::convolution_forward::primitive_desc conv_forward_pd(const Shape& x, const Shape& w, bool bias,
                                                          const ops::Conv2dParams& p, dt operands);
// The forward descriptor of the same type is made here as oneDNN's hint.
dnnl::convolution_backward_data::primitive_desc conv_backward_data_pd(const Shape& x, const Shape& w,
                                                                      const ops::Conv2dParams& p, dt operands);
// With the bias gradient when `bias` is set.
dnnl::convolution_backward_weights::primitive_desc conv_backward_weights_pd(const Shape& x, const Shape& w, bool bias,
                                                                            const ops::Conv2dParams& p, dt operands);

// A reorder primitive between two layouts of the same tensor; `what` names it in record_impl.
dnnl::reorder make_reorder(const dnnl::memory::desc& from, const dnnl::memory::desc& to, const std::string& what);

// The int8 lane's forward (SPEC §9): u8 or s8 activations `src`, s8 weights, s32 sums turned into
// f32 outputs by post-ops (ops::Int8Epilogue): a multiply by the per-output-channel scale, then
// what the epilogue asks for. Training asks for the bias only (y = sum·scale + b); evaluation may
// fold a batch norm into scale and shift and fuse the ReLUs and a residual add. The post-ops'
// operands are run-time arguments (add_int8_output_args): oneDNN 2.6 takes no runtime output
// scales for int8 convolutions, and a primitive holding the scales would be rebuilt every step.
dnnl::convolution_forward::primitive_desc conv_forward_int8_pd(const Shape& x, const Shape& w,
                                                               const ops::Conv2dParams& p, dt src,
                                                               const ops::Int8Epilogue& e);
// The post-ops' run-time arguments of a primitive made by conv_forward_int8_pd or
// linear_forward_int8_pd with epilogue e: the per-output-channel scales and, as e asks, the shift
// (f32 [C_out]) and the residual (f32, the output's shape and layout).
void add_int8_output_args(const dnnl::primitive_desc_base& pd, const ops::Int8Epilogue& e, const Tensor& scales,
                          const Tensor& shift, const Tensor& residual, std::unordered_map<int, dnnl::memory>& args);

// linear: x [n, in], w [out, in], y [n, out], all row-major; operands f32 or bf16, results f32.
// Forward y = x·wᵀ (+ b): wᵀ is a strided view of w.
dnnl::matmul::primitive_desc linear_forward_pd(int64_t n, int64_t in, int64_t out, bool bias, dt operands);
// The int8 lane's forward, u8 or s8 x and s8 w, scaled and biased by post-ops as for conv.
dnnl::matmul::primitive_desc linear_forward_int8_pd(int64_t n, int64_t in, int64_t out, bool bias, dt src);
// Backward-data dx = dy·w.
dnnl::matmul::primitive_desc linear_backward_data_pd(int64_t n, int64_t in, int64_t out, dt operands);
// Backward-weights dw = dyᵀ·x: dyᵀ is a strided view of dy.
dnnl::matmul::primitive_desc linear_backward_weights_pd(int64_t n, int64_t in, int64_t out, dt operands);

// The oneDNN type of a lane's first operand (activations or errors): f32, bf16, or for the int8
// lane u8 or s8 as a's int8 form holds it (the weights are then s8).
dt operand_type(ops::Lane lane, const ops::GemmOperand& a);
inline bool is_int8(dt t) { return t == dt::u8 || t == dt::s8; }

// The prefix of a primitive's type in labels and keys, from its first operand's type: "" for f32,
// "bf16 ", and for the int8 lane (s8 weights) "u8s8 " or "s8s8 ".
std::string operands_label(dt operands);

}  // namespace lpt::onednn
