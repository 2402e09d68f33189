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

// Replaces `path` durably (core/durable_file.h): never a half-written file, even on a full disk.
void write_json_atomically(const std::string& path, const json& value);
json read_json(const std::string& path);
// Adds one line to metrics.jsonl, replacing the file durably.
void append_metrics(const std::string& run_dir, const json& epoch_metrics);
// Removes the temporaries (<run file>.tmp) a process killed mid-write left behind: the files they
// were to replace are intact, so the temporaries are garbage.
void remove_stale_temporaries(const std::string& run_dir);
// The epochs recorded so far; an incomplete last line (a crash mid-append) is dropped with a warning.
std::vector<json> read_metrics(const std::string& run_dir);
// Drops lines of epochs after `max_epoch` (written after the checkpoint a run resumes from) and an
// incomplete last line.
void truncate_metrics(const std::string& run_dir, int64_t max_epoch);

}  // namespace lpt
