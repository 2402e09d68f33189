#pragma once
// `lpt report`: the loss and accuracy curves of one or several runs in one SVG image.
#include <string>
#include <vector>

namespace lpt {

// Reads each run's metrics.jsonl and writes an SVG with one panel per metric group (loss;
// accuracy), one colour per run, solid lines for training and dashed/dotted for validation/test.
// Quantized runs add two per-layer panels from their last epoch's diagnostics: SQNR and the
// fraction of values clipped, per layer and role.
void write_report_svg(const std::vector<std::string>& run_dirs, const std::string& out_path);

}  // namespace lpt
