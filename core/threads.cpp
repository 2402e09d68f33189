#include "core/threads.h"

#include <omp.h>

#include "core/error.h"

namespace lpt {
void set_num_threads(int n) {
  LPT_CHECK(n >= 1, "threads must be at least 1, got ", n);
  omp_set_num_threads(n);
}
int num_threads() { return omp_get_max_threads(); }
}  // namespace lpt
