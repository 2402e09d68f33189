#pragma once
// Reverse-mode autograd over a dynamic graph, in the style of flashlight: a Variable holds data,
// its gradient and, when an op made it, the node that knows how to send a gradient back to the
// op's inputs. Backward walks the graph once in reverse topological order, accumulates gradients
// with +=, and frees the graph (saved tensors, oneDNN payloads) as it goes.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace lpt {

class Variable;

// Called with the op's inputs and the gradient of its output; calls inputs[i].accumulate_grad()
// for each input that requires a gradient. Saved state lives in the closure (the op's payload):
// the inputs are data-less copies (shape and gradient only), so that a tensor backward does not
// need is freed as soon as the forward pass is done with it.
using BackwardFn = std::function<void(std::vector<Variable>& inputs, const Tensor& grad_output)>;

struct GradNode {
  const char* op;  // for error messages: "conv2d", "batch_norm", ...
  std::vector<Variable> inputs;
  BackwardFn backward;
};

// A Variable's place in the graph: what every copy of it shares, with or without its data.
struct VariableImpl {
  Tensor grad;
  bool requires_grad = false;
  std::string name;
  std::shared_ptr<GradNode> node;  // null for leaves
};

// A Variable's values. without_data() copies share the VariableImpl but hold only the shape, so
// a graph node that never reads an input's values does not keep them alive (flashlight's
// withoutData): an op's backward reads what its closure saved, in the form it chose.
struct VariableData {
  Tensor data;
  Shape shape;  // the shape of a data-less copy
};

class Variable {
 public:
  Variable() = default;
  explicit Variable(Tensor data, bool requires_grad = false, std::string name = {});

  bool defined() const { return impl_ != nullptr; }
  Tensor& data() const { return data_->data; }
  const Shape& shape() const { return data_->data.defined() ? data_->data.shape() : data_->shape; }
  const Tensor& grad() const { return impl_->grad; }
  bool has_grad() const { return impl_->grad.defined(); }
  bool requires_grad() const { return impl_ && impl_->requires_grad; }
  bool is_leaf() const { return impl_->node == nullptr; }
  const std::string& name() const { return impl_->name; }
  void set_name(std::string n) { impl_->name = std::move(n); }
  const GradNode* node() const { return impl_->node.get(); }

  // grad += g (the first gradient is adopted without a copy; later ones never write into a
  // tensor that someone else may hold). Gradients are never modified in place by their users.
  void accumulate_grad(const Tensor& g);
  void zero_grad() { impl_->grad = Tensor(); }

  // Back-propagates from this one-element variable (seed 1), or with the given output gradient.
  void backward();
  void backward(const Tensor& grad_output);

  // The same data with no history.
  Variable detach() const { return Variable(data_->data, false, impl_->name); }
  // The same place in the graph without the values (data() is undefined, shape() is kept): what
  // an op records as its input when its backward does not read that input's values.
  Variable without_data() const;

  bool same(const Variable& o) const { return impl_ == o.impl_; }
  VariableImpl* impl() const { return impl_.get(); }

 private:
  std::shared_ptr<VariableImpl> impl_;
  std::shared_ptr<VariableData> data_;
};

// Wraps an op's output. When gradients are enabled and any input requires one, the output
// records (op, data-less copies of the inputs, backward); otherwise no graph is kept and
// `backward` is dropped.
Variable make_result(Tensor data, const char* op, std::vector<Variable> inputs, BackwardFn backward);

// True unless a NoGradGuard is alive on this thread.
bool grad_enabled();

// Scope in which ops record no graph (evaluation, optimizer updates).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace lpt
