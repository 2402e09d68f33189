// `lpt export` and `lpt eval --weights`, each a separate process, on a tiny QAT run whose layers use
// a weight format of every kind: evaluating the export alone gives logits bit-identical to
// evaluating the checkpoint, the export prints its sizes, and damaged or foreign files fail with a
// message and a non-zero exit.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/hdf5.h"
#include "tests/support/run_lpt.h"
#include "tests/support/test_helpers.h"

namespace lpt {
namespace {

using testing::run_lpt;

class ExportCli : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(dir_.file("qat.json")) << R"({
      "name": "qat", "seed": 5, "threads": 2,
      "model": {"name": "resnet20"},
      "data": {"dataset": "synthetic", "synthetic_size": 96, "validation_size": 0,
               "normalize": {"mean": [0.5], "std": [0.25]}},
      "training": {"epochs": 1, "batch_size": 16, "eval_batch_size": 32},
      "optimizer": {"name": "sgd", "lr": 0.05},
      "quantization": {
        "weights": {"type": "int", "bits": 4, "granularity": "vector", "vector_size": 16, "scale_bits": 4},
        "activations": {"type": "int", "bits": 4, "clipping": "octav"},
        "weight_estimator": "mad", "activation_estimator": "pwl",
        "layers": [
          {"match": "conv1", "weights": {"type": "fp8_e4m3", "scale": "tensor"}},
          {"match": "layer1.*", "weights": {"type": "hbfp", "mantissa_bits": 3, "block_size": 16}},
          {"match": "layer2.0.*", "weights": {"type": "mx", "element": "fp4_e2m1"}},
          {"match": "layer2.1.*", "weights": {"type": "lns", "granularity": "channel"}},
          {"match": "layer3.1.*", "weights": {"type": "int", "bits": 4, "granularity": "channel", "clipping": "octav"}},
          {"match": "layer3.2.*", "weights": {"type": "nvfp4", "weight_blocks": "2d"}},
          {"match": "fc", "weights": {"type": "int", "bits": 8}}
        ]
      }
    })";
  }
  std::string path(const std::string& name) const { return dir_.file(name); }

  testing::TempDir dir_{"export_cli"};
};

Tensor read_logits(const std::string& file) { return h5::File::open_read(file).read("test_logits"); }

TEST_F(ExportCli, EvaluatingTheExportAloneReproducesTheCheckpointsLogitsBitForBit) {
  const testing::CliRun train = run_lpt("train " + path("qat.json") + " --set output_dir=" + path("run"));
  ASSERT_EQ(train.status, 0) << train.output;
  const testing::CliRun ex = run_lpt("export " + path("run") + " --out " + path("model.h5"));
  ASSERT_EQ(ex.status, 0) << ex.output;
  const size_t row = ex.output.find("layer3.0.conv2.weight ");
  ASSERT_NE(row, std::string::npos) << ex.output;
  EXPECT_NE(ex.output.substr(row, ex.output.find('\n', row) - row).find(" int4-pv16-s4 "), std::string::npos) << ex.output;
  EXPECT_NE(ex.output.find("in fp32"), std::string::npos) << ex.output;
  // NVFP4's 2-D weight blocks are recorded with the codes.
  EXPECT_EQ(h5::File::open_read(path("model.h5")).attr_int("model/layer3.2.conv1.weight", "block_rows"), 16);
  // The run directory can go: the export holds the architecture, config, weights and clip values.
  const testing::CliRun from_ckpt = run_lpt("eval " + path("run") + " --logits " + path("ckpt_logits.h5"));
  ASSERT_EQ(from_ckpt.status, 0) << from_ckpt.output;
  std::filesystem::rename(path("run"), path("gone"));
  const testing::CliRun from_export = run_lpt("eval --weights " + path("model.h5") + " --logits " + path("export_logits.h5"));
  ASSERT_EQ(from_export.status, 0) << from_export.output;

  const Tensor a = read_logits(path("ckpt_logits.h5")), b = read_logits(path("export_logits.h5"));
  ASSERT_EQ(a.shape(), b.shape());
  ASSERT_EQ(a.shape()[0], 16);  // the synthetic test set: a sixth of 96
  EXPECT_EQ(std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()), 0) << "logits differ";
  for (const char* key : {"test_accuracy", "test_loss"})
    EXPECT_EQ(testing::json_number(from_ckpt.output, key), testing::json_number(from_export.output, key)) << key;
}

TEST_F(ExportCli, DamagedAndForeignFilesExitNonZeroWithAMessage) {
  ASSERT_EQ(run_lpt("train " + path("qat.json") + " --set output_dir=" + path("run")).status, 0);
  ASSERT_EQ(run_lpt("export " + path("run") + " --out " + path("model.h5")).status, 0);
  std::filesystem::copy_file(path("model.h5"), path("cut.h5"));
  std::filesystem::resize_file(path("cut.h5"), std::filesystem::file_size(path("cut.h5")) * 2 / 3);
  testing::CliRun r = run_lpt("eval --weights " + path("cut.h5"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("lpt: error: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(path("cut.h5")), std::string::npos) << r.output;

  r = run_lpt("eval --weights " + path("run") + "/checkpoint.h5");  // a checkpoint is not an export
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("is not an lpt export"), std::string::npos) << r.output;

  {
    h5::File f = h5::File::open_write(path("model.h5"));
    f.set_attr("model/layer1.0.conv1.weight", "format", std::string(R"({"type":"bfp","bits":4})"));
  }
  r = run_lpt("eval --weights " + path("model.h5"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("layer1.0.conv1.weight"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("bfp"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace lpt
