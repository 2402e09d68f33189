#include "layers/quant/role_quantizer.h"

#include <algorithm>

#include "core/error.h"
#include "core/philox.h"
#include "layers/batch_shards.h"

namespace lpt {

namespace {

constexpr float kEmaMomentum = 0.9f;  // SPEC §2: v ← 0.9·v + 0.1·clip

}  // namespace


RoleQuantizer::RoleQuantizer(std::string name, bool input_nonnegative, bool averaged)
    : name_(std::move(name)), id_(stable_hash(name_.c_str())), input_nonnegative_(input_nonnegative),
      averaged_(averaged) {}

void RoleQuantizer::set_format(std::shared_ptr<const formats::Format> f) {
  format_ = f ? std::make_shared<const formats::Format>(f->resolved(input_nonnegative_)) : nullptr;
  if (frozen_.defined() && !(format_ && format_->to_json() == frozen_.format()->to_json())) {
    frozen_ = Tensor();
    frozen_int8_.reset();
  }
}

void RoleQuantizer::freeze(const formats::Encoded& e) {
  LPT_CHECK(format_ && e.format == *format_, "quantizer '", name_, "': frozen codes are ", e.format.name(),
            ", its format is ", format_ ? format_->name() : "fp32");
  frozen_ = formats::decode(e);
  frozen_int8_.reset();
  const DType t = e.format.exact_type();
  if (t == DType::s8 || t == DType::u8) {
    auto [q8, scales] = formats::decode_int8(e);
    frozen_int8_ = ops::Int8Copy{std::move(q8), std::move(scales)};
  }
}

QuantizedTensor RoleQuantizer::apply(const Tensor& x, const formats::BufferLayout& l, ClipMode mode, uint64_t seed,
                                     uint64_t step, bool collect, bool int8, bool values, bool codebook) {
  LPT_CHECK(values || int8, "quantizer '", name_, "': asked for neither values nor the int8 form");
  LPT_CHECK(!codebook || (values && !int8), "quantizer '", name_, "': codes come with the values alone");
  LPT_CHECK(format_, "quantizer '", name_, "' has no format");
  LPT_CHECK(x.is_dense() && l.numel() == x.numel(), "quantizer '", name_, "': tensor ", x.describe(),
            " does not match its layout of ", l.numel(), " elements");
  if (frozen_.defined()) {
    LPT_CHECK(x.is_contiguous() && x.numel() == frozen_.numel(), "quantizer '", name_, "': tensor ", x.describe(),
              " does not match its frozen codes of shape ", shape_str(frozen_.shape()));
    Tensor y = frozen_.view(x.shape());
    y.set_format(format_, frozen_.format_scale());
    std::optional<ops::Int8Copy> q8;
    if (int8) {
      LPT_CHECK(frozen_int8_, "quantizer '", name_, "': format ", format_->name(), " has no int8 form");
      q8 = ops::Int8Copy{frozen_int8_->data.view(x.shape()), frozen_int8_->scales};
    }
    return {std::move(y), {}, std::move(q8), {}};
  }
  const formats::Format& f = *format_;
  const bool clip_values = f.scales().clip_values;
  const size_t groups = size_t(l.num_groups());
  formats::QuantizeOptions o = options(x, l.num_groups(), mode, seed, step);
  formats::QuantizeStats stats;
  o.stats = &stats;
  o.error_stats = collect;
  const bool octav = f.scales().warm_started;

  Tensor y = values ? Tensor::empty_like(x) : Tensor();
  std::optional<ops::Int8Copy> q8;
  std::optional<ops::CodebookCopy> book_codes;
  if (int8) {
    Tensor codes = Tensor::empty_strided(x.shape(), x.strides(), f.exact_type());
    std::vector<float> scales = formats::quantize_int8(f, x.data<float>(), values ? y.data<float>() : nullptr,
                                                       static_cast<uint8_t*>(codes.raw_data()), l, o);
    q8 = ops::Int8Copy{std::move(codes), std::move(scales)};
  } else if (codebook) {
    Tensor codes = Tensor::empty_strided(x.shape(), x.strides(), DType::u8);
    std::vector<float> book = formats::quantize_codebook(f, x.data<float>(), y.data<float>(), codes.data<uint8_t>(), l, o);
    book_codes = ops::CodebookCopy{std::move(codes), std::make_shared<const std::vector<float>>(std::move(book))};
  } else {
    formats::quantize(f, x.data<float>(), y.data<float>(), l, o);
  }
  if (values) y.set_format(format_, f.scales().tensor_scale_outside ? stats.scale.at(0) : 1.0f);

  if (clip_values && o.fixed_clip.empty() && stats.clip.size() == groups) {
    if (octav && mode == ClipMode::train) octav_s_ = stats.clip;
    if (averaged_ && mode == ClipMode::train) {
      if (clip_ema_.size() != groups) clip_ema_ = stats.clip;
      else
        for (size_t g = 0; g < groups; ++g)
          clip_ema_[g] = kEmaMomentum * clip_ema_[g] + (1.0f - kEmaMomentum) * stats.clip[g];
    }
    if (mode == ClipMode::calibrate) {
      if (calibrated_.size() != groups) calibrated_ = stats.clip;
      else
        for (size_t g = 0; g < groups; ++g) calibrated_[g] = std::max(calibrated_[g], stats.clip[g]);
    }
  }
  QuantizedTensor out{std::move(y), {}, std::move(q8), std::move(book_codes)};
  if (f.scales().clips_range) out.clip = o.fixed_clip.empty() ? stats.clip : std::vector<float>(o.fixed_clip.begin(), o.fixed_clip.end());
  if (collect) stats_ = std::move(stats);
  return out;
}

formats::QuantizeOptions RoleQuantizer::options(const Tensor& x, int64_t groups, ClipMode mode, uint64_t seed,
                                                uint64_t step) const {
  formats::QuantizeOptions o;
  o.name = name_;
  o.rounding.seed = seed;
  o.rounding.step = step;
  o.rounding.tensor_id = id_;
  o.rounding.order = formats::LogicalOrder::of(x);
  o.input_nonnegative = input_nonnegative_;
  if (averaged_) o.shards = batch_shards();
  const size_t n = size_t(groups);
  if (format_->scales().clip_values && mode == ClipMode::evaluate) {
    if (calibrated_.size() == n) o.fixed_clip = calibrated_;
    else if (clip_ema_.size() == n) o.fixed_clip = clip_ema_;
  }
  if (format_->scales().warm_started && o.fixed_clip.empty() && octav_s_.size() == n)
    o.warm_start = octav_s_;
  return o;
}

formats::Encoded RoleQuantizer::encode(const Tensor& x, int axis, std::optional<int> channel_axis, int64_t block_rows,
                                       ClipMode mode, uint64_t seed, uint64_t step) const {
  LPT_CHECK(format_, "quantizer '", name_, "' has no format");
  const Tensor c = x.contiguous();
  formats::QuantizeOptions o =
      options(c, formats::BufferLayout::row_major(c.shape(), axis, channel_axis).num_groups(), mode, seed, step);
  o.axis = axis;
  o.channel_axis = channel_axis;
  o.block_rows = block_rows;
  return formats::encode(c, *format_, o);
}

std::vector<std::pair<std::string, std::vector<float>>> RoleQuantizer::state() const {
  std::vector<std::pair<std::string, std::vector<float>>> out;
  if (!octav_s_.empty()) out.emplace_back("octav_s", octav_s_);
  if (!clip_ema_.empty()) out.emplace_back("clip_ema", clip_ema_);
  if (!calibrated_.empty()) out.emplace_back("calibrated", calibrated_);
  return out;
}

void RoleQuantizer::load_state(const std::string& key, std::vector<float> values) {
  if (key == "octav_s") octav_s_ = std::move(values);
  else if (key == "clip_ema") clip_ema_ = std::move(values);
  else if (key == "calibrated") calibrated_ = std::move(values);
  else fail("quantizer '", name_, "': unknown state '", key, "', expected octav_s, clip_ema or calibrated");
}

void RoleQuantizer::clear_state() {
  octav_s_.clear();
  clip_ema_.clear();
  calibrated_.clear();
}

}  // namespace lpt
