#include "optimizers/optimizer.h"

#include <fnmatch.h>

#include <cmath>
#include <map>
#include <unordered_set>

#include "core/elementwise.h"

namespace lpt::optim {

namespace {

constexpr const char* kPrefix = "optimizer.";

void check_param(const char* opt, const Variable& p) {
  LPT_CHECK(p.defined(), opt, ": undefined parameter");
  LPT_CHECK(p.data().dtype() == DType::f32, opt, ": parameter '", p.name(), "' is ", p.data().describe(),
            ", expected f32");
  LPT_CHECK(p.data().is_dense(), opt, ": parameter '", p.name(), "' is ", p.data().describe(),
            ", expected a dense tensor");
}

std::string join_keys(const std::vector<std::string>& keys) {
  std::string s;
  for (const std::string& k : keys) s += (s.empty() ? "" : ", ") + k;
  return s.empty() ? "nothing" : s;
}

}  // namespace

Optimizer::Optimizer(const char* name, std::vector<std::vector<Variable>> groups, std::vector<double> lrs) {
  LPT_CHECK(groups.size() == lrs.size(), name, ": ", groups.size(), " parameter groups but ", lrs.size(),
            " learning rates");
  std::unordered_set<std::string> names;
  for (size_t g = 0; g < groups.size(); ++g) {
    LPT_CHECK(std::isfinite(lrs[g]) && lrs[g] >= 0, name, ": group ", g, ": learning rate ", lrs[g],
              ", expected a finite value >= 0");
    for (const Variable& p : groups[g]) {
      LPT_CHECK(p.defined() && !p.name().empty(), name, ": a parameter of group ", g,
                " has no name (names key the optimizer's checkpoint state)");
      LPT_CHECK(p.is_leaf(), name, ": parameter '", p.name(), "' is not a leaf variable");
      LPT_CHECK(names.insert(p.name()).second, name, ": parameter name '", p.name(),
                "' appears twice (in one group or in two)");
      check_param(name, p);
    }
    states_.emplace_back(groups[g].size());
    groups_.push_back(Group{std::move(groups[g]), lrs[g], lrs[g]});
  }
}

const Optimizer::Group& Optimizer::group_at(size_t g) const {
  LPT_CHECK(g < groups_.size(), name(), ": group ", g, " out of range (", groups_.size(), " groups)");
  return groups_[g];
}

void Optimizer::set_lr(size_t group, double lr) {
  group_at(group);
  LPT_CHECK(std::isfinite(lr) && lr >= 0, name(), ": learning rate ", lr, " for group ", group,
            ", expected a finite value >= 0");
  groups_[group].lr = lr;
}

void Optimizer::step() {
  NoGradGuard no_grad;
  for (size_t g = 0; g < groups_.size(); ++g) {
    for (size_t i = 0; i < groups_[g].params.size(); ++i) {
      const Variable& p = groups_[g].params[i];
      if (!p.has_grad()) continue;
      check_param(name(), p);
      const Tensor& grad = p.grad();
      LPT_CHECK(grad.dtype() == DType::f32 && grad.shape() == p.shape(), name(), ": gradient of '", p.name(),
                "' is ", grad.describe(), ", expected f32", shape_str(p.shape()));
      update(g, p, like_layout(grad, p.data()), states_[g][i]);
    }
  }
}

void Optimizer::zero_grad() {
  for (Group& group : groups_)
    for (Variable& p : group.params) p.zero_grad();
}

OptimizerState Optimizer::state() const {
  OptimizerState out;
  for (size_t g = 0; g < groups_.size(); ++g) {
    for (size_t i = 0; i < groups_[g].params.size(); ++i) {
      const ParamState& st = states_[g][i];
      if (!st.initialized) continue;
      const Variable& p = groups_[g].params[i];
      const std::vector<StateSlot> layout = state_layout(g, p);
      for (size_t s = 0; s < layout.size(); ++s)
        out.tensors.emplace_back(kPrefix + p.name() + "." + layout[s].key, st.tensors[s].clone());
      if (counts_steps()) out.scalars.emplace_back(kPrefix + p.name() + ".step", st.step);
    }
  }
  return out;
}

void Optimizer::load_state(const OptimizerState& state) {
  // Where each parameter lives, and what the checkpoint holds for it.
  std::map<std::string, std::pair<size_t, size_t>> where;
  for (size_t g = 0; g < groups_.size(); ++g)
    for (size_t i = 0; i < groups_[g].params.size(); ++i) where[groups_[g].params[i].name()] = {g, i};
  struct Found {
    std::vector<const Tensor*> tensors;
    const int64_t* step = nullptr;
    bool any = false;
  };
  std::vector<std::vector<Found>> found(groups_.size());
  for (size_t g = 0; g < groups_.size(); ++g) found[g].resize(groups_[g].params.size());

  // "optimizer.<param>.<key>" -> (param location, key); param names may contain dots, keys do not.
  auto locate = [&](const std::string& entry) {
    const size_t dot = entry.rfind('.');
    LPT_CHECK(entry.rfind(kPrefix, 0) == 0 && dot != std::string::npos && dot > std::string(kPrefix).size(),
              name(), ".load_state: entry '", entry, "' is not named optimizer.<parameter>.<key>");
    const std::string param = entry.substr(std::string(kPrefix).size(), dot - std::string(kPrefix).size());
    auto it = where.find(param);
    LPT_CHECK(it != where.end(), name(), ".load_state: entry '", entry, "' names no parameter of this optimizer ('",
              param, "')");
    return std::make_pair(it->second, entry.substr(dot + 1));
  };
  auto slot_keys = [](const std::vector<StateSlot>& layout) {
    std::vector<std::string> keys;
    for (const StateSlot& s : layout) keys.push_back(s.key);
    return keys;
  };

  for (const auto& [entry, tensor] : state.tensors) {
    const auto [loc, key] = locate(entry);
    const auto [g, i] = loc;
    const Variable& p = groups_[g].params[i];
    const std::vector<StateSlot> layout = state_layout(g, p);
    Found& f = found[g][i];
    f.tensors.resize(layout.size(), nullptr);
    size_t s = 0;
    while (s < layout.size() && layout[s].key != key) ++s;
    LPT_CHECK(s < layout.size(), name(), ".load_state: entry '", entry, "': ", name(), " keeps ",
              join_keys(slot_keys(layout)), " for parameter '", p.name(), "', not '", key, "'");
    LPT_CHECK(tensor.defined() && tensor.shape() == layout[s].shape && tensor.dtype() == layout[s].dtype, name(),
              ".load_state: entry '", entry, "' is ", tensor.defined() ? tensor.describe() : "undefined",
              ", expected ", dtype_name(layout[s].dtype), shape_str(layout[s].shape));
    LPT_CHECK(f.tensors[s] == nullptr, name(), ".load_state: entry '", entry, "' appears twice");
    f.tensors[s] = &tensor;
    f.any = true;
  }
  for (const auto& [entry, value] : state.scalars) {
    const auto [loc, key] = locate(entry);
    const auto [g, i] = loc;
    LPT_CHECK(key == "step" && counts_steps(), name(), ".load_state: entry '", entry, "': ", name(),
              " keeps no scalar '", key, "'", counts_steps() ? " (only 'step')" : "");
    LPT_CHECK(value >= 1, name(), ".load_state: entry '", entry, "' is ", value, ", expected a step count >= 1");
    Found& f = found[g][i];
    LPT_CHECK(f.step == nullptr, name(), ".load_state: entry '", entry, "' appears twice");
    f.step = &value;
    f.any = true;
  }

  // Each parameter has all of its state or none of it.
  std::vector<std::vector<ParamState>> loaded(groups_.size());
  for (size_t g = 0; g < groups_.size(); ++g) {
    loaded[g].resize(groups_[g].params.size());
    for (size_t i = 0; i < groups_[g].params.size(); ++i) {
      const Found& f = found[g][i];
      if (!f.any) continue;
      const Variable& p = groups_[g].params[i];
      const std::vector<StateSlot> layout = state_layout(g, p);
      const std::string missing_prefix = kPrefix + p.name() + ".";
      LPT_CHECK(!counts_steps() || f.step != nullptr, name(), ".load_state: entry '", missing_prefix,
                "step' is missing (other state of parameter '", p.name(), "' is present)");
      ParamState& st = loaded[g][i];
      for (size_t s = 0; s < layout.size(); ++s) {
        const Tensor* src = s < f.tensors.size() ? f.tensors[s] : nullptr;
        LPT_CHECK(src != nullptr, name(), ".load_state: entry '", missing_prefix, layout[s].key,
                  "' is missing (other state of parameter '", p.name(), "' is present)");
        // State shaped like the parameter takes the parameter's strides: updates run over both linearly.
        Tensor t = layout[s].shape == p.shape() ? Tensor::empty_strided(p.shape(), p.data().strides(), layout[s].dtype)
                                                : Tensor::empty(layout[s].shape, layout[s].dtype);
        t.copy_from(*src);
        st.tensors.push_back(t);
      }
      st.step = f.step ? *f.step : 0;
      st.initialized = true;
    }
  }
  states_ = std::move(loaded);
}

ParamRule has_ndim(int ndim) {
  return [ndim](const Variable& p) { return p.data().ndim() == ndim; };
}

ParamRule name_matches(std::string glob) {
  return [glob = std::move(glob)](const Variable& p) { return fnmatch(glob.c_str(), p.name().c_str(), 0) == 0; };
}

std::vector<std::vector<Variable>> split_params(const std::vector<Variable>& params,
                                                const std::vector<ParamRule>& rules) {
  std::vector<std::vector<Variable>> out(rules.size() + 1);
  for (const Variable& p : params) {
    size_t r = 0;
    while (r < rules.size() && !rules[r](p)) ++r;
    out[r].push_back(p);
  }
  return out;
}

}  // namespace lpt::optim
