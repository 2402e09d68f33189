#pragma once
// Softmax cross-entropy over class logits, PyTorch's F.cross_entropy with mean reduction and
// label smoothing: per sample, loss = Σ_k t_k · (logsumexp(z) - z_k) with the target
// t = (1-ε)·onehot(label) + ε/K, computed stably by subtracting each row's maximum.
#include "core/autograd.h"

namespace lpt::ops {

// logits [N, K] row-major, labels in [0, K). Writes each sample's loss and its softmax
// probabilities (kept for the backward pass).
void softmax_cross_entropy_forward(float* losses, float* probs, const float* logits, const int32_t* labels,
                                   int64_t N, int64_t K, float smoothing);
// dlogits = dloss_per_sample · (probs - t), where dloss_per_sample is d(mean loss)/N.
void softmax_cross_entropy_backward(float* dlogits, const float* probs, const int32_t* labels,
                                    float dloss_per_sample, int64_t N, int64_t K, float smoothing);

// The batch mean as a one-element (0-d) tensor. logits: f32 [N, K]; labels: s32 [N].
Variable softmax_cross_entropy(const Variable& logits, const Tensor& labels, float label_smoothing = 0.0f);

// How many rows' argmax (ties to the lowest index) equals the label.
int64_t count_correct(const Tensor& logits, const Tensor& labels);

}  // namespace lpt::ops
