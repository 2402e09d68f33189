#pragma once
// `lpt report`: the loss and accuracy curves of one or several runs, and the per-layer quantization
// diagnostics of quantized runs, in one SVG or PNG image (drawn by experiments/plot.h).
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "experiments/plot.h"
#include "experiments/schema.h"

namespace lpt {

// A run directory's metrics, as `lpt report` and `lpt sweep` read them.
struct ReportRun {
  std::string dir, name, metrics_path;  // name: the directory's own name
  std::vector<json> metrics;            // one object per epoch, each with an "epoch" number
};
// Reads `dir`'s metrics.jsonl; a missing or empty file, or a line without an "epoch", is an error
// naming the file.
ReportRun read_report_run(const std::string& dir);
// m[key] as a number, NaN when absent; anything else is an error naming the file and epoch.
double number(const ReportRun& run, const json& m, const std::string& key);

// What a results table shows of a run (NaN where the metrics have none; accuracies as fractions).
struct RunSummary {
  int64_t epochs = 0;  // the last recorded epoch
  double final_test_accuracy = NAN, best_test_accuracy = NAN, final_val_accuracy = NAN;
  double images_per_second = NAN;  // training images over training seconds, all recorded epochs
  json mac_share;                  // the last epoch's quantization.mac_share (null: fp32 run)
};
RunSummary summarize_run(const ReportRun& run);

// The report of these run directories, from their metrics.jsonl. First row: loss, accuracy, and
// accuracy zoomed on the best runs' last validation/test values; quantized runs add a row with each
// layer's SQNR and clipped percentage at their last diagnosed epoch, layers in forward order. One
// colour per run; train solid, validation dashed, test dotted; roles by marker. A run without a
// readable metrics.jsonl is an error naming the file.
plot::Figure report_figure(const std::vector<std::string>& run_dirs);

// Draws report_figure(run_dirs) to out_path (.svg or .png) and returns the titles of its panels.
std::vector<std::string> write_report(const std::vector<std::string>& run_dirs, const std::string& out_path);

}  // namespace lpt
