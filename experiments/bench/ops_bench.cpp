// Forward and forward+backward throughput of the ops a CIFAR ResNet-20 (28x28 inputs, batch 128)
// spends its time in: 3x3 convolution (fp32, the bf16 lane of SPEC §9 on bf16-exact data, its
// operand conversions included, and the int8 lane's forward), batch norm (plain and with the fused ReLU), ReLU, and the
// bf16 lane's exact fp32 -> bf16 conversion, at its three stage shapes (16, 32, 64 channels at
// 28, 14, 7 pixels), channels-last; and every conv shape of ResNet-20 and MobileNetV2 per lane
// (BM_ModelConv: fp32, bf16 and int8 forward, fp32 and bf16 forward+backward), followed by a table
// of those next to PyTorch's convolutions on the same shapes and lanes through the same oneDNN
// (experiments/bench/conv_bench_torch.py) when Debian's python3-torch imports (--no-torch: not).
//   OMP_NUM_THREADS=2 build-*/experiments/bench/bench_ops [--no-torch] [Google Benchmark flags]
// Counters print as GFLOP=<x>/s and GB=<x>/s. Convolution: 2·MACs per pass (forward,
// backward-data, backward-weights).
// Batch norm and ReLU report GB/s of the activation traffic the math needs, each tensor counted
// once per read or write: forward x in, y out (2 tensors); backward x (BN) or y (ReLU) and dy in,
// dx out (3 tensors). The [C] parameter vectors are negligible and not counted.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "core/bf16.h"
#include "core/ops/activation.h"
#include "core/ops/batch_norm.h"
#include "core/ops/conv.h"
#include "core/philox.h"
#include "experiments/bench/bench_support.h"
#include "models/conv_shapes.h"

namespace lpt {
namespace {

constexpr int64_t kBatch = 128;

Tensor uniform(const Shape& shape, uint64_t seed, float lo, float hi, MemoryFormat mf) {
  Tensor t = Tensor::empty(shape);
  const RandomStream rs(seed, 0xbe7c);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = lo + (hi - lo) * rs.uniform(uint64_t(i));
  return t.to(mf);
}

Shape stage_shape(const benchmark::State& state) { return {kBatch, state.range(0), state.range(1), state.range(1)}; }

void set_rate(benchmark::State& state, const char* name, double per_iteration) {
  state.counters[name] =
      benchmark::Counter(per_iteration * double(state.iterations()) * 1e-9, benchmark::Counter::kIsRate);
}

// The values of t cut to bfloat16 (truncation is enough for benchmark data).
Tensor bf16_values(const Tensor& t) {
  Tensor out = t.clone();
  uint32_t* bits = reinterpret_cast<uint32_t*>(out.data<float>());
  for (int64_t i = 0; i < out.numel(); ++i) bits[i] &= 0xffff0000u;
  return out;
}

// Runs op(inputs) and, when `backward`, its backward with a fixed output gradient, every
// iteration; gradients are dropped between iterations so each pass writes fresh ones. One
// untimed pass first creates the primitives (JIT code generation is not what we measure).
// `bf16_dy`: the output gradient holds bf16 values (for the bf16 lane).
template <class Op>
void run(benchmark::State& state, std::vector<Variable> inputs, const Op& op, bool backward, bool bf16_dy = false) {
  Tensor dy;
  auto pass = [&] {
    Variable y = op(inputs);
    if (backward) {
      if (!dy.defined()) {
        dy = uniform(y.shape(), 7, -1.0f, 1.0f, MemoryFormat::channels_last);
        if (bf16_dy) dy = bf16_values(dy);
      }
      y.backward(dy);
      for (Variable& v : inputs) v.zero_grad();
    }
    benchmark::DoNotOptimize(y.data().raw_data());
  };
  pass();
  for (auto _ : state) pass();
}

// range(0): channels, range(1): pixels per side, range(2): 1 = forward+backward, 0 = forward,
// range(3): which GEMMs take the bf16 lane, a bit mask: 1 forward, 2 backward-data, 4 backward-weights.
void BM_Conv3x3(benchmark::State& state) {
  const Shape s = stage_shape(state);
  const int64_t C = s[1], HW = s[2] * s[3];
  const bool backward = state.range(2);
  const int64_t mask = state.range(3);
  const bool bf16 = mask != 0;
  if (bf16 && !ops::why_no_bf16_gemms().empty()) return state.SkipWithError(ops::why_no_bf16_gemms().c_str());
  ops::Conv2dParams p;
  p.pad_h = p.pad_w = 1;
  ops::GemmLanes lanes;
  for (int g = 0; g < ops::kGemms; ++g) lanes.lane[size_t(g)] = mask & (1 << g) ? ops::Lane::bf16 : ops::Lane::fp32;
  Variable x(bf16_values(uniform(s, 1, -1.0f, 1.0f, MemoryFormat::channels_last)), backward);
  Variable w(bf16_values(uniform({C, C, 3, 3}, 2, -0.1f, 0.1f, MemoryFormat::contiguous)), backward);
  run(
      state, {x, w}, [&](const std::vector<Variable>& v) { return ops::conv2d(v[0], v[1], Variable(), p, nullptr, &lanes); },
      backward, bf16);
  const double flops = 2.0 * double(kBatch * HW * C * C * 9);
  set_rate(state, "GFLOP", flops * (backward ? 3 : 1));
}

// range(3): 1 = ReLU fused into the batch norm.
void BM_BatchNorm(benchmark::State& state) {
  const Shape s = stage_shape(state);
  const int64_t C = s[1];
  const bool backward = state.range(2);
  ops::BatchNormParams p;
  p.fuse_relu = state.range(3);
  Tensor running_mean = Tensor::zeros({C}), running_var = Tensor::full({C}, 1.0f);
  Variable x(uniform(s, 3, -1.0f, 1.0f, MemoryFormat::channels_last), backward);
  Variable gamma(Tensor::full({C}, 1.0f), backward), beta(Tensor::zeros({C}), backward);
  run(
      state, {x, gamma, beta},
      [&](const std::vector<Variable>& v) { return ops::batch_norm2d(v[0], v[1], v[2], running_mean, running_var, p); },
      backward);
  set_rate(state, "GB", double(shape_numel(s) * 4) * (backward ? 5 : 2));
}

void BM_Relu(benchmark::State& state) {
  const Shape s = stage_shape(state);
  const bool backward = state.range(2);
  Variable x(uniform(s, 4, -1.0f, 1.0f, MemoryFormat::channels_last), backward);
  run(
      state, {x}, [](const std::vector<Variable>& v) { return ops::relu(v[0]); }, backward);
  set_rate(state, "GB", double(shape_numel(s) * 4) * (backward ? 5 : 2));
}

// Values t in [−1, 1] mapped onto integers in [lo, hi], as an s8 / u8 tensor of t's layout.
Tensor integers(const Tensor& t, DType type, float lo, float hi) {
  Tensor q = Tensor::empty_strided(t.shape(), t.strides(), type);
  uint8_t* out = static_cast<uint8_t*>(q.raw_data());
  const float* v = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) out[i] = uint8_t(int32_t(lo + (hi - lo) * (v[i] + 1.0f) / 2.0f));
  return q;
}

// The int8 lane's forward conv (SPEC §9): u8 activations and s8 weights (the integers of W4A4
// VS-Quant: up to 225 and 105), s32 sums scaled per output channel into fp32 by post-ops. Beside
// BM_Conv3x3's forward rows (fp32, bf16) of the same shapes.
void BM_Conv3x3Int8(benchmark::State& state) {
  const Shape s = stage_shape(state);
  const int64_t C = s[1], HW = s[2] * s[3];
  if (!ops::why_no_int8_gemms().empty()) return state.SkipWithError(ops::why_no_int8_gemms().c_str());
  ops::Conv2dParams p;
  p.pad_h = p.pad_w = 1;
  ops::GemmLanes lanes;
  lanes.lane[0] = ops::Lane::int8;
  const ops::ForwardInt8 int8{
      {integers(uniform(s, 1, -1.0f, 1.0f, MemoryFormat::channels_last), DType::u8, 0, 225), {0.01f}},
      {integers(uniform({C, C, 3, 3}, 2, -1.0f, 1.0f, MemoryFormat::contiguous), DType::s8, -105, 105),
       std::vector<float>(size_t(C), 0.02f)}};
  const Variable x(Tensor::empty(s, DType::f32, MemoryFormat::channels_last)), w(Tensor::empty({C, C, 3, 3}));
  NoGradGuard no_grad;
  run(
      state, {x, w}, [&](const std::vector<Variable>& v) { return ops::conv2d(v[0], v[1], Variable(), p, nullptr, &lanes, &int8); },
      false);
  set_rate(state, "GFLOP", 2.0 * double(kBatch * HW * C * C * 9));
}

// Every distinct conv shape of ResNet-20 and MobileNetV2 (width 1.0) at batch 128, per lane.
const std::vector<ConvSpec>& model_convs() {
  static const std::vector<ConvSpec> convs = [] {
    std::vector<ConvSpec> all = resnet20_convs(), distinct;
    for (ConvSpec c : mobilenet_v2_convs(1)) {
      c.name = "mobilenet_v2 " + c.name;
      all.push_back(c);
    }
    std::set<std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t>> seen;
    for (const ConvSpec& c : all)
      if (seen.insert({c.c_in, c.c_out, c.hw, c.k, c.stride, c.groups}).second) distinct.push_back(c);
    return distinct;
  }();
  return convs;
}

// "layer1 3x3 16->16 28px k3 s1 g1": a model conv in the benchmark's labels and the PyTorch table.
std::string spec_label(const ConvSpec& c) {
  return c.name + " " + std::to_string(c.c_in) + "->" + std::to_string(c.c_out) + " " + std::to_string(c.hw) + "px k" +
         std::to_string(c.k) + " s" + std::to_string(c.stride) + " g" + std::to_string(c.groups);
}

// range(0): index into model_convs(); range(1): 0 fp32, 1 bf16 (all three GEMMs), 2 int8 (forward
// only); range(2): 1 = forward+backward. Operands hold values exact in the lane's type.
void BM_ModelConv(benchmark::State& state) {
  const ConvSpec& c = model_convs()[size_t(state.range(0))];
  const int64_t lane = state.range(1);
  const bool backward = state.range(2);
  if (lane == 1 && !ops::why_no_bf16_gemms().empty()) return state.SkipWithError(ops::why_no_bf16_gemms().c_str());
  if (lane == 2 && !ops::why_no_int8_gemms().empty()) return state.SkipWithError(ops::why_no_int8_gemms().c_str());
  const ops::Conv2dParams p{
      .stride_h = c.stride, .stride_w = c.stride, .pad_h = c.k / 2, .pad_w = c.k / 2, .groups = c.groups};
  const Shape xs{kBatch, c.c_in, c.hw, c.hw}, ws{c.c_out, c.c_in / c.groups, c.k, c.k};
  ops::GemmLanes lanes;
  if (lane == 1) lanes.lane = {ops::Lane::bf16, ops::Lane::bf16, ops::Lane::bf16};
  if (lane == 2) lanes.lane[0] = ops::Lane::int8;
  const Tensor xv = uniform(xs, 1, -1.0f, 1.0f, MemoryFormat::channels_last), wv = uniform(ws, 2, -0.1f, 0.1f, MemoryFormat::contiguous);
  std::optional<ops::ForwardInt8> int8;  // integers within W4A4 VS-Quant's: u8 up to 225, s8 up to 105
  if (lane == 2)
    int8 = ops::ForwardInt8{{integers(xv, DType::u8, 0, 225), {0.01f}},
                            {integers(wv, DType::s8, -105, 105), std::vector<float>(size_t(c.c_out), 0.02f)}};
  Variable x(bf16_values(xv), backward), w(bf16_values(wv), backward);
  run(
      state, {x, w},
      [&](const std::vector<Variable>& v) {
        return ops::conv2d(v[0], v[1], Variable(), p, nullptr, &lanes, int8 ? &*int8 : nullptr);
      },
      backward, lane == 1);
  const Shape ys = ops::conv2d_output_shape(xs, ws, p);
  const double flops = 2.0 * double(shape_numel(ys) * (c.c_in / c.groups) * c.k * c.k);
  set_rate(state, "GFLOP", flops * (backward ? 3 : 1));
  state.SetLabel(spec_label(c));
}

void model_convs_and_lanes(benchmark::internal::Benchmark* b) {
  for (int64_t i = 0; i < int64_t(model_convs().size()); ++i) {
    for (int64_t lane : {0, 1, 2}) b->Args({i, lane, 0});
    for (int64_t lane : {0, 1}) b->Args({i, lane, 1});
  }
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

// GB/s of the conversion's traffic: 4 bytes read and 2 written per value.
void BM_ToBf16Exact(benchmark::State& state) {
  const Tensor x = bf16_values(uniform(stage_shape(state), 5, -1.0f, 1.0f, MemoryFormat::channels_last));
  for (auto _ : state) benchmark::DoNotOptimize(to_bf16_exact(x).data.raw_data());
  set_rate(state, "GB", double(x.numel() * 6));
}

// ResNet-20's stages: {channels, pixels per side}.
constexpr int64_t kStages[3][2] = {{16, 28}, {32, 14}, {64, 7}};

void stages(benchmark::internal::Benchmark* b) {
  for (const auto& st : kStages)
    for (int64_t backward : {0, 1}) b->Args({st[0], st[1], backward});
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

void stages_and_lanes(benchmark::internal::Benchmark* b) {
  for (const auto& st : kStages)
    for (int64_t backward : {0, 1})
      for (int64_t lanes : {0, 7}) b->Args({st[0], st[1], backward, lanes});
  for (const auto& st : kStages)
    for (int64_t lanes : {1, 2, 4}) b->Args({st[0], st[1], 1, lanes});  // one GEMM in bf16 at a time
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

void stages_only(benchmark::internal::Benchmark* b) {
  for (const auto& st : kStages) b->Args({st[0], st[1]});
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

void stages_with_relu_fusion(benchmark::internal::Benchmark* b) {
  for (const auto& st : kStages)
    for (int64_t backward : {0, 1})
      for (int64_t fuse : {0, 1}) b->Args({st[0], st[1], backward, fuse});
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK(BM_Conv3x3)->ArgNames({"C", "HW", "bwd", "bf16_gemms"})->Apply(stages_and_lanes);
BENCHMARK(BM_Conv3x3Int8)->ArgNames({"C", "HW"})->Apply(stages_only);
BENCHMARK(BM_ModelConv)->ArgNames({"conv", "lane", "bwd"})->Apply(model_convs_and_lanes);
BENCHMARK(BM_ToBf16Exact)->ArgNames({"C", "HW"})->Apply(stages_only);
BENCHMARK(BM_BatchNorm)->ArgNames({"C", "HW", "bwd", "relu"})->Apply(stages_with_relu_fusion);
BENCHMARK(BM_Relu)->ArgNames({"C", "HW", "bwd"})->Apply(stages);

using json = nlohmann::json;

// Prints as the console reporter does and keeps BM_ModelConv's GFLOP/s per (conv, lane, bwd).
class ModelConvCollector : public benchmark::ConsoleReporter {
 public:
  std::map<std::tuple<long, long, long>, double> gflops;
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      long conv, lane, bwd;
      if (r.run_name.function_name == "BM_ModelConv" && !r.error_occurred && r.run_type == Run::RT_Iteration &&
          std::sscanf(r.run_name.args.c_str(), "conv:%ld/lane:%ld/bwd:%ld", &conv, &lane, &bwd) == 3)
        gflops[{conv, lane, bwd}] = r.counters.at("GFLOP").value;
    }
    ConsoleReporter::ReportRuns(runs);
  }
};

// The model convs that ran, lpt's GFLOP/s per lane next to PyTorch's on the same shapes.
void print_torch_table(const ModelConvCollector& c, bool torch) {
  std::vector<long> convs;
  for (const auto& [key, v] : c.gflops)
    if (convs.empty() || convs.back() != std::get<0>(key)) convs.push_back(std::get<0>(key));
  std::vector<json> peer(convs.size());
  std::string version, skipped = torch ? bench::check_torch(version, "") : "--no-torch";
  const std::string script = bench::find_repo_file("experiments/bench/conv_bench_torch.py", "");
  if (skipped.empty() && script.empty()) skipped = "experiments/bench/conv_bench_torch.py not found";
  if (skipped.empty()) {
    json shapes = json::array();
    for (long i : convs) {
      const ConvSpec& s = model_convs()[size_t(i)];
      shapes.push_back({{"c_in", s.c_in}, {"c_out", s.c_out}, {"hw", s.hw}, {"k", s.k}, {"stride", s.stride}, {"groups", s.groups}});
    }
    const bench::ChildResult r = bench::spawn({bench::kPython, script, "--threads", std::to_string(omp_get_max_threads()),
                                               "--batch", std::to_string(kBatch), "--convs", shapes.dump()});
    size_t line = 0;
    for (size_t b = 0, e; line < peer.size() && (e = r.out.find('\n', b)) != std::string::npos; b = e + 1)
      peer[line++] = json::parse(r.out.substr(b, e - b), nullptr, false);
    if (r.exit_status != 0 || line != peer.size())
      skipped = "conv_bench_torch.py failed (exit " + std::to_string(r.exit_status) + ")";
  }
  std::printf("\nGFLOP/s per conv shape and lane, batch %ld, %d threads: lpt", long(kBatch), omp_get_max_threads());
  if (skipped.empty()) std::printf(" | PyTorch %s through the same oneDNN (bf16 with bf16 gradients, int8 with a quint8 output)\n", version.c_str());
  else std::printf(" (PyTorch comparison skipped: %s)\n", skipped.c_str());
  const char* cols[][2] = {{"fp32 fwd", "fp32_fwd"}, {"bf16 fwd", "bf16_fwd"}, {"int8 fwd", "int8_fwd"},
                           {"fp32 f+b", "fp32_fwdbwd"}, {"bf16 f+b", "bf16_fwdbwd"}};
  const long lane_of[] = {0, 1, 2, 0, 1}, bwd_of[] = {0, 0, 0, 1, 1};
  std::printf("%-58s", "conv");
  for (const auto& col : cols) std::printf(" %17s", col[0]);
  std::printf("\n");
  for (size_t i = 0; i < convs.size(); ++i) {
    std::printf("%-58.58s", spec_label(model_convs()[size_t(convs[i])]).c_str());
    for (size_t k = 0; k < 5; ++k) {
      const auto it = c.gflops.find({convs[i], lane_of[k], bwd_of[k]});
      char cell[40] = "-";
      if (it != c.gflops.end()) std::snprintf(cell, sizeof cell, "%.0f", it->second);
      if (skipped.empty()) {
        const json& v = peer[i].is_object() ? peer[i].value(cols[k][1], json()) : json();
        std::snprintf(cell + std::strlen(cell), sizeof cell - std::strlen(cell), v.is_number() ? " | %.0f" : " | -",
                      v.is_number() ? v.get<double>() : 0.0);
      }
      std::printf(" %17s", cell);
    }
    std::printf("\n");
  }
}

}  // namespace
}  // namespace lpt

int main(int argc, char** argv) {
  bool torch = true;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--no-torch") == 0) torch = false;
    else argv[kept++] = argv[i];
  }
  argc = kept;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  lpt::ModelConvCollector reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  if (!reporter.gflops.empty()) lpt::print_torch_table(reporter, torch);
  return 0;
}
