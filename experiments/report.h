#pragma once
// `lpt report`: the loss and accuracy curves of one or several runs, and the per-layer quantization
// diagnostics of quantized runs, in one SVG or PNG image (drawn by experiments/plot.h).
#include <string>
#include <vector>

#include "experiments/plot.h"

namespace lpt {

// The report of these run directories, from their metrics.jsonl. First row: loss, accuracy, and
// accuracy zoomed on the best runs' last validation/test values; quantized runs add a row with each
// layer's SQNR and clipped percentage at their last diagnosed epoch, layers in forward order. One
// colour per run; train solid, validation dashed, test dotted; roles by marker. A run without a
// readable metrics.jsonl is an error naming the file.
plot::Figure report_figure(const std::vector<std::string>& run_dirs);

// Draws report_figure(run_dirs) to out_path (.svg or .png) and returns the titles of its panels.
std::vector<std::string> write_report(const std::vector<std::string>& run_dirs, const std::string& out_path);

}  // namespace lpt
