#include "core/ops/batch_norm.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cmath>
#include <memory>
#include <vector>

#include "core/cpu.h"
#include "core/elementwise.h"

namespace lpt::ops {

namespace {

// ---- row kernels ----------------------------------------------------------------------------------
// Each works on rows [r0, r1) of C channels. Sums go to per-channel double accumulators, one
// conversion and one add or FMA per value: what keeps cancellation out of the statistics and the
// backward's reductions. The elementwise passes compute in double too and round once: with the
// output rounded after three float operations instead, ResNet-20's one-step gradient error against
// fp64 (experiments/bench/one_step_error_torch.py) was 4× larger; AVX-512 keeps them as fast as
// oneDNN's float kernels.

// acc1 += x − shift, acc2 += (x − shift)², in double.
inline void shifted_sums(const float* __restrict x, int64_t C, int64_t r0, int64_t r1, const double* __restrict shift,
                         double* __restrict acc1, double* __restrict acc2) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* __restrict xr = x + r * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) {
      const double d = double(xr[c]) - shift[c];
      acc1[c] += d;
      acc2[c] += d * d;
    }
  }
}

// The gradient at the batch norm's output: dy, zero where the fused ReLU's output was not positive.
// A bit mask rather than a select: GCC vectorizes the mask where it gives up on the select.
template <bool Relu>
inline float output_grad(float dy, float y) {
  if constexpr (!Relu) return dy;
  const uint32_t keep = y > 0.0f ? ~0u : 0u;
  return std::bit_cast<float>(std::bit_cast<uint32_t>(dy) & keep);
}

// acc1 += g, acc2 += g·(x − mean) in double (g: output_grad).
template <bool Relu>
inline void gradient_sums(const float* __restrict x, const float* __restrict dy, const float* __restrict y, int64_t C,
                          int64_t r0, int64_t r1, const double* __restrict mean, double* __restrict acc1,
                          double* __restrict acc2) {
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t row = r * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) {
      const double g = output_grad<Relu>(dy[row + c], Relu ? y[row + c] : 0.0f);
      acc1[c] += g;
      acc2[c] += g * (double(x[row + c]) - mean[c]);
    }
  }
}

// Per-channel constants of the elementwise passes, in double.
struct ChannelDoubles {
  std::vector<double> mean, a, b, k;
};

// y = (x − mean)·a + b in double, rounded once, then the ReLU (NaN passes).
template <bool Relu>
inline void normalise_rows(const float* __restrict x, float* __restrict y, int64_t C, int64_t r0, int64_t r1,
                           const ChannelDoubles& f) {
  const double *__restrict mean = f.mean.data(), *__restrict a = f.a.data(), *__restrict b = f.b.data();
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t row = r * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) {
      const float v = float((double(x[row + c]) - mean[c]) * a[c] + b[c]);
      y[row + c] = Relu && v < 0.0f ? 0.0f : v;
    }
  }
}

// dx = a·g − b − k·(x − mean), rounded once.
template <bool Relu>
inline void input_gradient_rows(const float* __restrict x, const float* __restrict dy, const float* __restrict y,
                                float* __restrict dx, int64_t C, int64_t r0, int64_t r1, const ChannelDoubles& f) {
  const double *__restrict mean = f.mean.data(), *__restrict a = f.a.data(), *__restrict b = f.b.data(),
               *__restrict k = f.k.data();
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t row = r * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) {
      const double g = output_grad<Relu>(dy[row + c], Relu ? y[row + c] : 0.0f);
      dx[row + c] = float(a[c] * g - b[c] - k[c] * (double(x[row + c]) - mean[c]));
    }
  }
}

// The same kernels compiled for AVX-512 (eight doubles per register), chosen at run time.
#define LPT_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"), flatten))
LPT_AVX512 void shifted_sums_avx512(const float* x, int64_t C, int64_t r0, int64_t r1, const double* shift,
                                    double* acc1, double* acc2) {
  shifted_sums(x, C, r0, r1, shift, acc1, acc2);
}
template <bool Relu>
LPT_AVX512 void gradient_sums_avx512(const float* x, const float* dy, const float* y, int64_t C, int64_t r0,
                                     int64_t r1, const double* mean, double* acc1, double* acc2) {
  gradient_sums<Relu>(x, dy, y, C, r0, r1, mean, acc1, acc2);
}
template <bool Relu>
LPT_AVX512 void normalise_rows_avx512(const float* x, float* y, int64_t C, int64_t r0, int64_t r1,
                                      const ChannelDoubles& f) {
  normalise_rows<Relu>(x, y, C, r0, r1, f);
}
template <bool Relu>
LPT_AVX512 void input_gradient_rows_avx512(const float* x, const float* dy, const float* y, float* dx, int64_t C,
                                           int64_t r0, int64_t r1, const ChannelDoubles& f) {
  input_gradient_rows<Relu>(x, dy, y, dx, C, r0, r1, f);
}
#undef LPT_AVX512

// ---- passes -----------------------------------------------------------------------------------

// Rows per chunk of the per-channel sums: a constant, so that the order of the additions (rows
// within a chunk, then the chunks) does not depend on the thread count.
constexpr int64_t kChunkRows = 256;

// sums[0..2C) = two per-channel sums over the m rows: add_rows(r0, r1, acc1, acc2) adds rows
// [r0, r1) into acc1[0..C) and acc2[0..C).
template <class AddRows>
void channel_sums(int64_t m, int64_t C, double* sums, const AddRows& add_rows) {
  const int64_t chunks = (m + kChunkRows - 1) / kChunkRows;
  std::vector<double> partial(static_cast<size_t>(chunks * 2 * C), 0.0);
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < chunks; ++k) {
    double* acc = partial.data() + k * 2 * C;
    add_rows(k * kChunkRows, std::min(m, (k + 1) * kChunkRows), acc, acc + C);
  }
  std::fill(sums, sums + 2 * C, 0.0);
  for (int64_t k = 0; k < chunks; ++k) {
    const double* p = partial.data() + k * 2 * C;
#pragma omp simd
    for (int64_t i = 0; i < 2 * C; ++i) sums[i] += p[i];
  }
}

// Runs rows(r0, r1) over the m rows, in parallel.
template <class Rows>
void for_rows(int64_t m, const Rows& rows) {
  constexpr int64_t kBlock = 64;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < m; r += kBlock) rows(r, std::min(m, r + kBlock));
}

// What the backward needs from the forward.
struct Saved {
  Tensor in;   // channels-last: m rows of C values
  Tensor out;  // kept with the fused ReLU only: its sign is the ReLU's mask
  Tensor gamma;
  std::vector<double> mean, invstd;  // the statistics the output was normalised with
  double count = 0;                  // values per channel (over all processes)
  bool batch_stats = true;           // training: mean and invstd depend on x
  bool relu = false;
  ProcessSum sum;  // empty: one process
};

void check_channel_vector(const char* what, const Tensor& t, int64_t C, const Shape& x_shape) {
  LPT_CHECK(t.defined(), "batch_norm2d: ", what, " is undefined (input ", shape_str(x_shape), ")");
  LPT_CHECK(t.dtype() == DType::f32 && t.shape() == Shape{C} && t.is_contiguous(), "batch_norm2d: ", what, " is ",
            t.describe(), ", expected contiguous f32[", C, "] for input ", shape_str(x_shape));
}

// The batch's mean and biased variance over all processes, in one pass over x: each process sums
// x − shift and its square (shift: its first row, near the mean), which gives its own mean and
// sum of squared deviations; processes combine them as Chan et al.'s parallel variance does
// (M2 = Σ M2_p + Σ n_p·(mean_p − mean)²). Sets s.count, s.mean, s.invstd; returns the variance.
std::vector<double> batch_statistics(Saved& s, float eps) {
  const int64_t C = s.in.size(1), m = s.in.numel() / C;
  const float* x = s.in.data<float>();
  std::vector<double> shift(static_cast<size_t>(C), 0.0);
  if (m > 0) shift.assign(x, x + C);
  std::vector<double> sums(static_cast<size_t>(2 * C));
  const bool avx512 = cpu_has_avx512();
  channel_sums(m, C, sums.data(), [&](int64_t r0, int64_t r1, double* acc1, double* acc2) {
    avx512 ? shifted_sums_avx512(x, C, r0, r1, shift.data(), acc1, acc2)
           : shifted_sums(x, C, r0, r1, shift.data(), acc1, acc2);
  });
  const double n = double(m);
  std::vector<double> own_mean(static_cast<size_t>(C)), m2(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) {
    const double s1 = sums[size_t(c)];
    own_mean[size_t(c)] = shift[size_t(c)] + s1 / n;
    m2[size_t(c)] = std::max(0.0, sums[size_t(C + c)] - s1 * s1 / n);
  }
  s.count = n;
  s.mean = own_mean;
  if (s.sum) {
    std::vector<double> total(static_cast<size_t>(C + 1));
    for (int64_t c = 0; c < C; ++c) total[size_t(c)] = n * own_mean[size_t(c)];
    total[size_t(C)] = n;
    s.sum(total.data(), C + 1);
    s.count = total[size_t(C)];
    for (int64_t c = 0; c < C; ++c) {
      s.mean[size_t(c)] = total[size_t(c)] / s.count;
      const double d = own_mean[size_t(c)] - s.mean[size_t(c)];
      m2[size_t(c)] += n * d * d;
    }
    s.sum(m2.data(), C);
  }
  s.invstd.resize(size_t(C));
  for (int64_t c = 0; c < C; ++c) {
    m2[size_t(c)] /= s.count;  // the biased variance, for the normalisation
    s.invstd[size_t(c)] = 1.0 / std::sqrt(m2[size_t(c)] + double(eps));
  }
  return m2;
}

// running = (1 - momentum)·running + momentum·batch, with the unbiased variance in running_var:
// PyTorch's update, in double as PyTorch's CPU kernel does it.
void update_running_stats(const Saved& s, const std::vector<double>& var_biased, double momentum, Tensor& running_mean,
                          Tensor& running_var) {
  const double unbias = s.count / (s.count - 1);
  float* rm = running_mean.data<float>();
  float* rv = running_var.data<float>();
  for (size_t c = 0; c < s.mean.size(); ++c) {
    rm[c] = float(momentum * s.mean[c] + (1.0 - momentum) * rm[c]);
    rv[c] = float(momentum * (var_biased[c] * unbias) + (1.0 - momentum) * rv[c]);
  }
}

// y = (x − mean)·gamma·invstd + beta, then the ReLU when fused.
void normalise(const Saved& s, const float* beta, float* y) {
  const int64_t C = s.in.size(1), m = s.in.numel() / C;
  const float* x = s.in.data<float>();
  const float* gamma = s.gamma.data<float>();
  ChannelDoubles f;
  f.mean = s.mean;
  for (int64_t c = 0; c < C; ++c) {
    f.a.push_back(double(gamma[c]) * s.invstd[size_t(c)]);
    f.b.push_back(double(beta[c]));
  }
  const bool avx512 = cpu_has_avx512();
  for_rows(m, [&](int64_t r0, int64_t r1) {
    if (s.relu)
      avx512 ? normalise_rows_avx512<true>(x, y, C, r0, r1, f) : normalise_rows<true>(x, y, C, r0, r1, f);
    else
      avx512 ? normalise_rows_avx512<false>(x, y, C, r0, r1, f) : normalise_rows<false>(x, y, C, r0, r1, f);
  });
}

// Σg and Σg·(x − mean) per channel into sums[0..C) and sums[C..2C).
void output_gradient_sums(const Saved& s, const float* dy, double* sums) {
  const int64_t C = s.in.size(1), m = s.in.numel() / C;
  const float* x = s.in.data<float>();
  const float* y = s.relu ? s.out.data<float>() : nullptr;
  const double* mean = s.mean.data();
  const bool avx512 = cpu_has_avx512();
  channel_sums(m, C, sums, [&](int64_t r0, int64_t r1, double* acc1, double* acc2) {
    if (s.relu)
      avx512 ? gradient_sums_avx512<true>(x, dy, y, C, r0, r1, mean, acc1, acc2)
             : gradient_sums<true>(x, dy, y, C, r0, r1, mean, acc1, acc2);
    else
      avx512 ? gradient_sums_avx512<false>(x, dy, y, C, r0, r1, mean, acc1, acc2)
             : gradient_sums<false>(x, dy, y, C, r0, r1, mean, acc1, acc2);
  });
}

// dx = gamma·invstd·(g − Σg/n − x̂·Σg·x̂/n) with batch statistics, gamma·invstd·g with fixed ones;
// `sums` as output_gradient_sums gives them (over all processes).
void input_gradient(const Saved& s, const float* dy, const double* sums, float* dx) {
  const int64_t C = s.in.size(1), m = s.in.numel() / C;
  const float* x = s.in.data<float>();
  const float* y = s.relu ? s.out.data<float>() : nullptr;
  const float* gamma = s.gamma.data<float>();
  ChannelDoubles f;  // dx = a·g − b − k·(x − mean)
  f.mean = s.mean;
  for (int64_t c = 0; c < C; ++c) {
    const double invstd = s.invstd[size_t(c)], a = double(gamma[c]) * invstd;
    f.a.push_back(a);
    f.b.push_back(s.batch_stats ? a * sums[c] / s.count : 0.0);
    f.k.push_back(s.batch_stats ? a * invstd * invstd * sums[C + c] / s.count : 0.0);
  }
  const bool avx512 = cpu_has_avx512();
  for_rows(m, [&](int64_t r0, int64_t r1) {
    if (s.relu)
      avx512 ? input_gradient_rows_avx512<true>(x, dy, y, dx, C, r0, r1, f)
             : input_gradient_rows<true>(x, dy, y, dx, C, r0, r1, f);
    else
      avx512 ? input_gradient_rows_avx512<false>(x, dy, y, dx, C, r0, r1, f)
             : input_gradient_rows<false>(x, dy, y, dx, C, r0, r1, f);
  });
}

void backward(const Saved& s, std::vector<Variable>& inputs, const Tensor& dout) {
  const Tensor dy_t = like_layout(dout, s.in);
  const float* dy = dy_t.data<float>();
  const int64_t C = s.in.size(1);
  std::vector<double> sums(static_cast<size_t>(2 * C));
  output_gradient_sums(s, dy, sums.data());
  if (inputs[1].requires_grad() || inputs[2].requires_grad()) {
    Tensor dgamma = Tensor::empty({C}), dbeta = Tensor::empty({C});
    for (int64_t c = 0; c < C; ++c) {
      dbeta.data<float>()[c] = float(sums[size_t(c)]);
      dgamma.data<float>()[c] = float(sums[size_t(C + c)] * s.invstd[size_t(c)]);
    }
    if (inputs[1].requires_grad()) inputs[1].accumulate_grad(dgamma);
    if (inputs[2].requires_grad()) inputs[2].accumulate_grad(dbeta);
  }
  if (!inputs[0].requires_grad()) return;
  if (s.batch_stats && s.sum) s.sum(sums.data(), 2 * C);  // the global sums, for dx
  Tensor dx = Tensor::empty_like(s.in);
  input_gradient(s, dy, sums.data(), dx.data<float>());
  inputs[0].accumulate_grad(dx);
}

}  // namespace

Variable batch_norm2d(const Variable& x, const Variable& weight, const Variable& bias, Tensor& running_mean,
                      Tensor& running_var, const BatchNormParams& p, const ProcessSum& sum) {
  const Shape& shape = x.shape();
  LPT_CHECK(shape.size() == 4 && x.data().dtype() == DType::f32, "batch_norm2d: input is ", x.data().describe(),
            ", expected f32 [N, C, H, W]");
  const int64_t C = shape[1];
  LPT_CHECK(weight.defined() && bias.defined(), "batch_norm2d: weight and bias are required (input ", shape_str(shape),
            ")");
  check_channel_vector("weight", weight.data(), C, shape);
  check_channel_vector("bias", bias.data(), C, shape);
  check_channel_vector("running_mean", running_mean, C, shape);
  check_channel_vector("running_var", running_var, C, shape);

  auto s = std::make_shared<Saved>();
  s->in = x.data().to(MemoryFormat::channels_last);
  s->gamma = weight.data();
  s->batch_stats = p.training;
  s->relu = p.fuse_relu;
  if (p.training) {
    s->sum = sum;
    const std::vector<double> var = batch_statistics(*s, p.eps);
    LPT_CHECK(s->count > 1, "batch_norm2d: training needs more than one value per channel, input is ",
              shape_str(shape));
    update_running_stats(*s, var, p.momentum, running_mean, running_var);
  } else {
    const float *rm = running_mean.data<float>(), *rv = running_var.data<float>();
    for (int64_t c = 0; c < C; ++c) {
      s->mean.push_back(double(rm[c]));
      s->invstd.push_back(1.0 / std::sqrt(double(rv[c]) + double(p.eps)));
    }
  }

  Tensor out = Tensor::empty(shape, DType::f32, MemoryFormat::channels_last);
  normalise(*s, bias.data().data<float>(), out.data<float>());
  if (p.fuse_relu) s->out = out;

  return make_result(out, "batch_norm2d", {x, weight, bias},
                     [s](std::vector<Variable>& inputs, const Tensor& dout) { backward(*s, inputs, dout); });
}

}  // namespace lpt::ops
