#pragma once
// Primitive descriptors for batch normalization and pooling (oneDNN 2.6 op-descriptor API).
// The ops in core/ops/ describe what they need with the plain structs below, cache the result
// once per shape (PrimitiveCache) and execute it; everything that changes between oneDNN
// versions (op descriptors, normalization flags) stays in this file.
#include <dnnl.hpp>

namespace lpt::onednn {

struct BatchNormSpec {
  float eps = 1e-5f;
  // Normalise with the given mean and variance (inference) instead of the batch's statistics.
  bool global_stats = false;
  // y = relu(bn(x)); the training forward then writes a workspace the backward reads.
  bool fuse_relu = false;
  // forward_training: writes the batch statistics (unless global_stats) and the workspace a
  // backward needs; forward_inference otherwise.
  bool for_training = true;
};

// Scale (gamma) and shift (beta) are always used, as separate [C] f32 arguments.
// `data` is the layout of x, y, dx and dy (nhwc for our activations).
dnnl::batch_normalization_forward::primitive_desc batch_norm_forward_pd(const dnnl::memory::desc& data,
                                                                        const BatchNormSpec& spec);
// Computes dx, dgamma and dbeta; `forward` must have been made with for_training.
dnnl::batch_normalization_backward::primitive_desc batch_norm_backward_pd(
    const dnnl::memory::desc& data, const BatchNormSpec& spec,
    const dnnl::batch_normalization_forward::primitive_desc& forward);

enum class PoolKind { max, avg_include_pad, avg_exclude_pad };

struct PoolSpec {
  PoolKind kind = PoolKind::max;
  int64_t kernel_h = 2, kernel_w = 2, stride_h = 2, stride_w = 2;
  int64_t pad_top = 0, pad_left = 0;  // the bottom/right padding follows from the dst shape
  // forward_training: max pooling then writes the argmax workspace its backward reads.
  bool for_training = true;
};

dnnl::pooling_forward::primitive_desc pool_forward_pd(const dnnl::memory::desc& src, const dnnl::memory::desc& dst,
                                                      const PoolSpec& spec);
dnnl::pooling_backward::primitive_desc pool_backward_pd(const dnnl::memory::desc& src, const dnnl::memory::desc& dst,
                                                        const PoolSpec& spec,
                                                        const dnnl::pooling_forward::primitive_desc& forward);

}  // namespace lpt::onednn
