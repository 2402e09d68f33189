#pragma once
// Primitive descriptors for pooling (oneDNN 2.6 op-descriptor API). The ops in core/ops/ describe
// what they need with the plain struct below, cache the result once per shape (PrimitiveCache)
// and execute it; everything that changes between oneDNN versions (op descriptors) stays in this
// file. (Batch norm has its own kernels, core/ops/batch_norm.cpp: oneDNN's accumulate in float.)
#include <dnnl.hpp>

namespace lpt::onednn {

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
