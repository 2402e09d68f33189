#include "core/ops/loss.h"

#include <cmath>

namespace lpt::ops {

// Below this many logits (CIFAR's [128, 10]) a row loop takes a few microseconds, less than
// waking the other threads costs.
constexpr int64_t kMinParallelElements = 1 << 15;

void softmax_cross_entropy_forward(float* losses, float* probs, const float* logits, const int32_t* labels,
                                   int64_t N, int64_t K, float smoothing) {
#pragma omp parallel for schedule(static) if (N * K >= kMinParallelElements)
  for (int64_t n = 0; n < N; ++n) {
    const float* z = logits + n * K;
    float* p = probs + n * K;
    float max = z[0];
    for (int64_t k = 1; k < K; ++k) max = std::fmax(max, z[k]);
    float sum_exp = 0.0f, sum_shifted = 0.0f;
    for (int64_t k = 0; k < K; ++k) {
      p[k] = std::exp(z[k] - max);
      sum_exp += p[k];
      sum_shifted += z[k] - max;
    }
    const float log_sum_exp = std::log(sum_exp);  // of the shifted logits
    for (int64_t k = 0; k < K; ++k) p[k] /= sum_exp;
    // Σ_k t_k (lse - z_k) with Σ_k t_k = 1, in shifted logits.
    losses[n] = log_sum_exp - (1.0f - smoothing) * (z[labels[n]] - max) - smoothing / float(K) * sum_shifted;
  }
}

void softmax_cross_entropy_backward(float* dlogits, const float* probs, const int32_t* labels,
                                    float dloss_per_sample, int64_t N, int64_t K, float smoothing) {
  const float uniform_target = smoothing / float(K);
#pragma omp parallel for schedule(static) if (N * K >= kMinParallelElements)
  for (int64_t n = 0; n < N; ++n) {
    const float* p = probs + n * K;
    float* d = dlogits + n * K;
    for (int64_t k = 0; k < K; ++k) d[k] = dloss_per_sample * (p[k] - uniform_target);
    d[labels[n]] -= dloss_per_sample * (1.0f - smoothing);
  }
}

namespace {
// Checks shapes and dtypes and that every label lies in [0, K); returns labels as a contiguous buffer.
Tensor checked_labels(const char* op, const Tensor& logits, const Tensor& labels) {
  LPT_CHECK(logits.ndim() == 2 && logits.size(0) >= 1 && logits.size(1) >= 1, op, ": logits ",
            logits.describe(), " should be [N, K] with N, K >= 1");
  LPT_CHECK(logits.dtype() == DType::f32, op, ": logits ", logits.describe(), " should be f32");
  LPT_CHECK(labels.dtype() == DType::s32, op, ": labels ", labels.describe(), " should be s32");
  check_shape(op, "labels", labels, {logits.size(0)});
  const Tensor l = labels.contiguous();
  const int32_t* y = l.data<int32_t>();
  const int64_t K = logits.size(1);
  for (int64_t n = 0; n < l.numel(); ++n)
    LPT_CHECK(y[n] >= 0 && y[n] < K, op, ": label ", y[n], " at index ", n, " is outside [0, ", K, ")");
  return l;
}
}  // namespace

Variable softmax_cross_entropy(const Variable& logits, const Tensor& labels, float label_smoothing) {
  const char* op = "softmax_cross_entropy";
  const Tensor y = checked_labels(op, logits.data(), labels);
  LPT_CHECK(label_smoothing >= 0.0f && label_smoothing <= 1.0f, op, ": label_smoothing ", label_smoothing,
            " is outside [0, 1]");
  const Tensor z = logits.data().contiguous();
  const int64_t N = z.size(0), K = z.size(1);
  Tensor losses = Tensor::empty({N});
  Tensor probs = Tensor::empty({N, K});
  softmax_cross_entropy_forward(losses.data<float>(), probs.data<float>(), z.data<float>(), y.data<int32_t>(),
                                N, K, label_smoothing);
  // The mean in a fixed order (and in double): the same value for any thread count.
  double sum = 0.0;
  for (int64_t n = 0; n < N; ++n) sum += losses.data<float>()[n];
  Tensor out = Tensor::full({}, float(sum / double(N)));
  return make_result(out, op, {logits}, [probs, y, label_smoothing](std::vector<Variable>& inputs, const Tensor& dout) {
    const int64_t N = probs.size(0), K = probs.size(1);
    Tensor dlogits = Tensor::empty({N, K});
    softmax_cross_entropy_backward(dlogits.data<float>(), probs.data<float>(), y.data<int32_t>(),
                                   dout.item() / float(N), N, K, label_smoothing);
    inputs[0].accumulate_grad(dlogits);
  });
}

int64_t count_correct(const Tensor& logits, const Tensor& labels) {
  const Tensor y = checked_labels("count_correct", logits, labels);
  const Tensor z = logits.contiguous();
  const float* pz = z.data<float>();
  const int32_t* py = y.data<int32_t>();
  const int64_t N = z.size(0), K = z.size(1);
  int64_t correct = 0;
#pragma omp parallel for schedule(static) reduction(+ : correct) if (N * K >= kMinParallelElements)
  for (int64_t n = 0; n < N; ++n) {
    const float* row = pz + n * K;
    int64_t best = 0;
    for (int64_t k = 1; k < K; ++k)
      if (row[k] > row[best]) best = k;  // strict: ties keep the lowest index
    correct += best == py[n];
  }
  return correct;
}

}  // namespace lpt::ops
