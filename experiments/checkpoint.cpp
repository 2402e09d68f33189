#include "experiments/checkpoint.h"

#include <set>

#include "core/json_text.h"
#include "core/hdf5.h"
#include "experiments/quantization_setup.h"

namespace lpt {

std::vector<std::pair<std::string, Tensor*>> model_tensors(Module& model) {
  std::vector<std::pair<std::string, Tensor*>> out;
  for (auto& [name, p] : model.named_parameters()) out.emplace_back(name, &p.data());
  for (auto& [name, b] : model.named_buffers()) out.emplace_back(name, b);
  return out;
}

namespace {
constexpr const char* kFormat = "lpt-checkpoint";
constexpr int64_t kVersion = 2;  // 2: LNS-Madam master grid γ_U in the state, 1-D parameters in their own optimizer

// Reads every model tensor from /model, checking names, shapes and dtypes both ways, before
// changing anything.
void read_model(const h5::File& f, Module& model) {
  LPT_CHECK(f.has("model"), "checkpoint '", f.path(), "' has no /model group");
  const auto tensors = model_tensors(model);
  std::vector<Tensor> loaded;
  std::set<std::string> expected;
  for (auto& [name, t] : tensors) {
    expected.insert(name);
    const std::string where = "model/" + name;
    LPT_CHECK(f.is_dataset(where), "checkpoint '", f.path(), "' does not match the model: tensor '", name,
              "' is missing");
    LPT_CHECK(f.shape(where) == t->shape(), "checkpoint '", f.path(), "' does not match the model: tensor '",
              name, "' has shape ", shape_str(f.shape(where)), ", the model expects ", shape_str(t->shape()));
    LPT_CHECK(f.dtype(where) == t->dtype(), "checkpoint '", f.path(), "' does not match the model: tensor '", name,
              "' has dtype ", dtype_name(f.dtype(where)), ", the model expects ", dtype_name(t->dtype()));
    loaded.push_back(f.read(where));
  }
  for (const std::string& name : f.datasets("model"))
    LPT_CHECK(expected.count(name), "checkpoint '", f.path(), "' does not match the model: tensor '", name,
              "' is not part of the model");
  for (size_t i = 0; i < tensors.size(); ++i) tensors[i].second->copy_from(loaded[i]);
}

// Version 1 differs from 2 only in the optimizer state: its weights, quantizer state and progress
// read the same, so evaluation, export and fine-tuning take it; resuming does not.
constexpr int64_t kOldestReadable = 1;

void check_format(const h5::File& f) {
  LPT_CHECK(f.has_attr("/", "format") && f.attr_string("/", "format") == kFormat, "'", f.path(),
            "' is not an lpt checkpoint (attribute format != \"", kFormat, "\")");
  const int64_t version = f.attr_int("/", "version");
  LPT_CHECK(version >= kOldestReadable && version <= kVersion, "checkpoint '", f.path(), "' has version ", version,
            "; this build reads versions ", kOldestReadable, " to ", kVersion);
}

void check_resumable(const h5::File& f) {
  const int64_t version = f.attr_int("/", "version");
  LPT_CHECK(version == kVersion, "checkpoint '", f.path(), "' has version ", version,
            ", written before LNS-Madam's master grid (master_gamma) and the 1-D parameters' own optimizer: its "
            "optimizer state cannot resume in this build (version ",
            kVersion, "); to keep its weights, start a new run with checkpoint.init_from set to it");
}

// /quantizer/<layer>.<role>.<key>: the quantizers' clip averages, OCTAV warm starts, calibrations.
void write_quantizer(h5::File& f, const std::vector<std::pair<std::string, std::vector<float>>>& state) {
  for (auto& [key, values] : state) f.write("quantizer/" + key, Tensor::from_vector({int64_t(values.size())}, values));
}
void read_quantizer(const h5::File& f, Module& model) {
  std::vector<std::pair<std::string, std::vector<float>>> state;
  if (f.has("quantizer"))
    for (const std::string& key : f.datasets("quantizer")) state.emplace_back(key, f.read("quantizer/" + key).to_vector());
  try {
    load_quantizer_state(model, state);
  } catch (const Error& e) {
    fail("checkpoint '", f.path(), "': ", e.what());
  }
}

LoadedCheckpoint read_progress(const h5::File& f) {
  LoadedCheckpoint out;
  out.config = parse_json_text(f.attr_string("/", "config"), "checkpoint '" + f.path() + "': attribute config");
  TrainingProgress& p = out.progress;
  p.epoch = f.attr_int("/", "epoch");
  p.step = f.attr_int("/", "step");
  p.batch_in_epoch = f.attr_int("/", "batch_in_epoch");
  p.loss_sum = f.attr_double("/", "loss_sum");
  p.correct = f.attr_int("/", "correct");
  p.seen = f.attr_int("/", "seen");
  p.seconds = f.attr_double("/", "seconds");
  out.threads = int(f.attr_int("/", "threads"));
  if (f.has_attr("/", "world_size")) out.world_size = int(f.attr_int("/", "world_size"));
  if (f.has_attr("/", "gemm_lanes")) {
    out.gemm_lanes =
        parse_json_text(f.attr_string("/", "gemm_lanes"), "checkpoint '" + f.path() + "': attribute gemm_lanes");
  }
  return out;
}

constexpr const char* kOptimizerPrefix = "optimizer.";
std::string strip_prefix(const std::string& name) {
  return name.rfind(kOptimizerPrefix, 0) == 0 ? name.substr(std::string(kOptimizerPrefix).size()) : name;
}
}  // namespace

StepStart record_step_start(Module& model, const TrainingProgress& progress) {
  StepStart s{progress, {}, quantizer_state(model), gemm_lane_plan(model)};
  for (auto& [name, b] : model.named_buffers()) s.buffers.emplace_back(name, b->clone());
  return s;
}

void save_checkpoint(const std::string& path, Module& model, const OptimizerSet& optimizers,
                     const TrainingProgress& progress, const json& config, int threads, int world_size) {
  save_checkpoint(path, model, optimizers, record_step_start(model, progress), config, threads, world_size);
}

void save_checkpoint(const std::string& path, Module& model, const OptimizerSet& optimizers, const StepStart& at,
                     const json& config, int threads, int world_size) {
  const TrainingProgress& p = at.progress;
  h5::write_atomically(path, [&](h5::File& f) {
    for (auto& [name, param] : model.named_parameters()) f.write("model/" + name, param.data());
    for (auto& [name, b] : at.buffers) f.write("model/" + name, b);
    write_quantizer(f, at.quantizers);
    for (size_t i = 0; i < optimizers.optimizers.size(); ++i) {
      const std::string group = "optimizer/" + std::to_string(i);
      const optim::OptimizerState state = optimizers.optimizers[i]->state();
      f.create_group(group);
      for (auto& [name, t] : state.tensors) f.write(group + "/" + strip_prefix(name), t);
      for (auto& [name, v] : state.scalars) f.set_attr(group, strip_prefix(name), v);
    }
    f.set_attr("/", "format", std::string(kFormat));
    f.set_attr("/", "version", kVersion);
    f.set_attr("/", "epoch", p.epoch);
    f.set_attr("/", "step", p.step);
    f.set_attr("/", "batch_in_epoch", p.batch_in_epoch);
    f.set_attr("/", "loss_sum", p.loss_sum);
    f.set_attr("/", "correct", p.correct);
    f.set_attr("/", "seen", p.seen);
    f.set_attr("/", "seconds", p.seconds);
    f.set_attr("/", "threads", int64_t(threads));
    if (world_size > 1) f.set_attr("/", "world_size", int64_t(world_size));  // absent: one process
    f.set_attr("/", "gemm_lanes", at.gemm_lanes.dump());
    f.set_attr("/", "config", config.dump());
  });
}

LoadedCheckpoint load_checkpoint(const std::string& path, Module& model, OptimizerSet& optimizers) {
  const h5::File f = h5::File::open_read(path);
  check_format(f);
  check_resumable(f);
  std::vector<optim::OptimizerState> states(optimizers.optimizers.size());
  for (size_t i = 0; i < states.size(); ++i) {
    const std::string group = "optimizer/" + std::to_string(i);
    LPT_CHECK(f.has(group), "checkpoint '", path, "' has no state for optimizer ", i, " (", group,
              "): it was written for another optimizer configuration");
    for (const std::string& name : f.datasets(group))
      states[i].tensors.emplace_back(kOptimizerPrefix + name, f.read(group + "/" + name));
    for (const std::string& name : f.attributes(group))
      states[i].scalars.emplace_back(kOptimizerPrefix + name, f.attr_int(group, name));
  }
  read_model(f, model);
  read_quantizer(f, model);
  const LoadedCheckpoint out = read_progress(f);
  for (size_t i = 0; i < states.size(); ++i) optimizers.optimizers[i]->load_state(states[i]);
  return out;
}

LoadedCheckpoint peek_checkpoint(const std::string& path) {
  const h5::File f = h5::File::open_read(path);
  check_format(f);
  return read_progress(f);
}

void load_model_weights(const std::string& path, Module& model) {
  const h5::File f = h5::File::open_read(path);
  check_format(f);
  read_model(f, model);
  // Quantizer state goes to a model that quantizes (evaluating a QAT run); fine-tuning in fp32
  // from a quantized run takes the weights alone.
  if (has_quantized_layers(model)) read_quantizer(f, model);
}

}  // namespace lpt
