#pragma once
// The model zoo by name: make_model("resnet20", options) builds, names and initialises a model whose
// parameter and buffer names and shapes are those of the matching PyTorch model's state_dict.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "layers/module.h"

namespace lpt {

struct ModelOptions {
  int64_t in_channels = 1;
  int64_t num_classes = 10;
  int64_t input_size = 28;  // input height = width; <= 32 selects the CIFAR-style stems
  float width = 1.0f;       // MobileNet width multiplier (ResNets accept only 1)
  float dropout = 0.2f;     // MobileNetV2's classifier dropout (unused by the other models)
  uint64_t seed = 0;        // initial weights
};

// "resnet20", "resnet32", "resnet44", "resnet56", "resnet110" (CIFAR), "resnet18", "resnet34",
// "resnet50" (torchvision), "mobilenet_v1", "mobilenet_v2".
const std::vector<std::string>& model_names();

// The named model with its initial weights drawn from options.seed. Throws lpt::Error listing
// model_names() for an unknown name, and for invalid options.
std::shared_ptr<Module> make_model(const std::string& name, const ModelOptions& options);
// The same model, named but not initialised (weights zero, BN 1/0): for loading a checkpoint, which
// makes drawing initial weights (seconds for ResNet-50) wasted work.
std::shared_ptr<Module> build_model(const std::string& name, const ModelOptions& options);

// Names of the model's convolutions and linear layers (its GEMMs) in registration order (the
// order of the PyTorch state_dict), e.g. for per-layer format rules.
std::vector<std::string> gemm_layer_names(Module& model);
// The first convolution and the final linear layer — SPEC §2's "first and last layer": "conv1" and
// "fc" for ResNets, "features.0.0" and "classifier.1" (V2) / "classifier" (V1) for MobileNets.
std::string first_conv_name(Module& model);
std::string last_linear_name(Module& model);

}  // namespace lpt
