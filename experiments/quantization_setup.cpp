#include "experiments/quantization_setup.h"

#include <fnmatch.h>

#include <array>
#include <map>

#include "core/error.h"
#include "models/models.h"

namespace lpt {

namespace {

constexpr const char* kRoles[] = {"weights", "activations", "errors", "weight_gradients"};

// Per-GEMM overrides (SPEC §2): a backward GEMM's key and the operands it may give a format of its own.
struct GemmOverride {
  const char* gemm;
  const char* operands[2];
};
constexpr GemmOverride kOverrides[] = {{"backward_data", {"weights", "errors"}},
                                       {"backward_weights", {"activations", "errors"}}};

// The GemmFormats field an override sets.
std::shared_ptr<const formats::Format>& override_field(GemmFormats& f, const std::string& gemm,
                                                       const std::string& operand) {
  if (gemm == "backward_data") return operand == "weights" ? f.weights_backward_data : f.errors_backward_data;
  return operand == "activations" ? f.activations_backward_weights : f.errors_backward_weights;
}

const GemmOverride* find_override(const std::string& key) {
  for (const GemmOverride& o : kOverrides)
    if (key == o.gemm) return &o;
  return nullptr;
}

std::shared_ptr<const formats::Format> format_at(const json& v, const std::string& where) {
  if (v.is_null()) return nullptr;
  try {
    return std::make_shared<const formats::Format>(formats::Format::parse(v));
  } catch (const Error& e) {
    fail(where, ": ", e.what());
  }
}

Estimator estimator_of(const std::string& name) {
  return name == "pwl" ? Estimator::pwl : name == "mad" ? Estimator::mad : Estimator::ste;
}

bool is_role(const std::string& k) {
  for (const char* r : kRoles)
    if (k == r) return true;
  return false;
}

// One key of a layer rule (or of the section itself) applied to a layer's formats.
void apply_key(GemmFormats& f, const std::string& key, const json& v, const std::string& where) {
  if (key == "weights") f.weights = format_at(v, where);
  else if (key == "activations") f.activations = format_at(v, where);
  else if (key == "errors") f.errors = format_at(v, where);
  else if (key == "weight_gradients") f.weight_gradients = format_at(v, where);
  else if (key == "weight_estimator") f.weight_estimator = estimator_of(v);
  else if (key == "activation_estimator") f.activation_estimator = estimator_of(v);
  else if (key == "requantize_backward") f.requantize_backward = v;
  else if (key == "hadamard") f.hadamard = v.is_boolean() && v.get<bool>();
  else if (find_override(key)) {
    for (const auto& [operand, format] : v.items())
      override_field(f, key, operand) = format_at(format, where + "/" + operand);
  } else if (key == "execution")
    f.execution = v == "native" ? Execution::native : v == "emulated" ? Execution::emulated : Execution::automatic;
}

void check_rule_value(const std::string& key, const json& v, const std::string& where) {
  if (is_role(key)) {
    LPT_CHECK(v.is_null() || v.is_object(), where, ": expected a format object or null, got ", v.dump());
    format_at(v, where);
  } else if (key == "weight_estimator" || key == "activation_estimator") {
    LPT_CHECK(v == "ste" || v == "pwl" || v == "mad", where, ": expected \"ste\", \"pwl\" or \"mad\", got ", v.dump());
  } else if (key == "requantize_backward") {
    LPT_CHECK(v.is_boolean(), where, ": expected true or false, got ", v.dump());
  } else if (key == "hadamard") {
    LPT_CHECK(v.is_boolean() || v.is_null(), where, ": expected true, false or null, got ", v.dump());
  } else if (const GemmOverride* o = find_override(key)) {
    LPT_CHECK(v.is_object(), where, ": expected an object {\"", o->operands[0], "\": format, \"", o->operands[1],
              "\": format}, got ", v.dump());
    for (const auto& [operand, format] : v.items()) {
      LPT_CHECK(operand == o->operands[0] || operand == o->operands[1], where, "/", operand, ": the ", o->gemm,
                " GEMM's operands are ", o->operands[0], " and ", o->operands[1]);
      check_rule_value("weights", format, where + "/" + operand);
    }
  } else if (key == "execution") {
    LPT_CHECK(v == "auto" || v == "emulated" || v == "native", where,
              ": expected \"auto\", \"emulated\" or \"native\", got ", v.dump());
  } else if (key != "match") {
    fail(where, ": unknown key; a rule takes match, weights, activations, errors, weight_gradients, "
                "backward_data, backward_weights, weight_estimator, activation_estimator, requantize_backward, "
                "hadamard, execution");
  }
}

void check_patterns(const json& v, const std::string& where) {
  LPT_CHECK(v.is_array(), where, ": expected a list of layer-name globs, got ", v.dump());
  for (size_t i = 0; i < v.size(); ++i)
    LPT_CHECK(v[i].is_string() && !v[i].get<std::string>().empty(), where, "/", i,
              ": expected a non-empty layer-name glob, got ", v[i].dump());
}

struct LayerNames {
  std::string first, last;
  bool matches(const std::string& pattern, const std::string& layer) const {
    if (pattern == "@first") return layer == first;
    if (pattern == "@last") return layer == last;
    return fnmatch(pattern.c_str(), layer.c_str(), 0) == 0;
  }
};

std::string list_names(const std::vector<std::pair<std::string, GemmLayer*>>& layers) {
  std::string s;
  for (const auto& [name, l] : layers) s += (s.empty() ? "" : ", ") + name;
  return s;
}

}  // namespace

void check_quantization_config(const json& q, const std::string& source) {
  const std::string base = source + ": /quantization/";
  for (const char* r : kRoles) check_rule_value(r, q.value(r, json()), base + r);
  for (const GemmOverride& o : kOverrides) check_rule_value(o.gemm, q.value(o.gemm, json::object()), base + o.gemm);
  const json& rules = q["layers"];
  LPT_CHECK(rules.is_array(), base, "layers: expected a list of rules, got ", rules.dump());
  for (size_t i = 0; i < rules.size(); ++i) {
    const std::string where = base + "layers/" + std::to_string(i);
    LPT_CHECK(rules[i].is_object(), where, ": expected an object {\"match\": glob, ...}, got ", rules[i].dump());
    LPT_CHECK(rules[i].contains("match") && rules[i]["match"].is_string() && !rules[i]["match"].get<std::string>().empty(),
              where, "/match: expected a non-empty layer-name glob");
    for (const auto& [key, v] : rules[i].items()) check_rule_value(key, v, where + "/" + key);
  }
  const json& booster = q["booster"];
  format_at(booster.value("format", json()), base + "booster/format");
  check_patterns(booster["layers"], base + "booster/layers");
}

bool quantization_enabled(const json& config) {
  const json& q = config["quantization"];
  // A rule (or the section) that sets a role's or a per-GEMM operand's format.
  const auto sets_a_format = [](const json& rule) {
    for (const char* r : kRoles)
      if (!rule.value(r, json()).is_null()) return true;
    for (const GemmOverride& o : kOverrides) {
      const json operands = rule.value(o.gemm, json::object());
      for (const auto& [operand, format] : operands.items())
        if (!format.is_null()) return true;
    }
    return false;
  };
  if (sets_a_format(q)) return true;
  for (const json& rule : q["layers"])
    if (sets_a_format(rule)) return true;
  return false;
}

std::vector<std::pair<std::string, GemmLayer*>> gemm_layers(Module& model) {
  std::vector<std::pair<std::string, GemmLayer*>> out;
  for (auto& [name, m] : model.named_modules())
    if (auto* g = dynamic_cast<GemmLayer*>(m)) out.emplace_back(name, g);
  return out;
}

bool has_quantized_layers(Module& model) {
  for (auto& [name, layer] : gemm_layers(model))
    if (layer->quantized()) return true;
  return false;
}

void apply_quantization(Module& model, const json& config, int64_t epoch) {
  const bool enabled = quantization_enabled(config);
  const json& q = config["quantization"];
  const std::string where = "config: /quantization/";
  const auto layers = gemm_layers(model);
  const LayerNames names{first_conv_name(model), last_linear_name(model)};
  const json& rules = q["layers"];
  const json& booster = q["booster"];
  const auto boost_format = format_at(booster.value("format", json()), where + "booster/format");
  const int64_t epochs = config["training"]["epochs"];
  const bool boosted_epoch = boost_format && epoch >= epochs - booster["last_epochs"].get<int64_t>();

  std::vector<bool> rule_used(rules.size(), false), boost_used(booster["layers"].size(), false);
  for (auto& [name, layer] : layers) {
    GemmFormats f;
    for (const auto& [key, v] : q.items()) apply_key(f, key, v, where + key);
    // The section's Hadamard transform applies where it holds (SPEC §2); a rule asking for it
    // where it does not is an error.
    f.hadamard = f.hadamard && layer->reduction_rows_shared();
    for (size_t i = 0; i < rules.size(); ++i) {
      if (!names.matches(rules[i]["match"], name)) continue;
      rule_used[i] = true;
      for (const auto& [key, v] : rules[i].items()) apply_key(f, key, v, where + "layers/" + std::to_string(i));
      LPT_CHECK(!f.hadamard || layer->reduction_rows_shared(), where, "layers/", i, "/hadamard: layer '", name,
                "' reads x at other positions than dy in its backward-weights GEMM (a k×k, strided or padded "
                "convolution), where the Hadamard transform would change the product; it holds for linear layers "
                "and 1×1, stride-1, unpadded convolutions");
    }
    bool boosted = boosted_epoch;
    for (size_t i = 0; i < booster["layers"].size(); ++i)
      if (names.matches(booster["layers"][i], name)) boosted = true, boost_used[i] = true;
    if (boost_format && boosted) {
      for (auto* role : {&f.weights, &f.activations, &f.errors, &f.weights_backward_data, &f.errors_backward_data,
                         &f.activations_backward_weights, &f.errors_backward_weights})
        if (*role) *role = boost_format;
    }
    if (enabled) layer->set_quantization(f);  // fp32 layers too: their multiply-adds count in the shares
  }
  for (size_t i = 0; i < rules.size(); ++i)
    LPT_CHECK(rule_used[i], where, "layers/", i, "/match: '", rules[i]["match"].get<std::string>(),
              "' matches no layer; the layers are ", list_names(layers));
  if (boost_format)
    for (size_t i = 0; i < boost_used.size(); ++i)
      LPT_CHECK(boost_used[i], where, "booster/layers/", i, ": '", booster["layers"][i].get<std::string>(),
                "' matches no layer; the layers are ", list_names(layers));
}

std::vector<std::pair<std::string, std::vector<float>>> quantizer_state(Module& model) {
  std::vector<std::pair<std::string, std::vector<float>>> out;
  for (auto& [name, layer] : gemm_layers(model))
    if (layer->quantizer())
      for (auto& [key, values] : layer->quantizer()->state()) out.emplace_back(name + "." + key, values);
  return out;
}

void load_quantizer_state(Module& model, const std::vector<std::pair<std::string, std::vector<float>>>& state) {
  const auto layers = gemm_layers(model);
  for (auto& [name, layer] : layers)
    if (layer->quantizer()) layer->quantizer()->clear_state();
  for (const auto& [key, values] : state) {
    GemmQuantizer* owner = nullptr;
    std::string rest;
    for (auto& [name, layer] : layers)  // the longest layer name that prefixes the key
      if (layer->quantizer() && key.rfind(name + ".", 0) == 0 && (!owner || name.size() > owner->layer().size()))
        owner = layer->quantizer(), rest = key.substr(name.size() + 1);
    LPT_CHECK(owner, "quantizer state '", key, "' belongs to no quantized layer of this model");
    owner->load_state(rest, values);
  }
}

void set_collect_stats(Module& model, bool on) {
  for (auto& [name, layer] : gemm_layers(model))
    if (layer->quantizer()) layer->quantizer()->set_collect_stats(on);
}

void set_calibrating(Module& model, bool on) {
  for (auto& [name, layer] : gemm_layers(model))
    if (layer->quantizer()) layer->quantizer()->set_calibrating(on);
}

namespace {
void set_weights_frozen(Module& model, bool on) {
  for (auto& [name, layer] : gemm_layers(model))
    if (layer->quantizer()) layer->quantizer()->set_weights_frozen(on);
}
}  // namespace

FrozenWeights::FrozenWeights(Module& model) : model_(model) { set_weights_frozen(model, true); }
FrozenWeights::~FrozenWeights() { set_weights_frozen(model_, false); }

json take_quantization_diagnostics(Module& model) {
  json layers = json::object();
  json order = json::array();  // `layers` is keyed by name; `lpt report` shows them in forward order
  std::map<std::string, double> macs;
  std::array<std::map<std::string, double>, ops::kGemms> gemm_macs;
  double total = 0;
  for (auto& [name, layer] : gemm_layers(model)) {
    GemmQuantizer* q = layer->quantizer();
    if (!q) continue;
    json d = q->take_diagnostics();
    if (!d.empty()) layers[name] = std::move(d), order.push_back(name);
    for (int g = 0; g < ops::kGemms; ++g)
      for (const auto& [precision, n] : q->macs()[size_t(g)])
        macs[precision] += n, gemm_macs[size_t(g)][precision] += n, total += n;
    q->reset_macs();
  }
  json share = json::object(), by_gemm = json::object();
  for (const auto& [precision, n] : macs) share[precision] = n / total;
  for (int g = 0; g < ops::kGemms; ++g)
    for (const auto& [precision, n] : gemm_macs[size_t(g)]) by_gemm[ops::gemm_name(ops::Gemm(g))][precision] = n / total;
  json out{{"layers", layers}, {"layer_order", order}, {"mac_share", share}, {"mac_share_by_gemm", by_gemm}};
  json native = native_gemm_counts(model);
  if (!native.empty()) out["native_gemms"] = std::move(native);
  return out;
}

json native_gemm_counts(Module& model) {
  json out = json::object();
  for (auto& [name, layer] : gemm_layers(model)) {
    GemmQuantizer* q = layer->quantizer();
    if (!q || !q->lanes().any()) continue;
    json gemms = q->gemm_runs(true, true);
    q->reset_gemm_counts();
    if (!gemms.empty()) out[name] = std::move(gemms);
  }
  return out;
}

json gemm_lane_plan(Module& model) {
  json out = json::object();
  for (auto& [name, layer] : gemm_layers(model)) {
    const GemmQuantizer* q = layer->quantizer();
    if (!q) continue;
    json lanes = json::object();
    for (int g = 0; g < ops::kGemms; ++g) lanes[ops::gemm_name(ops::Gemm(g))] = ops::lane_name(q->lanes().lane[size_t(g)]);
    out[name] = std::move(lanes);
  }
  return out;
}

json gemm_lanes(Module& model) {
  json out = json::object();
  for (auto& [name, layer] : gemm_layers(model)) {
    const GemmQuantizer* q = layer->quantizer();
    if (!q) continue;
    json runs = q->gemm_runs(false, false);
    if (!runs.empty()) out[name] = std::move(runs);
  }
  return out;
}

}  // namespace lpt
