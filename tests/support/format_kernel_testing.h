#pragma once
// Helpers shared by the element-format kernel tests (HBFP, LNS, minifloat, MX): buffer layouts,
// rounding options, bitwise comparison, reference-loop blocks, test data and statistics on raw
// float vectors.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/threads.h"
#include "formats/quantize_options.h"

namespace lpt::formats::testing {

// [outer, len, inner] in memory order with runs along len and one group.
BufferLayout layout(int64_t outer, int64_t len, int64_t inner);
BufferLayout flat(int64_t n);

QuantizeOptions nearest();
// Stochastic rounding keyed by (seed, step, stable_hash(tensor_key)).
QuantizeOptions stochastic_rounding(const char* tensor_key, uint64_t seed, uint64_t step = 0);

// A format's fake-quantization kernel (hbfp_quantize, lns_quantize, ...).
template <class Params>
using QuantizeKernel = void (*)(const Params&, const float*, float*, const BufferLayout&, const QuantizeOptions&);

// y = kernel(p, x) over layout l (default: flat, rounding to nearest), into a new vector.
template <class Params>
std::vector<float> quantized(QuantizeKernel<Params> kernel, const Params& p, const std::vector<float>& x,
                             const BufferLayout& l, const QuantizeOptions& o) {
  std::vector<float> y(x.size());
  kernel(p, x.data(), y.data(), l, o);
  return y;
}
template <class Params>
std::vector<float> quantized(QuantizeKernel<Params> kernel, const Params& p, const std::vector<float>& x) {
  return quantized(kernel, p, x, flat(int64_t(x.size())), nearest());
}

// Same size and bit-identical elements (−0 and +0 differ).
::testing::AssertionResult same_bits(const std::vector<float>& a, const std::vector<float>& b);

// The element indices of each block of `block_size` along the runs of g (the last block of a run
// may be shorter), for naive reference loops.
std::vector<std::vector<size_t>> blocks_of(const RunGeometry& g, int64_t block_size);

// Values spread over binades [−max_binade, max_binade], the binade drawn anew every `period`
// elements; each element is, by a draw from 0..kinds: 0 → zero, 1 → a power of two
// 2^(binade/pow2_divisor)·scale, 2 → (binade + 0.5)·scale/tie_divisor (often a tie), else normal·scale.
struct BinadeSpread {
  int max_binade;
  int kinds;
  size_t period;
  int pow2_divisor;
  float tie_divisor;
};
std::vector<float> binade_spread(size_t n, uint64_t seed, const BinadeSpread& s);

// −x elementwise.
std::vector<float> negated(const std::vector<float>& x);
// yn[i] == −y[i] for every i (sign symmetry: Q(−x) = −Q(x)).
::testing::AssertionResult sign_symmetric(const std::vector<float>& y, const std::vector<float>& yn);
// Over elements [begin, end): sorting the inputs sorts the outputs.
::testing::AssertionResult monotone(const std::vector<float>& x, const std::vector<float>& y, size_t begin = 0,
                                    size_t end = SIZE_MAX);

// [outer, a, b] → [outer, b, a] in memory order.
std::vector<float> swap_inner_axes(const std::vector<float>& x, int64_t outer, int64_t a, int64_t b);

// y[i] − x[i] for every i, except the first element of each block of `block` (0: no blocks).
std::vector<double> rounding_errors(const std::vector<float>& x, const std::vector<float>& y, size_t block = 0);
// mean / standard error of the errors: |z| < 5 for an unbiased rounding over many samples.
double z_score(const std::vector<double>& err);

// f() run with n threads; the previous thread count is restored afterwards.
template <class F>
auto with_threads(int n, F&& f) {
  struct Restore {
    int saved = num_threads();
    ~Restore() { set_num_threads(saved); }
  } restore;
  set_num_threads(n);
  return f();
}

// f() throws lpt::Error and its message contains `name`.
template <class F>
::testing::AssertionResult throws_naming(F&& f, const std::string& name) {
  try {
    f();
  } catch (const Error& e) {
    if (std::string(e.what()).find(name) != std::string::npos) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "error does not name " << name << ": " << e.what();
  }
  return ::testing::AssertionFailure() << "no error";
}

}  // namespace lpt::formats::testing
