#include "experiments/gradient_exchange.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <optional>

#include "core/error.h"
#include "experiments/quantization_setup.h"
#include "formats/encode.h"

namespace lpt {

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

// One parameter's gradient as it travels: fp32 values, or an encoding.
struct Part {
  std::string name;
  Tensor grad;
  bool average = true;  // divide the sum by the number of ranks (gradients; not the extra values)
  std::optional<formats::Encoded> encoded;
  std::vector<formats::EncodedArray> arrays;  // of `encoded`, in the format's order
  int64_t bytes = 0;                          // of this rank's contribution
};

// Rank r's encoding of a part, read from its contribution `src`: this rank's arrays give the
// names, dtypes and sizes (the same format and shape give the same arrays on every rank).
Tensor decode_from(const Part& part, const unsigned char* src) {
  std::vector<formats::EncodedArray> arrays = part.arrays;
  for (formats::EncodedArray& a : arrays) {
    Tensor t = Tensor::empty(a.data.shape(), a.data.dtype());
    std::memcpy(t.raw_data(), src, t.nbytes());
    src += t.nbytes();
    a.data = std::move(t);
  }
  formats::Encoded e = *part.encoded;
  e.data = formats::traits_of(e.format.params()).from_arrays(e.format.params(), arrays);
  return formats::decode(e);
}

// Applies the weight-gradient quantization each layer's backward pass left waiting in a data-
// parallel step (GemmQuantizer::pending_weight_gradient) to the layer's weight gradient.
void quantize_weight_gradients(Module& model) {
  for (auto& [name, layer] : gemm_layers(model)) {
    GemmQuantizer* q = layer->quantizer();
    if (!q || !q->pending_weight_gradient()) continue;
    LPT_CHECK(layer->weight().has_grad(), "layer '", name,
              "': a weight-gradient quantization waits but the weight has no gradient");
    Tensor g = layer->weight().grad();
    g.copy_from(q->quantize_pending_weight_gradient(g));
  }
}

}  // namespace

GradientTransport gradient_transport_of(const std::string& name) {
  if (name == "fp32") return GradientTransport::fp32;
  LPT_CHECK(name == "encoded", "/distributed/gradient_transport: expected \"fp32\" or \"encoded\", got \"", name, "\"");
  return GradientTransport::encoded;
}

void GradientExchange::average(Module& model, std::vector<float>& extra) {
  if (!world_.distributed()) return;
  // Encoded: what travels is each rank's gradient quantized on its own. fp32: the averaged gradient
  // is quantized afterwards, as one process quantizes the whole batch's gradient.
  if (transport_ == GradientTransport::encoded) quantize_weight_gradients(model);
  exchange(model, extra);
  if (transport_ == GradientTransport::fp32) quantize_weight_gradients(model);
}

void GradientExchange::exchange(Module& model, std::vector<float>& extra) {
  const auto start = clock_type::now();
  std::map<std::string, const GemmLayer*> encoded_layers;  // by weight name
  if (transport_ == GradientTransport::encoded)
    for (auto& [name, layer] : gemm_layers(model))
      if (layer->quantizer() && layer->quantizer()->formats().weight_gradients) encoded_layers[name + ".weight"] = layer;

  std::vector<Part> parts;
  for (const auto& [name, p] : model.named_parameters()) {
    if (!p.has_grad()) continue;
    Part part;
    part.name = name;
    part.grad = p.grad();
    LPT_CHECK(part.grad.dtype() == DType::f32 && part.grad.is_dense(), "data-parallel training: the gradient of '",
              name, "' is not a dense f32 tensor");
    if (const auto layer = encoded_layers.find(name); layer != encoded_layers.end()) {
      LPT_CHECK(part.grad.is_contiguous(), "data-parallel training: the gradient of '", name, "' is not contiguous");
      part.encoded = layer->second->quantizer()->encode_weight_gradient(part.grad, layer->second->weight_geometry());
      part.arrays = formats::encoded_arrays(*part.encoded);
      part.bytes = formats::encoded_bytes(part.arrays);
    } else {
      part.bytes = int64_t(part.grad.nbytes());
    }
    parts.push_back(std::move(part));
  }
  Part sums;  // the extra values, summed and not divided
  sums.name = "extra values";
  sums.grad = Tensor::from_vector({int64_t(extra.size())}, extra);
  sums.average = false;
  sums.bytes = int64_t(sums.grad.nbytes());
  parts.push_back(sums);

  // Consecutive parts go in one all-gather of at most about 16 MB in all; a larger part goes alone,
  // so the gather buffer holds up to N times the largest gradient as it travels.
  const int size = world_.size();
  const int64_t limit = std::max<int64_t>(1, (int64_t(1) << 24) / size);
  std::vector<unsigned char> mine, all;
  std::vector<float> sum, term;
  for (size_t first = 0; first < parts.size();) {
    size_t last = first + 1;
    int64_t bytes = parts[first].bytes;
    while (last < parts.size() && bytes + parts[last].bytes <= limit) bytes += parts[last++].bytes;

    mine.resize(size_t(bytes));
    unsigned char* dst = mine.data();
    for (size_t k = first; k < last; ++k) {
      const Part& part = parts[k];
      if (!part.encoded) {
        std::memcpy(dst, part.grad.raw_data(), size_t(part.bytes));
        dst += part.bytes;
      }
      for (const formats::EncodedArray& a : part.arrays) {
        const Tensor data = a.data.contiguous();
        std::memcpy(dst, data.raw_data(), data.nbytes());
        dst += data.nbytes();
      }
    }
    const auto gather_start = clock_type::now();
    world_.all_gather(mine.data(), bytes, all);
    cost_.gather_seconds += seconds_since(gather_start);
    cost_.bytes_sent += bytes;
    cost_.bytes_received += bytes * (size - 1);

    // Every rank adds the same operands in the same order (0, 1, ..., N−1), so every rank holds
    // the same sums.
    int64_t offset = 0;
    for (size_t k = first; k < last; ++k) {
      Part& part = parts[k];
      const int64_t count = part.grad.numel();
      for (int r = 0; r < size; ++r) {
        const unsigned char* src = all.data() + int64_t(r) * bytes + offset;
        const Tensor decoded = part.encoded ? decode_from(part, src) : Tensor();
        if (!part.encoded) {
          term.resize(size_t(count));
          std::memcpy(term.data(), src, size_t(part.bytes));
        }
        const float* values = part.encoded ? decoded.data<float>() : term.data();
        if (r == 0) sum.assign(values, values + count);
        else
          for (int64_t i = 0; i < count; ++i) sum[size_t(i)] += values[i];
      }
      float* d = part.grad.data<float>();
      for (int64_t i = 0; i < count; ++i) d[i] = part.average ? sum[size_t(i)] / float(size) : sum[size_t(i)];
      offset += part.bytes;
    }
    first = last;
  }
  const float* summed = parts.back().grad.data<float>();
  std::copy(summed, summed + extra.size(), extra.begin());
  ++cost_.exchanges;
  cost_.seconds += seconds_since(start);
}

GradientExchange::Cost GradientExchange::take_cost() {
  const Cost c = cost_;
  cost_ = {};
  return c;
}

}  // namespace lpt
