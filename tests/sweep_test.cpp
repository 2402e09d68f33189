// `lpt sweep`: grid expansion (crossed, zipped, list elements, formats as values), validation errors
// naming the axis and value, run identity, the state file, and end to end on tiny synthetic runs:
// skip, rerun of a changed run, a failing run in the table, and Ctrl-C then continue.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/durable_file.h"
#include "core/error.h"
#include "experiments/sweep.h"
#include "tests/support/run_lpt.h"
#include "tests/support/test_helpers.h"

namespace lpt {
namespace {

namespace fs = std::filesystem;
using testing::file_text;
using testing::run_lpt;

// A ResNet-20 on 48 synthetic images: three steps of 12 per epoch, seconds per run.
json tiny_config() {
  return json::parse(R"({
    "seed": 3, "model": {"name": "resnet20"},
    "data": {"dataset": "synthetic", "synthetic_size": 48, "validation_size": 12,
             "normalize": {"mean": [0.5], "std": [0.25]}},
    "training": {"epochs": 1, "batch_size": 12, "eval_batch_size": 24},
    "optimizer": {"name": "sgd", "lr": 0.05},
    "quantization": {"layers": [{"match": "@first", "weights": null}]}
  })");
}

const json kInt4 = json::parse(R"({"type": "int", "bits": 4, "granularity": "channel", "signed": true})");
const json kHbfp4 = json::parse(R"({"type": "hbfp", "mantissa_bits": 3, "block_size": 16})");

sweep::Grid grid_of(const json& axes, const std::string& dir = "runs/t") {
  return sweep::parse_grid({{"base", tiny_config()}, {"axes", axes}, {"output_dir", dir}}, "grid.json");
}

std::string error_of_expand(const json& axes) {
  return testing::error_of([&] { sweep::expand(grid_of(axes), 2); });
}

TEST(SweepGrid, KeyPathsAreDottedOrJsonPointersAndReachListElements) {
  const std::vector<std::string> want = {"quantization", "layers", "0", "weights"};
  EXPECT_EQ(sweep::key_path("quantization.layers.0.weights", "t"), want);
  EXPECT_EQ(sweep::key_path("/quantization/layers/0/weights", "t"), want);
  EXPECT_EQ(sweep::pointer(want), "/quantization/layers/0/weights");
  EXPECT_EQ(sweep::key_path("/a~1b/c~0", "t"), (std::vector<std::string>{"a/b", "c~"}));
  json c = tiny_config();
  sweep::set_value(c, want, kInt4, "t");
  EXPECT_EQ(c["quantization"]["layers"][0]["weights"], kInt4);
  sweep::set_value(c, {"optimizer", "params_1d", "lr"}, 0.1, "t");  // missing objects are created
  EXPECT_EQ(c["optimizer"]["params_1d"]["lr"], 0.1);
  EXPECT_NE(testing::error_of([&] { sweep::set_value(c, {"quantization", "layers", "3", "weights"}, 1, "axis"); })
                .find("axis: '/quantization/layers' has 1 element(s), no element 3"),
            std::string::npos);
  EXPECT_NE(testing::error_of([&] { sweep::set_value(c, {"seed", "x"}, 1, "axis"); }).find("'/seed' is 3, not an object"),
            std::string::npos);
  EXPECT_NE(testing::error_of([&] { sweep::key_path("a..b", "axis"); }).find("empty key component"), std::string::npos);
}

TEST(SweepGrid, CrossedAndZippedAxesExpandToNamedValidatedRuns) {
  const json axes = json::parse(R"([
    {"key": "optimizer.lr", "values": [0.1, 0.05]},
    {"zip": [{"key": "quantization.weights", "values": [null, null]},
             {"key": "/quantization/layers/0/weights", "values": [null, null]}]},
    {"key": "seed", "values": [1, 2], "names": ["a", "b"], "label": "s"}
  ])");
  json a = axes;
  a[1]["zip"][0]["values"] = {kInt4, kHbfp4};
  a[1]["zip"][1]["values"] = {kHbfp4, nullptr};
  const std::vector<sweep::Run> runs = sweep::expand(grid_of(a), 2);
  ASSERT_EQ(runs.size(), 8u);  // 2 × 2 (zipped) × 2, the last axis fastest
  // Both format axes end in "weights": their whole keys label them.
  EXPECT_EQ(runs[0].name, "lr=0.1,quantization.weights=int4-pc,quantization.layers.0.weights=hbfp4-b16,s=a");
  EXPECT_EQ(runs[3].name, "lr=0.1,quantization.weights=hbfp4-b16,quantization.layers.0.weights=fp32,s=b");
  EXPECT_EQ(runs[7].name, "lr=0.05,quantization.weights=hbfp4-b16,quantization.layers.0.weights=fp32,s=b");
  const json& c = runs[3].config;  // resolved: defaults filled, the run's values in place
  EXPECT_EQ(c["optimizer"]["lr"], 0.1);
  EXPECT_EQ(c["seed"], 2);
  EXPECT_EQ(c["quantization"]["weights"]["type"], "hbfp");
  EXPECT_TRUE(c["quantization"]["layers"][0]["weights"].is_null());
  EXPECT_EQ(c["threads"], 2);
  EXPECT_EQ(c["name"], runs[3].name);
  EXPECT_EQ(c["training"]["batch_size"], 12);
  EXPECT_EQ(c["schedule"]["name"], "cosine");  // a default
  EXPECT_EQ(runs[3].values.size(), 4u);

  // A zipped group can name its tuples itself.
  json named = json::parse(R"([{"zip": [{"key": "optimizer.lr", "values": [0.1, 0.2]},
                                        {"key": "seed", "values": [1, 2]}], "label": "m", "names": ["x", "y"]}])");
  const std::vector<sweep::Run> zipped = sweep::expand(grid_of(named), 1);
  ASSERT_EQ(zipped.size(), 2u);
  EXPECT_EQ(zipped[1].name, "m=y");
  EXPECT_EQ(zipped[1].config["seed"], 2);
}

// Hand-picked cells (each method at the bit widths it has): one zipped group named under several
// labels, each a table column, a series or the plot's x.
TEST(SweepGrid, AZippedGroupCanNameItsCellsUnderSeveralLabels) {
  json cells = json::parse(R"([{"zip": [{"key": "quantization.weights", "values": [null, null, null]},
                                        {"key": "seed", "values": [0, 0, 1]}],
                               "label": ["method", "bits", "seed"],
                               "names": [["int", "4", "0"], ["hbfp", "4", "0"], ["hbfp", "4", "1"]]}])");
  cells[0]["zip"][0]["values"] = {kInt4, kHbfp4, kHbfp4};
  const sweep::Grid grid = grid_of(cells);
  EXPECT_EQ(grid.labels, (std::vector<std::string>{"method", "bits", "seed"}));
  const std::vector<sweep::Run> runs = sweep::expand(grid, 1);
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs[2].name, "method=hbfp,bits=4,seed=1");
  EXPECT_EQ(runs[2].parts.size(), 3u);
  EXPECT_EQ(runs[2].config["seed"], 1);
  EXPECT_EQ(runs[2].config["quantization"]["weights"]["type"], "hbfp");
  sweep::check_plot_x(grid, "bits", "x");  // a label is a valid x
  EXPECT_NE(testing::error_of([&] { sweep::check_plot_x(grid, "", "x"); }).find("x: empty key"), std::string::npos);

  // The table has one column per label; the plot takes "bits" as numbers.
  const testing::TempDir dir("sweep_cells");
  sweep::Grid in_dir = grid;
  in_dir.dir = dir.path();
  sweep::State state;
  for (const sweep::Run& r : runs) {
    state.records.push_back({r.name, r.identity, dir.path() + "/" + r.name, "finished", 1, 0, ""});
    std::ofstream(dir.file(r.name + "/metrics.jsonl"))
        << json{{"epoch", 1}, {"train_seconds", 1.0}, {"train_images_per_second", 100.0}, {"test_accuracy", 0.5}}.dump()
        << "\n";
  }
  const sweep::Outputs out = sweep::write_results(in_dir, runs, state, "bits", "", "");
  EXPECT_NE(file_text(out.csv).find("run,method,bits,seed,status,"), std::string::npos) << file_text(out.csv);
  EXPECT_NE(file_text(out.csv).find("\"method=hbfp,bits=4,seed=1\",hbfp,4,1,finished,1/1,50.00,"), std::string::npos)
      << file_text(out.csv);
  EXPECT_GT(fs::file_size(out.svg), 1000u);
  // x reads the label's names: numbers here; a name that is not one among numbers is an error.
  std::vector<sweep::Run> mixed = runs;
  mixed[1].parts[1].second = "four";
  EXPECT_NE(testing::error_of([&] { sweep::write_results(in_dir, mixed, state, "bits", "", ""); })
                .find("plot x 'bits': mixes numbers and other values"),
            std::string::npos);

  json short_names = cells;
  short_names[0]["names"][1] = {"hbfp", "4"};
  EXPECT_NE(testing::error_of([&] { grid_of(short_names); }).find("/axes/0: \"names\"/1: expected a list of 3 strings"),
            std::string::npos);
  json too_few = cells;
  too_few[0]["names"].erase(2);
  EXPECT_NE(testing::error_of([&] { grid_of(too_few); }).find("\"names\": expected a list of 3 lists (one per value) of 3 names"),
            std::string::npos);
}

TEST(SweepGrid, ErrorsNameTheAxisAndTheValue) {
  EXPECT_NE(error_of_expand(json::parse(R"([{"key": "optimizer.lr", "values": [0.1, -1]}])"))
                .find("grid.json: run 'lr=-1': axis 'optimizer.lr' = -1: /optimizer/lr: expected"),
            std::string::npos);
  json bad_format = json::array({{{"key", "quantization.weights"}, {"values", {kInt4, {{"type", "int"}, {"bits", 99}}}}}});
  const std::string f = error_of_expand(bad_format);
  EXPECT_NE(f.find("axis 'quantization.weights' = {\"bits\":99,\"type\":\"int\"}"), std::string::npos) << f;
  EXPECT_NE(f.find("bits"), std::string::npos) << f;
  EXPECT_NE(error_of_expand(json::parse(R"([{"zip": [{"key": "seed", "values": [1, 2]},
                                                     {"key": "optimizer.lr", "values": [0.1]}]}])"))
                .find("zipped axes need as many values each: 'seed' has 2, 'optimizer.lr' has 1"),
            std::string::npos);
  EXPECT_NE(error_of_expand(json::parse(R"([{"key": "threads", "values": [1, 2]}])")).find("/threads is set by the sweep"),
            std::string::npos);
  EXPECT_NE(error_of_expand(json::parse(R"([{"key": "seed", "values": []}])")).find("/axes/0 'seed': \"values\" must be"),
            std::string::npos);
  EXPECT_NE(error_of_expand(json::parse(R"([{"key": "seed", "valuez": [1]}])")).find("unknown key \"valuez\""),
            std::string::npos);
  EXPECT_NE(error_of_expand(json::parse(R"([{"key": "optimizer.lr", "values": [0.1, 0.1]}])")).find("two runs are named 'lr=0.1'"),
            std::string::npos);
  EXPECT_NE(error_of_expand(json::parse(R"([{"key": "quantization.layers.2.weights", "values": [null]}])"))
                .find("axis 'quantization.layers.2.weights' = null: '/quantization/layers' has 1 element(s), no element 2"),
            std::string::npos);
  EXPECT_NE(testing::error_of([] { sweep::parse_grid({{"base", tiny_config()}, {"axez", json::array()}}, "g.json"); })
                .find("g.json: unknown key \"axez\""),
            std::string::npos);
}

TEST(SweepIdentity, ChangesWithTheConfigAndTheThreadCountOnly) {
  const json axes = json::parse(R"([{"key": "optimizer.lr", "values": [0.1, 0.05]}])");
  const std::vector<sweep::Run> two = sweep::expand(grid_of(axes), 2), one = sweep::expand(grid_of(axes), 1);
  EXPECT_EQ(two[0].identity.size(), 16u);
  EXPECT_NE(two[0].identity, two[1].identity);  // config
  EXPECT_NE(two[0].identity, one[0].identity);  // thread count
  EXPECT_EQ(two[0].identity, sweep::expand(grid_of(axes, "elsewhere"), 2)[0].identity);  // where it runs: no
  json renamed = two[0].config;
  renamed["name"] = "other";
  renamed["output_dir"] = "x";
  EXPECT_EQ(sweep::run_identity(renamed), two[0].identity);
  // A key that lpt adds later with a null default (here a made-up one) leaves the identity alone.
  renamed["quantization"]["backward_future"] = {{"errors", nullptr}};
  renamed["optimizer"]["future_option"] = nullptr;
  EXPECT_EQ(sweep::run_identity(renamed), two[0].identity);
  renamed["quantization"]["backward_future"]["errors"] = {{"type", "hbfp"}};
  EXPECT_NE(sweep::run_identity(renamed), two[0].identity);
  renamed["quantization"]["backward_future"]["errors"] = nullptr;
  renamed["training"]["epochs"] = 2;
  EXPECT_NE(sweep::run_identity(renamed), two[0].identity);
}

TEST(SweepState, RoundTripsAndAFailedWriteKeepsThePreviousFile) {
  const testing::TempDir dir("sweep_state");
  const std::string path = dir.file("sweep-state.json");
  EXPECT_TRUE(sweep::read_state(path).records.empty());
  sweep::State s;
  s.records.push_back({"lr=0.1", "0123456789abcdef", "runs/t/lr=0.1", "finished", 2, 0, ""});
  s.records.push_back({"lr=0.2", "fedcba9876543210", "runs/t/lr=0.2", "failed", 1, 1, "lpt: error: boom"});
  sweep::write_state(path, s);
  const sweep::State back = sweep::read_state(path);
  ASSERT_EQ(back.records.size(), 2u);
  EXPECT_EQ(back.records[1].error, "lpt: error: boom");
  EXPECT_EQ(back.records[1].threads, 1);
  EXPECT_EQ(back.records[0].status, "finished");
  const std::string before = file_text(path);
  s.records[0].status = "running";
  for (durable::Stage stage : {durable::Stage::write, durable::Stage::rename}) {
    durable::inject_failure(stage);
    EXPECT_NE(testing::error_of([&] { sweep::write_state(path, s); }).find(path), std::string::npos);
    EXPECT_EQ(file_text(path), before);
    EXPECT_FALSE(fs::exists(path + ".tmp"));
  }
}

// The table reads each run's metrics as `lpt report` does: final and best test accuracy, the last
// validation accuracy, images/s over all epochs, bits per value and MAC share; a failed run shows
// its error; the plot is written.
TEST(SweepResults, TheTableGathersEachRunsMetrics) {
  const testing::TempDir dir("sweep_results");
  json axes = json::parse(R"([{"key": "optimizer.lr", "values": [0.1, 0.05]}, {"key": "quantization.weights", "values": [null, null]}])");
  axes[1]["values"][1] = kInt4;
  json base = tiny_config();
  base["training"]["epochs"] = 2;
  const sweep::Grid grid = sweep::parse_grid({{"base", base}, {"axes", axes}, {"output_dir", dir.path()}}, "grid.json");
  const std::vector<sweep::Run> runs = sweep::expand(grid, 2);
  sweep::State state;
  for (const sweep::Run& r : runs) {
    const std::string d = dir.path() + "/" + r.name;
    const bool failed = r.name == "lr=0.05,weights=int4-pc";
    state.records.push_back({r.name, r.identity, d, failed ? "failed" : "finished", 2, failed ? 1 : 0,
                             failed ? "lpt: error: boom, badly" : ""});
    if (failed) continue;
    const double top = r.name == "lr=0.1,weights=fp32" ? 0.9 : 0.7;
    std::ofstream(dir.file(r.name + "/metrics.jsonl"))
        << json{{"epoch", 1}, {"train_seconds", 1.0}, {"train_images_per_second", 100.0}, {"val_accuracy", 0.5},
                {"test_accuracy", top}, {"quantization", {{"mac_share", {{"fp32", 0.25}, {"fp32×int4-pc", 0.75}}}}}}
               .dump()
        << "\n"
        << json{{"epoch", 2}, {"train_seconds", 3.0}, {"train_images_per_second", 200.0}, {"val_accuracy", 0.55},
                {"test_accuracy", top - 0.1}}
               .dump()
        << "\n";
  }
  const sweep::Outputs out = sweep::write_results(grid, runs, state, "bits_per_value", "", dir.file("plot.png"));
  const std::string csv = file_text(out.csv);
  EXPECT_NE(csv.find("run,lr,weights,status,epochs,test_acc_%,best_test_acc_%,val_acc_%,images_per_s,weight_bits,"
                     "activation_bits,mac_share,error,dir\n"),
            std::string::npos)
      << csv;
  // 700 images in 4 s: 175 images/s, not the mean of the two epochs' rates.
  EXPECT_NE(csv.find("\"lr=0.1,weights=fp32\",0.1,fp32,finished,2/2,80.00,90.00,55.00,175,32.000,32.000,"
                     "fp32×int4-pc 75.0%; fp32 25.0%,,"),
            std::string::npos)
      << csv;
  EXPECT_NE(csv.find("\"lr=0.1,weights=int4-pc\",0.1,int4-pc,finished,2/2,60.00,70.00,55.00,175,4.000,32.000,"),
            std::string::npos)
      << csv;
  EXPECT_NE(csv.find("\"lr=0.05,weights=int4-pc\",0.05,int4-pc,failed,0/2,,,,,4.000,32.000,,\"lpt: error: boom, badly\","),
            std::string::npos)
      << csv;
  EXPECT_NE(file_text(out.markdown).find("| lr=0.05,weights=int4-pc | 0.05 | int4-pc | failed | 0/2 |"), std::string::npos);
  EXPECT_GT(fs::file_size(out.svg), 1000u);
  EXPECT_EQ(out.svg, dir.file("plot.png"));
}

// ---- End to end -------------------------------------------------------------------------------

class SweepCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("lpt_sweep_cli_" + std::to_string(getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string out() const { return (dir_ / "sweep").string(); }
  // Writes a grid over tiny_config() and returns its path.
  std::string grid(const json& axes, const std::string& file = "grid.json") const {
    json g = {{"base", tiny_config()}, {"axes", axes}, {"output_dir", out()}};
    const std::string path = (dir_ / file).string();
    std::ofstream(path) << g.dump(2);
    return path;
  }
  std::string csv() const { return file_text(out() + "/results.csv"); }
  // The table's row of a run.
  std::string row(const std::string& run) const {
    std::istringstream in(csv());
    for (std::string line; std::getline(in, line);)
      if (line.rfind(run + ",", 0) == 0 || line.rfind("\"" + run + "\"", 0) == 0) return line;
    return "";
  }
  fs::path dir_;
};

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t p = 0; (p = text.find(what, p)) != std::string::npos; p += what.size()) ++n;
  return n;
}

// 2 × 2 runs; again: all skipped; a value changed under the same name: that run reruns in a fresh
// directory, the others are skipped.
TEST_F(SweepCli, RunsTheGridSkipsFinishedRunsAndRerunsOnlyAChangedOne) {
  const json axes = json::parse(R"([{"key": "optimizer.lr", "values": [0.1, 0.05], "names": ["hi", "lo"]},
                                    {"key": "quantization.weights", "values": [null, null]}])");
  json a = axes;
  a[1]["values"] = {nullptr, kInt4};
  const std::string g = grid(a);

  const testing::CliRun dry = run_lpt("sweep " + g + " --dry-run");
  ASSERT_EQ(dry.status, 0) << dry.output;
  EXPECT_EQ(count(dry.output, "  new  "), 4u) << dry.output;
  EXPECT_NE(dry.output.find("/optimizer/lr = 0.05, /quantization/weights = {\"bits\":4"), std::string::npos) << dry.output;
  EXPECT_FALSE(fs::exists(out()));

  const testing::CliRun first = run_lpt("sweep " + g + " --parallel 2");
  ASSERT_EQ(first.status, 0) << first.output;
  EXPECT_EQ(count(first.output, "  finished "), 4u) << first.output;
  for (const char* run : {"lr=hi,weights=fp32", "lr=hi,weights=int4-pc", "lr=lo,weights=fp32", "lr=lo,weights=int4-pc"}) {
    const std::string r = row(run);
    EXPECT_NE(r.find(",finished,1/1,"), std::string::npos) << r;
    EXPECT_TRUE(fs::exists(out() + "/" + run + "/checkpoint.h5")) << run;
    EXPECT_NE(file_text(out() + "/" + run + "/train.log").find("\"test_accuracy\""), std::string::npos);
    const json cfg = json::parse(file_text(out() + "/" + run + "/config.json"));
    EXPECT_EQ(cfg["threads"], 1);  // 2 threads (the base config's) over 2 runs at a time
  }
  EXPECT_NE(row("lr=lo,weights=int4-pc").find("int4-pc"), std::string::npos);
  EXPECT_NE(row("lr=hi,weights=int4-pc").find(",4.000,32.000,"), std::string::npos) << row("lr=hi,weights=int4-pc");
  EXPECT_NE(row("lr=hi,weights=int4-pc").find("int4-pc"), std::string::npos);
  EXPECT_NE(file_text(out() + "/results.md").find("| run | lr | weights | status |"), std::string::npos);
  EXPECT_NE(file_text(out() + "/results.svg").find("<svg"), std::string::npos);

  const testing::CliRun again = run_lpt("sweep " + g + " --parallel 2");
  ASSERT_EQ(again.status, 0) << again.output;
  EXPECT_NE(again.output.find("4 run(s), 0 to run"), std::string::npos) << again.output;
  EXPECT_EQ(count(again.output, "started"), 0u);

  // Another thread count is another identity: the dry run says every run would rerun.
  const testing::CliRun threads = run_lpt("sweep " + g + " --parallel 2 --threads 4 --dry-run");
  EXPECT_EQ(count(threads.output, "  changed  "), 4u) << threads.output;
  EXPECT_NE(threads.output.find("threads 1 -> 2"), std::string::npos) << threads.output;

  a[0]["values"][1] = 0.02;  // "lo" now means 0.02
  grid(a);
  const testing::CliRun changed = run_lpt("sweep " + g + " --parallel 2");
  ASSERT_EQ(changed.status, 0) << changed.output;
  EXPECT_NE(changed.output.find("4 run(s), 2 to run"), std::string::npos) << changed.output;
  EXPECT_NE(changed.output.find("/optimizer/lr 0.05 -> 0.02"), std::string::npos) << changed.output;
  EXPECT_EQ(count(changed.output, "started"), 2u) << changed.output;
  EXPECT_TRUE(fs::exists(out() + "/lr=lo,weights=fp32.2/checkpoint.h5"));  // fresh; the old one kept
  EXPECT_TRUE(fs::exists(out() + "/lr=lo,weights=fp32/checkpoint.h5"));
  EXPECT_NE(row("lr=lo,weights=fp32").find("/lr=lo,weights=fp32.2"), std::string::npos) << csv();
}

// A run that fails is in the table with its error; the others finish; the sweep exits 1.
TEST_F(SweepCli, AFailingRunIsReportedAndDoesNotStopTheOthers) {
  const std::string g = grid(json::parse(R"([{"key": "seed", "values": [1, 2]},
      {"key": "checkpoint.init_from", "values": [null, "/nonexistent/weights.h5"], "names": ["none", "missing"]}])"));
  const testing::CliRun r = run_lpt("sweep " + g + " --parallel 2");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("some runs failed"), std::string::npos) << r.output;
  for (const char* ok : {"seed=1,init_from=none", "seed=2,init_from=none"})
    EXPECT_NE(row(ok).find(",finished,"), std::string::npos) << csv();
  for (const char* bad : {"seed=1,init_from=missing", "seed=2,init_from=missing"}) {
    const std::string line = row(bad);
    EXPECT_NE(line.find(",failed,"), std::string::npos) << csv();
    EXPECT_NE(line.find("/nonexistent/weights.h5"), std::string::npos) << line;
  }
  EXPECT_NE(file_text(out() + "/results.md").find("| failed |"), std::string::npos);
  const testing::CliRun again = run_lpt("sweep " + g + " --parallel 2 --dry-run");  // failed runs are retried
  EXPECT_EQ(count(again.output, "  retry  "), 2u) << again.output;
  EXPECT_EQ(count(again.output, "  finished  "), 2u) << again.output;
}

// Ctrl-C to the sweep reaches each running child once: each checkpoints and exits 130, the sweep
// records them interrupted and exits 130; the next invocation resumes them to the end. While the
// first runs, a second sweep of the same directory is refused.
TEST_F(SweepCli, CtrlCCheckpointsTheRunsAndASecondInvocationResumesThem) {
  const std::string g = grid(json::parse(R"([{"key": "seed", "values": [1, 2]}])"));
  const std::string log = (dir_ / "sweep.out").string();
  setenv("LPT_TEST_PAUSE_AFTER_STEP", "2", 1);  // each run waits after step 2 for the signal
  const pid_t pid = fork();
  if (pid == 0) {
    const std::string cmd = std::string(LPT_BINARY) + " sweep " + g + " --parallel 2 > " + log + " 2>&1";
    execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), nullptr);
    _exit(127);
  }
  unsetenv("LPT_TEST_PAUSE_AFTER_STEP");
  // Both runs have trained a step (the manifest is written after the first) and so handle signals.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!(fs::exists(out() + "/seed=1/manifest.json") && fs::exists(out() + "/seed=2/manifest.json")) &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const testing::CliRun second = run_lpt("sweep " + g + " --parallel 2");  // the directory is locked
  EXPECT_EQ(second.status, 1) << second.output;
  EXPECT_NE(second.output.find("another lpt sweep, or a run of one, is running in"), std::string::npos) << second.output;
  kill(pid, SIGINT);
  int st = 0;
  waitpid(pid, &st, 0);
  ASSERT_TRUE(WIFEXITED(st)) << file_text(log);
  EXPECT_EQ(WEXITSTATUS(st), 130) << file_text(log);
  EXPECT_EQ(count(file_text(log), "  interrupted "), 2u) << file_text(log);
  const sweep::State s = sweep::read_state(out() + "/sweep-state.json");
  ASSERT_EQ(s.records.size(), 2u);
  for (const sweep::Record& rec : s.records) {
    EXPECT_EQ(rec.status, "interrupted");
    EXPECT_EQ(rec.exit_status, 130);
    EXPECT_TRUE(fs::exists(rec.dir + "/checkpoint.h5"));
  }

  const testing::CliRun again = run_lpt("sweep " + g + " --parallel 2");
  ASSERT_EQ(again.status, 0) << again.output;
  EXPECT_EQ(count(again.output, "  resumable  "), 2u) << again.output;
  EXPECT_EQ(count(again.output, "(resuming)"), 2u) << again.output;
  for (const char* run : {"seed=1", "seed=2"}) {
    EXPECT_NE(file_text(out() + "/" + run + "/train.log").find("lpt: resuming"), std::string::npos);
    EXPECT_NE(row(run).find(",finished,1/1,"), std::string::npos) << csv();
  }
}

}  // namespace
}  // namespace lpt
