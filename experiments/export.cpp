#include "experiments/export.h"

#include <cmath>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>

#include "core/json_text.h"
#include "core/hdf5.h"
#include "experiments/build_info.h"
#include "experiments/checkpoint.h"
#include "experiments/quantization_setup.h"
#include "experiments/encoded_io.h"

namespace lpt {

namespace {
constexpr const char* kFormat = "lpt-export";
constexpr int64_t kVersion = 1;

// The layers whose weights an export stores encoded, by weight name ("layer1.0.conv1.weight").
std::map<std::string, GemmLayer*> encoded_weights(Module& model) {
  std::map<std::string, GemmLayer*> out;
  for (auto& [name, layer] : gemm_layers(model))
    if (layer->quantized() && layer->quantizer()->formats().weights) out[name + ".weight"] = layer;
  return out;
}

// Evaluation's activation quantizers read these; weight state is baked into the codes, and the
// backward roles (errors, weight gradients, activations.weights) do not run at evaluation.
bool is_activation_state(const std::string& key) {
  return key.find(".activations.") != std::string::npos && key.find(".activations.weights.") == std::string::npos;
}

ExportedTensor write_weight(h5::File& f, const std::string& name, const Tensor& w, const GemmLayer& layer) {
  const std::string group = "model/" + name;
  const formats::Encoded e = layer.quantizer()->encode_weights(w, layer.weight_geometry());
  const int64_t bytes = write_encoded(f, group, e);
  f.set_attr(group, "shape", json(w.shape()).dump());
  return {name, e.format.name(), w.numel(), bytes};
}

// A quantized weight read back (arrays checked against its format), checked to be in the format the
// model's config gives the layer, and decoded (shaped as the parameter).
std::pair<formats::Encoded, Tensor> read_weight(const h5::File& f, const std::string& name, const Tensor& param,
                                                const GemmLayer& layer) {
  const std::string what = "export '" + f.path() + "' tensor '" + name + "'";
  const formats::Encoded e = read_encoded(f, "model/" + name, param.numel());
  const formats::Format expected = layer.quantizer()->formats().weights->resolved(false);
  LPT_CHECK(e.format == expected, what, " is stored as ", e.format.name(), ", but the export's config gives its layer ",
            expected.name());
  const Tensor values = formats::decode(e);
  for (float v : values.to_vector())
    LPT_CHECK(std::isfinite(v), what, " decodes to a non-finite value (corrupted codes or scales)");
  return {e, values.view(param.shape())};
}

void check_header(const h5::File& f) {
  LPT_CHECK(f.has_attr("/", "format") && f.attr_string("/", "format") == kFormat, "'", f.path(),
            "' is not an lpt export (attribute format != \"", kFormat, "\")");
  LPT_CHECK(f.attr_int("/", "version") == kVersion, "export '", f.path(), "' has version ", f.attr_int("/", "version"),
            "; this build reads version ", kVersion);
}
}  // namespace

std::vector<ExportedTensor> write_export(const std::string& path, Module& model, const json& config,
                                         const std::string& source, int64_t epoch) {
  const auto encoded = encoded_weights(model);
  std::vector<ExportedTensor> rows;
  h5::write_atomically(path, [&](h5::File& f) {
    f.create_group("model");
    for (auto& [name, t] : model_tensors(model)) {
      const auto layer = encoded.find(name);
      if (layer != encoded.end()) {
        rows.push_back(write_weight(f, name, *t, *layer->second));
      } else {
        f.write("model/" + name, *t);
        rows.push_back({name, "fp32", t->numel(), int64_t(t->nbytes())});
      }
    }
    for (auto& [key, values] : quantizer_state(model))
      if (is_activation_state(key)) f.write("quantizer/" + key, Tensor::from_vector({int64_t(values.size())}, values));
    int64_t total = 0, fp32 = 0;
    for (const ExportedTensor& r : rows) total += r.bytes, fp32 += 4 * r.elements;
    f.set_attr("/", "format", std::string(kFormat));
    f.set_attr("/", "version", kVersion);
    f.set_attr("/", "architecture", config["model"]["name"].get<std::string>());
    f.set_attr("/", "config", config.dump());
    f.set_attr("/", "source", source);
    f.set_attr("/", "epoch", epoch);
    f.set_attr("/", "lpt_commit", build_info().commit);
    f.set_attr("/", "total_bytes", total);
    f.set_attr("/", "fp32_bytes", fp32);
  });
  return rows;
}

json export_config(const std::string& path) {
  const h5::File f = h5::File::open_read(path);
  check_header(f);
  const json config = parse_json_text(f.attr_string("/", "config"), "export '" + path + "': attribute config");
  LPT_CHECK(config.is_object(), "export '", path, "': attribute config is not a JSON object");
  return config;
}

void load_export(const std::string& path, Module& model) {
  const h5::File f = h5::File::open_read(path);
  check_header(f);
  LPT_CHECK(f.has("model"), "export '", path, "' has no /model group");
  const auto encoded = encoded_weights(model);
  std::vector<std::pair<Tensor*, Tensor>> loaded;
  std::vector<std::pair<GemmLayer*, formats::Encoded>> frozen;
  std::set<std::string> names;
  for (auto& [name, t] : model_tensors(model)) {
    names.insert(name);
    const std::string where = "model/" + name;
    LPT_CHECK(f.has(where), "export '", path, "' does not match the model: tensor '", name, "' is missing");
    const auto layer = encoded.find(name);
    if (layer != encoded.end()) {
      LPT_CHECK(!f.is_dataset(where), "export '", path, "': tensor '", name, "' is stored in fp32, but the export's "
                "config quantizes it as ", layer->second->quantizer()->formats().weights->name());
      auto [e, values] = read_weight(f, name, *t, *layer->second);
      frozen.emplace_back(layer->second, std::move(e));
      loaded.emplace_back(t, std::move(values));
      continue;
    }
    LPT_CHECK(f.is_dataset(where), "export '", path, "': tensor '", name, "' is stored encoded, but the export's "
              "config keeps it in fp32");
    LPT_CHECK(f.shape(where) == t->shape() && f.dtype(where) == t->dtype(), "export '", path,
              "' does not match the model: tensor '", name, "' is ", dtype_name(f.dtype(where)), " ",
              shape_str(f.shape(where)), ", the model expects ", dtype_name(t->dtype()), " ", shape_str(t->shape()));
    loaded.emplace_back(t, f.read(where));
  }
  for (const std::string& name : f.members("model"))
    LPT_CHECK(names.count(name), "export '", path, "' does not match the model: tensor '", name,
              "' is not part of the model");
  std::vector<std::pair<std::string, std::vector<float>>> state;
  if (f.has("quantizer"))
    for (const std::string& key : f.datasets("quantizer")) state.emplace_back(key, f.read("quantizer/" + key).to_vector());

  for (auto& [t, values] : loaded) t->copy_from(values);
  // The parameters now hold the quantized values, and each layer evaluates its codes as they are
  // (in the int8 lane, with the export's scales: the same integers and scales as the checkpoint).
  for (auto& [layer, e] : frozen) layer->quantizer()->freeze_weights(e);
  try {
    load_quantizer_state(model, state);
  } catch (const Error& e) {
    fail("export '", path, "': ", e.what());
  }
}

std::string size_report(const std::vector<ExportedTensor>& rows) {
  std::ostringstream os;
  size_t width = 6;
  for (const ExportedTensor& r : rows) width = std::max(width, r.name.size());
  const auto line = [&](const std::string& name, const std::string& format, int64_t elements, int64_t bytes) {
    os << std::left << std::setw(int(width)) << name << "  " << std::setw(16) << format << std::right << std::setw(10)
       << elements << std::setw(12) << bytes << std::setw(10) << std::fixed << std::setprecision(3)
       << (elements ? 8.0 * double(bytes) / double(elements) : 0.0) << "\n";
  };
  os << std::left << std::setw(int(width)) << "tensor" << "  " << std::setw(16) << "format" << std::right
     << std::setw(10) << "elements" << std::setw(12) << "bytes" << std::setw(10) << "bits/val" << "\n";
  int64_t elements = 0, bytes = 0, q_elements = 0, q_bytes = 0;
  for (const ExportedTensor& r : rows) {
    line(r.name, r.format, r.elements, r.bytes);
    elements += r.elements, bytes += r.bytes;
    if (r.format != "fp32") q_elements += r.elements, q_bytes += r.bytes;
  }
  line("total", "", elements, bytes);
  line("quantized", "", q_elements, q_bytes);
  os << std::setprecision(2) << "total " << bytes << " bytes against " << 4 * elements << " in fp32 ("
     << double(4 * elements) / double(std::max<int64_t>(bytes, 1)) << "x smaller)\n";
  return os.str();
}

}  // namespace lpt
