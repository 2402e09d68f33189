#pragma once
// manifest.json: what produced a run — commit, compiler and flags, oneDNN version and ISA, the
// implementation oneDNN chose for each primitive, threads — so results can be traced and compared.
#include "experiments/schema.h"

namespace lpt {
json make_manifest(int threads);
}  // namespace lpt
