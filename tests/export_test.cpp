// Exports (experiments/export.h), in process: a model with a weight format of every kind (INT
// two-level and OCTAV per channel, HBFP, MX, LNS, FP8; depthwise weights in MobileNetV2) written
// and read back gives bit-identical outputs; the file holds codes and scales and never an fp32 copy
// of a quantized weight; sizes are exact; damaged, truncated, mismatched or unknown-format files
// are rejected naming the file and the tensor.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/hdf5.h"
#include "datasets/loader.h"
#include "experiments/data_setup.h"
#include "experiments/evaluate.h"
#include "experiments/experiment_config.h"
#include "experiments/export.h"
#include "experiments/quantization_setup.h"
#include "tests/support/test_helpers.h"

namespace lpt {
namespace {

const char* kTwoLevel = R"({"type":"int","bits":4,"granularity":"vector","vector_size":16,"scale_bits":4})";

json resnet_config() {
  json c = {{"name", "export"},
            {"seed", 1},
            {"model", {{"name", "resnet20"}}},
            {"data", {{"dataset", "synthetic"}, {"synthetic_size", 48}, {"validation_size", 0}}},
            {"training", {{"epochs", 1}, {"batch_size", 8}}}};
  c["quantization"] = {
      {"weights", json::parse(kTwoLevel)},
      {"activations", json::parse(kTwoLevel)},
      {"layers", json::array({
                     {{"match", "conv1"}, {"weights", {{"type", "fp8_e4m3"}, {"scale", "tensor"}}}},
                     {{"match", "layer1.*"}, {"weights", {{"type", "hbfp"}, {"mantissa_bits", 3}, {"block_size", 16}}}},
                     {{"match", "layer2.0.*"}, {"weights", {{"type", "mx"}, {"element", "fp4_e2m1"}}}},
                     {{"match", "layer2.1.*"}, {"weights", {{"type", "lns"}, {"granularity", "channel"}}}},
                     {{"match", "layer3.1.*"},
                      {"weights", {{"type", "int"}, {"bits", 4}, {"granularity", "channel"}, {"clipping", "octav"}}}},
                     {{"match", "fc"}, {"weights", nullptr}},
                 })}};
  return resolve_experiment(c, "test");
}

json mobilenet_config() {
  json c = resnet_config();
  c["model"] = {{"name", "mobilenet_v2"}, {"width", 0.25}};
  c["quantization"]["layers"] = json::array({{{"match", "@last"}, {"weights", {{"type", "int"}, {"bits", 8}}}}});
  return resolve_experiment(c, "test");
}

// A model of the config with its formats, after two training-mode forwards (clip averages, OCTAV
// warm starts and BN statistics move) under no_grad.
struct Trained {
  json config;
  DataSplits data;
  std::shared_ptr<Module> model;
  Tensor images;
};
Trained trained(const json& config) {
  Trained t{config, make_data(config), nullptr, {}};
  t.model = make_experiment_model(config, t.data, true);
  apply_quantization(*t.model, config, 0);
  data::LoaderOptions o;
  o.batch_size = 8;
  data::Loader loader(t.data.train, t.data.eval_transforms, o);
  loader.start_epoch(0);
  NoGradGuard no_grad;
  t.model->train();
  for (int i = 0; i < 2; ++i) {
    t.images = loader.next()->images;
    (*t.model)(Variable(t.images));
  }
  t.model->eval();
  return t;
}

std::shared_ptr<Module> loaded(const Trained& t, const std::string& path) {
  auto m = make_experiment_model(t.config, t.data, false);
  apply_quantization(*m, t.config, 0);
  load_export(path, *m);
  m->eval();
  return m;
}

Tensor logits(Module& m, const Tensor& images) {
  NoGradGuard no_grad;
  return m(Variable(images)).data().contiguous();
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.nbytes() == b.nbytes() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

TEST(Export, EveryWeightFormatRoundTripsToBitIdenticalLogits) {
  testing::TempDir dir("export_roundtrip");
  for (const json& config : {resnet_config(), mobilenet_config()}) {
    Trained t = trained(config);
    const std::string path = dir.file(config["model"]["name"].get<std::string>() + ".h5");
    write_export(path, *t.model, config, "test", 1);
    auto back = loaded(t, path);
    EXPECT_TRUE(bitwise_equal(logits(*t.model, t.images), logits(*back, t.images))) << config["model"]["name"];
  }
}

TEST(Export, QuantizedWeightsAreCodesAndScalesOnlyWithExactSizes) {
  testing::TempDir dir("export_contents");
  const json config = resnet_config();
  Trained t = trained(config);
  const std::string path = dir.file("m.h5");
  const std::vector<ExportedTensor> rows = write_export(path, *t.model, config, "test", 1);
  const h5::File f = h5::File::open_read(path);
  std::map<std::string, int64_t> numel;
  for (const ExportedTensor& r : rows) numel[r.name] = r.elements;
  int quantized = 0;
  for (const ExportedTensor& r : rows) {
    const std::string where = "model/" + r.name;
    if (r.format == "fp32") {
      EXPECT_TRUE(f.is_dataset(where)) << r.name;
      continue;
    }
    ++quantized;
    ASSERT_FALSE(f.is_dataset(where)) << r.name;
    // No fp32 copy: the only f32 arrays are scales, far fewer than the weight's values.
    for (const std::string& a : f.datasets(where)) {
      if (f.dtype(where + "/" + a) == DType::f32) {
        EXPECT_LE(f.shape(where + "/" + a)[0] * 4, r.elements) << r.name << "/" << a;
      }
    }
    EXPECT_EQ(f.attr_int(where, "bytes"), r.bytes);
    EXPECT_EQ(f.attr_string(where, "format_name"), r.format);
  }
  EXPECT_EQ(quantized, 21);  // every conv (19 and two 1×1 shortcuts); fc stays fp32
  // Nothing else under /model, and nothing f32 outside it but the activation clip values.
  for (const std::string& d : f.datasets("/")) {
    if (d.rfind("quantizer/", 0) == 0) {
      EXPECT_NE(d.find(".activations."), std::string::npos) << d;
      continue;
    }
    ASSERT_EQ(d.rfind("model/", 0), 0u) << d;
  }
  // INT4 per vector of 16 with 4-bit vector scales: 4 + 4/16 bits per value, plus one fp32 γ per
  // output channel (layer3.0.conv2: 64×64×3×3).
  const auto it = std::find_if(rows.begin(), rows.end(), [](const ExportedTensor& r) { return r.name == "layer3.0.conv2.weight"; });
  ASSERT_NE(it, rows.end());
  EXPECT_EQ(it->format, "int4-pv16-s4");
  EXPECT_EQ(it->bytes, it->elements / 2 + it->elements / 16 / 2 + 64 * 4);
  EXPECT_EQ(f.attr_double("model/layer3.0.conv2.weight", "bits_per_value"), 4.25);
  const std::string report = size_report(rows);
  EXPECT_NE(report.find("layer3.0.conv2.weight"), std::string::npos);
  EXPECT_NE(report.find("4.306"), std::string::npos) << report;  // 4.25 + 32·64/36864
  EXPECT_NE(report.find("in fp32"), std::string::npos);
}

class ExportFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    t_ = std::make_unique<Trained>(trained(resnet_config()));
    path_ = dir_.file("m.h5");
    write_export(path_, *t_->model, t_->config, "test", 1);
  }
  std::string load_error(const std::string& path) {
    return testing::error_of([&] { loaded(*t_, path); });
  }
  std::string raw() const {
    std::ifstream in(path_, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  testing::TempDir dir_{"export_files"};
  std::unique_ptr<Trained> t_;
  std::string path_;
};

TEST_F(ExportFiles, TruncatedFileIsRejected) {
  const std::string cut = dir_.file("cut.h5");
  std::filesystem::copy_file(path_, cut);
  std::filesystem::resize_file(cut, std::filesystem::file_size(cut) / 2);
  const std::string e = load_error(cut);
  EXPECT_NE(e.find(cut), std::string::npos) << e;
}

TEST_F(ExportFiles, CorruptedCodesFailTheirChecksumNamingTheTensor) {
  const Tensor codes = h5::File::open_read(path_).read("model/layer3.0.conv1.weight/codes");
  const std::string needle(reinterpret_cast<const char*>(codes.raw_data()) + codes.nbytes() / 2, 64);
  std::string bytes = raw();
  const size_t at = bytes.find(needle);
  ASSERT_NE(at, std::string::npos);
  ASSERT_EQ(bytes.find(needle, at + 1), std::string::npos);
  bytes[at + 7] ^= 0x01;
  const std::string bad = dir_.file("bad.h5");
  std::ofstream(bad, std::ios::binary) << bytes;
  const std::string e = load_error(bad);
  EXPECT_NE(e.find("model/layer3.0.conv1.weight/codes"), std::string::npos) << e;
}

TEST_F(ExportFiles, UnknownOrMismatchedFormatsAreRejectedNamingTheTensor) {
  {
    h5::File f = h5::File::open_write(path_);
    f.set_attr("model/layer2.0.conv1.weight", "format", std::string(R"({"type":"posit","bits":8})"));
  }
  std::string e = load_error(path_);
  EXPECT_NE(e.find("layer2.0.conv1.weight"), std::string::npos) << e;
  EXPECT_NE(e.find("posit"), std::string::npos) << e;
  {
    h5::File f = h5::File::open_write(path_);
    f.set_attr("model/layer2.0.conv1.weight", "format", std::string(R"({"type":"mx","rounding":"stochastic"})"));
  }
  e = load_error(path_);
  EXPECT_NE(e.find("'layer2.0.conv1.weight' is stored as mxfp4-sr, but the export's config gives its layer mxfp4"),
            std::string::npos)
      << e;
}

// An encoded shape is compared with the model's tensor before anything of that shape is allocated.
TEST_F(ExportFiles, EncodedShapesAreCheckedBeforeAllocating) {
  const std::string group = "model/layer2.0.conv1.weight";
  for (const auto& [shape, expected] : std::vector<std::pair<std::string, std::string>>{
           {"[4294967296, 4294967296]", "encoded_shape [4294967296,4294967296] overflows 64 bits"},
           {"[1000000000000, 1000000]", "holds 1000000000000000000 values, the model's tensor 4608"},
           {"[32, 32, 3, 2]", "holds 6144 values, the model's tensor 4608"},
           {"[-1, 2]", "attribute encoded_shape is not a shape"}}) {
    h5::File::open_write(path_).set_attr(group, "encoded_shape", shape);
    const std::string e = load_error(path_);
    EXPECT_NE(e.find("tensor 'model/layer2.0.conv1.weight'"), std::string::npos) << e;
    EXPECT_NE(e.find(expected), std::string::npos) << e;
  }
}

TEST_F(ExportFiles, OtherFilesAreRejected) {
  {
    h5::File f = h5::File::open_write(path_);
    f.set_attr("/", "format", std::string("lpt-checkpoint"));
  }
  EXPECT_NE(testing::error_of([&] { export_config(path_); }).find("is not an lpt export"), std::string::npos);
  const std::string e = load_error(path_);
  EXPECT_NE(e.find("is not an lpt export"), std::string::npos) << e;
}

}  // namespace
}  // namespace lpt
