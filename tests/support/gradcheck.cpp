#include "tests/support/gradcheck.h"

#include <cmath>
#include <sstream>

#include "core/philox.h"

namespace lpt::testing {

Tensor random_tensor(const Shape& shape, uint64_t seed, float lo, float hi, MemoryFormat mf) {
  Tensor t = Tensor::empty(shape);
  RandomStream rs(seed, 0x7e57);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = lo + (hi - lo) * rs.uniform(uint64_t(i));
  return t.to(mf);
}

namespace {
double weighted_sum(const Tensor& y, const std::vector<double>& r) {
  const std::vector<float> v = y.to_vector();
  double s = 0;
  for (size_t i = 0; i < v.size(); ++i) s += r[i] * double(v[i]);
  return s;
}

// A perturbable copy of an input: the element at logical index i of a tensor in any layout.
float& element(Tensor& t, int64_t logical) {
  int64_t off = 0;
  for (int d = t.ndim() - 1; d >= 0; --d) {
    off += (logical % t.shape()[d]) * t.strides()[d];
    logical /= t.shape()[d];
  }
  return t.data<float>()[off];
}
}  // namespace

::testing::AssertionResult gradcheck(const std::function<Variable(const std::vector<Variable>&)>& f,
                                     const std::vector<Tensor>& inputs, const GradcheckOptions& opt) {
  std::vector<Tensor> xs;
  for (const Tensor& t : inputs) xs.push_back(t.clone());
  std::vector<Variable> vars;
  for (size_t i = 0; i < xs.size(); ++i) {
    const bool check = opt.check.empty() || opt.check[i];
    vars.emplace_back(xs[i], check, "input" + std::to_string(i));
  }
  Variable y = f(vars);
  std::vector<double> r(size_t(y.data().numel()));
  RandomStream rs(12345, 0xfeed);
  for (size_t j = 0; j < r.size(); ++j) r[j] = 0.5 + rs.uniform(j);  // in [0.5, 1.5): no cancellation
  std::vector<float> rf(r.begin(), r.end());
  y.backward(Tensor::from_vector(y.data().shape(), rf).to(y.data().is_channels_last() ? MemoryFormat::channels_last
                                                                                        : MemoryFormat::contiguous));

  std::ostringstream failures;
  int nfail = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    if (!vars[i].requires_grad()) continue;
    if (!vars[i].has_grad()) return ::testing::AssertionFailure() << "input " << i << " received no gradient";
    const std::vector<float> analytic = vars[i].grad().to_vector();
    for (int64_t k = 0; k < xs[i].numel(); ++k) {
      float& x = element(xs[i], k);
      const float x0 = x;
      double lp, lm;
      {
        NoGradGuard ng;
        x = float(x0 + opt.eps);
        lp = weighted_sum(f(vars).data(), r);
        x = float(x0 - opt.eps);
        lm = weighted_sum(f(vars).data(), r);
      }
      x = x0;
      const double numeric = (lp - lm) / (2 * opt.eps);
      const double diff = std::fabs(numeric - analytic[size_t(k)]);
      if (diff > opt.atol + opt.rtol * std::fabs(numeric)) {
        if (nfail++ < 5)
          failures << "input " << i << " element " << k << ": analytic " << analytic[size_t(k)] << " numeric "
                   << numeric << "\n";
      }
    }
  }
  if (nfail) return ::testing::AssertionFailure() << nfail << " gradient mismatches:\n" << failures.str();
  return ::testing::AssertionSuccess();
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  const std::vector<float> va = a.to_vector(), vb = b.to_vector();
  double m = 0;
  for (size_t i = 0; i < va.size(); ++i) m = std::max(m, double(std::fabs(va[i] - vb[i])));
  return m;
}

}  // namespace lpt::testing
