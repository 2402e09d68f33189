#include "models/models.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "layers/conv2d.h"
#include "models/mobilenet.h"
#include "models/resnet.h"

namespace lpt {

namespace {

using Builder = std::function<std::shared_ptr<Module>(const ModelOptions&)>;

MobileNetConfig mobilenet_config(const ModelOptions& o) {
  return {.in_channels = o.in_channels, .num_classes = o.num_classes, .width = double(o.width),
          .small_input = o.input_size <= 32, .dropout = o.dropout};
}

Builder cifar_resnet(int depth) {
  return [depth](const ModelOptions& o) {
    return std::make_shared<ResNet>(cifar_resnet_config(depth, o.in_channels, o.num_classes));
  };
}

Builder imagenet_resnet(int depth) {
  return [depth](const ModelOptions& o) {
    return std::make_shared<ResNet>(imagenet_resnet_config(depth, o.in_channels, o.num_classes, o.input_size));
  };
}

const std::vector<std::pair<std::string, Builder>>& registry() {
  static const std::vector<std::pair<std::string, Builder>> table = {
      {"resnet20", cifar_resnet(20)},
      {"resnet32", cifar_resnet(32)},
      {"resnet44", cifar_resnet(44)},
      {"resnet56", cifar_resnet(56)},
      {"resnet110", cifar_resnet(110)},
      {"resnet18", imagenet_resnet(18)},
      {"resnet34", imagenet_resnet(34)},
      {"resnet50", imagenet_resnet(50)},
      {"mobilenet_v1", [](const ModelOptions& o) { return std::make_shared<MobileNetV1>(mobilenet_config(o)); }},
      {"mobilenet_v2", [](const ModelOptions& o) { return std::make_shared<MobileNetV2>(mobilenet_config(o)); }},
  };
  return table;
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

}  // namespace

const std::vector<std::string>& model_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& [name, build] : registry()) out.push_back(name);
    return out;
  }();
  return names;
}

std::shared_ptr<Module> build_model(const std::string& name, const ModelOptions& o) {
  const auto it = std::find_if(registry().begin(), registry().end(), [&](const auto& e) { return e.first == name; });
  LPT_CHECK(it != registry().end(), "unknown model '", name, "'; known models: ", joined(model_names()));
  LPT_CHECK(o.in_channels > 0 && o.num_classes > 0 && o.input_size > 0, "model ", name,
            ": in_channels, num_classes and input_size must be positive, got ", o.in_channels, ", ",
            o.num_classes, ", ", o.input_size);
  LPT_CHECK(std::isfinite(o.width) && o.width > 0, "model ", name, ": width must be positive, got ", o.width);
  LPT_CHECK(o.width == 1.0f || name.starts_with("mobilenet"), "model ", name,
            ": width multipliers apply to the MobileNets only, got width ", o.width);
  std::shared_ptr<Module> model = it->second(o);
  model->name_modules();
  return model;
}

std::shared_ptr<Module> make_model(const std::string& name, const ModelOptions& options) {
  std::shared_ptr<Module> model = build_model(name, options);
  model->initialize(options.seed);
  return model;
}

std::vector<std::string> gemm_layer_names(Module& model) {
  std::vector<std::string> names;
  for (const auto& [path, m] : model.named_modules())
    if (dynamic_cast<Conv2d*>(m) || dynamic_cast<Linear*>(m)) names.push_back(m->name());
  return names;
}

std::string first_conv_name(Module& model) {
  for (const auto& [path, m] : model.named_modules())
    if (dynamic_cast<Conv2d*>(m)) return m->name();
  fail("first_conv_name: the model has no Conv2d");
}

std::string last_linear_name(Module& model) {
  const Module* last = nullptr;
  for (const auto& [path, m] : model.named_modules())
    if (dynamic_cast<Linear*>(m)) last = m;
  LPT_CHECK(last != nullptr, "last_linear_name: the model has no Linear");
  return last->name();
}

}  // namespace lpt
