#pragma once
// Parameter-free layers: activations, pooling, flatten, dropout.
#include "core/ops/activation.h"
#include "core/ops/dropout.h"
#include "core/ops/pool.h"
#include "core/ops/shape.h"
#include "layers/module.h"

namespace lpt {

class ReLU : public Module {
 public:
  Variable forward(const Variable& x) override { return ops::relu(x); }
};

class ReLU6 : public Module {
 public:
  Variable forward(const Variable& x) override { return ops::relu6(x); }
};

class MaxPool2d : public Module {
 public:
  MaxPool2d(int64_t kernel, int64_t stride, int64_t padding = 0)
      : p_{kernel, kernel, stride, stride, padding, padding, true} {}
  Variable forward(const Variable& x) override { return ops::max_pool2d(x, p_); }

 private:
  ops::Pool2dParams p_;
};

class AvgPool2d : public Module {
 public:
  AvgPool2d(int64_t kernel, int64_t stride, int64_t padding = 0)
      : p_{kernel, kernel, stride, stride, padding, padding, true} {}
  Variable forward(const Variable& x) override { return ops::avg_pool2d(x, p_); }

 private:
  ops::Pool2dParams p_;
};

// AdaptiveAvgPool2d(1) in PyTorch terms.
class GlobalAvgPool2d : public Module {
 public:
  Variable forward(const Variable& x) override { return ops::global_avg_pool2d(x); }
};

class Flatten : public Module {
 public:
  Variable forward(const Variable& x) override { return ops::flatten(x); }
};

// Its mask is keyed by (seed, step, layer name), so it is reproducible and resumable.
class Dropout : public Module {
 public:
  explicit Dropout(float p) : p_(p) {
    LPT_CHECK(p >= 0.0f && p < 1.0f, "Dropout: p must be in [0, 1), got ", p);
  }
  Variable forward(const Variable& x) override;

 protected:
  void on_begin_step(uint64_t seed, uint64_t step) override {
    seed_ = seed;
    step_ = step;
  }

 private:
  float p_;
  uint64_t seed_ = 0, step_ = 0;
};

}  // namespace lpt
