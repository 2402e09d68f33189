#include "layers/quant/gemm_quantizer.h"

#include <cmath>
#include <utility>

#include "core/error.h"
#include "core/philox.h"
#include "layers/batch_shards.h"
#include "layers/quant/hadamard.h"
#include "layers/quant/estimator.h"

namespace lpt {

using formats::BufferLayout;

namespace {

// The role part of a RoleQuantizer's name ("layer1.0.conv1.errors.data" → "errors.data").
std::string role_of(const RoleQuantizer& r, const std::string& layer) { return r.name().substr(layer.size() + 1); }

// What a GEMM's multiply-adds are counted as: its two operands' formats.
std::string precision(const RoleQuantizer& a, const RoleQuantizer& b) {
  const std::string na = a ? a.format()->name() : "fp32", nb = b ? b.format()->name() : "fp32";
  return na == nb ? na : na + "×" + nb;
}

double mean_of(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += x;
  return v.empty() ? std::nan("") : s / double(v.size());
}

}  // namespace

GemmQuantizer::GemmQuantizer(std::string layer, bool input_nonnegative)
    : layer_(std::move(layer)),
      weights_(layer_ + ".weights", false, false),
      activations_(layer_ + ".activations", input_nonnegative, true),
      errors_data_(layer_ + ".errors.data", false, true),
      errors_weights_(layer_ + ".errors.weights", false, true),
      weight_gradients_(layer_ + ".weight_gradients", false, false),
      weights_data_(layer_ + ".weights.data", false, false),
      activations_weights_(layer_ + ".activations.weights", input_nonnegative, true) {
  lanes_.runs = std::make_shared<ops::GemmRuns>();
}

Tensor GemmQuantizer::quantize_pending_weight_gradient(const Tensor& dw) {
  LPT_CHECK(pending_dw_, "layer '", layer_, "': no weight-gradient quantization is waiting");
  return std::exchange(pending_dw_, nullptr)(dw);
}

std::vector<RoleQuantizer*> GemmQuantizer::roles() {
  return {&weights_,          &activations_,  &errors_data_,         &errors_weights_,
          &weight_gradients_, &weights_data_, &activations_weights_};
}

void GemmQuantizer::set_formats(const GemmFormats& f) {
  formats_ = f;
  weights_.set_format(f.weights);
  activations_.set_format(f.activations);
  errors_data_.set_format(f.errors_backward_data ? f.errors_backward_data : f.errors);
  errors_weights_.set_format(f.errors_backward_weights ? f.errors_backward_weights : f.errors);
  weight_gradients_.set_format(f.weight_gradients);
  weights_data_.set_format(f.weights_backward_data       ? f.weights_backward_data
                           : f.requantize_backward ? f.weights
                                                   : nullptr);
  activations_weights_.set_format(f.activations_backward_weights             ? f.activations_backward_weights
                                  : f.requantize_backward || f.hadamard ? f.activations
                                                                         : nullptr);
  plan_lanes();
}

std::array<std::pair<const RoleQuantizer*, const RoleQuantizer*>, ops::kGemms> GemmQuantizer::gemm_operands() const {
  return {{{&activations_, &weights_},
           {&errors_data_, weights_data_ ? &weights_data_ : &weights_},
           {activations_weights_ ? &activations_weights_ : &activations_, &errors_weights_}}};
}

namespace {

// Why a GEMM on operands a and b cannot run in `lane` (bf16 or int8); empty when it can.
std::string why_not(ops::Lane lane, ops::Gemm g, const RoleQuantizer& a, const RoleQuantizer& b,
                    const std::string& layer) {
  for (const RoleQuantizer* r : {&a, &b})
    if (!*r) return "its " + role_of(*r, layer) + " operand is fp32";
  if (lane == ops::Lane::bf16) {
    for (const RoleQuantizer* r : {&a, &b})
      if (r->format()->exact_type() != DType::bf16)
        return "its " + role_of(*r, layer) + " format " + r->format()->name() + " is not exact in bf16 (SPEC §9)";
    return ops::why_no_bf16_gemms();
  }
  if (g != ops::Gemm::forward) return "oneDNN 2.6's int8 primitives are forward-only";
  const DType ta = a.format()->exact_type(), tb = b.format()->exact_type();
  if (ta != DType::s8 && ta != DType::u8)
    return "its " + role_of(a, layer) + " format " + a.format()->name() + " has no exact int8 form (SPEC §9)";
  if (tb != DType::s8)
    return "its " + role_of(b, layer) + " format " + b.format()->name() + " has no exact s8 form (SPEC §9)";
  return ops::why_no_int8_gemms();
}

}  // namespace

void GemmQuantizer::plan_lanes() {
  const auto operands = gemm_operands();
  for (int g = 0; g < ops::kGemms; ++g) {
    const ops::Gemm gemm = ops::Gemm(g);
    const auto& [a, b] = operands[size_t(g)];
    // The forward GEMM prefers int8 (integer sums are exact), then bf16; the backward ones bf16.
    const std::string why_int8 = gemm == ops::Gemm::forward ? why_not(ops::Lane::int8, gemm, *a, *b, layer_) : "";
    const std::string why_bf16 = why_not(ops::Lane::bf16, gemm, *a, *b, layer_);
    ops::Lane lane = ops::Lane::fp32;
    if (gemm == ops::Gemm::forward && why_int8.empty()) lane = ops::Lane::int8;
    else if (why_bf16.empty()) lane = ops::Lane::bf16;
    LPT_CHECK(formats_.execution != Execution::native || lane != ops::Lane::fp32, "layer '", layer_,
              "': execution \"native\": the ", ops::gemm_name(gemm), " GEMM cannot run natively: ",
              gemm == ops::Gemm::forward ? "not in int8: " + why_int8 + "; not in bf16: " + why_bf16 : why_bf16);
    lanes_.lane[size_t(g)] = formats_.execution == Execution::emulated ? ops::Lane::fp32 : lane;
    // The forward-pass operand of a backward GEMM: backward-data's w (b), backward-weights' x (a).
    const RoleQuantizer* saved = gemm == ops::Gemm::backward_data ? b : gemm == ops::Gemm::backward_weights ? a : nullptr;
    lanes_.saved_bf16_exact[size_t(g)] = saved && *saved && saved->format()->exact_type() == DType::bf16;
  }
  lanes_.required = formats_.execution == Execution::native;
  lanes_.owner = layer_;
}

nlohmann::json GemmQuantizer::gemm_runs(bool counts, bool native_only) const {
  nlohmann::json out = nlohmann::json::object();
  for (int g = 0; g < ops::kGemms; ++g) {
    const ops::GemmRun& r = (*lanes_.runs)[size_t(g)];
    if (r.impl.empty() || (native_only && lanes_.lane[size_t(g)] == ops::Lane::fp32)) continue;  // never called, or not asked
    nlohmann::json j{{"lane", ops::lane_name(r.lane)}, {"impl", r.impl}};
    if (!r.no_kernel.empty()) j["reference_kernel"] = r.no_kernel;
    if (counts)
      j.update({{"bf16_calls", r.bf16_calls},
                {"int8_calls", r.int8_calls},
                {"fp32_calls", r.fp32_calls},
                {"below_normal_calls", r.below_normal_calls}});
    out[ops::gemm_name(ops::Gemm(g))] = std::move(j);
  }
  return out;
}

void GemmQuantizer::reset_gemm_counts() {
  for (ops::GemmRun& r : *lanes_.runs) r.bf16_calls = r.int8_calls = r.fp32_calls = r.below_normal_calls = 0;
}

void GemmQuantizer::set_weights_frozen(bool on) {
  weights_frozen_ = on;
  frozen_weights_.reset();
  lanes_.freeze_weights(on);
}

ClipMode GemmQuantizer::mode(bool training) const {
  return calibrating_ ? ClipMode::calibrate : training ? ClipMode::train : ClipMode::evaluate;
}

GemmQuantizer::Operands GemmQuantizer::prepare(const Variable& x, const Variable& w, const GemmGeometry& g,
                                               bool training) {
  const ClipMode m = mode(training);
  const uint64_t seed = seed_, step = step_;
  const bool collect = collect_;
  Operands out{x, w, {}, lanes_, {}};
  const Tensor xs = g.is_linear ? x.data().contiguous()
                    : x.data().is_channels_last() ? x.data()
                                                  : x.data().to(MemoryFormat::channels_last);
  const Tensor wc = w.data().contiguous();

  // The int8 lane's forward GEMM takes both operands' int8 forms (plan_lanes: both have one).
  const bool int8 = lanes_.asks(ops::Gemm::forward, ops::Lane::int8);
  std::optional<ops::Int8Copy> x8, w8;
  if (activations_) {
    const BufferLayout l = forward_x_layout(g);
    // Without gradients the int8 forward GEMM is all that reads the activations: no fp32 values.
    const bool values = !int8 || grad_enabled();
    // What backward-weights keeps of x when it reads this quantization in fp32: its one-byte codes
    // where the format has a codebook.
    const bool codes = !int8 && training && grad_enabled() && w.requires_grad() && !activations_weights_ &&
                       activations_.format()->has_codebook() && !lanes_.keeps_bf16(ops::Gemm::backward_weights);
    QuantizedTensor q = activations_.apply(xs, l, m, seed, step, collect, int8, values, codes);
    x8 = std::move(q.int8);
    out.backward.x_codes = std::move(q.codebook);
    if (values)
      out.x = quantized_input(x, xs, std::move(q.value), formats_.activation_estimator, std::move(q.clip), l, {});
  }
  if (weights_ || weight_gradients_) {
    std::function<Tensor(const Tensor&)> to_dw;
    if (weight_gradients_)
      to_dw = [this, g, seed, step, collect](const Tensor& dw) {
        const Tensor d = dw.contiguous();
        return weight_gradients_.apply(d, forward_w_layout(g, *weight_gradients_.format()), ClipMode::train, seed,
                                       step, collect).value;
      };
    if (to_dw && batch_shards()) pending_dw_ = std::exchange(to_dw, nullptr);  // the trainer applies it
    if (weights_) {
      const BufferLayout l = forward_w_layout(g, *weights_.format());
      // Frozen weights are quantized once; a forward collecting diagnostics quantizes them anew.
      const bool reuse = weights_frozen_ && m == ClipMode::evaluate && !collect;
      QuantizedTensor q = reuse && frozen_weights_ ? *frozen_weights_ : weights_.apply(wc, l, m, seed, step, collect, int8);
      if (reuse) frozen_weights_ = q;
      w8 = std::move(q.int8);
      out.w = quantized_input(w, wc, std::move(q.value), formats_.weight_estimator, std::move(q.clip), l, to_dw);
    } else {  // fp32 weights whose gradients are quantized
      out.w = quantized_input(w, wc, wc, Estimator::ste, {}, BufferLayout::flat(wc.numel()), to_dw);
    }
  }
  if (int8) out.int8 = ops::ForwardInt8{std::move(*x8), std::move(*w8)};
  if (!training || !grad_enabled()) return out;

  // The backward-weights GEMM's operands through the random Hadamard transform, when it is on.
  const std::function<Tensor(const Tensor&)> rotate = hadamard_rotation(g);
  if (errors_data_)
    out.backward.dy_for_data = [this, g, seed, step, collect](const Tensor& dy) {
      return errors_data_.apply(dy, data_dy_layout(g), ClipMode::train, seed, step, collect).value;
    };
  if (errors_weights_ || rotate)
    out.backward.dy_for_weights = [this, g, seed, step, collect, rotate](const Tensor& dy) {
      const Tensor d = rotate ? rotate(dy) : dy;
      return errors_weights_ ? errors_weights_.apply(d, weights_dy_layout(g), ClipMode::train, seed, step, collect).value
                             : d;
    };
  if (weights_data_ && x.requires_grad())
    out.backward.w_for_data = weights_data_.apply(wc, data_w_layout(g, *weights_data_.format()), m, seed, step, collect).value;
  if ((activations_weights_ || rotate) && w.requires_grad()) {
    const Tensor xr = rotate ? rotate(xs) : xs;
    out.backward.x_for_weights =
        activations_weights_ ? activations_weights_.apply(xr, weights_x_layout(g), m, seed, step, collect).value : xr;
  }

  count_macs(g);
  return out;
}

std::function<Tensor(const Tensor&)> GemmQuantizer::hadamard_rotation(const GemmGeometry& g) const {
  if (!formats_.hadamard) return nullptr;
  // Rows of the reduction index (n,h,w) and their channels; a shard's rows are the global rows
  // [shard·rows, (shard + 1)·rows), and must be whole blocks so that shards transform as one process.
  const int64_t rows = g.N * g.H * g.W;
  const formats::ShardReduce* shards = batch_shards();
  LPT_CHECK(!shards || rows % kHadamardBlock == 0, "layer '", layer_, "': the Hadamard transform's blocks of ",
            kHadamardBlock, " rows would straddle two processes' shards of ", rows,
            " rows (batch × height × width per process); choose a batch size that makes them whole blocks");
  const HadamardKey key{seed_, step_, stable_hash(layer_.c_str())};
  const int64_t first_row = shards ? shards->shard * rows : 0;
  return [key, rows, first_row, linear = g.is_linear](const Tensor& t) {
    const Tensor m = linear ? t.contiguous() : t.is_channels_last() ? t : t.to(MemoryFormat::channels_last);
    return hadamard_rows(m, rows, m.numel() / rows, key, first_row);
  };
}

formats::Encoded GemmQuantizer::encode_weights(const Tensor& w, const GemmGeometry& g) const {
  LPT_CHECK(weights_, "layer '", layer_, "': its weights have no format to encode");
  return encode_weight_shaped(weights_, w, g, mode(false));
}

formats::Encoded GemmQuantizer::encode_weight_gradient(const Tensor& dw, const GemmGeometry& g) const {
  LPT_CHECK(weight_gradients_, "layer '", layer_, "': its weight gradients have no format to encode");
  return encode_weight_shaped(weight_gradients_, dw, g, ClipMode::train);
}

formats::Encoded GemmQuantizer::encode_weight_shaped(const RoleQuantizer& role, const Tensor& x, const GemmGeometry& g,
                                                     ClipMode m) const {
  const formats::Format& f = *role.format();
  const Tensor view = g.cin_per_group() == 1 ? x.contiguous().view({g.O, g.KH * g.KW}) : x.contiguous();
  const std::optional<int> channel_axis = f.scales().channel_groups ? std::optional<int>(0) : std::nullopt;
  const BufferLayout forward = forward_w_layout(g, f);  // its 2-D blocks, if any, are the encoding's
  formats::Encoded e = role.encode(view, 1, channel_axis, forward.block_rows, m, seed_, step_);
  LPT_CHECK(e.layout() == forward, "layer '", layer_, "': the encoding of '", role.name(),
            "' is blocked otherwise than the forward GEMM's weights");
  return e;
}

void GemmQuantizer::count_macs(const GemmGeometry& g) {
  const auto operands = gemm_operands();
  for (int gemm = 0; gemm < ops::kGemms; ++gemm)
    macs_[size_t(gemm)][precision(*operands[size_t(gemm)].first, *operands[size_t(gemm)].second)] += double(g.macs());
}

std::vector<std::pair<std::string, std::vector<float>>> GemmQuantizer::state() const {
  std::vector<std::pair<std::string, std::vector<float>>> out;
  for (const RoleQuantizer* r : const_cast<GemmQuantizer*>(this)->roles())
    for (auto& [key, values] : r->state()) out.emplace_back(role_of(*r, layer_) + "." + key, values);
  return out;
}

void GemmQuantizer::load_state(const std::string& key, std::vector<float> values) {
  for (RoleQuantizer* r : roles()) {
    const std::string prefix = role_of(*r, layer_) + ".";
    const std::string rest = key.substr(std::min(key.size(), prefix.size()));
    // "activations.weights.clip_ema" belongs to activations.weights, not to activations.
    if (key.rfind(prefix, 0) == 0 && rest.find('.') == std::string::npos) return r->load_state(rest, std::move(values));
  }
  fail("layer '", layer_, "': unknown quantizer state '", key, "'");
}

void GemmQuantizer::clear_state() {
  for (RoleQuantizer* r : roles()) r->clear_state();
}

nlohmann::json GemmQuantizer::take_diagnostics() {
  nlohmann::json out = nlohmann::json::object();
  for (RoleQuantizer* r : roles()) {
    if (!r->last_stats()) continue;
    const formats::QuantizeStats& s = *r->last_stats();
    nlohmann::json j{{"format", r->format()->name()}, {"flushed_fraction", s.flushed_fraction}};
    const auto put = [&j](const char* key, double v) {
      if (std::isfinite(v)) j[key] = v;
    };
    put("sqnr_db", s.sqnr_db);
    put("clipped_fraction", s.clipped_fraction);
    put("clip_mean", mean_of(s.clip));
    put("scale_mean", mean_of(s.scale));
    put("vector_scale_min", s.vector_scale_min);
    put("vector_scale_mean", s.vector_scale_mean);
    put("vector_scale_max", s.vector_scale_max);
    if (s.octav_iterations > 0) {
      j["octav_s"] = mean_of(s.clip);
      j["octav_iterations"] = s.octav_iterations;
    }
    // The backward-weights operands went through the random Hadamard transform first.
    if (formats_.hadamard && (r == &activations_weights_ || r == &errors_weights_)) j["hadamard"] = true;
    out[role_of(*r, layer_)] = std::move(j);
    r->clear_stats();
  }
  return out;
}

}  // namespace lpt
