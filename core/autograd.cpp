#include "core/autograd.h"

#include <unordered_set>

#include "core/elementwise.h"

namespace lpt {

namespace {
thread_local bool t_grad_enabled = true;
}

bool grad_enabled() { return t_grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(t_grad_enabled) { t_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { t_grad_enabled = previous_; }

Variable::Variable(Tensor data, bool requires_grad, std::string name)
    : impl_(std::make_shared<VariableImpl>()), data_(std::make_shared<VariableData>()) {
  data_->data = std::move(data);
  impl_->requires_grad = requires_grad;
  impl_->name = std::move(name);
}

Variable Variable::without_data() const {
  if (!defined()) return *this;
  Variable out;
  out.impl_ = impl_;
  out.data_ = std::make_shared<VariableData>(VariableData{Tensor(), shape()});
  return out;
}

void Variable::accumulate_grad(const Tensor& g) {
  LPT_CHECK(g.shape() == shape(), "backward: gradient of shape ", shape_str(g.shape()), " for tensor '",
            name(), "' of shape ", shape_str(shape()));
  if (!impl_->grad.defined()) {
    impl_->grad = g;
  } else {
    impl_->grad = add(impl_->grad, g);
  }
}

Variable make_result(Tensor data, const char* op, std::vector<Variable> inputs, BackwardFn backward) {
  Variable out(std::move(data));
  if (!grad_enabled()) return out;
  bool any = false;
  for (const Variable& v : inputs) any = any || v.requires_grad();
  if (!any) return out;
  out.impl()->requires_grad = true;
  // Backward functions read only what they saved, so the graph keeps no input's values alive.
  for (Variable& v : inputs) v = v.without_data();
  out.impl()->node = std::make_shared<GradNode>(GradNode{op, std::move(inputs), std::move(backward)});
  return out;
}

void Variable::backward() {
  LPT_CHECK(data().numel() == 1, "backward: called without a gradient on tensor ", data().describe(),
            "; only one-element outputs get the implicit seed 1");
  backward(Tensor::full(shape(), 1.0f));
}

void Variable::backward(const Tensor& grad_output) {
  LPT_CHECK(requires_grad(), "backward: the output does not require a gradient (no parameter reaches it, or "
            "it was computed under NoGradGuard)");
  // Reverse topological order by iterative depth-first search (graphs can be thousands deep).
  // `order` owns the variables: freeing a node below may drop the last other reference to them.
  std::vector<std::shared_ptr<VariableImpl>> order;
  std::unordered_set<VariableImpl*> seen{impl_.get()};
  std::vector<std::pair<std::shared_ptr<VariableImpl>, size_t>> stack{{impl_, 0}};
  while (!stack.empty()) {
    const std::shared_ptr<VariableImpl> v = stack.back().first;
    const size_t next = stack.back().second;
    if (v->node && next < v->node->inputs.size()) {
      ++stack.back().second;
      const std::shared_ptr<VariableImpl>& in = v->node->inputs[next].impl_;
      if (in && in->requires_grad && seen.insert(in.get()).second) stack.emplace_back(in, 0);  // in: null for an absent optional input
    } else {
      order.push_back(v);
      stack.pop_back();
    }
  }
  accumulate_grad(grad_output);
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    VariableImpl* v = it->get();
    if (!v->node) continue;
    // Free the graph as we go: the node's saved state, this intermediate gradient and (once no
    // one else holds it) the variable itself are done with.
    std::shared_ptr<GradNode> node = std::move(v->node);
    Tensor grad = std::move(v->grad);
    if (grad.defined()) node->backward(node->inputs, grad);
    it->reset();
  }
}

}  // namespace lpt
