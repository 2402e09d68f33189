#pragma once
// The files of a run directory: config.json (the resolved config), manifest.json (what ran it),
// metrics.jsonl (one JSON object per epoch), checkpoint.h5 (the last good checkpoint).
#include <string>
#include <vector>

#include "experiments/schema.h"

namespace lpt {

namespace run_files {
inline const char* config = "config.json";
inline const char* manifest = "manifest.json";
inline const char* metrics = "metrics.jsonl";
inline const char* checkpoint = "checkpoint.h5";
}  // namespace run_files

// Writes `path`.tmp then renames it, so readers never see a half-written file.
void write_json_atomically(const std::string& path, const json& value);
json read_json(const std::string& path);
// Appends one line to metrics.jsonl, flushed.
void append_metrics(const std::string& run_dir, const json& epoch_metrics);
// The epochs recorded so far.
std::vector<json> read_metrics(const std::string& run_dir);
// Drops lines of epochs after `max_epoch` (written after the checkpoint a run resumes from).
void truncate_metrics(const std::string& run_dir, int64_t max_epoch);

}  // namespace lpt
