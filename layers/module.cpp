#include "layers/module.h"

namespace lpt {

namespace {
std::string join(const std::string& prefix, const std::string& name) {
  if (prefix.empty()) return name;
  return name.empty() ? prefix : prefix + "." + name;
}
}  // namespace

std::vector<std::pair<std::string, Variable>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Variable>> out(params_.begin(), params_.end());
  for (const auto& [cname, child] : children_)
    for (auto& [pname, p] : child->named_parameters()) out.emplace_back(join(cname, pname), p);
  return out;
}

std::vector<std::pair<std::string, Tensor*>> Module::named_buffers() {
  std::vector<std::pair<std::string, Tensor*>> out;
  for (auto& [name, b] : buffers_) out.emplace_back(name, b.get());
  for (auto& [cname, child] : children_)
    for (auto& [bname, b] : child->named_buffers()) out.emplace_back(join(cname, bname), b);
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out{{"", this}};
  for (auto& [cname, child] : children_)
    for (auto& [mname, m] : child->named_modules()) out.emplace_back(join(cname, mname), m);
  return out;
}

std::vector<Variable> Module::parameters() const {
  std::vector<Variable> out;
  for (auto& [name, p] : named_parameters()) out.push_back(p);
  return out;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

void Module::begin_step(uint64_t seed, uint64_t step) {
  on_begin_step(seed, step);
  for (auto& [name, child] : children_) child->begin_step(seed, step);
}

void Module::initialize(uint64_t seed) {
  reset_parameters(seed);
  for (auto& [name, child] : children_) child->initialize(seed);
}

void Module::name_modules(const std::string& prefix) {
  name_ = prefix;
  for (auto& [cname, child] : children_) child->name_modules(join(prefix, cname));
  for (auto& [pname, p] : params_) p.set_name(join(prefix, pname));
}

Variable& Module::register_parameter(const std::string& name, Tensor init) {
  params_.emplace_back(name, Variable(std::move(init), true, name));
  return params_.back().second;
}

Tensor& Module::register_buffer(const std::string& name, Tensor init) {
  buffers_.emplace_back(name, std::make_unique<Tensor>(std::move(init)));
  return *buffers_.back().second;
}

Variable Sequential::forward(const Variable& x) {
  Variable h = x;
  for (auto& layer : layers_) h = layer->forward(h);
  return h;
}

}  // namespace lpt
