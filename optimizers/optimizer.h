#pragma once
// Optimizer base: parameter groups of leaf Variables, each group with its own learning rate
// (and, in the concrete optimizers, its own hyperparameters), per-parameter state created at a
// parameter's first update, and that state as named tensors for checkpoints.
//
// An update reads the parameter's gradient (never writes it: gradients may be shared) and writes
// the parameter's data in place. Keeping the update behind that boundary lets an optimizer keep
// its own master copy of the weights in its state (in any number format) and write the working
// copy from it. Parameters without a gradient are skipped, as PyTorch does.
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/autograd.h"

namespace lpt::optim {

// Everything an optimizer needs to resume bit-exactly. Tensors are named
// "optimizer.<param name>.<key>" (key: momentum_buffer, exp_avg, exp_avg_sq, ...), update counts
// "optimizer.<param name>.step". Parameters not updated yet have no entries.
struct OptimizerState {
  std::vector<std::pair<std::string, Tensor>> tensors;
  std::vector<std::pair<std::string, int64_t>> scalars;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter that has a gradient, each group with its current lr.
  void step();
  // Drops every parameter's gradient.
  void zero_grad();

  size_t num_groups() const { return groups_.size(); }
  const std::vector<Variable>& params(size_t group) const { return group_at(group).params; }
  double lr(size_t group) const { return group_at(group).lr; }
  // The lr the group was configured with: schedules compute the current lr from it.
  double base_lr(size_t group) const { return group_at(group).base_lr; }
  void set_lr(size_t group, double lr);

  OptimizerState state() const;
  // Replaces the whole state (parameters without entries start afresh). Throws, naming the
  // entry, on an unknown name, an entry that does not fit its parameter or an incomplete
  // parameter; the optimizer is unchanged when it throws.
  void load_state(const OptimizerState& state);

  virtual const char* name() const = 0;  // "SGD", "Adam", ... for messages

 protected:
  // One state tensor a parameter carries once updated.
  struct StateSlot {
    std::string key;
    Shape shape;
    DType dtype = DType::f32;
  };
  // A parameter's state: tensors in the order of state_layout(), and the number of updates.
  struct ParamState {
    bool initialized = false;
    int64_t step = 0;
    std::vector<Tensor> tensors;
  };

  // groups[g] are the parameters of group g with learning rate lrs[g]. Parameters must be
  // dense f32 leaves with unique non-empty names (the names key the checkpoint). `name` is the
  // optimizer's, for messages.
  Optimizer(const char* name, std::vector<std::vector<Variable>> groups, std::vector<double> lrs);

  // Updates `param` (dense f32) from `grad` (same shape and strides), creating the state when
  // state.initialized is false. Called by step() under NoGradGuard.
  virtual void update(size_t group, const Variable& param, const Tensor& grad, ParamState& state) = 0;
  // The tensors a parameter of this group keeps (empty for none), and whether it counts steps.
  virtual std::vector<StateSlot> state_layout(size_t group, const Variable& param) const = 0;
  virtual bool counts_steps() const = 0;

 private:
  struct Group {
    std::vector<Variable> params;
    double lr;
    double base_lr;
  };
  const Group& group_at(size_t g) const;

  std::vector<Group> groups_;
  std::vector<std::vector<ParamState>> states_;  // [group][param]
};

// A parameter group as the concrete optimizers take it: parameters and their hyperparameters.
template <class Options>
struct ParamGroup {
  std::vector<Variable> params;
  Options options;
};

namespace detail {
template <class Options>
std::vector<std::vector<Variable>> group_params(const std::vector<ParamGroup<Options>>& groups) {
  std::vector<std::vector<Variable>> out;
  for (const auto& g : groups) out.push_back(g.params);
  return out;
}
template <class Options>
std::vector<double> group_lrs(const std::vector<ParamGroup<Options>>& groups) {
  std::vector<double> out;
  for (const auto& g : groups) out.push_back(g.options.lr);
  return out;
}
// Tensors smaller than this are updated on one thread: forking costs more than the loop.
inline constexpr int64_t kParallelMinElements = int64_t(1) << 15;
}  // namespace detail

// Choosing parameter groups by rule, e.g. "no weight decay on 1-D parameters (biases, BN)".
using ParamRule = std::function<bool(const Variable&)>;
ParamRule has_ndim(int ndim);                // e.g. has_ndim(1): biases, BN scale and shift
ParamRule name_matches(std::string glob);    // shell wildcards ('*', '?', [..]) over the whole name
// Splits params by the first rule each matches: result[i] holds those of rules[i], in the
// original order, and result[rules.size()] those no rule matched.
std::vector<std::vector<Variable>> split_params(const std::vector<Variable>& params,
                                                const std::vector<ParamRule>& rules);

}  // namespace lpt::optim
