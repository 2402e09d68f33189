#pragma once
// The thread count used by OpenMP kernels and oneDNN (which runs on the same OpenMP runtime).
namespace lpt {
void set_num_threads(int n);
int num_threads();
}  // namespace lpt
