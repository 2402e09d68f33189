// One libFuzzer binary per harness: compiled once per entry point of harnesses.h, named by
// LPT_FUZZ_ENTRY (tests/fuzz/CMakeLists.txt).
#include "core/hdf5.h"
#include "tests/fuzz/harnesses.h"

// HDF5 files are read in-process (h5::set_child_check): the harnesses exercise lpt's own readers
// at full speed, and a crash inside the HDF5 library shows as a finding.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  lpt::h5::set_child_check(false);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  LPT_FUZZ_ENTRY(data, size);
  return 0;
}
