#include "experiments/run_files.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/json_text.h"
#include "core/error.h"

namespace lpt {

void write_json_atomically(const std::string& path, const json& value) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    LPT_CHECK(out, "cannot write '", tmp, "'");
    out << value.dump(2) << "\n";
    LPT_CHECK(out.good(), "writing '", tmp, "' failed (disk full?)");
  }
  std::filesystem::rename(tmp, path);
}

json read_json(const std::string& path) {
  return read_json_file(path, "'" + path + "'");
}

void append_metrics(const std::string& run_dir, const json& epoch_metrics) {
  const std::string path = run_dir + "/" + run_files::metrics;
  std::ofstream out(path, std::ios::app);
  LPT_CHECK(out, "cannot append to '", path, "'");
  out << epoch_metrics.dump() << "\n";
  out.flush();
}

std::vector<json> read_metrics(const std::string& run_dir) {
  const std::string path = run_dir + "/" + run_files::metrics;
  std::vector<json> out;
  std::ifstream in(path);
  if (!in) return out;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    json j = json::parse(line, nullptr, false);
    LPT_CHECK(!j.is_discarded(), "'", path, "' line ", n, " is not valid JSON");
    out.push_back(std::move(j));
  }
  return out;
}

void truncate_metrics(const std::string& run_dir, int64_t max_epoch) {
  std::vector<json> kept;
  for (json& m : read_metrics(run_dir))
    if (m.value("epoch", int64_t(0)) <= max_epoch) kept.push_back(std::move(m));
  const std::string path = run_dir + "/" + run_files::metrics;
  std::ofstream out(path + ".tmp");
  for (const json& m : kept) out << m.dump() << "\n";
  out.close();
  std::filesystem::rename(path + ".tmp", path);
}

}  // namespace lpt
