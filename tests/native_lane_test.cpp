// The bf16 lane (SPEC §9): per GEMM, on identical bf16-exact operands, the bf16 and fp32 results
// differ by no more than n·2⁻²⁴·Σ|a·b| per output; calls whose products could fall below 2^−126
// run in fp32 and are counted; layers choose the lane from their formats and the execution
// setting; one training step of ResNet-20 and MobileNetV2 gives the emulated loss within 1e-4.
// Tests that need bf16 dot products skip, saying why, on a CPU (or oneDNN ISA cap) without them.
#include <gtest/gtest.h>

#include <cmath>
#include <span>

#include "core/onednn/context.h"
#include "core/ops/conv.h"
#include "core/ops/linear.h"
#include "experiments/experiment_config.h"
#include "experiments/quantization_setup.h"
#include "formats/format.h"
#include "formats/quantize.h"
#include "layers/quant/gemm_quantizer.h"
#include "tests/support/batch_training.h"
#include "tests/support/bf16_testing.h"
#include "tests/support/gradcheck.h"
#include "tests/support/test_helpers.h"

namespace lpt {
namespace {

#define SKIP_WITHOUT_BF16()                                  \
  do {                                                       \
    const std::string why = ops::why_no_bf16_gemms();        \
    if (!why.empty()) GTEST_SKIP() << why;                   \
  } while (0)

ops::GemmLanes all_bf16() {
  ops::GemmLanes l;
  l.lane = {ops::Lane::bf16, ops::Lane::bf16, ops::Lane::bf16};
  l.runs = std::make_shared<ops::GemmRuns>();
  return l;
}

Tensor abs_of(const Tensor& t) {
  Tensor out = t.clone();
  float* v = out.data<float>();
  for (int64_t i = 0; i < out.numel(); ++i) v[i] = std::fabs(v[i]);
  return out;
}

// bf16-exact values spread over 2^−20 .. 2^3 in magnitude, both signs.
Tensor wide_range(const Shape& s, uint64_t seed, MemoryFormat mf = MemoryFormat::contiguous) {
  Tensor mant = testing::random_tensor(s, seed, 1.0f, 2.0f, mf), expo = testing::random_tensor(s, seed + 7, -20, 3, mf);
  float* m = mant.data<float>();
  const float* e = expo.data<float>();
  for (int64_t i = 0; i < mant.numel(); ++i) m[i] = std::ldexp(m[i], int(std::floor(e[i]))) * (i % 3 == 0 ? -1.f : 1.f);
  return testing::bf16_rounded(mant);
}

// The three GEMM results of one op, run on (x, w, dy) with the given lanes: y, dx, dw.
struct GemmResults {
  Tensor y, dx, dw;
};
template <class Op>
GemmResults run(Op op, const Tensor& x, const Tensor& w, const Tensor& dy, const ops::GemmLanes* lanes) {
  Variable xv(x.clone(), true), wv(w.clone(), true);
  Variable y = op(xv, wv, lanes);
  y.backward(dy);
  return {y.data().contiguous(), xv.grad().contiguous(), wv.grad().contiguous()};
}

// Every element of `got` is within n·2⁻²⁴·bound + n·2⁻¹²⁶ of `want` (n: the reduction length).
void expect_within(const Tensor& got, const Tensor& want, const Tensor& abs_products, int64_t n, const char* what) {
  const std::vector<float> g = got.to_vector(), w = want.to_vector(), b = abs_products.to_vector();
  ASSERT_EQ(g.size(), w.size());
  int64_t differing = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    const double tol = double(n) * std::ldexp(double(b[i]), -24) + double(n) * std::ldexp(1.0, -126);
    ASSERT_LE(std::fabs(double(g[i]) - double(w[i])), tol) << what << " element " << i;
    differing += g[i] != w[i];
  }
  ::testing::Test::RecordProperty(std::string(what) + "_differing", std::to_string(differing));
}

struct ConvCase {
  const char* name;
  Shape x, w;
  ops::Conv2dParams p;
};

void PrintTo(const ConvCase& c, std::ostream* os) { *os << c.name; }

class Bf16ConvLane : public ::testing::TestWithParam<ConvCase> {};

TEST_P(Bf16ConvLane, EachGemmMatchesFp32WithinTheSpecBound) {
  SKIP_WITHOUT_BF16();
  const ConvCase& c = GetParam();
  const Shape ys = ops::conv2d_output_shape(c.x, c.w, c.p);
  const Tensor x = wide_range(c.x, 1, MemoryFormat::channels_last), w = wide_range(c.w, 2);
  const Tensor dy = wide_range(ys, 3, MemoryFormat::channels_last);
  const auto conv = [&](const Variable& a, const Variable& b, const ops::GemmLanes* l) {
    return ops::conv2d(a, b, Variable(), c.p, nullptr, l);
  };
  const ops::GemmLanes lanes = all_bf16();
  const GemmResults native = run(conv, x, w, dy, &lanes), emulated = run(conv, x, w, dy, nullptr);
  const GemmResults bound = run(conv, abs_of(x), abs_of(w), abs_of(dy), nullptr);
  for (const ops::GemmRun& r : *lanes.runs) {
    EXPECT_EQ(r.lane, ops::Lane::bf16) << r.impl;
    EXPECT_EQ(r.bf16_calls, 1);
    EXPECT_EQ(r.below_normal_calls, 0);
  }
  const int64_t cin = c.w[1], cout_per_group = c.w[0] / c.p.groups, khw = c.w[2] * c.w[3];
  expect_within(native.y, emulated.y, bound.y, cin * khw, "forward");
  expect_within(native.dx, emulated.dx, bound.dx, cout_per_group * khw, "backward_data");
  expect_within(native.dw, emulated.dw, bound.dw, ys[0] * ys[2] * ys[3], "backward_weights");
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, Bf16ConvLane,
    ::testing::Values(ConvCase{"3x3", {4, 16, 10, 10}, {24, 16, 3, 3}, {.pad_h = 1, .pad_w = 1}},
                      ConvCase{"3x3_stride2", {4, 16, 10, 10}, {32, 16, 3, 3}, {.stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1}},
                      ConvCase{"1x1", {4, 16, 7, 7}, {64, 16, 1, 1}, {}},
                      ConvCase{"one_input_channel", {4, 1, 12, 12}, {16, 1, 3, 3}, {.pad_h = 1, .pad_w = 1}},
                      ConvCase{"depthwise", {4, 32, 8, 8}, {32, 1, 3, 3}, {.pad_h = 1, .pad_w = 1, .groups = 32}},
                      ConvCase{"grouped", {4, 16, 8, 8}, {16, 4, 3, 3}, {.pad_h = 1, .pad_w = 1, .groups = 4}}),
    [](const ::testing::TestParamInfo<ConvCase>& i) { return std::string(i.param.name); });

TEST(Bf16LinearLane, EachGemmMatchesFp32WithinTheSpecBound) {
  SKIP_WITHOUT_BF16();
  const Tensor x = wide_range({32, 48}, 1), w = wide_range({10, 48}, 2), dy = wide_range({32, 10}, 3);
  const auto linear = [](const Variable& a, const Variable& b, const ops::GemmLanes* l) {
    return ops::linear(a, b, Variable(), nullptr, l);
  };
  const ops::GemmLanes lanes = all_bf16();
  const GemmResults native = run(linear, x, w, dy, &lanes), emulated = run(linear, x, w, dy, nullptr);
  const GemmResults bound = run(linear, abs_of(x), abs_of(w), abs_of(dy), nullptr);
  for (const ops::GemmRun& r : *lanes.runs) EXPECT_EQ(r.lane, ops::Lane::bf16) << r.impl;
  expect_within(native.y, emulated.y, bound.y, 48, "forward");
  expect_within(native.dx, emulated.dx, bound.dx, 10, "backward_data");
  expect_within(native.dw, emulated.dw, bound.dw, 32, "backward_weights");
}

// Products below 2^−126 would be flushed by bf16 instructions: such a call runs in fp32 (the same
// bits as the emulated lane) and is counted.
TEST(Bf16LinearLane, CallsWhoseProductsCouldFallBelowNormalRunInFp32) {
  SKIP_WITHOUT_BF16();
  Tensor x = wide_range({8, 16}, 1), w = wide_range({4, 16}, 2), dy = wide_range({8, 4}, 3);
  x.data<float>()[5] = std::ldexp(1.0f, -110);  // times w's smallest (≥ 2^−20): below 2^−126
  const auto linear = [](const Variable& a, const Variable& b, const ops::GemmLanes* l) {
    return ops::linear(a, b, Variable(), nullptr, l);
  };
  const ops::GemmLanes lanes = all_bf16();
  const GemmResults native = run(linear, x, w, dy, &lanes), emulated = run(linear, x, w, dy, nullptr);
  const ops::GemmRuns& r = *lanes.runs;
  EXPECT_EQ(r[0].lane, ops::Lane::fp32);  // forward: x·wᵀ
  EXPECT_EQ(r[0].below_normal_calls, 1);
  EXPECT_EQ(r[1].lane, ops::Lane::bf16);  // backward-data: dy·w does not involve x
  EXPECT_EQ(r[2].lane, ops::Lane::fp32);  // backward-weights: dyᵀ·x
  EXPECT_EQ(r[2].below_normal_calls, 1);
  EXPECT_EQ(native.y.to_vector(), emulated.y.to_vector());
  EXPECT_EQ(native.dw.to_vector(), emulated.dw.to_vector());
}

TEST(Bf16Conversion, RefusesValuesThatAreNotBf16) {
  Tensor t = Tensor::from_vector({3}, {1.0f, 1.0f + std::ldexp(1.0f, -12), 2.0f});
  EXPECT_NE(testing::error_of([&] { to_bf16_exact(t); }).find("not bfloat16"), std::string::npos);
  const Bf16Copy c = to_bf16_exact(Tensor::from_vector({3}, {0.0f, -0.25f, 4.0f}));
  EXPECT_EQ(c.min_abs, 0.25f);
  EXPECT_EQ(bf16_to_f32(c.data).to_vector(), (std::vector<float>{0.0f, -0.25f, 4.0f}));
}

// A tensor whose values are fl32(e·s), e bf16-exact (a minifloat with an fp32 tensor scale): its
// copy holds the elements and s, from which the values come back bit for bit.
Tensor scaled_by(const Tensor& elements, float s) {
  Tensor t = elements.clone();
  for (float& v : std::span(t.data<float>(), size_t(t.numel()))) v *= s;
  t.set_format(nullptr, s);
  return t;
}

TEST(Bf16Conversion, AScaledTensorKeepsItsElementsAndScale) {
  const float s = 0.0371f;  // not a power of two: s·e is not a bf16
  const Tensor e = wide_range({64}, 4);
  const Tensor x = scaled_by(e, s);
  const Bf16Copy c = to_bf16_exact(x);
  EXPECT_EQ(c.scale, s);
  EXPECT_EQ(bf16_to_f32(c.data).to_vector(), e.to_vector());
  EXPECT_EQ(bf16_to_f32(c.data, c.scale).to_vector(), x.to_vector());
  float min_e = INFINITY;
  for (float v : e.to_vector()) min_e = v != 0 ? std::min(min_e, std::fabs(v)) : min_e;
  EXPECT_EQ(c.min_abs, min_e);
  // A value that is no bf16 times s: the format's claim is false.
  Tensor bad = x.clone();
  bad.data<float>()[3] = std::nextafter(bad.data<float>()[3], 1e9f);
  EXPECT_NE(testing::error_of([&] { to_bf16_exact(bad); }).find("not a bfloat16 times its scale"), std::string::npos);
  // An fp32 subnormal fl32(e·s) may have lost e's bits (here: moved by one subnormal step, so no
  // bf16 times s gives it): not an error, but the copy refuses bf16 products, so its GEMM runs in
  // fp32 on the values.
  Tensor tiny = scaled_by(Tensor::from_vector({2}, {1.5f, 1.75f}), 0x1.3p-140f);
  tiny.data<float>()[1] = std::nextafter(tiny.data<float>()[1], 1.0f);
  ASSERT_LT(tiny.data<float>()[1], 0x1p-126f);
  EXPECT_EQ(to_bf16_exact(tiny).min_abs, 0.0f);
  EXPECT_FALSE(bf16_products_normal(to_bf16_exact(tiny).min_abs, 1.0f));
}

// The bf16 lane with the operands' fp32 tensor scales factored out (SPEC §9 row 4): per GEMM the
// native result (elements in bf16, output times the scales, bias added after) is within the same
// bound of the fp32 GEMM on the values, for convs with a bias and for linear layers.
// Operands as SPEC §9 row 4's formats make them: elements times an fp32 tensor scale (any bf16
// elements), or NVFP4's fl32(e·s_b) times s_t.
Tensor scaled_operand(const Shape& s, uint64_t seed, float scale, MemoryFormat mf, bool nvfp4) {
  const Tensor e = wide_range(s, seed, mf);
  if (!nvfp4) return scaled_by(e, scale);
  for (float& v : std::span(e.data<float>(), size_t(e.numel()))) v *= scale;
  return formats::quantize(e, formats::Format::parse_text(R"({"type":"nvfp4"})"));
}

TEST(Bf16ScaledLane, EachGemmMatchesFp32WithinTheSpecBound) {
  SKIP_WITHOUT_BF16();
  const float sx = 0.0371f, sw = 3.3e-3f, sdy = 17.9f;
  for (const bool nvfp4 : {false, true}) {
    const auto check = [&](auto op, const Shape& xs, const Shape& ws, const Shape& ys, MemoryFormat mf, int64_t n_fwd,
                           int64_t n_data, int64_t n_weights, const char* what) {
      SCOPED_TRACE(std::string(what) + (nvfp4 ? " nvfp4" : ""));
      const Tensor x = scaled_operand(xs, 1, sx, mf, nvfp4), w = scaled_operand(ws, 2, sw, MemoryFormat::contiguous, nvfp4);
      const Tensor dy = scaled_operand(ys, 3, sdy, mf, nvfp4);
      ASSERT_NE(x.format_scale(), 1.0f);
      ops::BackwardOperands ops;  // the backward GEMMs read the quantized dy, carrying its scale
      ops.dy_for_data = ops.dy_for_weights = [&](const Tensor&) { return dy; };
      const Tensor b = testing::random_tensor({ws[0]}, 5, -1.0f, 1.0f);
      const auto run_op = [&](const Tensor& xv0, const Tensor& wv0, const Tensor& dyv, const ops::GemmLanes* l) {
        Variable xv(xv0, true), wv(wv0, true), bv(b.clone(), true);
        Variable y = op(xv, wv, bv, &ops, l);
        y.backward(dyv);
        return GemmResults{y.data().contiguous(), xv.grad().contiguous(), wv.grad().contiguous()};
      };
      const ops::GemmLanes lanes = all_bf16();
      const GemmResults native = run_op(x, w, dy, &lanes), emulated = run_op(x, w, dy, nullptr);
      for (const ops::GemmRun& r : *lanes.runs) {
        EXPECT_EQ(r.lane, ops::Lane::bf16) << r.impl;
        EXPECT_EQ(r.bf16_calls, 1);
      }
      // The bound's Σ|a·b| (the bias is exact on both sides but for one rounding, within it here).
      ops::BackwardOperands abs_ops;
      abs_ops.dy_for_data = abs_ops.dy_for_weights = [&](const Tensor&) { return abs_of(dy); };
      Variable ax(abs_of(x), true), aw(abs_of(w), true), ab(abs_of(b), true);
      Variable ay = op(ax, aw, ab, &abs_ops, nullptr);
      ay.backward(abs_of(dy));
      expect_within(native.y, emulated.y, ay.data().contiguous(), n_fwd + 1, "forward");
      expect_within(native.dx, emulated.dx, ax.grad().contiguous(), n_data, "backward_data");
      expect_within(native.dw, emulated.dw, aw.grad().contiguous(), n_weights, "backward_weights");
    };
    for (const ConvCase& c : {ConvCase{"3x3", {4, 16, 10, 10}, {24, 16, 3, 3}, {.pad_h = 1, .pad_w = 1}},
                              ConvCase{"1x1_stride2", {4, 16, 7, 7}, {32, 16, 1, 1}, {.stride_h = 2, .stride_w = 2}},
                              ConvCase{"depthwise", {4, 32, 8, 8}, {32, 1, 3, 3}, {.pad_h = 1, .pad_w = 1, .groups = 32}}}) {
      const Shape ys = ops::conv2d_output_shape(c.x, c.w, c.p);
      const auto conv = [&](const Variable& a, const Variable& w, const Variable& b, const ops::BackwardOperands* o,
                            const ops::GemmLanes* l) { return ops::conv2d(a, w, b, c.p, o, l); };
      check(conv, c.x, c.w, ys, MemoryFormat::channels_last, c.w[1] * c.w[2] * c.w[3],
            c.w[0] / c.p.groups * c.w[2] * c.w[3], ys[0] * ys[2] * ys[3], c.name);
    }
    const auto linear = [](const Variable& a, const Variable& w, const Variable& b, const ops::BackwardOperands* o,
                           const ops::GemmLanes* l) { return ops::linear(a, w, b, o, l); };
    check(linear, {32, 48}, {10, 48}, {32, 10}, MemoryFormat::contiguous, 48, 10, 32, "linear");
  }
}

// ---- lane choice per layer --------------------------------------------------------------------

std::shared_ptr<const formats::Format> fmt(const char* json) {
  return std::make_shared<const formats::Format>(formats::Format::parse_text(json));
}

GemmFormats formats_all(const char* json, Execution e) {
  GemmFormats f;
  f.weights = f.activations = f.errors = fmt(json);
  f.execution = e;
  return f;
}

TEST(GemmLaneChoice, FormatsTheirRowCallsBf16ExactRunInBf16) {
  SKIP_WITHOUT_BF16();
  for (const char* json : {R"({"type":"hbfp","mantissa_bits":3,"block_size":64})", R"({"type":"mx","element":"int8"})",
                           R"({"type":"mx","element":"fp4_e2m1"})", R"({"type":"fp8_e4m3"})",
                           R"({"type":"fp8_e5m2","scale":"tensor","pow2_scale":true})",
                           R"({"type":"fp8_e4m3","scale":"tensor"})", R"({"type":"nvfp4"})"}) {
    GemmQuantizer q("layer", false);
    q.set_formats(formats_all(json, Execution::automatic));
    EXPECT_EQ(q.lanes().lane, (std::array{ops::Lane::bf16, ops::Lane::bf16, ops::Lane::bf16})) << json;
  }
}

// The operands a backward GEMM reads from the forward pass are kept as bf16 copies wherever their
// format is bf16-exact, in the emulated lane too (half of fp32's memory; the copy's values are the
// operand's exactly), and as fp32 values where it is not.
TEST(GemmLaneChoice, BackwardOperandsOfBf16ExactFormatsAreKeptAsBf16InEveryLane) {
  for (const Execution e : {Execution::emulated, Execution::automatic}) {
    GemmQuantizer q("layer", false);
    q.set_formats(formats_all(R"({"type":"mx","element":"fp4_e2m1"})", e));
    if (e == Execution::emulated) {
      EXPECT_FALSE(q.lanes().keeps_bf16(ops::Gemm::forward)) << "keeps nothing";
    }
    EXPECT_TRUE(q.lanes().keeps_bf16(ops::Gemm::backward_data));
    EXPECT_TRUE(q.lanes().keeps_bf16(ops::Gemm::backward_weights));
  }
  GemmQuantizer q("layer", false);
  GemmFormats f = formats_all(R"({"type":"mx","element":"fp4_e2m1"})", Execution::emulated);
  f.activations = fmt(R"({"type":"lns","bits":8,"gamma":8})");
  q.set_formats(f);
  EXPECT_TRUE(q.lanes().keeps_bf16(ops::Gemm::backward_data)) << "w is MXFP4";
  EXPECT_FALSE(q.lanes().keeps_bf16(ops::Gemm::backward_weights)) << "x is LNS";
}

TEST(GemmLaneChoice, OtherFormatsAndFp32OperandsStayEmulated) {
  for (const char* json : {R"({"type":"int","bits":4,"granularity":"vector","vector_size":16})",
                           R"({"type":"lns","bits":8,"gamma":8})",
                           R"({"type":"hbfp","mantissa_bits":10,"block_size":16})"}) {
    GemmQuantizer q("layer", false);
    q.set_formats(formats_all(json, Execution::automatic));
    EXPECT_EQ(q.lanes().lane, (std::array{ops::Lane::fp32, ops::Lane::fp32, ops::Lane::fp32})) << json;
  }
  GemmQuantizer q("layer", false);
  GemmFormats f = formats_all(R"({"type":"hbfp","mantissa_bits":3,"block_size":64})", Execution::automatic);
  f.errors = nullptr;  // the backward GEMMs have an fp32 operand
  q.set_formats(f);
  EXPECT_EQ(q.lanes().lane[1], ops::Lane::fp32);
  EXPECT_EQ(q.lanes().lane[2], ops::Lane::fp32);
  f.execution = Execution::emulated;
  f.errors = f.weights;
  q.set_formats(f);
  EXPECT_EQ(q.lanes().lane, (std::array{ops::Lane::fp32, ops::Lane::fp32, ops::Lane::fp32}));
}

TEST(GemmLaneChoice, NativeWhereAGemmCannotIsAnErrorNamingLayerGemmAndReason) {
  GemmQuantizer q("layer2.0.conv1", false);
  const std::string e = testing::error_of(
      [&] { q.set_formats(formats_all(R"({"type":"int","bits":4,"granularity":"vector","vector_size":16})", Execution::native)); });
  EXPECT_NE(e.find("layer2.0.conv1"), std::string::npos) << e;
  EXPECT_NE(e.find("forward GEMM cannot run natively"), std::string::npos) << e;
  EXPECT_NE(e.find("not exact in bf16"), std::string::npos) << e;
  GemmFormats f = formats_all(R"({"type":"hbfp","mantissa_bits":3,"block_size":64})", Execution::native);
  f.errors = nullptr;
  const std::string e2 = testing::error_of([&] { q.set_formats(f); });
  if (ops::why_no_bf16_gemms().empty()) {
    EXPECT_NE(e2.find("backward_data GEMM cannot run natively: its errors.data operand is fp32"), std::string::npos) << e2;
  } else {
    EXPECT_NE(e2.find("no bf16 dot products"), std::string::npos) << e2;
  }
}

// ---- one training step per lane ---------------------------------------------------------------

// The losses of two steps (testing::two_steps); under `native`, every GEMM of every quantized layer
// ran in bf16.
std::pair<float, float> two_step_losses(const std::string& config_name, const std::string& execution) {
  const testing::TwoSteps t = testing::two_steps(config_name, execution);
  if (execution == "native") {
    const json lanes = gemm_lanes(*t.model);
    for (const auto& [layer, gemms] : lanes.items())
      for (const auto& [gemm, run] : gemms.items()) EXPECT_EQ(run["lane"], "bf16") << layer << " " << gemm;
  }
  return {t.first, t.second};
}

// After the first step every primitive exists: later steps create none, and each conv weight is
// reordered into a primitive's layout twice a step (forward and backward-data: oneDNN 2.6's JIT
// kernels for the two directions take different blocked layouts, and either one forced on the
// other gives a reference kernel) and its gradient once out of one. Both lanes.
TEST(PrimitiveReuse, StepsAfterTheFirstCreateNoPrimitiveAndReorderEachWeightOncePerGemm) {
  for (const char* execution : {"emulated", "auto"}) {
    const json config = load_experiment(std::string(LPT_SOURCE_DIR) + "/experiments/configs/resnet20_mxint8.json",
                                        {"data.dataset=synthetic", "data.synthetic_size=16", "data.validation_size=0",
                                         "training.batch_size=16", std::string("quantization.execution=") + execution});
    testing::BatchTraining t = testing::batch_training(config, 16, 10);
    t.step(0);
    const size_t primitives = onednn::PrimitiveCache::size(), recorded = onednn::recorded_impls().size();
    const int64_t reorders = onednn::weight_reorders();
    t.step(1);
    EXPECT_EQ(onednn::PrimitiveCache::size(), primitives) << execution;
    EXPECT_EQ(onednn::recorded_impls().size(), recorded) << execution;
    // Every conv reorders its weights for forward and its gradient out of backward-weights' layout;
    // all but the stem (whose input, the data, needs no gradient) also for backward-data. The fc
    // runs matmul on plain layouts: no reorder.
    int64_t convs = 0;
    for (auto& [name, layer] : gemm_layers(*t.model)) convs += name != "fc";
    EXPECT_EQ(onednn::weight_reorders() - reorders, 3 * convs - 1) << execution;
  }
}

// Evaluation holds the weights frozen (FrozenWeights): each weight is quantized and reordered into
// its primitive's layout at the first batch, and later batches reorder nothing, with the logits
// bit for bit those of an evaluation without the freeze. After a training step under a new freeze
// the new weights are used. In the bf16 lane (MXINT8) and the int8 lane fused with batch norm
// (VS-Quant); on a CPU without them the same holds for the fp32 GEMMs of the quantized layers.
TEST(PrimitiveReuse, AnEvaluationQuantizesAndReordersEachWeightOnce) {
  for (const char* config_name : {"resnet20_mxint8.json", "resnet20_vsquant_qat.json"}) {
    SCOPED_TRACE(config_name);
    const json config = load_experiment(std::string(LPT_SOURCE_DIR) + "/experiments/configs/" + config_name,
                                        {"data.dataset=synthetic", "data.synthetic_size=16", "data.validation_size=0",
                                         "training.batch_size=16"});
    testing::BatchTraining t = testing::batch_training(config, 16, 10);
    int64_t convs = 0;
    for (auto& [name, layer] : gemm_layers(*t.model)) convs += name != "fc";
    for (int64_t step = 0; step < 2; ++step) {
      t.step(step);
      t.model->eval();
      NoGradGuard no_grad;
      const auto logits = [&] { return (*t.model)(Variable(t.batch.images)).data().to_vector(); };
      const std::vector<float> unfrozen = logits();
      const FrozenWeights frozen(*t.model);
      const int64_t before = onednn::weight_reorders();
      EXPECT_EQ(logits(), unfrozen) << "step " << step;
      EXPECT_EQ(onednn::weight_reorders() - before, convs) << "step " << step;
      EXPECT_EQ(logits(), unfrozen) << "step " << step;
      EXPECT_EQ(onednn::weight_reorders() - before, convs) << "step " << step << ": a later batch reordered weights";
      t.model->train();
    }
  }
}

// While frozen, the weights are quantized at the first forward only: a change to them is not seen
// (the caller's promise is broken on purpose here) until the freeze ends.
TEST(PrimitiveReuse, FrozenWeightsAreQuantizedAtTheFirstForwardOnly) {
  GemmQuantizer q("layer", false);
  q.set_formats(formats_all(R"({"type":"int","bits":4,"granularity":"vector","vector_size":16})", Execution::emulated));
  const GemmGeometry g{2, 16, 3, 3, 4, 3, 3, 3, 3, 1, false};
  const Variable x(testing::random_tensor({2, 16, 3, 3}, 1).to(MemoryFormat::channels_last));
  Variable w(testing::random_tensor({4, 16, 3, 3}, 2));
  NoGradGuard no_grad;
  const auto weights = [&] { return q.prepare(x, w, g, false).w.data().to_vector(); };
  const std::vector<float> original = weights();
  q.set_weights_frozen(true);
  EXPECT_EQ(weights(), original);
  for (float& v : std::span(w.data().data<float>(), size_t(w.data().numel()))) v *= 2;
  EXPECT_EQ(weights(), original);
  q.set_weights_frozen(false);
  const std::vector<float> doubled = weights();
  ASSERT_EQ(doubled.size(), original.size());
  for (size_t i = 0; i < doubled.size(); ++i) EXPECT_EQ(doubled[i], 2 * original[i]) << i;
}

TEST(Bf16Training, OneStepOfResNet20AndMobileNetV2GivesTheEmulatedLoss) {
  SKIP_WITHOUT_BF16();
  for (const char* config : {"resnet20_hbfp_booster.json", "resnet20_mxint8.json", "mobilenet_v2_hbfp_booster.json"}) {
    const auto [e1, e2] = two_step_losses(config, "emulated");
    const auto [n1, n2] = two_step_losses(config, "native");
    EXPECT_NEAR(n1, e1, 1e-4 * std::fabs(e1)) << config;
    EXPECT_NEAR(n2, e2, 1e-4 * std::fabs(e2)) << config;
  }
}

// FP8 with fp32 tensor scales, and NVFP4, in every GEMM (the tensor scales factored out of the
// bf16 GEMMs). Unlike the formats above, the emulated products fl32(fl32(e·s)·fl32(e'·s')) are
// rounded where the bf16 lane's e·e' are exact, so outputs differ in their last bits (within the
// per-GEMM bound, Bf16ScaledLane, NVFP4 operands included) and the next layer's narrow
// re-quantization turns a last-bit difference at a rounding boundary into a whole step, as in the
// int8 lane: the losses must stay within 4× of the emulated lane's own last-bit sensitivity, as
// Int8Training asks. Measured (first loss / after one update, relative): FP8 3.1e-3 / 3.2e-3
// against a sensitivity of 3.9e-3 / 3.3e-3; NVFP4 3.2e-3 / 4.7e-3 against 3.5e-3 / 1.5e-2.
TEST(Bf16Training, OneStepWithFp32TensorScalesIsWithinTheNetworksOwnLastBitSensitivity) {
  SKIP_WITHOUT_BF16();
  const std::vector<std::vector<std::string>> cases = {
      {R"(quantization.weights={"type":"fp8_e4m3","scale":"tensor"})",
       R"(quantization.activations={"type":"fp8_e4m3","scale":"tensor"})",
       R"(quantization.errors={"type":"fp8_e5m2","scale":"tensor"})"},
      {R"(quantization.weights={"type":"nvfp4"})", R"(quantization.activations={"type":"nvfp4"})",
       R"(quantization.errors={"type":"nvfp4"})"}};
  for (const std::vector<std::string>& formats : cases) {
    SCOPED_TRACE(formats[0]);
    const testing::TwoSteps e = testing::two_steps("resnet20_mxint8.json", "emulated", formats);
    const testing::TwoSteps n = testing::two_steps("resnet20_mxint8.json", "native", formats);
    const json lanes = gemm_lanes(*n.model);  // items() would not keep a temporary alive
    for (const auto& [layer, gemms] : lanes.items())
      for (const auto& [gemm, run] : gemms.items()) EXPECT_EQ(run["lane"], "bf16") << layer << " " << gemm;
    const auto [s1, s2] = testing::last_bit_sensitivity("resnet20_mxint8.json", formats);
    EXPECT_NEAR(n.first, e.first, 4 * s1 * std::fabs(e.first)) << "sensitivity " << s1;
    EXPECT_NEAR(n.second, e.second, 4 * s2 * std::fabs(e.second)) << "sensitivity " << s2;
  }
}

}  // namespace
}  // namespace lpt
