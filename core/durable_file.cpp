#include "core/durable_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace lpt::durable {

namespace {

std::atomic<int> injected{-1};

[[noreturn]] void fail_errno(Stage stage, const std::string& path, int err) {
  fail("writing '", path, "' failed at ", stage_name(stage), ": ", std::strerror(err),
       err == ENOSPC ? " (disk full)" : "");
}

// fsync of a file or directory, its errors reported as failures of `stage`.
void sync_path(const std::string& path, Stage stage, int flags) {
  check_injected(stage, path);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | flags);
  if (fd < 0) fail_errno(stage, path, errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) fail_errno(stage, path, err);
}

}  // namespace

const char* stage_name(Stage stage) {
  switch (stage) {
    case Stage::create: return "create";
    case Stage::write: return "write";
    case Stage::close: return "close";
    case Stage::sync: return "fsync";
    case Stage::rename: return "rename";
    case Stage::sync_directory: return "fsync of the directory";
  }
  return "?";
}

void inject_failure(Stage stage) { injected = int(stage); }

void check_injected(Stage stage, const std::string& path) {
  int expected = int(stage);
  if (injected.compare_exchange_strong(expected, -1)) fail_errno(stage, path, ENOSPC);
}

void commit(const std::string& tmp, const std::string& path) {
  sync_path(tmp, Stage::sync, 0);
  check_injected(Stage::rename, path);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail_errno(Stage::rename, path, errno);
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  sync_path(dir.empty() ? "." : dir.string(), Stage::sync_directory, O_DIRECTORY);
}

void write_text(const std::string& path, std::string_view text) {
  const std::string tmp = path + ".tmp";
  try {
    check_injected(Stage::create, tmp);
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) fail_errno(Stage::create, tmp, errno);
    const bool written = std::fwrite(text.data(), 1, text.size(), f) == text.size();
    const int write_err = errno;
    if (!written || std::fflush(f) != 0) {
      const int err = written ? errno : write_err;
      std::fclose(f);
      fail_errno(Stage::write, tmp, err);
    }
    try {
      check_injected(Stage::write, tmp);
      check_injected(Stage::close, tmp);
    } catch (...) {
      std::fclose(f);
      throw;
    }
    if (std::fclose(f) != 0) fail_errno(Stage::close, tmp, errno);
    commit(tmp, path);
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
}

}  // namespace lpt::durable
