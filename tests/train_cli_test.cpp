// End-to-end tests of `lpt train` / `lpt eval` / `lpt report`, each run as a separate process on a
// tiny synthetic experiment: resume is bit-exact, Ctrl-C checkpoints and exits 130, NaN stops the
// run keeping the last good checkpoint, and bad configs fail naming the key.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <algorithm>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/hdf5.h"
#include "tests/support/run_lpt.h"

namespace lpt {
namespace {

namespace fs = std::filesystem;

using Result = testing::CliRun;
using testing::file_text;
using testing::json_number;
using testing::run_lpt;
using nlohmann::json;

class TrainCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("lpt_train_cli_" + std::to_string(getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    config_ = (dir_ / "tiny.json").string();
    std::ofstream(config_) << R"({
      "name": "tiny", "seed": 3, "threads": 2,
      "model": {"name": "resnet20"},
      "data": {"dataset": "synthetic", "synthetic_size": 120,
               "validation_size": 24, "normalize": {"mean": [0.5], "std": [0.25]}},
      "training": {"epochs": 2, "batch_size": 16, "eval_batch_size": 32},
      "optimizer": {"name": "sgd", "lr": 0.05},
      "schedule": {"name": "cosine"}
    })";
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string run(const std::string& name) const { return (dir_ / name).string(); }
  std::string train_args(const std::string& name) const {
    return "train " + config_ + " --set output_dir=" + run(name);
  }

  fs::path dir_;
  std::string config_;
};

// Every /model tensor of two checkpoints, compared bit for bit.
void expect_same_weights(const std::string& a, const std::string& b) {
  const h5::File fa = h5::File::open_read(a), fb = h5::File::open_read(b);
  const auto names = fa.datasets("model");
  ASSERT_EQ(names, fb.datasets("model"));
  ASSERT_FALSE(names.empty());
  for (const std::string& n : names) {
    const Tensor ta = fa.read("model/" + n), tb = fb.read("model/" + n);
    ASSERT_EQ(ta.nbytes(), tb.nbytes()) << n;
    EXPECT_EQ(0, std::memcmp(ta.raw_data(), tb.raw_data(), ta.nbytes())) << "tensor " << n << " differs";
  }
}

TEST_F(TrainCli, ResumeInSeparateProcessesIsBitExact) {
  const Result straight = run_lpt(train_args("straight"));
  ASSERT_EQ(straight.status, 0) << straight.output;

  const Result first = run_lpt(train_args("split") + " --stop-after-epochs 1");
  ASSERT_EQ(first.status, 0) << first.output;
  const Result rest = run_lpt("train --resume " + run("split"));
  ASSERT_EQ(rest.status, 0) << rest.output;
  EXPECT_NE(rest.output.find("resuming"), std::string::npos);
  expect_same_weights(run("straight") + "/checkpoint.h5", run("split") + "/checkpoint.h5");

  // Same metrics too (timing aside): both epochs, identical losses.
  std::ifstream ma(run("straight") + "/metrics.jsonl"), mb(run("split") + "/metrics.jsonl");
  std::string la, lb;
  int lines = 0;
  while (std::getline(ma, la) && std::getline(mb, lb)) {
    ++lines;
    const auto field = [](const std::string& l, const std::string& k) {
      const size_t p = l.find("\"" + k + "\":");
      return p == std::string::npos ? std::string() : l.substr(p, l.find_first_of(",}", p) - p);
    };
    for (const char* k : {"train_loss", "test_loss", "val_accuracy", "lr"}) EXPECT_EQ(field(la, k), field(lb, k));
  }
  EXPECT_EQ(lines, 2);
}

// The run's files other than the four it keeps: temporaries must not pile up.
std::vector<std::string> extra_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    if (n != "checkpoint.h5" && n != "config.json" && n != "manifest.json" && n != "metrics.jsonl") out.push_back(n);
  }
  return out;
}

// Signals at a chosen mid-epoch step (the trainer's test hook raises them after step 8 of 12, in
// epoch 2): Ctrl-C checkpoints there and exits 130, SIGTERM likewise with 143; resuming gives the
// uninterrupted run's weights bit for bit. A second Ctrl-C exits at once with 130, keeping the
// epoch-1 checkpoint, which resumes bit-exactly too.
TEST_F(TrainCli, InterruptsCheckpointAndExitWithTheSignalsStatusAndResumeBitExactly) {
  ASSERT_EQ(run_lpt(train_args("straight")).status, 0);
  struct Case {
    const char* name;
    const char* signals;
    int status;
    int64_t checkpoint_step;
  };
  for (const Case& c : {Case{"sigint", "8:2", 130, 8}, Case{"sigterm", "8:15", 143, 8},
                        Case{"twice", "8:2,2", 130, 6}}) {
    setenv("LPT_TEST_SIGNALS_AFTER_STEP", c.signals, 1);
    const Result r = run_lpt(train_args(c.name));
    unsetenv("LPT_TEST_SIGNALS_AFTER_STEP");
    EXPECT_EQ(r.status, c.status) << c.name << ": " << r.output;
    const h5::File f = h5::File::open_read(run(c.name) + "/checkpoint.h5");
    EXPECT_EQ(f.attr_int("/", "step"), c.checkpoint_step) << c.name;
    EXPECT_EQ(extra_files(run(c.name)), std::vector<std::string>{}) << c.name;
    const Result resumed = run_lpt("train --resume " + run(c.name));
    ASSERT_EQ(resumed.status, 0) << c.name << ": " << resumed.output;
    expect_same_weights(run("straight") + "/checkpoint.h5", run(c.name) + "/checkpoint.h5");
  }
}

// A step that outlasts the signal's grace period (step 9 of 12 takes 30 s more, after its forward
// and backward passes): SIGTERM, then SIGKILL once the process says it wrote the checkpoint (at
// most 10 s later; OpenMPI allows 1 s, see the Mpi test). The checkpoint is step 8's, taken while
// step 9 ran, with the batch-norm statistics and OCTAV state step 9's forward pass had already
// changed restored from the step's start, so resuming gives the uninterrupted run bit for bit.
TEST_F(TrainCli, ASignalDuringALongStepCheckpointsTheLastCompletedStep) {
  const std::string octav =
      R"( --set 'quantization.weights={"type":"int","bits":4,"granularity":"channel","clipping":"octav"}')"
      R"( --set 'quantization.activations={"type":"int","bits":4,"clipping":"octav"}')";
  ASSERT_EQ(run_lpt(train_args("straight") + octav).status, 0);
  const std::string out = run("slow.txt");
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const std::string cmd = "LPT_TEST_SLOW_STEP=8:30 exec " + std::string(LPT_BINARY) + " " + train_args("slow") +
                            octav + " > " + out + " 2>&1";
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  const auto waited = [&](const std::string& text) {
    for (int i = 0; i < 3000 && file_text(out).find(text) == std::string::npos; ++i) usleep(20000);
    return file_text(out).find(text) != std::string::npos;
  };
  const bool slow = waited("lpt: test hook: step 9 is slow");
  kill(pid, SIGTERM);
  const bool written = slow && waited("lpt: signal during step 9: checkpoint of step 8 written");
  kill(pid, SIGKILL);
  int raw = 0;
  waitpid(pid, &raw, 0);
  ASSERT_TRUE(slow && written) << file_text(out);
  EXPECT_TRUE(WIFSIGNALED(raw) && WTERMSIG(raw) == SIGKILL) << file_text(out);  // the step had not ended
  EXPECT_EQ(h5::File::open_read(run("slow") + "/checkpoint.h5").attr_int("/", "step"), 8);
  EXPECT_EQ(extra_files(run("slow")), std::vector<std::string>{});
  const Result resumed = run_lpt("train --resume " + run("slow"));
  ASSERT_EQ(resumed.status, 0) << resumed.output;
  expect_same_weights(run("straight") + "/checkpoint.h5", run("slow") + "/checkpoint.h5");
}

// SIGKILL at 20 random moments (seeded, so they repeat) of a run's second epoch — loading the
// checkpoint, training, writing the next checkpoint and the metrics: afterwards the run evaluates
// and resumes to the uninterrupted run's weights bit for bit, and no temporary file is left.
TEST_F(TrainCli, KilledAtRandomMomentsTheRunEvaluatesAndResumesBitExactly) {
  ASSERT_EQ(run_lpt(train_args("straight")).status, 0);
  ASSERT_EQ(run_lpt(train_args("first") + " --stop-after-epochs 1").status, 0);
  fs::copy(run("first"), run("after_epoch_1"));
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(run_lpt("train --resume " + run("first")).status, 0);
  const double second_epoch_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::mt19937 rng(7);
  for (int k = 0; k < 20; ++k) {
    const std::string name = "killed" + std::to_string(k);
    fs::copy(run("after_epoch_1"), run(name));  // the state the run resumes from, as "first" had it
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      const std::string cmd = std::string(LPT_BINARY) + " train --resume " + run(name) + " > /dev/null 2>&1";
      execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), nullptr);
      _exit(127);
    }
    usleep(useconds_t(std::uniform_real_distribution<double>(0.0, 1.1)(rng) * second_epoch_seconds * 1e6));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_EQ(run_lpt("eval " + run(name)).status, 0) << name;
    const Result resumed = run_lpt("train --resume " + run(name));
    ASSERT_EQ(resumed.status, 0) << name << ": " << resumed.output;
    EXPECT_EQ(extra_files(run(name)), std::vector<std::string>{}) << name;
    expect_same_weights(run("straight") + "/checkpoint.h5", run(name) + "/checkpoint.h5");
  }
}

TEST_F(TrainCli, NanStopsTheRunNamingItAndKeepsTheLastCheckpoint) {
  ASSERT_EQ(run_lpt(train_args("nan") + " --stop-after-epochs 1").status, 0);
  const std::string ckpt = run("nan") + "/checkpoint.h5";
  const auto before = fs::last_write_time(ckpt);
  const auto size = fs::file_size(ckpt);
  const Result r = run_lpt("train --resume " + run("nan") + " --set optimizer.lr=1e30");
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(r.output.find("NaN or Inf") != std::string::npos || r.output.find("the loss is") != std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("last good checkpoint is kept"), std::string::npos) << r.output;
  EXPECT_EQ(fs::last_write_time(ckpt), before);
  EXPECT_EQ(fs::file_size(ckpt), size);
}

TEST_F(TrainCli, BadConfigsAreRejectedWithTheKeyPath) {
  Result r = run_lpt(train_args("bad") + " --set optimizer.lr=-1");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("/optimizer/lr"), std::string::npos) << r.output;
  r = run_lpt(train_args("bad") + " --set training.epochz=3");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("/training/epochz: unknown key"), std::string::npos) << r.output;
  r = run_lpt(train_args("bad") + " --set model.name=vgg");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("/model/name"), std::string::npos) << r.output;
  r = run_lpt(train_args("bad") + " --set training.batch_size=big");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("/training/batch_size: expected integer"), std::string::npos) << r.output;
  // Nesting that once overflowed the stack (SIGSEGV) in a recursive walk of the config.
  std::ofstream((dir_ / "deep.json").string()) << "{\"name\": " << std::string(100000, '[') << std::string(100000, ']')
                                              << "}";
  r = run_lpt("train " + (dir_ / "deep.json").string() + " --set output_dir=" + run("bad"));
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("nested deeper than 64 levels"), std::string::npos) << r.output.substr(0, 300);
  EXPECT_FALSE(fs::exists(run("bad") + "/checkpoint.h5"));
}

// A version-1 checkpoint (before LNS-Madam's master grid and the 1-D optimizer) does not resume,
// and says how to keep its weights; evaluating and fine-tuning from it still work.
TEST_F(TrainCli, VersionOneCheckpointsDoNotResumeButTheirWeightsLoad) {
  ASSERT_EQ(run_lpt(train_args("old") + " --stop-after-epochs 1").status, 0);
  const std::string ckpt = run("old") + "/checkpoint.h5";
  h5::File::open_write(ckpt).set_attr("/", "version", int64_t(1));
  const Result resume = run_lpt("train --resume " + run("old"));
  EXPECT_EQ(resume.status, 1) << resume.output;
  EXPECT_NE(resume.output.find("has version 1, written before LNS-Madam's master grid"), std::string::npos)
      << resume.output;
  EXPECT_NE(resume.output.find("checkpoint.init_from"), std::string::npos) << resume.output;
  const Result eval = run_lpt("eval " + config_ + " --checkpoint " + ckpt);
  EXPECT_EQ(eval.status, 0) << eval.output;
  const Result tune =
      run_lpt(train_args("tuned") + " --set training.epochs=1 --set checkpoint.init_from=" + ckpt);
  EXPECT_EQ(tune.status, 0) << tune.output;
  h5::File::open_write(ckpt).set_attr("/", "version", int64_t(3));
  const Result future = run_lpt("eval " + config_ + " --checkpoint " + ckpt);
  EXPECT_EQ(future.status, 1);
  EXPECT_NE(future.output.find("has version 3; this build reads versions 1 to 2"), std::string::npos) << future.output;
}

// A crash mid-append leaves a partial last metrics line: resume drops it with a warning (and the
// lines past the checkpoint's epoch) and carries on.
TEST_F(TrainCli, ResumeDropsAPartialLastMetricsLine) {
  ASSERT_EQ(run_lpt(train_args("partial") + " --stop-after-epochs 1").status, 0);
  const std::string metrics = run("partial") + "/metrics.jsonl";
  std::ofstream(metrics, std::ios::app) << R"({"epoch": 2, "step": 14, "train_lo)";
  const Result r = run_lpt("train --resume " + run("partial"));
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("line 2 is incomplete"), std::string::npos) << r.output;
  const std::string text = file_text(metrics);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2) << text;
  EXPECT_EQ(json_number(text.substr(text.find('\n') + 1), "epoch"), 2) << text;
}

// LPT_MAX_ISA caps oneDNN as well as lpt's kernels, and the manifest records the cap.
TEST_F(TrainCli, LptMaxIsaCapsOneDnnAndIsRecorded) {
  setenv("LPT_MAX_ISA", "AVX2", 1);
  const Result r = run_lpt(train_args("capped") + " --set training.epochs=1");
  setenv("LPT_MAX_ISA", "avx2_typo", 1);
  const Result bad = run_lpt(train_args("typo") + " --set training.epochs=1");
  unsetenv("LPT_MAX_ISA");
  ASSERT_EQ(r.status, 0) << r.output;
  const std::string manifest = file_text(run("capped") + "/manifest.json");
  EXPECT_NE(manifest.find(R"("onednn_isa": "avx2")"), std::string::npos) << manifest.substr(0, 600);
  EXPECT_NE(manifest.find(R"("isa_cap": "avx2")"), std::string::npos);
  EXPECT_NE(manifest.find(R"("lpt_kernels": "avx2")"), std::string::npos);
  EXPECT_EQ(manifest.find("avx512"), std::string::npos) << "an implementation above the cap ran";
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.output.find("LPT_MAX_ISA='avx2_typo': expected one of"), std::string::npos) << bad.output;
}

TEST_F(TrainCli, TrainingTwiceIntoOneRunDirectoryIsRefused) {
  ASSERT_EQ(run_lpt(train_args("once") + " --set training.epochs=1").status, 0);
  const Result again = run_lpt(train_args("once") + " --set training.epochs=1");
  EXPECT_NE(again.status, 0);
  EXPECT_NE(again.output.find("already holds a checkpoint"), std::string::npos) << again.output;
}

TEST_F(TrainCli, EvalReproducesTheRunsTestAccuracyAndReportDrawsCurves) {
  ASSERT_EQ(run_lpt(train_args("ev") + " --set training.epochs=1").status, 0);
  const Result e = run_lpt("eval " + run("ev"));
  ASSERT_EQ(e.status, 0) << e.output;
  std::ifstream metrics(run("ev") + "/metrics.jsonl");
  std::string line;
  std::getline(metrics, line);
  EXPECT_EQ(json_number(e.output, "test_accuracy"), json_number(line, "test_accuracy"));
  EXPECT_GE(json_number(line, "test_accuracy"), 0.0);

  // One epoch with validation and test: loss, accuracy and the zoom on the final values (what each
  // panel shows is checked on the rendered image in report_test.cpp).
  const Result rep = run_lpt("report " + run("ev") + " -o " + run("curves.svg"));
  ASSERT_EQ(rep.status, 0) << rep.output;
  EXPECT_NE(rep.output.find("curves.svg: Loss; Accuracy; Accuracy: best runs' last epochs\n"), std::string::npos)
      << rep.output;
  const std::string svg = file_text(run("curves.svg"));
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_TRUE(fs::exists(run("ev") + "/manifest.json"));
  EXPECT_TRUE(fs::exists(run("ev") + "/config.json"));
}

TEST_F(TrainCli, InitFromRejectsAMismatchedCheckpointNamingTheTensor) {
  ASSERT_EQ(run_lpt(train_args("src") + " --set training.epochs=1").status, 0);
  const Result r = run_lpt(train_args("dst") + " --set model.name=resnet32 --set checkpoint.init_from=" + run("src") +
                           "/checkpoint.h5");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("does not match the model: tensor '"), std::string::npos) << r.output;
}

// QAT with OCTAV (warm starts and activation clip averages are checkpointed state), MAD/PWL and
// stochastically rounded HBFP errors.
const std::string kQat =
    R"( --set 'quantization.weights={"type":"int","bits":4,"granularity":"channel","clipping":"octav"}')"
    R"( --set 'quantization.activations={"type":"int","bits":4,"clipping":"octav"}')"
    R"( --set 'quantization.errors={"type":"hbfp","mantissa_bits":3,"block_size":16,"rounding":"stochastic"}')"
    R"( --set quantization.weight_estimator=mad --set quantization.activation_estimator=pwl)";

TEST_F(TrainCli, QuantizedResumeInSeparateProcessesIsBitExactAndEvalReproducesTheRun) {
  ASSERT_EQ(run_lpt(train_args("straight") + kQat).status, 0);
  const Result first = run_lpt(train_args("split") + kQat + " --stop-after-epochs 1");
  ASSERT_EQ(first.status, 0) << first.output;
  const Result rest = run_lpt("train --resume " + run("split"));
  ASSERT_EQ(rest.status, 0) << rest.output;
  expect_same_weights(run("straight") + "/checkpoint.h5", run("split") + "/checkpoint.h5");
  const h5::File a = h5::File::open_read(run("straight") + "/checkpoint.h5");
  const h5::File b = h5::File::open_read(run("split") + "/checkpoint.h5");
  const auto state = a.datasets("quantizer");
  EXPECT_NE(std::find(state.begin(), state.end(), "layer1.0.conv1.activations.clip_ema"), state.end());
  EXPECT_NE(std::find(state.begin(), state.end(), "layer1.0.conv1.weights.octav_s"), state.end());
  for (const std::string& n : state)
    EXPECT_EQ(a.read("quantizer/" + n).to_vector(), b.read("quantizer/" + n).to_vector()) << n;

  // Evaluation uses the frozen clip averages from the checkpoint: the run's own test accuracy.
  const Result e = run_lpt("eval " + run("straight"));
  ASSERT_EQ(e.status, 0) << e.output;
  std::ifstream metrics(run("straight") + "/metrics.jsonl");
  std::string line, last;
  while (std::getline(metrics, line)) last = line;
  EXPECT_EQ(json_number(e.output, "test_accuracy"), json_number(last, "test_accuracy")) << e.output;
  // Diagnostics per layer and role, and the share of multiply-adds per precision.
  EXPECT_NE(last.find("\"quantization\":{\"layer_order\":["), std::string::npos) << last;
  EXPECT_NE(last.find("\"layers\":{\"conv1\""), std::string::npos) << last;
  EXPECT_NE(last.find("\"sqnr_db\""), std::string::npos);
  EXPECT_NE(last.find("\"mac_share\":{"), std::string::npos);
  // The layers in forward order (conv1 first, fc last), for lpt report's per-layer panels.
  EXPECT_NE(last.find("\"layer_order\":[\"conv1\",\"layer1.0.conv1\",\"layer1.0.conv2\","), std::string::npos) << last;
  EXPECT_NE(last.find("\"layer3.2.conv2\",\"fc\"]"), std::string::npos) << last;
  // lpt report adds per-layer SQNR and clipping panels for quantized runs.
  const Result rep = run_lpt("report " + run("straight") + " -o " + run("q.png"));
  ASSERT_EQ(rep.status, 0) << rep.output;
  EXPECT_NE(rep.output.find("; Quantization SQNR, last epoch; Values clipped, last epoch\n"), std::string::npos)
      << rep.output;
  EXPECT_EQ(file_text(run("q.png")).substr(1, 3), "PNG");
}

TEST_F(TrainCli, PtqEvaluationCalibratesAnFp32Checkpoint) {
  ASSERT_EQ(run_lpt(train_args("fp32") + " --set training.epochs=1").status, 0);
  const std::string formats =
      R"( --set 'quantization.weights={"type":"int","bits":4,"granularity":"vector","vector_size":16,"scale_bits":4}')"
      R"( --set 'quantization.activations={"type":"int","bits":4,"granularity":"vector","vector_size":16,"scale_bits":4}')";
  const Result e = run_lpt("eval " + config_ + formats + " --checkpoint " + run("fp32") + "/checkpoint.h5");
  ASSERT_EQ(e.status, 0) << e.output;
  EXPECT_NE(e.output.find("\"calibrated_batches\": 4"), std::string::npos) << e.output;
  EXPECT_NE(e.output.find("\"test_accuracy\""), std::string::npos) << e.output;
}

TEST_F(TrainCli, QuantizationConfigErrorsNameTheKey) {
  Result r = run_lpt(train_args("q") + R"( --set 'quantization.layers=[{"match":"layer9.*","weights":null}]')");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("/quantization/layers/0/match: 'layer9.*' matches no layer"), std::string::npos) << r.output;
  r = run_lpt(train_args("q") + R"( --set 'quantization.weights={"type":"int","bits":40}')");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("/quantization/weights"), std::string::npos) << r.output;
  r = run_lpt(train_args("q") + R"( --set 'quantization.layers=[{"match":"fc","wieghts":null}]')");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("/quantization/layers/0/wieghts: unknown key"), std::string::npos) << r.output;
  // Per-GEMM formats: each backward GEMM takes only its own two operands, each a valid format.
  r = run_lpt(train_args("q") + R"( --set 'quantization.layers=[{"match":"fc","backward_weights":{"weights":null}}]')");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("/quantization/layers/0/backward_weights/weights: the backward_weights GEMM's operands are "
                          "activations and errors"),
            std::string::npos)
      << r.output;
  r = run_lpt(train_args("q") + R"( --set 'quantization.backward_data.errors={"type":"int","bits":40}')");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("/quantization/backward_data/errors"), std::string::npos) << r.output;
  // The Hadamard transform asked of a 3×3 convolution, where it would change the product.
  r = run_lpt(train_args("q") + R"( --set 'quantization.layers=[{"match":"conv1","hadamard":true}]')");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("/quantization/layers/0/hadamard: layer 'conv1' reads x at other positions than dy"),
            std::string::npos)
      << r.output;
}

// The random Hadamard transform set for the whole model applies where it holds — in ResNet-20 only
// the final linear layer (its 1×1 shortcuts have stride 2) — says so in the diagnostics, and its
// signs, keyed by seed, step and layer, make a resumed run bit-exact.
TEST_F(TrainCli, HadamardAppliesWhereItHoldsAndResumesBitExactly) {
  const std::string formats = " --set training.steps_per_epoch=2" +
                              std::string(R"( --set 'quantization.activations={"type":"mx","element":"fp4_e2m1"}')") +
                              R"( --set 'quantization.errors={"type":"mx","element":"fp4_e2m1"}')" +
                              " --set quantization.hadamard=true";
  const Result straight = run_lpt(train_args("straight") + formats);
  ASSERT_EQ(straight.status, 0) << straight.output;
  ASSERT_EQ(run_lpt(train_args("split") + formats + " --stop-after-epochs 1").status, 0);
  const Result rest = run_lpt("train --resume " + run("split"));
  ASSERT_EQ(rest.status, 0) << rest.output;
  expect_same_weights(run("straight") + "/checkpoint.h5", run("split") + "/checkpoint.h5");
  std::ifstream metrics(run("straight") + "/metrics.jsonl");
  std::string line, last;
  while (std::getline(metrics, line)) last = line;
  const json layers = json::parse(last)["quantization"]["layers"];
  EXPECT_EQ(layers["fc"]["errors.weights"].value("hadamard", false), true) << layers["fc"].dump();
  EXPECT_EQ(layers["fc"]["activations.weights"].value("hadamard", false), true) << layers["fc"].dump();
  EXPECT_FALSE(layers["layer1.0.conv1"]["errors.weights"].contains("hadamard"));
  EXPECT_FALSE(layers["layer2.0.downsample.0"]["errors.weights"].contains("hadamard"));
}

// Per-GEMM formats (SPEC §2) end to end: the backward-weights GEMM's errors in their own format,
// named in the per-role diagnostics and in the per-GEMM share of multiply-adds.
TEST_F(TrainCli, PerGemmFormatsShowInTheDiagnostics) {
  const Result r = run_lpt(train_args("pg") + " --set training.epochs=1 --set training.steps_per_epoch=2" +
                           R"( --set 'quantization.errors={"type":"mx","element":"fp8_e5m2"}')" +
                           R"( --set 'quantization.backward_weights.errors={"type":"mx","element":"fp6_e3m2"}')");
  ASSERT_EQ(r.status, 0) << r.output;
  std::ifstream metrics(run("pg") + "/metrics.jsonl");
  std::string line, last;
  while (std::getline(metrics, line)) last = line;
  const json m = json::parse(last)["quantization"];
  EXPECT_EQ(m["layers"]["fc"]["errors.data"]["format"], "mxfp8e5m2") << m["layers"]["fc"].dump();
  EXPECT_EQ(m["layers"]["fc"]["errors.weights"]["format"], "mxfp6e3m2") << m["layers"]["fc"].dump();
  const json& by_gemm = m["mac_share_by_gemm"];
  EXPECT_TRUE(by_gemm["backward_data"].contains("mxfp8e5m2×fp32")) << by_gemm.dump();
  EXPECT_TRUE(by_gemm["backward_weights"].contains("fp32×mxfp6e3m2")) << by_gemm.dump();
  EXPECT_TRUE(by_gemm["forward"].contains("fp32")) << by_gemm.dump();
}

}  // namespace
}  // namespace lpt
