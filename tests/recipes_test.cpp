// Every shipped recipe config (experiments/configs, SPEC §6) trains: its formats, estimators and
// optimizer, on a small synthetic batch, lower the loss within a few steps. Also the Accuracy
// Booster's formats by epoch and layer, and its share of 4-bit multiply-adds.
#include <gtest/gtest.h>

#include <filesystem>

#include "experiments/experiment_config.h"
#include "experiments/quantization_setup.h"
#include "tests/support/batch_training.h"

namespace lpt {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> recipe_configs() {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(fs::path(LPT_SOURCE_DIR) / "experiments" / "configs")) {
    const json c = load_experiment(e.path().string());
    if (quantization_enabled(c) || c["optimizer"]["name"] != "sgd") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The recipe on a small synthetic set (MobileNets at width 0.25).
json small(const std::string& path) {
  std::vector<std::string> overrides = {"data.dataset=synthetic", "data.synthetic_size=96", "data.validation_size=0",
                                        "training.batch_size=16", "checkpoint.init_from=null"};
  const json recipe = load_experiment(path);
  if (recipe["model"]["name"].get<std::string>().rfind("mobilenet", 0) == 0) overrides.push_back("model.width=0.25");
  // SGD's learning rate for 15 epochs of 60k images makes a few steps on one batch of 16 diverge,
  // in fp32 too (MobileNetV2, deeper ResNets); a tenth of it keeps the check about the formats.
  // Madam and LNS-Madam keep their multiplicative rate.
  if (recipe["optimizer"]["name"] == "sgd")
    overrides.push_back("optimizer.lr=" + std::to_string(recipe["optimizer"]["lr"].get<double>() / 10));
  return load_experiment(path, overrides);
}

TEST(Recipes, EveryRecipeLowersTheLossOnABatch) {
  const std::vector<std::string> configs = recipe_configs();
  EXPECT_GE(configs.size(), 10u);  // SPEC §6's recipes for ResNet-20, three for MobileNetV2
  for (const std::string& path : configs) {
    testing::BatchTraining t = testing::batch_training(small(path), 16, 100);
    float first = 0, last = 0;
    for (int64_t step = 0; step < 6; ++step) {
      const float loss = t.step(step);
      if (step == 0) first = loss;
      last = loss;
    }
    EXPECT_LT(last, first) << path;
  }
}

TEST(Recipes, AccuracyBoosterWidensTheFirstAndLastLayersAndTheLastEpoch) {
  const json config = small(std::string(LPT_SOURCE_DIR) + "/experiments/configs/resnet20_hbfp_booster.json");
  testing::BatchTraining t = testing::batch_training(config, 16, 10);
  Module* model = t.model.get();
  const int64_t epochs = config["training"]["epochs"];
  const auto formats_of = [&](const std::string& layer) {
    for (auto& [name, l] : gemm_layers(*model))
      if (name == layer) return l->quantizer()->formats();
    ADD_FAILURE() << "no layer " << layer;
    return GemmFormats{};
  };
  apply_quantization(*model, config, 0);
  EXPECT_EQ(formats_of("conv1").weights->name(), "hbfp6-b64");
  EXPECT_EQ(formats_of("fc").errors->name(), "hbfp6-b64");
  EXPECT_EQ(formats_of("layer2.1.conv2").activations->name(), "hbfp4-b64");
  EXPECT_FALSE(formats_of("layer2.1.conv2").weight_gradients);  // not a GEMM operand: stays fp32
  apply_quantization(*model, config, epochs - 1);
  EXPECT_EQ(formats_of("layer2.1.conv2").activations->name(), "hbfp6-b64");

  // One training step in the base epochs: the boosted first and last layers are a small share.
  apply_quantization(*model, config, 0);
  take_quantization_diagnostics(*model);
  t.step(0);
  const json share = take_quantization_diagnostics(*model)["mac_share"];
  EXPECT_GT(share["hbfp4-b64"].get<double>(), 0.97) << share;
  EXPECT_NEAR(share["hbfp4-b64"].get<double>() + share["hbfp6-b64"].get<double>(), 1.0, 1e-12) << share;
}

}  // namespace
}  // namespace lpt
