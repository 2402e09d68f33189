#include "experiments/run_files.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/durable_file.h"
#include "core/error.h"
#include "core/json_text.h"

namespace lpt {

void write_json_atomically(const std::string& path, const json& value) {
  durable::write_text(path, value.dump(2) + "\n");
}

json read_json(const std::string& path) { return read_json_file(path, "'" + path + "'"); }

namespace {

std::string metrics_text(const std::vector<json>& lines) {
  std::string text;
  for (const json& m : lines) text += m.dump() + "\n";
  return text;
}

}  // namespace

void remove_stale_temporaries(const std::string& run_dir) {
  for (const char* name : {run_files::config, run_files::manifest, run_files::metrics, run_files::checkpoint})
    std::remove((run_dir + "/" + name + ".tmp").c_str());
}

void append_metrics(const std::string& run_dir, const json& epoch_metrics) {
  std::vector<json> lines = read_metrics(run_dir);
  lines.push_back(epoch_metrics);
  durable::write_text(run_dir + "/" + run_files::metrics, metrics_text(lines));
}

std::vector<json> read_metrics(const std::string& run_dir) {
  const std::string path = run_dir + "/" + run_files::metrics;
  std::vector<json> out;
  std::ifstream in(path, std::ios::binary);
  if (!in) return out;
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  size_t start = 0;
  for (int n = 1; start < text.size(); ++n) {
    const size_t end = text.find('\n', start);
    const std::string line = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    start = end == std::string::npos ? text.size() : end + 1;
    if (line.empty()) continue;
    // A last line without its newline was cut short by a crash mid-append (lpt now replaces the
    // file whole, but older runs and other writers append): it is dropped, not an error.
    if (end == std::string::npos && !json::accept(line)) {
      std::fprintf(stderr, "lpt: warning: '%s' line %d is incomplete (a crash while it was written?): dropped\n",
                   path.c_str(), n);
      break;
    }
    out.push_back(parse_json_text(line, "'" + path + "' line " + std::to_string(n)));
  }
  return out;
}

void truncate_metrics(const std::string& run_dir, int64_t max_epoch) {
  std::vector<json> kept;
  for (json& m : read_metrics(run_dir))
    if (m.value("epoch", int64_t(0)) <= max_epoch) kept.push_back(std::move(m));
  durable::write_text(run_dir + "/" + run_files::metrics, metrics_text(kept));
}

}  // namespace lpt
