// Quantized conv and linear layers (SPEC §2, §4): gradient estimators exactly as defined, a step
// with formats equal to the fp32 ops on operands quantized along each GEMM's reduction axis, the
// operand blocking, signed "auto", frozen clip values at evaluation and the quantizer state.
#include <gtest/gtest.h>

#include <cmath>

#include "core/bit_mask.h"
#include "core/ops/conv.h"
#include "core/ops/linear.h"
#include "formats/quantize.h"
#include "layers/batch_shards.h"
#include "layers/conv2d.h"
#include "layers/quant/estimator.h"
#include "tests/support/gradcheck.h"

namespace lpt {
namespace {

using formats::BufferLayout;
using formats::Format;
using testing::max_abs_diff;
using testing::random_tensor;

std::shared_ptr<const Format> fmt(const char* json) { return std::make_shared<const Format>(Format::parse_text(json)); }

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.to_vector() == b.to_vector();
}

// x → Q(x) with clip 1 per tensor: g = 1 inside; outside 0 (PWL) or s/|x| (MAD); STE 1 everywhere.
TEST(QuantizedGemm, EstimatorsFollowTheirDefinitions) {
  const Tensor x = Tensor::from_vector({5}, {0.5f, -2.0f, 3.0f, -0.1f, 1.0f});
  const Tensor dy = Tensor::from_vector({5}, {1.0f, 2.0f, -3.0f, 4.0f, 5.0f});
  const std::vector<float> clip{1.0f};
  const struct {
    Estimator e;
    std::vector<float> dx;
  } cases[] = {{Estimator::ste, {1, 2, -3, 4, 5}},
               {Estimator::pwl, {1, 0, 0, 4, 5}},  // |x| = s is inside
               {Estimator::mad, {1, 2 * 0.5f, -3 * (1.0f / 3.0f), 4, 5}}};
  for (const auto& c : cases) {
    Variable v(x, true);
    Variable y = quantized_input(v, x, Tensor::zeros({5}), c.e, clip, BufferLayout::flat(5), {});
    y.backward(dy);
    EXPECT_EQ(v.grad().to_vector(), c.dx) << estimator_name(c.e);
  }
}

TEST(QuantizedGemm, EstimatorClipIsPerGroup) {
  // Two channels (rows) with clips 1 and 4: MAD scales only what lies outside its own row's clip.
  const Tensor x = Tensor::from_vector({2, 2}, {2.0f, 0.5f, 2.0f, 8.0f});
  std::vector<float> dx(4);
  const std::vector<float> dy{1, 1, 1, 1};
  estimator_backward(Estimator::mad, x.data<float>(), dy.data(), dx.data(), {1.0f, 4.0f},
                     BufferLayout::row_major({2, 2}, 1, 0));
  EXPECT_EQ(dx, (std::vector<float>{0.5f, 1.0f, 1.0f, 0.5f}));
}

// PWL's 1-bit mask, applied by masked_copy, gives estimator_backward's result bit for bit: per-channel clips
// whose groups start inside a mask byte (runs of 37 and of 49), a length that is no multiple of
// 8, more elements than one thread chunk (2^14), values exactly at ±clip (inside), NaN (outside).
TEST(QuantizedGemm, PwlMaskAppliedMatchesTheEstimatorRule) {
  for (const Shape& shape : {Shape{3, 37}, Shape{5, 9, 49}, Shape{600, 3, 49}}) {
    const BufferLayout l = BufferLayout::row_major(shape, int(shape.size()) - 1, 0);
    const Tensor x = random_tensor(shape, 7, -2, 2), dy = random_tensor(shape, 8, -1, 1);
    std::vector<float> clip(static_cast<size_t>(shape[0]));
    for (size_t c = 0; c < clip.size(); ++c) clip[c] = 0.25f + 0.01f * float(c % 100);
    float* xs = x.data<float>();
    const int64_t per = x.numel() / shape[0];
    xs[0] = clip[0], xs[1] = -clip[0], xs[2] = std::nanf(""), xs[per + 3] = clip[1];
    const int64_t n = x.numel();
    std::vector<float> expected(static_cast<size_t>(n)), got(static_cast<size_t>(n));
    estimator_backward(Estimator::pwl, xs, dy.data<float>(), expected.data(), clip, l);
    masked_copy(pwl_mask(xs, clip, l), dy.data<float>(), got.data(), n);
    EXPECT_EQ(got, expected) << shape_str(shape);
    EXPECT_EQ(got[0], dy.data<float>()[0]);
    EXPECT_EQ(got[2], 0.0f);
  }
}

// A linear layer with formats on every role against the plain fp32 op on pre-quantized operands:
// forward on (Q(x), Q(w)); dx from dy blocked along the outputs; dw from dy blocked along the batch,
// then quantized as weight gradients.
TEST(QuantizedGemm, LinearStepEqualsFp32OnPreQuantizedOperands) {
  const auto hb = fmt(R"({"type":"hbfp","mantissa_bits":3,"block_size":8})");
  Linear layer(24, 10, true);
  layer.name_modules("fc");
  layer.initialize(1);
  GemmFormats f;
  f.weights = f.activations = f.errors = f.weight_gradients = hb;
  layer.set_quantization(f);
  const Tensor x = random_tensor({6, 24}, 2), dy = random_tensor({6, 10}, 3);
  Variable xv(x, true);
  Variable y = layer(xv);
  y.backward(dy);

  GemmGeometry g;
  g.N = 6, g.C = 24, g.O = 10, g.is_linear = true;
  formats::QuantizeOptions o;
  const auto q = [&](const Tensor& t, const BufferLayout& l) {
    Tensor out = Tensor::empty_like(t);
    o.name = "ref";
    formats::quantize(*hb, t.data<float>(), out.data<float>(), l, o);
    return out;
  };
  const Tensor w = layer.weight().data();
  const Tensor xq = q(x, forward_x_layout(g)), wq = q(w, forward_w_layout(g, *hb));
  {  // forward and backward-data
    Variable a(xq, true), b(wq, true);
    Variable r = ops::linear(a, b, layer.bias());
    EXPECT_TRUE(bitwise_equal(y.data(), r.data()));
    r.backward(q(dy, data_dy_layout(g)));
    EXPECT_TRUE(bitwise_equal(xv.grad(), a.grad()));
  }
  {  // backward-weights, then the weight-gradient format
    Variable a(xq, true), b(wq, true);
    ops::linear(a, b, Variable()).backward(q(dy, weights_dy_layout(g)));
    EXPECT_TRUE(bitwise_equal(layer.weight().grad(), q(b.grad(), forward_w_layout(g, *hb))));
  }
  // And it is not the fp32 step.
  Variable a(x, true);
  Variable plain = ops::linear(a, layer.weight(), layer.bias());
  EXPECT_GT(max_abs_diff(plain.data(), y.data()), 1e-4);
}

// In a data-parallel step (layers/batch_shards.h) the backward pass leaves the weight gradient in
// fp32 and its quantization waits for the trainer, which applies it to the averaged gradient (SPEC
// §10: one process quantizes the whole batch's gradient). Over a world of one shard (reductions
// that change nothing) the step must equal the ordinary one: the same output and input gradient,
// and the waiting quantization applied to the weight's gradient gives the ordinary weight gradient.
TEST(QuantizedGemm, ADataParallelStepLeavesTheWeightGradientQuantizationToTheTrainer) {
  GemmFormats f;
  f.weights = f.errors = f.weight_gradients = fmt(R"({"type":"hbfp","mantissa_bits":3,"block_size":8})");
  f.activations = fmt(R"({"type":"int","bits":4,"signed":true,"clipping":"octav","rounding":"stochastic"})");
  // A batch of 8: the backward-weights GEMM's blocks of 8 run along the batch, and must not
  // straddle shards.
  const Tensor x = random_tensor({8, 24}, 2), dy = random_tensor({8, 10}, 3);
  struct Shards {  // set for one step, unset even when it throws
    explicit Shards(bool on) {
      if (on)
        set_batch_shards(formats::ShardReduce{.max = [](std::span<float>) {}, .sum = [](std::span<double>) {},
                                              .shard = 0, .samples = 8});
    }
    ~Shards() { set_batch_shards(std::nullopt); }
  };
  struct Step {
    Tensor y, dx, dw;
    bool pending;
  };
  const auto step = [&](bool sharded) {
    Linear layer(24, 10, true);
    layer.name_modules("fc");
    layer.initialize(1);
    layer.set_quantization(f);
    layer.begin_step(4, 9);
    Variable xv(x, true);
    Variable y;
    {
      const Shards shards(sharded);
      y = layer(xv);
      y.backward(dy);
    }
    Step r{y.data(), xv.grad(), layer.weight().grad().clone(), bool(layer.quantizer()->pending_weight_gradient())};
    if (r.pending) {
      const Tensor quantized = layer.quantizer()->quantize_pending_weight_gradient(r.dw);
      EXPECT_FALSE(bitwise_equal(r.dw, quantized)) << "the backward pass already quantized the weight gradient";
      r.dw = quantized;
    }
    EXPECT_FALSE(layer.quantizer()->pending_weight_gradient());
    return r;
  };
  const Step plain = step(false), sharded = step(true);
  EXPECT_FALSE(plain.pending);
  EXPECT_TRUE(sharded.pending);
  EXPECT_TRUE(bitwise_equal(sharded.y, plain.y));
  EXPECT_TRUE(bitwise_equal(sharded.dx, plain.dx));
  EXPECT_TRUE(bitwise_equal(sharded.dw, plain.dw));
}

// The same for a convolution (channels-last activations, OIHW weights), INT formats with OCTAV
// clipping, MAD for the weights and PWL for the activations, in the emulated lane (the int8 lane,
// which these formats could take, is bounded against it in int8_lane_test.cpp).
TEST(QuantizedGemm, ConvStepEqualsFp32OnPreQuantizedOperandsWithEstimators) {
  const auto w4 = fmt(R"({"type":"int","bits":4,"granularity":"channel","clipping":"octav"})");
  const auto a4 = fmt(R"({"type":"int","bits":4,"clipping":"octav"})");
  const auto e8 = fmt(R"({"type":"int","bits":8,"granularity":"vector","vector_size":4})");
  Conv2d layer(Conv2dOptions{8, 6, 3, 1, 1, 1, 1, false});
  layer.name_modules("conv");
  layer.initialize(4);
  GemmFormats f;
  f.weights = w4, f.activations = a4, f.errors = e8;
  f.weight_estimator = Estimator::mad, f.activation_estimator = Estimator::pwl;
  f.execution = Execution::emulated;
  layer.set_quantization(f);
  const Tensor x = random_tensor({2, 8, 5, 5}, 5, -1, 1, MemoryFormat::channels_last);
  const Tensor dy = random_tensor({2, 6, 5, 5}, 6, -1, 1, MemoryFormat::channels_last);
  Variable xv(x, true);
  Variable y = layer(xv);
  y.backward(dy);

  const GemmGeometry g{2, 8, 5, 5, 6, 5, 5, 3, 3, 1, false};
  const auto q = [&](const std::shared_ptr<const Format>& fm, const Tensor& t, const BufferLayout& l,
                     std::vector<float>* clip) {
    Tensor out = Tensor::empty_like(t);
    formats::QuantizeStats s;
    formats::QuantizeOptions o;
    o.name = "ref";
    o.stats = clip ? &s : nullptr;
    o.error_stats = false;
    formats::quantize(*fm, t.data<float>(), out.data<float>(), l, o);
    if (clip) *clip = s.clip;
    return out;
  };
  const Tensor w = layer.weight().data();
  std::vector<float> wclip, xclip;
  const BufferLayout xl = forward_x_layout(g), wl = forward_w_layout(g, *w4);
  const Tensor xq = q(a4, x, xl, &xclip), wq = q(w4, w, wl, &wclip);
  ASSERT_EQ(wclip.size(), 6u);
  ASSERT_EQ(xclip.size(), 1u);
  const ops::Conv2dParams p{1, 1, 1, 1, 1, 1, 1};
  {
    Variable a(xq, true), b(wq, true);
    Variable r = ops::conv2d(a, b, Variable(), p);
    EXPECT_TRUE(bitwise_equal(y.data(), r.data()));
    r.backward(q(e8, dy, data_dy_layout(g), nullptr));
    Tensor dx = Tensor::empty_like(a.grad());
    estimator_backward(Estimator::pwl, x.data<float>(), a.grad().data<float>(), dx.data<float>(), xclip, xl);
    EXPECT_TRUE(bitwise_equal(xv.grad(), dx));
  }
  {
    Variable a(xq, true), b(wq, true);
    ops::conv2d(a, b, Variable(), p).backward(q(e8, dy, weights_dy_layout(g), nullptr));
    Tensor dw = Tensor::empty_like(b.grad());
    estimator_backward(Estimator::mad, w.data<float>(), b.grad().data<float>(), dw.data<float>(), wclip, wl);
    EXPECT_TRUE(bitwise_equal(layer.weight().grad(), dw));
    // OCTAV clips some weights, so MAD differs from STE here.
    EXPECT_GT(max_abs_diff(dw, b.grad()), 0.0);
  }
}

// LNS8 per tensor everywhere (LNS-Madam's formats): the backward-weights GEMM reads x from the
// one-byte codes the forward kept instead of its fp32 values, and gives the weight gradient of
// fp32 GEMMs on pre-quantized operands bit for bit; so does the linear layer.
TEST(QuantizedGemm, LnsActivationsKeptAsCodesGiveTheWeightGradientOfPreQuantizedOperands) {
  const auto lns8 = fmt(R"({"type":"lns","bits":8,"gamma":8})");
  GemmFormats f;
  f.weights = f.activations = f.errors = lns8;
  f.execution = Execution::emulated;
  const auto q = [&](const Tensor& t, const BufferLayout& l) {
    Tensor out = Tensor::empty_like(t);
    formats::quantize(*lns8, t.data<float>(), out.data<float>(), l, formats::QuantizeOptions{});
    return out;
  };
  {
    Conv2d layer(Conv2dOptions{8, 6, 3, 1, 1, 1, 1, false});
    layer.name_modules("conv");
    layer.initialize(4);
    layer.set_quantization(f);
    const Tensor x = random_tensor({2, 8, 5, 5}, 5, -1, 1, MemoryFormat::channels_last);
    const Tensor dy = random_tensor({2, 6, 5, 5}, 6, -1, 1, MemoryFormat::channels_last);
    layer(Variable(x, true)).backward(dy);
    const GemmGeometry g{2, 8, 5, 5, 6, 5, 5, 3, 3, 1, false};
    Variable a(q(x, forward_x_layout(g)), true), b(q(layer.weight().data(), forward_w_layout(g, *lns8)), true);
    ops::conv2d(a, b, Variable(), {1, 1, 1, 1, 1, 1, 1}).backward(q(dy, weights_dy_layout(g)));
    EXPECT_TRUE(bitwise_equal(layer.weight().grad(), b.grad()));
  }
  {
    Linear layer(12, 5, true);
    layer.name_modules("fc");
    layer.initialize(4);
    layer.set_quantization(f);
    const Tensor x = random_tensor({3, 12}, 7), dy = random_tensor({3, 5}, 8);
    layer(Variable(x, true)).backward(dy);
    GemmGeometry g;
    g.N = 3, g.C = 12, g.O = 5, g.is_linear = true;
    Variable a(q(x, forward_x_layout(g)), true), b(q(layer.weight().data(), forward_w_layout(g, *lns8)), true);
    ops::linear(a, b, Variable()).backward(q(dy, weights_dy_layout(g)));
    EXPECT_TRUE(bitwise_equal(layer.weight().grad(), b.grad()));
  }
}

TEST(QuantizedGemm, OperandBlocksRunAlongEachGemmsReductionAxis) {
  // Conv x [N=2, C=8, H=3, W=3] channels-last, w [O=4, 8, 3, 3], groups 1.
  const GemmGeometry g{2, 8, 3, 3, 4, 3, 3, 3, 3, 1, false};
  const auto two_level = Format::parse_text(R"({"type":"int","bits":4,"granularity":"vector","scale_bits":4})");
  const auto runs = [](const BufferLayout& l) { return std::vector<int64_t>{l.runs.outer, l.runs.len, l.runs.inner}; };
  EXPECT_EQ(runs(forward_x_layout(g)), (std::vector<int64_t>{18, 8, 1}));  // C_in per (n,h,w)
  EXPECT_EQ(runs(forward_w_layout(g, two_level)), (std::vector<int64_t>{4, 8, 9}));  // C_in per (o,kh,kw)
  EXPECT_EQ(forward_w_layout(g, two_level).num_groups(), 4);                     // γ per output channel
  EXPECT_EQ(runs(data_dy_layout(g)), (std::vector<int64_t>{18, 4, 1}));         // C_out per (n,h,w)
  EXPECT_EQ(runs(data_w_layout(g, two_level)), (std::vector<int64_t>{1, 4, 72}));  // C_out per (i,kh,kw)
  EXPECT_EQ(data_w_layout(g, two_level).num_groups(), 8);                       // γ per input channel
  EXPECT_EQ(runs(weights_x_layout(g)), (std::vector<int64_t>{1, 18, 8}));       // (n,h,w) per channel
  EXPECT_EQ(runs(weights_dy_layout(g)), (std::vector<int64_t>{1, 18, 4}));
  // Depthwise: weights along kh·kw per channel, activations keep the C_in blocking.
  const GemmGeometry dw{2, 8, 3, 3, 8, 3, 3, 3, 3, 8, false};
  EXPECT_EQ(runs(forward_w_layout(dw, two_level)), (std::vector<int64_t>{8, 9, 1}));
  EXPECT_EQ(runs(forward_x_layout(dw)), (std::vector<int64_t>{18, 8, 1}));
  // Grouped (2 groups of 4): blocks within the group.
  const GemmGeometry gr{2, 8, 3, 3, 4, 3, 3, 3, 3, 2, false};
  EXPECT_EQ(runs(forward_x_layout(gr)), (std::vector<int64_t>{36, 4, 1}));
  EXPECT_EQ(runs(data_dy_layout(gr)), (std::vector<int64_t>{36, 2, 1}));
  // Per-tensor formats get one group.
  EXPECT_EQ(forward_w_layout(g, Format::parse_text(R"({"type":"hbfp","mantissa_bits":3})")).num_groups(), 1);
}

TEST(QuantizedGemm, SignedAutoIsUnsignedAfterReluOnly) {
  for (const bool after_relu : {false, true}) {
    Linear layer(4, 2, false);
    layer.set_input_nonnegative(after_relu);
    layer.name_modules("fc");
    GemmFormats f;
    f.activations = fmt(R"({"type":"int","bits":4})");  // signed: "auto" by default
    layer.set_quantization(f);
    layer.quantizer()->set_collect_stats(true);
    layer(Variable(Tensor::full({3, 4}, 0.5f)));
    const nlohmann::json d = layer.quantizer()->take_diagnostics();
    EXPECT_EQ(d["activations"]["format"], after_relu ? "uint4-pt" : "int4-pt");
  }
}

// Activation clip values (INT's amax, a minifloat's per-tensor scale amax): a moving average (0.9)
// of the training-time values, frozen at evaluation so that results do not depend on the evaluation
// batch; the average is checkpointable state.
TEST(QuantizedGemm, EvaluationFreezesTheMovingAverageOfActivationClips) {
  for (const char* json : {R"({"type":"int","bits":4,"signed":true})", R"({"type":"fp8_e4m3","scale":"tensor"})"}) {
    SCOPED_TRACE(json);
    Linear layer(4, 2, false);
    layer.name_modules("fc");
    layer.initialize(0);
    GemmFormats f;
    f.activations = fmt(json);
    layer.set_quantization(f);
    layer(Variable(Tensor::full({1, 4}, 2.0f)));
    layer(Variable(Tensor::full({1, 4}, 4.0f)));
    const auto state = layer.quantizer()->state();
    ASSERT_EQ(state.size(), 1u);
    EXPECT_EQ(state[0].first, "activations.clip_ema");
    EXPECT_FLOAT_EQ(state[0].second[0], 0.9f * 2.0f + 0.1f * 4.0f);
    // Evaluation: clip 2.2 → 3.0 saturates to 2.2 whatever else is in the batch.
    layer.eval();
    const Tensor one = layer(Variable(Tensor::full({1, 4}, 3.0f))).data();
    const Tensor two = layer(Variable(Tensor::from_vector({2, 4}, {3, 3, 3, 3, 100, 100, 100, 100}))).data();
    EXPECT_EQ(one.to_vector()[0], two.to_vector()[0]);
    EXPECT_EQ(one.to_vector()[1], two.to_vector()[1]);
    const Tensor at_clip = layer(Variable(Tensor::full({1, 4}, state[0].second[0]))).data();
    EXPECT_EQ(one.to_vector(), at_clip.to_vector());
    // The state round-trips into a fresh layer and gives the same evaluation.
    Linear other(4, 2, false);
    other.name_modules("fc");
    other.weight().data().copy_from(layer.weight().data());
    other.set_quantization(f);
    for (auto& [k, v] : state) other.quantizer()->load_state(k, v);
    other.eval();
    EXPECT_TRUE(bitwise_equal(other(Variable(Tensor::full({1, 4}, 3.0f))).data(), one));
    EXPECT_THROW(other.quantizer()->load_state("activations.bogus", {1.0f}), Error);
  }
}

TEST(QuantizedGemm, RequantizeBackwardUsesOperandsBlockedAlongTheBackwardAxes) {
  const auto hb = fmt(R"({"type":"hbfp","mantissa_bits":2,"block_size":4})");
  Linear layer(8, 8, false);
  layer.name_modules("fc");
  layer.initialize(7);
  GemmFormats f;
  f.weights = f.activations = hb;
  const Tensor x = random_tensor({8, 8}, 8), dy = random_tensor({8, 8}, 9);
  Tensor reuse_dx, reuse_dw;
  for (const bool requantize : {false, true}) {
    f.requantize_backward = requantize;
    layer.set_quantization(f);
    Variable(layer.weight()).zero_grad();
    Variable xv(x, true);
    layer(xv).backward(dy);
    if (!requantize) {
      reuse_dx = xv.grad(), reuse_dw = layer.weight().grad();
      continue;
    }
    GemmGeometry g;
    g.N = 8, g.C = 8, g.O = 8, g.is_linear = true;
    const auto q = [&](const Tensor& t, const BufferLayout& l) {
      Tensor out = Tensor::empty_like(t);
      formats::quantize(*hb, t.data<float>(), out.data<float>(), l, {});
      return out;
    };
    Variable a(q(x, weights_x_layout(g)), true), b(q(layer.weight().data(), data_w_layout(g, *hb)), true);
    ops::linear(a, b, Variable()).backward(dy);
    EXPECT_TRUE(bitwise_equal(xv.grad(), a.grad()));
    EXPECT_TRUE(bitwise_equal(layer.weight().grad(), b.grad()));
    EXPECT_GT(max_abs_diff(xv.grad(), reuse_dx), 0.0);
    EXPECT_GT(max_abs_diff(layer.weight().grad(), reuse_dw), 0.0);
  }
}

// Per-GEMM formats (SPEC §2): each backward operand in its own format, quantized from fp32 along
// its own GEMM's reduction axis, while the forward GEMM keeps the roles' formats: dx and dw equal
// linear layers fed with those operands, bit for bit; the MAC counts name each GEMM's precisions.
TEST(QuantizedGemm, PerGemmFormatsQuantizeEachBackwardOperandAlongItsOwnAxis) {
  const auto role = fmt(R"({"type":"hbfp","mantissa_bits":6,"block_size":4})");
  const auto w_data = fmt(R"({"type":"hbfp","mantissa_bits":2,"block_size":4})");
  const auto dy_data = fmt(R"({"type":"hbfp","mantissa_bits":3,"block_size":4})");
  const auto x_weights = fmt(R"({"type":"hbfp","mantissa_bits":4,"block_size":4})");
  const auto dy_weights = fmt(R"({"type":"hbfp","mantissa_bits":5,"block_size":4})");
  Linear layer(8, 8, false);
  layer.name_modules("fc");
  layer.initialize(7);
  GemmFormats f;
  f.weights = f.activations = f.errors = role;
  f.weights_backward_data = w_data;
  f.errors_backward_data = dy_data;
  f.activations_backward_weights = x_weights;
  f.errors_backward_weights = dy_weights;
  layer.set_quantization(f);
  const Tensor x = random_tensor({8, 8}, 8), dy = random_tensor({8, 8}, 9);
  Variable xv(x, true);
  Variable y = layer(xv);
  y.backward(dy);

  GemmGeometry g;
  g.N = 8, g.C = 8, g.O = 8, g.is_linear = true;
  const auto q = [&](const Format& format, const Tensor& t, const BufferLayout& l) {
    Tensor out = Tensor::empty_like(t);
    formats::quantize(format, t.data<float>(), out.data<float>(), l, {});
    return out;
  };
  const Tensor w = layer.weight().data();
  // Forward: the roles' formats.
  const Tensor y_ref = ops::linear(Variable(q(*role, x, forward_x_layout(g))),
                                   Variable(q(*role, w, forward_w_layout(g, *role))), Variable())
                           .data();
  EXPECT_TRUE(bitwise_equal(y.data(), y_ref));
  // dx = dy ⊛ wᵀ from the backward-data operands.
  Variable a(Tensor::zeros({8, 8}), true), wd(q(*w_data, w, data_w_layout(g, *w_data)), false);
  ops::linear(a, wd, Variable()).backward(q(*dy_data, dy, data_dy_layout(g)));
  EXPECT_TRUE(bitwise_equal(xv.grad(), a.grad()));
  // dw = xᵀ ⊛ dy from the backward-weights operands.
  Variable xw(q(*x_weights, x, weights_x_layout(g)), false), b(Tensor::zeros({8, 8}), true);
  ops::linear(xw, b, Variable()).backward(q(*dy_weights, dy, weights_dy_layout(g)));
  EXPECT_TRUE(bitwise_equal(layer.weight().grad(), b.grad()));

  const auto& macs = layer.quantizer()->macs();
  const std::string r = role->name();
  EXPECT_EQ(macs[0].count(r), 1u);
  EXPECT_EQ(macs[1].count(dy_data->name() + "×" + w_data->name()), 1u);
  EXPECT_EQ(macs[2].count(x_weights->name() + "×" + dy_weights->name()), 1u);
}

// NVFP4's 2-D weight blocks: re-quantizing w for backward-data (requantize_backward) gives the
// forward-quantized w back bit for bit, so dx is the same either way; with 1-D blocks it is not.
// Depthwise weights keep 1-D blocks along kh·kw.
TEST(QuantizedGemm, TwoDimensionalWeightBlocksQuantizeTheBackwardDataWeightAsTheForwardOne) {
  const Tensor x = random_tensor({8, 40}, 31), dy = random_tensor({8, 24}, 32);
  for (const char* json : {R"({"type":"nvfp4","weight_blocks":"2d"})", R"({"type":"nvfp4"})"}) {
    SCOPED_TRACE(json);
    std::vector<float> dx[2];
    for (const bool requantize : {false, true}) {
      Linear layer(40, 24, false);
      layer.name_modules("fc");
      layer.initialize(5);
      GemmFormats f;
      f.weights = fmt(json);
      f.requantize_backward = requantize;
      layer.set_quantization(f);
      Variable xv(x, true);
      layer(xv).backward(dy);
      dx[requantize] = xv.grad().to_vector();
    }
    if (std::string(json).find("2d") != std::string::npos)
      EXPECT_EQ(dx[0], dx[1]);
    else
      EXPECT_NE(dx[0], dx[1]);
  }
  GemmGeometry depthwise;
  depthwise.C = depthwise.O = depthwise.groups = 8, depthwise.KH = depthwise.KW = 3;
  EXPECT_EQ(forward_w_layout(depthwise, *fmt(R"({"type":"nvfp4","weight_blocks":"2d"})")).block_rows, 1);
}

}  // namespace
}  // namespace lpt
