#include "models/conv_shapes.h"

namespace lpt {

std::vector<ConvSpec> resnet20_convs() {
  return {{"conv1", 1, 16, 28, 3, 1, 1},
          {"layer1 3x3", 16, 16, 28, 3, 1, 1},
          {"layer2.0 3x3 s2", 16, 32, 28, 3, 2, 1},
          {"layer2.0 shortcut", 16, 32, 28, 1, 2, 1},
          {"layer2 3x3", 32, 32, 14, 3, 1, 1},
          {"layer3.0 3x3 s2", 32, 64, 14, 3, 2, 1},
          {"layer3.0 shortcut", 32, 64, 14, 1, 2, 1},
          {"layer3 3x3", 64, 64, 7, 3, 1, 1}};
}

std::vector<ConvSpec> mobilenet_v2_convs(int64_t in_channels) {
  std::vector<ConvSpec> convs{{"stem", in_channels, 32, 28, 3, 1, 1}};
  const int64_t settings[][4] = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                                 {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  int64_t c = 32, hw = 28, block = 0;
  for (const auto& [t, c_out, n, s] : settings) {
    for (int64_t i = 0; i < n; ++i, ++block) {
      const int64_t stride = i == 0 ? s : 1, hidden = c * t;
      const std::string b = "features." + std::to_string(block + 1);
      if (t != 1) convs.push_back({b + " expand", c, hidden, hw, 1, 1, 1});
      convs.push_back({b + " depthwise", hidden, hidden, hw, 3, stride, hidden});
      hw = (hw + 2 - 3) / stride + 1;
      convs.push_back({b + " project", hidden, c_out, hw, 1, 1, 1});
      c = c_out;
    }
  }
  convs.push_back({"last 1x1", c, 1280, hw, 1, 1, 1});
  return convs;
}

}  // namespace lpt
