// One libFuzzer binary per harness: compiled once per entry point of harnesses.h, named by
// LPT_FUZZ_ENTRY (tests/fuzz/CMakeLists.txt).
#include "tests/fuzz/harnesses.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  LPT_FUZZ_ENTRY(data, size);
  return 0;
}
