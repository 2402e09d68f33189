#include "layers/conv_bn.h"

#include "core/ops/activation.h"
#include "core/ops/add.h"

namespace lpt {

Variable conv_bn(Conv2d& conv, BatchNorm2d& bn, const Variable& x, ops::Activation act, const Variable& residual) {
  if (!bn.training() && conv.int8_fusable()) {
    ops::ConvEpilogue e = bn.eval_affine();
    e.relu = bn.fuses_relu();
    e.residual = residual.defined() ? residual.data() : Tensor();
    e.act = act;
    const Variable y = conv.forward_int8_fused(x, std::move(e));
    if (y.defined()) return y;
  }
  Variable h = bn.forward(conv.forward(x));
  if (residual.defined()) h = ops::add(h, residual);
  if (act == ops::Activation::relu) h = ops::relu(h);
  if (act == ops::Activation::relu6) h = ops::relu6(h);
  return h;
}

ConvBnAct::ConvBnAct(std::shared_ptr<Conv2d> conv, std::shared_ptr<BatchNorm2d> bn, ops::Activation act)
    : conv_(register_module("0", std::move(conv))), bn_(register_module("1", std::move(bn))), act_(act) {}

}  // namespace lpt
