#include "core/ops/sync_batch_norm.h"

#include <cmath>
#include <memory>
#include <vector>

#include "core/elementwise.h"

namespace lpt::ops {

namespace {

// sums[c] = Σ over the m rows of f(row, c): each channel summed in row order by one thread, so the
// result does not depend on the thread count.
template <class F>
void channel_sums(int64_t m, int64_t C, double* sums, const F& f) {
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < C; ++c) {
    double s = 0;
    for (int64_t r = 0; r < m; ++r) s += f(r, c);
    sums[c] = s;
  }
}

struct SyncSaved {
  Tensor in, out, gamma;
  std::vector<double> mean, invstd;
  double count = 0;  // values per channel over all processes
  bool relu = false;
  ProcessSum sum;
};

}  // namespace

Variable sync_batch_norm2d(const Variable& x, const Variable& weight, const Variable& bias, Tensor& running_mean,
                           Tensor& running_var, const BatchNormParams& p, const ProcessSum& sum) {
  const Shape& shape = x.shape();
  LPT_CHECK(p.training, "sync_batch_norm2d: training mode only");
  LPT_CHECK(shape.size() == 4 && x.data().dtype() == DType::f32, "sync_batch_norm2d: input is ", x.data().describe(),
            ", expected f32 [N, C, H, W]");
  const int64_t C = shape[1], m = shape[0] * shape[2] * shape[3];
  for (const Tensor* t : std::initializer_list<const Tensor*>{&weight.data(), &bias.data(), &running_mean, &running_var})
    LPT_CHECK(t->dtype() == DType::f32 && t->shape() == Shape{C} && t->is_contiguous(), "sync_batch_norm2d: ",
              t->describe(), " is not a contiguous f32[", C, "] for input ", shape_str(shape));

  auto s = std::make_shared<SyncSaved>();
  s->in = x.data().to(MemoryFormat::channels_last);  // rows of C channels
  s->gamma = weight.data();
  s->relu = p.fuse_relu;
  s->sum = sum;
  const float* xp = s->in.data<float>();

  std::vector<double> sums(static_cast<size_t>(C + 1));
  channel_sums(m, C, sums.data(), [&](int64_t r, int64_t c) { return double(xp[r * C + c]); });
  sums[size_t(C)] = double(m);
  sum(sums.data(), C + 1);
  s->count = sums[size_t(C)];
  LPT_CHECK(s->count > 1, "sync_batch_norm2d: training needs more than one value per channel, input is ",
            shape_str(shape));
  s->mean.resize(size_t(C));
  for (int64_t c = 0; c < C; ++c) s->mean[size_t(c)] = sums[size_t(c)] / s->count;
  std::vector<double> squares(static_cast<size_t>(C));
  const double* mean = s->mean.data();
  channel_sums(m, C, squares.data(), [&](int64_t r, int64_t c) {
    const double d = double(xp[r * C + c]) - mean[c];
    return d * d;
  });
  sum(squares.data(), C);
  s->invstd.resize(size_t(C));
  std::vector<double> var(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) {
    var[size_t(c)] = squares[size_t(c)] / s->count;  // biased, for the normalisation
    s->invstd[size_t(c)] = 1.0 / std::sqrt(var[size_t(c)] + double(p.eps));
  }

  s->out = Tensor::empty(shape, DType::f32, MemoryFormat::channels_last);
  float* yp = s->out.data<float>();
  const float* g = weight.data().data<float>();
  const float* b = bias.data().data<float>();
  const double* invstd = s->invstd.data();
  const bool relu = p.fuse_relu;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < m; ++r)
    for (int64_t c = 0; c < C; ++c) {
      const float y = float((double(xp[r * C + c]) - mean[c]) * invstd[c] * double(g[c]) + double(b[c]));
      yp[r * C + c] = relu && !(y > 0.0f) ? 0.0f : y;
    }

  // PyTorch's update with the unbiased variance over the global count, in double.
  const double unbias = s->count / (s->count - 1), mom = p.momentum;
  float* rm = running_mean.data<float>();
  float* rv = running_var.data<float>();
  for (int64_t c = 0; c < C; ++c) {
    rm[c] = float(mom * mean[c] + (1.0 - mom) * rm[c]);
    rv[c] = float(mom * (var[size_t(c)] * unbias) + (1.0 - mom) * rv[c]);
  }

  const Tensor out = s->out;
  return make_result(out, "sync_batch_norm2d", {x, weight, bias}, [s](std::vector<Variable>& inputs, const Tensor& dout) {
    const Tensor dy_t = like_layout(dout, s->in);
    const int64_t C = s->in.size(1), m = s->in.numel() / C;
    const float* dy = dy_t.data<float>();
    const float* xp = s->in.data<float>();
    const float* yp = s->out.data<float>();
    const double* mean = s->mean.data();
    const double* invstd = s->invstd.data();
    const bool relu = s->relu;
    // The gradient at the BN output: through the fused ReLU's mask.
    const auto grad = [&](int64_t i) { return relu && !(yp[i] > 0.0f) ? 0.0 : double(dy[i]); };
    std::vector<double> sums(static_cast<size_t>(2 * C));
    channel_sums(m, C, sums.data(), [&](int64_t r, int64_t c) { return grad(r * C + c); });
    channel_sums(m, C, sums.data() + C, [&](int64_t r, int64_t c) {
      return grad(r * C + c) * (double(xp[r * C + c]) - mean[c]) * invstd[c];
    });
    Tensor dgamma = Tensor::empty({C}), dbeta = Tensor::empty({C});
    for (int64_t c = 0; c < C; ++c) {
      dbeta.data<float>()[c] = float(sums[size_t(c)]);
      dgamma.data<float>()[c] = float(sums[size_t(C + c)]);
    }
    s->sum(sums.data(), 2 * C);  // the global sums, for dx
    Tensor dx = Tensor::empty_like(s->in);
    float* dxp = dx.data<float>();
    const float* g = s->gamma.data<float>();
    const double* gsums = sums.data();
    const double count = s->count;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < m; ++r)
      for (int64_t c = 0; c < C; ++c) {
        const int64_t i = r * C + c;
        const double xhat = (double(xp[i]) - mean[c]) * invstd[c];
        dxp[i] = float(double(g[c]) * invstd[c] * (grad(i) - gsums[c] / count - xhat * gsums[C + c] / count));
      }
    if (inputs[0].requires_grad()) inputs[0].accumulate_grad(dx);
    if (inputs[1].requires_grad()) inputs[1].accumulate_grad(dgamma);
    if (inputs[2].requires_grad()) inputs[2].accumulate_grad(dbeta);
  });
}

}  // namespace lpt::ops
