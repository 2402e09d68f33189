#include "models/common.h"

#include <algorithm>

#include "layers/init.h"

namespace lpt {

namespace {

class FanOutConv2d : public Conv2d {
 public:
  using Conv2d::Conv2d;

 protected:
  // fan_out as PyTorch computes it: out_channels * kh * kw, whatever the groups.
  void reset_parameters(uint64_t seed) override {
    const Conv2dOptions& o = options();
    init::kaiming_normal_fan_out(weight().data(), o.out_channels * o.kernel * o.kernel, seed, weight().name());
    if (bias().defined()) bias().data().zero();
  }
};

}  // namespace

Conv2dOptions conv_options(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t groups) {
  return {.in_channels = in, .out_channels = out, .kernel = kernel, .stride = stride, .padding = kernel / 2,
          .groups = groups, .bias = false};
}

std::shared_ptr<Conv2d> make_conv(const Conv2dOptions& options, ConvInit init) {
  if (init == ConvInit::kaiming_fan_out) return std::make_shared<FanOutConv2d>(options);
  return std::make_shared<Conv2d>(options);
}

std::shared_ptr<BatchNorm2d> make_batch_norm(int64_t channels, bool relu) {
  return std::make_shared<BatchNorm2d>(channels, 0.1f, 1e-5f, relu);
}

int64_t make_divisible(double v, int64_t divisor) {
  int64_t rounded = std::max(divisor, int64_t(v + double(divisor) / 2) / divisor * divisor);
  if (double(rounded) < 0.9 * v) rounded += divisor;
  return rounded;
}

}  // namespace lpt
