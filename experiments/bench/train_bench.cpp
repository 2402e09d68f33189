// Training throughput and peak memory of whole models, next to PyTorch 1.13 on the same models in
// the same invocation: images/s over full training steps (forward, softmax cross-entropy,
// backward, SGD with Nesterov momentum 0.9 and weight decay 5e-4) at batch 128 on 1x28x28 inputs.
//   ./build/experiments/bench/bench_train [--steps 20] [--warmup 3] [--threads 2] [--only LABEL]
//                                         [--no-torch] [--torch-script PATH]
// Each variant trains in its own process (this binary re-executed with --child LABEL), and each
// PyTorch model in its own `/usr/bin/python3 train_bench_torch.py` process, so a row's peak
// resident set size (wait4's ru_maxrss) is that run's alone. The launcher never builds a model:
// exec keeps the pre-exec high-water mark in ru_maxrss, so a large launcher would inflate every row.
// PyTorch runs only when Debian's python3-torch imports; nothing is installed. The script is
// found by walking up from this binary's directory until experiments/bench/train_bench_torch.py
// exists (build*/experiments/bench/bench_train lies inside the repository), or given by --torch-script.

#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "core/cpu.h"
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
constexpr int64_t kBatchPool = 4;  // distinct synthetic batches, cycled through
constexpr uint64_t kSeed = 0;

// One measured configuration. `config_overrides` is a JSON object merged (RFC 7386 merge patch)
// into the experiment config before validation, e.g. a quantized training format; "{}" is fp32.
// Every training row is compared with PyTorch fp32 training of the same architecture; evaluation
// rows (forward passes in eval mode without gradients, as `lpt eval` runs them) with lpt's fp32
// evaluation row. Quantized evaluation rows calibrate their clip values on the benchmark's batches
// first and keep them frozen, as `lpt eval` does for PTQ.
struct Variant {
  const char* label;
  const char* model;
  double width;
  const char* config_overrides;
  bool evaluate = false;
};

// The quantized rows use the formats of the shipped recipes (experiments/configs/resnet20_*.json),
// with the default execution (auto: the bf16 lane where the CPU has it, SPEC §9); the *_emulated
// rows run the same formats with every GEMM in fp32 on fake-quantized values.
#define LPT_INT4_PV R"({"type":"int","bits":4,"granularity":"vector","vector_size":16,"scale_bits":4})"
#define LPT_HBFP4 R"({"type":"hbfp","mantissa_bits":3,"block_size":64})"
#define LPT_LNS8 R"({"type":"lns","bits":8,"gamma":8})"
#define LPT_MX(element) R"({"type":"mx","element":")" element R"("})"
#define LPT_FP8_TS(element) R"({"type":")" element R"(","scale":"tensor"})"
constexpr Variant kVariants[] = {
    {"resnet20", "resnet20", 1.0, "{}"},
    {"resnet20_int4pv_qat", "resnet20", 1.0,
     R"({"quantization":{"weights":)" LPT_INT4_PV R"(,"activations":)" LPT_INT4_PV "}}"},
    {"resnet20_octav_qat", "resnet20", 1.0,
     R"({"quantization":{"weights":{"type":"int","bits":4,"granularity":"channel","clipping":"octav"},)"
     R"("activations":{"type":"int","bits":4,"clipping":"octav"},"weight_estimator":"mad","activation_estimator":"pwl"}})"},
    {"resnet20_hbfp4", "resnet20", 1.0,
     R"({"quantization":{"weights":)" LPT_HBFP4 R"(,"activations":)" LPT_HBFP4 R"(,"errors":)" LPT_HBFP4 "}}"},
    {"resnet20_hbfp4_emulated", "resnet20", 1.0,
     R"({"quantization":{"weights":)" LPT_HBFP4 R"(,"activations":)" LPT_HBFP4 R"(,"errors":)" LPT_HBFP4
     R"(,"execution":"emulated"}})"},
    {"resnet20_lns_madam", "resnet20", 1.0,
     R"({"quantization":{"weights":)" LPT_LNS8 R"(,"activations":)" LPT_LNS8 R"(,"errors":)" LPT_LNS8
     R"(,"weight_gradients":)" LPT_LNS8 R"(},"optimizer":{"name":"lns-madam","lr":0.0078125,"params_1d":{"lr":0.1}}})"},
    {"resnet20_mxint8", "resnet20", 1.0,
     R"({"quantization":{"weights":)" LPT_MX("int8") R"(,"activations":)" LPT_MX("int8") R"(,"errors":)" LPT_MX("int8") "}}"},
    {"resnet20_mxint8_emulated", "resnet20", 1.0,
     R"({"quantization":{"weights":)" LPT_MX("int8") R"(,"activations":)" LPT_MX("int8") R"(,"errors":)" LPT_MX("int8")
     R"(,"execution":"emulated"}})"},
    {"resnet20_mxfp4", "resnet20", 1.0,
     R"({"quantization":{"weights":)" LPT_MX("fp4_e2m1") R"(,"activations":)" LPT_MX("fp4_e2m1") R"(,"errors":)"
     LPT_MX("fp4_e2m1") "}}"},
    {"resnet20_mxfp4_emulated", "resnet20", 1.0,
     R"({"quantization":{"weights":)" LPT_MX("fp4_e2m1") R"(,"activations":)" LPT_MX("fp4_e2m1") R"(,"errors":)"
     LPT_MX("fp4_e2m1") R"(,"execution":"emulated"}})"},
    {"resnet20_fp8ts", "resnet20", 1.0,
     R"({"quantization":{"weights":)" LPT_FP8_TS("fp8_e4m3") R"(,"activations":)" LPT_FP8_TS("fp8_e4m3")
     R"(,"errors":)" LPT_FP8_TS("fp8_e5m2") "}}"},
    {"resnet20_fp8ts_emulated", "resnet20", 1.0,
     R"({"quantization":{"weights":)" LPT_FP8_TS("fp8_e4m3") R"(,"activations":)" LPT_FP8_TS("fp8_e4m3")
     R"(,"errors":)" LPT_FP8_TS("fp8_e5m2") R"(,"execution":"emulated"}})"},
    {"mobilenet_v2_w0.5", "mobilenet_v2", 0.5, "{}"},
    {"resnet20_eval", "resnet20", 1.0, "{}", true},
    {"resnet20_int4pv_ptq_eval", "resnet20", 1.0,
     R"({"quantization":{"weights":)" LPT_INT4_PV R"(,"activations":)" LPT_INT4_PV "}}", true},
    {"resnet20_int4pv_ptq_eval_emulated", "resnet20", 1.0,
     R"({"quantization":{"weights":)" LPT_INT4_PV R"(,"activations":)" LPT_INT4_PV R"(,"execution":"emulated"}})", true},
};
#undef LPT_INT4_PV
#undef LPT_HBFP4
#undef LPT_LNS8
#undef LPT_MX
#undef LPT_FP8_TS

struct Options {
  int64_t steps = 20, warmup = 3;
  int threads = 2;
  std::string only, child, torch_script;
  bool no_torch = false;
};

std::string variant_labels() {
  std::string out;
  for (const Variant& v : kVariants) out += out.empty() ? v.label : std::string(", ") + v.label;
  return out;
}

const Variant& find_variant(const std::string& label) {
  for (const Variant& v : kVariants)
    if (label == v.label) return v;
  fail("unknown variant '", label, "'; known variants: ", variant_labels());
}

// The experiment config `lpt train` would read for this variant: the shipped recipe, spelled out
// so that changed schema defaults do not silently change the benchmark.
json variant_config(const Variant& v, const Options& o) {
  json config = {
      {"name", std::string("bench_train_") + v.label},
      {"seed", kSeed},
      {"threads", o.threads},
      {"model", {{"name", v.model}, {"width", v.width}}},
      {"training", {{"epochs", 1}, {"batch_size", kBatch}}},
      {"optimizer",
       {{"name", "sgd"},
        {"lr", 0.1},
        {"momentum", 0.9},
        {"nesterov", true},
        {"weight_decay", 5e-4}}},
      {"schedule", {{"name", "cosine"}}},
  };
  const json overrides = json::parse(v.config_overrides);
  LPT_CHECK(overrides.is_object(), "variant ", v.label, ": config_overrides must be a JSON object");
  config.merge_patch(overrides);
  return resolve_experiment(config, std::string("bench_train variant ") + v.label);
}

struct Batch {
  Tensor images, labels;
};

// Seeded uniform images in [-1, 1) (about the range of normalised Fashion-MNIST) and labels in
// [0, 10), laid out as the data loader delivers them (channels-last images, s32 labels).
std::vector<Batch> synthetic_batches() {
  std::vector<Batch> out;
  for (int64_t b = 0; b < kBatchPool; ++b) {
    Batch batch{Tensor::empty({kBatch, kChannels, kSize, kSize}, DType::f32, MemoryFormat::channels_last),
                Tensor::empty({kBatch}, DType::s32)};
    const RandomStream images(kSeed, uint64_t(2 * b)), labels(kSeed, uint64_t(2 * b + 1));
    float* x = batch.images.data<float>();
    for (int64_t i = 0; i < batch.images.numel(); ++i) x[i] = 2.0f * images.uniform(uint64_t(i)) - 1.0f;
    int32_t* y = batch.labels.data<int32_t>();
    for (int64_t i = 0; i < kBatch; ++i) y[i] = int32_t(labels.uniform(uint64_t(i)) * float(kClasses));
    out.push_back(std::move(batch));
  }
  return out;
}

// Child process: trains (or evaluates) one variant and prints {"images_per_s", "seconds", "loss"}
// on stdout. The step is lpt train's (experiments/train_step.h); evaluation is the model's forward
// pass in eval mode without gradients.
int run_child(const Options& o) {
  const Variant& v = find_variant(o.child);
  const json config = variant_config(v, o);
  set_num_threads(config["threads"]);
  const uint64_t seed = config["seed"];
  const float label_smoothing = config["training"]["label_smoothing"];
  DataSplits data;  // only the sample shape and class count matter to the model
  data.shape = {kChannels, kSize, kSize};
  data.num_classes = int(kClasses);
  std::shared_ptr<Module> model = make_experiment_model(config, data, true);
  apply_quantization(*model, config, 0);
  OptimizerSet optimizers = make_optimizers(config, *model, o.warmup + o.steps);
  const std::vector<Batch> batches = synthetic_batches();

  float loss_value = 0;
  const auto step = [&](int64_t s) {
    const Batch& batch = batches[size_t(s % kBatchPool)];
    if (v.evaluate) {
      NoGradGuard no_grad;
      loss_value = (*model)(Variable(batch.images)).data().data<float>()[0];
      return;
    }
    loss_value = train_step(*model, optimizers, batch.images, batch.labels, seed, s, label_smoothing).loss;
  };
  if (v.evaluate) {
    model->eval();
    // As `lpt eval` runs PTQ: the clip values calibrated on a few batches, then frozen.
    set_calibrating(*model, true);
    NoGradGuard no_grad;
    for (const Batch& batch : batches) (*model)(Variable(batch.images));
    set_calibrating(*model, false);
  } else {
    model->train();
  }
  for (int64_t s = 0; s < o.warmup; ++s) step(s);
  const auto start = std::chrono::steady_clock::now();
  for (int64_t s = o.warmup; s < o.warmup + o.steps; ++s) step(s);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const json result = {
      {"images_per_s", double(kBatch * o.steps) / seconds}, {"seconds", seconds}, {"loss", loss_value}};
  std::printf("%s\n", result.dump().c_str());
  return 0;
}

struct Measurement {
  bool ok = false;
  double images_per_s = 0, peak_mib = 0;
  std::string error = "-";  // shown instead of the numbers when !ok ("-": not run)
};

Measurement measure(const std::vector<std::string>& args) {
  const bench::ChildResult r = bench::spawn(args);
  Measurement m;
  const json j = bench::last_json_line(r.out);
  if (r.exit_status != 0 || !j.is_object() || !j.contains("images_per_s")) {
    m.error = r.exit_status < 0    ? "killed"
              : r.exit_status != 0 ? "exit " + std::to_string(r.exit_status)
                                   : "no result";
    return m;
  }
  m.ok = true;
  m.images_per_s = j["images_per_s"];
  m.peak_mib = r.peak_mib;
  return m;
}

std::string cell(bool ok, double value, const char* fmt, const std::string& otherwise) {
  if (!ok) return otherwise;
  char buf[32];
  std::snprintf(buf, sizeof buf, fmt, value);
  return buf;
}

int run_parent(const Options& o) {
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe");
  std::string version;
  std::string skipped = o.no_torch ? "--no-torch" : bench::check_torch(version, "torchvision");
  const std::string script = skipped.empty() ? bench::find_repo_file("experiments/bench/train_bench_torch.py", o.torch_script) : "";
  if (skipped.empty() && (script.empty() || !std::filesystem::exists(script)))
    skipped = "experiments/bench/train_bench_torch.py not found (pass --torch-script PATH)";
  const bool torch = skipped.empty();

  const BuildInfo build = build_info();
  std::printf("lpt training benchmark: batch %ld of %ldx%ldx%ld, %ld classes, SGD (Nesterov momentum 0.9, weight "
              "decay 5e-4), %d threads, %ld warm-up + %ld timed steps\n",
              kBatch, kChannels, kSize, kSize, kClasses, o.threads, o.warmup, o.steps);
  std::printf("lpt %s: oneDNN %s, ISA %s, lpt kernels %s\n", build.commit.c_str(), build.onednn_version.c_str(),
              onednn::effective_isa().c_str(), cpu_has_avx512() ? "avx512" : "avx2");
  if (torch) std::printf("PyTorch %s (%s), channels-last, fp32\n", version.c_str(), script.c_str());
  else std::printf("PyTorch comparison skipped: %s\n", skipped.c_str());
  std::printf("each row runs in its own process; peak = its maximum resident set size\n\n");
  std::printf("%-22s %11s %13s %12s %15s %10s\n", "variant", "lpt img/s", "lpt peak MiB", "torch img/s",
              "torch peak MiB", "lpt/torch");
  std::fflush(stdout);

  const std::vector<std::string> common = {"--steps", std::to_string(o.steps), "--warmup", std::to_string(o.warmup),
                                           "--threads", std::to_string(o.threads)};
  std::map<std::string, Measurement> torch_runs;  // one per architecture, shared by its rows
  bool all_ok = true;
  for (const Variant& v : kVariants) {
    if (!o.only.empty() && o.only != v.label) continue;
    std::vector<std::string> args = {self.string(), "--child", v.label};
    args.insert(args.end(), common.begin(), common.end());
    const Measurement lpt = measure(args);
    Measurement peer;
    if (v.evaluate) peer.error = "-";  // PyTorch runs training only
    else if (torch) {
      char width[16];
      std::snprintf(width, sizeof width, "%g", v.width);
      const std::string key = std::string(v.model) + "@" + width;
      if (!torch_runs.count(key)) {
        std::vector<std::string> targs = {bench::kPython, script, "--model", v.model, "--width", width};
        targs.insert(targs.end(), common.begin(), common.end());
        torch_runs[key] = measure(targs);
      }
      peer = torch_runs[key];
    }
    all_ok = all_ok && lpt.ok && (!torch || v.evaluate || peer.ok);
    const bool both = lpt.ok && peer.ok;
    std::printf("%-22s %11s %13s %12s %15s %10s\n", v.label,
                cell(lpt.ok, lpt.images_per_s, "%.1f", lpt.error).c_str(),
                cell(lpt.ok, lpt.peak_mib, "%.1f", lpt.error).c_str(),
                cell(peer.ok, peer.images_per_s, "%.1f", peer.error).c_str(),
                cell(peer.ok, peer.peak_mib, "%.1f", peer.error).c_str(),
                cell(both, both ? lpt.images_per_s / peer.images_per_s : 0, "%.2fx", "-").c_str());
    std::fflush(stdout);
  }
  if (torch) std::printf("\nrequired: lpt/torch >= 1.00x in fp32; goal: 1.50x\n");
  return all_ok ? 0 : 1;
}

}  // namespace
}  // namespace lpt

int main(int argc, char** argv) {
  lpt::Options o;
  CLI::App app{"bench_train: lpt training images/s and peak memory, next to PyTorch 1.13 when installed"};
  app.add_option("--steps", o.steps, "timed training steps per variant")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--warmup", o.warmup, "untimed steps first (primitive creation, first touch of memory)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 20));
  app.add_option("--threads", o.threads, "threads for lpt and PyTorch")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));  // the config schema's range
  app.add_option("--only", o.only, "run one variant: " + lpt::variant_labels());
  app.add_flag("--no-torch", o.no_torch, "skip the PyTorch comparison");
  app.add_option("--torch-script", o.torch_script, "path of train_bench_torch.py (default: found from the binary)");
  app.add_option("--child", o.child, "internal: train one variant in this process")->group("");
  try {
    app.parse(argc, argv);
    if (!o.only.empty()) (void)lpt::find_variant(o.only);
    return o.child.empty() ? lpt::run_parent(o) : lpt::run_child(o);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::cerr << "bench_train: error: " << e.what() << "\n";
    return 1;
  }
}
