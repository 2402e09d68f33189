// The fuzzed readers' committed inputs (tests/fuzz): every seed is accepted by its reader (so
// fuzzing starts from the readers' success paths, and a reader change that breaks a seed shows),
// and every input fuzzing ever crashed on (tests/fuzz/regressions/<harness>/) now ends cleanly,
// accepted or rejected with lpt::Error. Under the sanitizer pass these run with ASan and UBSan too.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "tests/fuzz/harnesses.h"

namespace lpt::fuzz {
namespace {

namespace fs = std::filesystem;

std::vector<uint8_t> bytes_of(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// The seed directories of a harness: its committed corpus, and for configs the shipped ones.
std::vector<fs::path> seed_dirs(const std::string& name) {
  const fs::path src = LPT_SOURCE_DIR;
  std::vector<fs::path> dirs;
  if (fs::is_directory(src / "tests/fuzz/corpus" / name)) dirs.push_back(src / "tests/fuzz/corpus" / name);
  if (name == "config") dirs.push_back(src / "experiments/configs");
  return dirs;
}

TEST(FuzzInputs, EverySeedIsAccepted) {
  for (const Harness& h : harnesses()) {
    int seeds = 0;
    for (const fs::path& dir : seed_dirs(h.name))
      for (const auto& e : fs::directory_iterator(dir)) {
        const std::vector<uint8_t> b = bytes_of(e.path());
        EXPECT_TRUE(h.run(b.data(), b.size())) << h.name << ": seed " << e.path() << " was rejected";
        ++seeds;
      }
    EXPECT_GT(seeds, 0) << h.name << " has no seeds";
  }
}

TEST(FuzzInputs, EveryRegressionInputEndsCleanly) {
  const fs::path dir = fs::path(LPT_SOURCE_DIR) / "tests/fuzz/regressions";
  int inputs = 0;
  for (const Harness& h : harnesses()) {
    if (!fs::is_directory(dir / h.name)) continue;
    for (const auto& e : fs::directory_iterator(dir / h.name)) {
      SCOPED_TRACE(e.path().string());
      const std::vector<uint8_t> b = bytes_of(e.path());
      h.run(b.data(), b.size());  // accepted or rejected; a crash or another exception fails the test
      ++inputs;
    }
  }
  EXPECT_GT(inputs, 0);
}

}  // namespace
}  // namespace lpt::fuzz
