#pragma once
// Module: a layer or a model, holding parameters (trainable leaf Variables), buffers (state that is
// saved but not trained, e.g. BN running statistics) and child modules, named as PyTorch's
// state_dict names them ("layer1.0.conv1.weight"), so checkpoints load into the matching PyTorch model.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/autograd.h"

namespace lpt {

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  virtual Variable forward(const Variable& x) = 0;
  Variable operator()(const Variable& x) { return forward(x); }

  // Recursively, in registration order, with dotted names.
  std::vector<std::pair<std::string, Variable>> named_parameters() const;
  std::vector<std::pair<std::string, Tensor*>> named_buffers();
  std::vector<std::pair<std::string, Module*>> named_modules();  // "" is this module
  std::vector<Variable> parameters() const;

  // Training mode (BN batch statistics, dropout) or evaluation mode, recursively.
  void train(bool on = true);
  void eval() { train(false); }
  bool training() const { return training_; }

  // Called by the training loop before each step's forward, recursively: layers whose randomness
  // or quantization depends on the step (dropout, stochastic rounding) key it by (seed, step).
  void begin_step(uint64_t seed, uint64_t step);

  // Draws every parameter's initial value, recursively; each parameter's values come from a random
  // stream keyed by (seed, its full name), so they do not depend on construction order.
  void initialize(uint64_t seed);

  // Full dotted name ("layer1.0.conv1"), assigned by name_modules() once a model is built.
  const std::string& name() const { return name_; }
  void name_modules(const std::string& prefix = "");

 protected:
  Variable& register_parameter(const std::string& name, Tensor init);
  Tensor& register_buffer(const std::string& name, Tensor init);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    children_.emplace_back(name, m);
    return m;
  }
  virtual void on_begin_step(uint64_t seed, uint64_t step) {}
  virtual void reset_parameters(uint64_t seed) {}

 private:
  std::vector<std::pair<std::string, Variable>> params_;
  std::vector<std::pair<std::string, std::unique_ptr<Tensor>>> buffers_;  // stable addresses
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
  std::string name_;
};

// Sequential: children named "0", "1", ... applied in order.
class Sequential : public Module {
 public:
  Sequential() = default;
  template <class M>
  std::shared_ptr<M> add(std::shared_ptr<M> m) {
    layers_.push_back(m);
    return register_module(std::to_string(layers_.size() - 1), std::move(m));
  }
  Variable forward(const Variable& x) override;
  size_t size() const { return layers_.size(); }

 private:
  std::vector<std::shared_ptr<Module>> layers_;
};

}  // namespace lpt
