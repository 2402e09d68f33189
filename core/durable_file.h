#pragma once
// Replacing a file so that a crash, a power loss or a full disk never leaves a broken file in
// its place: write `path`.tmp, check every write and the close, fsync the file, rename it over
// `path`, fsync the directory. Any failure before the rename removes the temporary and leaves the
// previous `path` untouched; the error names the file and the step that failed.
//
// A test seam makes the next operation at a chosen stage fail as a full disk would (ENOSPC). It
// sits on the one code path every durable write takes, so a test of it cannot be skipped.
#include <string>
#include <string_view>

namespace lpt::durable {

enum class Stage { create, write, close, sync, rename, sync_directory };
const char* stage_name(Stage stage);

// The next operation at `stage` (any file) fails with ENOSPC; one-shot.
void inject_failure(Stage stage);
// Throws, naming `path` and the stage, when a failure is injected for `stage` (and clears it).
void check_injected(Stage stage, const std::string& path);

// `tmp` (written and closed) → fsync → rename over `path` → fsync of path's directory.
void commit(const std::string& tmp, const std::string& path);

// Replaces `path` with `text` as above.
void write_text(const std::string& path, std::string_view text);

}  // namespace lpt::durable
