// Data-parallel training on one machine (SPEC §10, README "Data-parallel training"): ResNet-20
// images/s with one process of 2 threads against 2 ranks of 1 thread (mpirun, loopback), and per
// step the bytes each rank sends and receives in the gradient exchange and the time it takes, for
// fp32 gradients and for weight gradients that travel encoded (MXINT8, HBFP8).
//   ./build/experiments/bench/bench_mpi [--steps 20] [--warmup 3] [--repeat 1] [--mpirun /usr/bin/mpirun]
// Each row runs in its own process or mpirun job (this binary re-executed with --child ROW); the
// ranks of a job train the two halves of every global batch of 128 synthetic 1x28x28 images as
// `lpt train` does (train_step with the gradient exchange). As root, the benchmark sets
// OMPI_ALLOW_RUN_AS_ROOT(_CONFIRM) for its mpirun jobs; they run with --oversubscribe
// --bind-to none. A shared machine makes images/s noisy: compare rows of one invocation, and take
// the fastest of several interleaved rounds (--repeat).

#include <CLI/CLI.hpp>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "core/cpu.h"
#include "core/dist/world.h"
#include "core/onednn/context.h"
#include "core/philox.h"
#include "core/threads.h"
#include "experiments/bench/bench_support.h"
#include "experiments/build_info.h"
#include "experiments/data_setup.h"
#include "experiments/experiment_config.h"
#include "experiments/optimizer_setup.h"
#include "experiments/quantization_setup.h"
#include "experiments/train_step.h"

namespace lpt {
namespace {

constexpr int64_t kBatch = 128, kChannels = 1, kSize = 28, kClasses = 10;
constexpr int64_t kBatchPool = 4;  // distinct synthetic global batches, cycled through
constexpr uint64_t kSeed = 0;

// One measured configuration: processes × threads, the weight_gradients format (JSON, or null) and
// the gradient transport.
struct Row {
  const char* label;
  int ranks, threads;
  const char* weight_gradients;
  const char* transport;
};

#define LPT_MXINT8 R"({"type":"mx","element":"int8"})"
#define LPT_HBFP8 R"({"type":"hbfp","mantissa_bits":7,"block_size":64})"
constexpr Row kRows[] = {
    {"fp32 1x2", 1, 2, "null", "fp32"},
    {"fp32 2x1", 2, 1, "null", "fp32"},
    {"mxint8-dw 1x2", 1, 2, LPT_MXINT8, "fp32"},
    {"mxint8-dw 2x1 fp32", 2, 1, LPT_MXINT8, "fp32"},
    {"mxint8-dw 2x1 encoded", 2, 1, LPT_MXINT8, "encoded"},
    {"hbfp8-dw 2x1 encoded", 2, 1, LPT_HBFP8, "encoded"},
};
#undef LPT_MXINT8
#undef LPT_HBFP8

struct Options {
  int64_t steps = 20, warmup = 3, repeat = 1;
  std::string child, mpirun = "/usr/bin/mpirun";
};

const Row& find_row(const std::string& label) {
  for (const Row& r : kRows)
    if (label == r.label) return r;
  fail("unknown row '", label, "'");
}

// lpt train's config for the row (SGD with Nesterov momentum, as bench_train), spelled out so that
// changed schema defaults do not silently change the benchmark.
json row_config(const Row& r) {
  const json config = {
      {"name", "bench_mpi"},
      {"seed", kSeed},
      {"threads", r.threads},
      {"model", {{"name", "resnet20"}}},
      {"training", {{"epochs", 1}, {"batch_size", kBatch}}},
      {"optimizer", {{"name", "sgd"}, {"lr", 0.1}, {"momentum", 0.9}, {"nesterov", true}, {"weight_decay", 5e-4}}},
      {"schedule", {{"name", "cosine"}}},
      {"quantization", {{"weight_gradients", json::parse(r.weight_gradients)}}},
      {"distributed", {{"gradient_transport", r.transport}}},
  };
  return resolve_experiment(config, std::string("bench_mpi row ") + r.label);
}

struct Batch {
  Tensor images, labels;
};

// This rank's contiguous shard of seeded uniform global batches (images in [-1, 1), labels in
// [0, 10)), laid out as the data loader delivers them: the shards of all ranks are the global batch.
std::vector<Batch> synthetic_shards(int rank, int ranks) {
  const int64_t shard = kBatch / ranks, pixels = kChannels * kSize * kSize;
  std::vector<Batch> out;
  for (int64_t b = 0; b < kBatchPool; ++b) {
    Batch batch{Tensor::empty({shard, kChannels, kSize, kSize}, DType::f32, MemoryFormat::channels_last),
                Tensor::empty({shard}, DType::s32)};
    const RandomStream images(kSeed, uint64_t(2 * b)), labels(kSeed, uint64_t(2 * b + 1));
    float* x = batch.images.data<float>();
    const int64_t first = rank * shard;
    for (int64_t i = 0; i < shard * pixels; ++i) x[i] = 2.0f * images.uniform(uint64_t(first * pixels + i)) - 1.0f;
    int32_t* y = batch.labels.data<int32_t>();
    for (int64_t i = 0; i < shard; ++i) y[i] = int32_t(labels.uniform(uint64_t(first + i)) * float(kClasses));
    out.push_back(std::move(batch));
  }
  return out;
}

// Child (every rank of a job): trains the row and, on rank 0, prints its measurements as JSON.
int run_child(const Options& o) {
  const Row& row = find_row(o.child);
  const json config = row_config(row);
  dist::World& world = dist::World::get();
  LPT_CHECK(world.size() == row.ranks, "row '", row.label, "' wants ", row.ranks, " processes, this job has ",
            world.size());
  set_num_threads(config["threads"]);
  DataSplits data;  // only the sample shape and class count matter to the model
  data.shape = {kChannels, kSize, kSize};
  data.num_classes = int(kClasses);
  std::shared_ptr<Module> model = make_experiment_model(config, data, true);
  apply_quantization(*model, config, 0);
  OptimizerSet optimizers = make_optimizers(config, *model, o.warmup + o.steps);
  const std::vector<Batch> batches = synthetic_shards(world.rank(), world.size());
  GradientExchange exchange(world, gradient_transport_of(config["distributed"]["gradient_transport"]));
  model->train();
  float loss = 0;
  const auto step = [&](int64_t s) {
    const Batch& b = batches[size_t(s % kBatchPool)];
    loss = train_step(*model, optimizers, b.images, b.labels, kSeed, s, 0.0f, &exchange).loss;
  };
  for (int64_t s = 0; s < o.warmup; ++s) step(s);
  exchange.take_cost();
  world.barrier();
  const auto start = std::chrono::steady_clock::now();
  for (int64_t s = o.warmup; s < o.warmup + o.steps; ++s) step(s);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const GradientExchange::Cost c = exchange.take_cost();
  const double steps = double(o.steps);
  if (world.writer()) {
    const json result = {{"images_per_s", double(kBatch * o.steps) / seconds},
                         {"step_ms", 1e3 * seconds / steps},
                         {"sent_bytes", double(c.bytes_sent) / steps},
                         {"received_bytes", double(c.bytes_received) / steps},
                         {"exchange_ms", 1e3 * c.seconds / steps},
                         {"gather_ms", 1e3 * c.gather_seconds / steps},
                         {"loss", loss}};
    std::printf("%s\n", result.dump().c_str());
  }
  world.finalize();
  return 0;
}

// The CPU's model name (/proc/cpuinfo), the machine class of the numbers.
std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

std::string cell(const json& j, const char* key, const char* fmt) {
  if (!j.is_object() || !j.contains(key)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, fmt, j[key].get<double>());
  return buf;
}

int run_parent(const Options& o) {
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  if (geteuid() == 0) {  // OpenMPI refuses root without both
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
  }
  const BuildInfo build = build_info();
  std::printf("lpt data-parallel benchmark: ResNet-20, global batch %ld of %ldx%ldx%ld synthetic images, SGD, "
              "%ld warm-up + %ld timed steps, fastest of %ld interleaved rounds; ranks x threads per row, mpirun "
              "--oversubscribe --bind-to none\n",
              kBatch, kChannels, kSize, kSize, o.warmup, o.steps, o.repeat);
  std::printf("lpt %s: oneDNN %s, ISA %s, lpt kernels %s; CPU %s, %ld online\n", build.commit.c_str(),
              build.onednn_version.c_str(), onednn::effective_isa().c_str(), cpu_has_avx512() ? "avx512" : "avx2",
              cpu_model().c_str(), sysconf(_SC_NPROCESSORS_ONLN));
  std::printf("bytes: per step and rank, sent = its contribution to the all-gathers, received = the other ranks'; "
              "exchange = encode + all-gather + decode + sums, gather = inside MPI_Allgather (incl. waiting)\n\n");
  std::printf("%-22s %9s %9s %12s %12s %12s %10s\n", "row", "img/s", "step ms", "sent B", "received B",
              "exchange ms", "gather ms");
  std::fflush(stdout);
  // Rounds run every row once, in order, so that a burst of other load on a shared machine hits
  // all rows alike; each row shows its fastest round.
  constexpr size_t kRowCount = sizeof kRows / sizeof kRows[0];
  std::vector<json> best(kRowCount);
  std::vector<int> failed(kRowCount, 0);
  for (int64_t round = 0; round < o.repeat; ++round)
    for (size_t i = 0; i < kRowCount; ++i) {
      const Row& r = kRows[i];
      std::vector<std::string> args;
      if (r.ranks > 1) args = {o.mpirun, "-np", std::to_string(r.ranks), "--oversubscribe", "--bind-to", "none"};
      for (const std::string& a : {self, std::string("--child"), std::string(r.label), std::string("--steps"),
                                   std::to_string(o.steps), std::string("--warmup"), std::to_string(o.warmup)})
        args.push_back(a);
      const bench::ChildResult c = bench::spawn(args);
      const json j = bench::last_json_line(c.out);
      if (c.exit_status != 0 || !j.is_object() || !j.contains("images_per_s")) {
        failed[i] = c.exit_status == 0 ? -1 : c.exit_status;
        continue;
      }
      if (best[i].is_null() || j["images_per_s"].get<double>() > best[i]["images_per_s"].get<double>()) best[i] = j;
    }
  bool all_ok = true;
  for (size_t i = 0; i < kRowCount; ++i) {
    const json& j = best[i];
    all_ok = all_ok && failed[i] == 0;
    std::printf("%-22s %9s %9s %12s %12s %12s %10s%s\n", kRows[i].label, cell(j, "images_per_s", "%.1f").c_str(),
                cell(j, "step_ms", "%.1f").c_str(), cell(j, "sent_bytes", "%.0f").c_str(),
                cell(j, "received_bytes", "%.0f").c_str(), cell(j, "exchange_ms", "%.2f").c_str(),
                cell(j, "gather_ms", "%.2f").c_str(),
                failed[i] == 0 ? "" : ("  (a round failed: exit " + std::to_string(failed[i]) + ")").c_str());
  }
  return all_ok ? 0 : 1;
}

}  // namespace
}  // namespace lpt

int main(int argc, char** argv) {
  lpt::Options o;
  CLI::App app{"bench_mpi: data-parallel ResNet-20 images/s, gradient bytes and exchange time, one machine"};
  app.add_option("--steps", o.steps, "timed training steps per row")->capture_default_str()->check(CLI::Range(1, 1 << 20));
  app.add_option("--warmup", o.warmup, "untimed steps first")->capture_default_str()->check(CLI::Range(0, 1 << 20));
  app.add_option("--repeat", o.repeat, "rounds over all rows; each row shows its fastest")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  app.add_option("--mpirun", o.mpirun, "OpenMPI's mpirun")->capture_default_str();
  app.add_option("--child", o.child, "internal: train one row in this process (a rank of its job)")->group("");
  try {
    app.parse(argc, argv);
    return o.child.empty() ? lpt::run_parent(o) : lpt::run_child(o);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    // A failing rank ends its whole job instead of leaving the others waiting in a collective.
    if (lpt::dist::launched_by_mpirun()) lpt::dist::World::get().abort(1, std::string("bench_mpi: error: ") + e.what());
    std::cerr << "bench_mpi: error: " << e.what() << "\n";
    return 1;
  }
}
