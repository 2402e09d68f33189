// Fake-quantization throughput of every format on a 16M-element fp32 tensor with 2 threads,
// counting one fp32 read and one fp32 write per element (bytes_processed = 8·N), next to a plain
// scale-and-copy loop over the same buffers: the memory-bandwidth ceiling of this machine.
//   ./build/experiments/bench/bench_formats [--benchmark_filter=int]
#include <benchmark/benchmark.h>

#include <tuple>
#include <vector>

#include "core/philox.h"
#include "core/threads.h"
#include "formats/quantize.h"

namespace lpt::formats {
namespace {

constexpr int64_t kRows = 4096, kCols = 4096, kN = kRows * kCols;  // runs along the 4096 columns

struct Buffers {
  std::vector<float> x, y;
  Buffers() : x(size_t(kN)), y(size_t(kN)) {
    const RandomStream rs(1, 2);
    for (int64_t i = 0; i < kN; ++i) x[size_t(i)] = 4.0f * rs.uniform(uint64_t(i)) - 2.0f;
  }
};
Buffers& buffers() {
  static Buffers b;
  return b;
}

void scale_copy(benchmark::State& state) {
  Buffers& b = buffers();
  const float* x = b.x.data();
  float* y = b.y.data();
  const float s = 0.5f;
  for (auto _ : state) {
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < kN; ++i) y[i] = x[i] * s;
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * 8 * kN);
}

void quantize_format(benchmark::State& state, const Format& f, bool warm_octav) {
  Buffers& b = buffers();
  const BufferLayout l = BufferLayout::row_major({kRows, kCols}, 1, 0);  // per-channel scales per row
  QuantizeOptions o;
  o.name = "bench";
  std::vector<float> warm;
  if (warm_octav) {  // as in training: OCTAV warm-started from the previous iteration's clip
    QuantizeStats s;
    o.stats = &s;
    quantize(f, b.x.data(), b.y.data(), l, o);
    warm = s.clip;
    o.stats = nullptr;
    o.warm_start = warm;
  }
  for (auto _ : state) {
    quantize(f, b.x.data(), b.y.data(), l, o);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * 8 * kN);
  state.SetLabel(f.name());
}

// The int8 lane's activation operand (SPEC §9): channels-last activations of 16 channels (runs of
// 16, one γ per tensor, as forward_x_layout gives them), to 8-bit integers only (evaluation), to
// values and integers (training), or (int8 = false, the emulated lane) to values only. Bytes: 4
// read, plus 1, 5 or 4 written per value.
void quantize_activations(benchmark::State& state, const Format& f, bool values, bool int8) {
  Buffers& b = buffers();
  const BufferLayout l = BufferLayout::row_major({kN / 16, 16}, 1, std::nullopt);
  std::vector<uint8_t> q8(static_cast<size_t>(kN));
  QuantizeOptions o;
  o.name = "bench";
  for (auto _ : state) {
    if (int8) quantize_int8(f, b.x.data(), values ? b.y.data() : nullptr, q8.data(), l, o);
    else quantize(f, b.x.data(), b.y.data(), l, o);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * (4 + (values ? 4 : 0) + (int8 ? 1 : 0)) * kN);
  state.SetLabel(f.name());
}

void register_all() {
  benchmark::RegisterBenchmark("scale_copy", scale_copy)->Unit(benchmark::kMillisecond)->UseRealTime();
  const char* formats[] = {
      R"({"type":"int","bits":8,"signed":true})",
      R"({"type":"int","bits":4,"signed":true,"granularity":"channel"})",
      R"({"type":"int","bits":4,"signed":true,"granularity":"vector","vector_size":16,"scale_bits":4})",
      R"({"type":"int","bits":4,"signed":true,"granularity":"vector","vector_size":16})",
      R"({"type":"int","bits":4,"signed":true,"granularity":"channel","clipping":"octav"})",
      R"({"type":"int","bits":4,"signed":true,"granularity":"vector","scale_bits":4,"rounding":"stochastic"})",
      R"({"type":"hbfp","mantissa_bits":3,"block_size":64})",
      R"({"type":"hbfp","mantissa_bits":5,"block_size":64})",
      R"({"type":"lns","bits":8,"gamma":8})",
      R"({"type":"fp8_e4m3"})",
      R"({"type":"fp8_e5m2"})",
      R"({"type":"fp6_e3m2"})",
      R"({"type":"fp4_e2m1"})",
      R"({"type":"mx","element":"fp4_e2m1"})",
      R"({"type":"mx","element":"int8"})",
  };
  for (const char* json : formats) {
    const Format f = Format::parse_text(json);
    const bool octav = f.scales().warm_started;
    benchmark::RegisterBenchmark(("quantize/" + f.name() + (octav ? "-warm" : "")).c_str(),
                                 [f, octav](benchmark::State& s) { quantize_format(s, f, octav); })
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
  for (const char* json : {R"({"type":"int","bits":4,"signed":true,"granularity":"vector","vector_size":16,"scale_bits":4})",
                           R"({"type":"int","bits":8,"signed":true})"}) {
    const Format f = Format::parse_text(json);
    for (const auto& [values, int8, what] : {std::tuple{true, false, "values"}, std::tuple{false, true, "int8"},
                                             std::tuple{true, true, "values_and_int8"}})
      benchmark::RegisterBenchmark(("activations/" + f.name() + "/" + what).c_str(),
                                   [f, values, int8](benchmark::State& s) { quantize_activations(s, f, values, int8); })
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
  }
}

}  // namespace
}  // namespace lpt::formats

int main(int argc, char** argv) {
  lpt::set_num_threads(2);
  benchmark::Initialize(&argc, argv);
  lpt::formats::register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
