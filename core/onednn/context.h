#pragma once
// core/onednn/ is the one place that talks to oneDNN directly: this file holds engines, memory
// descriptors, reorders and the primitive cache; the other files there build primitive descriptors.
// Ops build their primitives through these helpers, once per shape, and keep them in the cache
// below; oneDNN-version-specific code stays in this folder.
#include <dnnl.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace lpt::onednn {

using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

dnnl::engine& engine();
// The ISA oneDNN's kernels use, after LPT_MAX_ISA's cap (core/cpu.h) is applied.
dnnl::cpu_isa effective_cpu_isa();
dnnl::stream& stream();

dnnl::memory::dims dims_of(const Shape& s);
// The descriptor of a tensor as it lies in memory (its shape and strides).
dnnl::memory::desc desc_of(const Tensor& t);
// A oneDNN memory over the tensor's own storage (no copy).
dnnl::memory wrap(const Tensor& t);
dnnl::memory wrap_as(const Tensor& t, const dnnl::memory::desc& md);

// A stable text key for a descriptor (dims, data type, strides, blocking), for caches.
std::string desc_key(const dnnl::memory::desc& md);


// The instruction set oneDNN's JIT kernels use on this machine, e.g. "avx512_core_amx".
std::string effective_isa();

// oneDNN's name for the implementation behind a primitive descriptor, e.g. "jit:avx512_core".
std::string impl_name(const dnnl::primitive_desc_base& pd);

// Every primitive created so far with the implementation oneDNN chose:
// {"conv2d fwd [128,16,28,28]...", "jit:avx512_core"}. Run manifests and the allowlist test read it.
void record_impl(const std::string& what, const std::string& impl);
std::vector<std::pair<std::string, std::string>> recorded_impls();

// Weight reorders executed so far (into a primitive's layout, or a gradient out of it), counted by
// the ops that run them: tests check that a training step does the expected number.
void count_weight_reorder();
int64_t weight_reorders();

// One weight in the layouts primitives take it in, each made once (by a reorder the caller gives)
// and reused: a layer holds one while its weights are frozen (an evaluation), during which the
// weights must not change.
class WeightPacks {
 public:
  template <class Fill>
  dnnl::memory get(const dnnl::memory::desc& md, Fill&& fill) {
    std::lock_guard<std::mutex> lock(mutex_);
    dnnl::memory& m = packs_[desc_key(md)];
    if (!m) {
      m = dnnl::memory(md, engine());
      fill(m);
    }
    return m;
  }

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, dnnl::memory> packs_;
};

// Process-wide cache of per-shape op state (primitive descriptors and primitives), so each is
// created once per shape and reused by every later call.
class PrimitiveCache {
 public:
  template <class State, class Make>
  static std::shared_ptr<State> get(const std::string& key, Make&& make) {
    std::lock_guard<std::recursive_mutex> lock(mutex());
    auto& m = map();
    auto it = m.find(key);
    if (it != m.end()) return std::static_pointer_cast<State>(it->second);
    std::shared_ptr<State> s = std::make_shared<State>(make());
    m.emplace(key, s);
    return s;
  }
  static size_t size();

 private:
  static std::recursive_mutex& mutex();
  static std::unordered_map<std::string, std::shared_ptr<void>>& map();
};

}  // namespace lpt::onednn
