#include "formats/quantize.h"

#include <cmath>
#include <limits>

#include "core/error.h"
#include "formats/format_table.h"

namespace lpt::formats {

namespace {
// Geometry of a dense tensor's memory along logical axis `axis`: in any axis order, the axis'
// stride is the product of the sizes of the axes that lie faster in memory.
RunGeometry geometry_along(const Shape& shape, const Shape& strides, int axis, const char* what) {
  const int nd = int(shape.size());
  const int a = axis < 0 ? axis + nd : axis;
  LPT_CHECK(a >= 0 && a < nd, "quantize: ", what, " ", axis, " out of range for shape ", shape_str(shape));
  const int64_t n = shape_numel(shape), len = shape[size_t(a)];
  if (len <= 1 || n == 0) return {n, 1, 1};
  const int64_t inner = strides[size_t(a)];
  return {n / (len * inner), len, inner};
}

BufferLayout layout_of(const Shape& shape, const Shape& strides, int axis, std::optional<int> channel_axis) {
  if (shape.empty()) return BufferLayout::flat(1);
  BufferLayout l;
  l.runs = geometry_along(shape, strides, axis, "axis");
  if (channel_axis) {
    l.groups = geometry_along(shape, strides, *channel_axis, "channel axis");
    l.has_channel_axis = true;
  } else {
    l.groups = {1, 1, shape_numel(shape)};
  }
  return l;
}
}  // namespace

BufferLayout BufferLayout::flat(int64_t n) { return {{1, n, 1}, {1, 1, n}, false}; }

BufferLayout BufferLayout::of(const Tensor& t, int axis, std::optional<int> channel_axis) {
  LPT_CHECK(t.is_dense(), "quantize: tensor ", t.describe(), " is not dense");
  return layout_of(t.shape(), t.strides(), axis, channel_axis);
}

BufferLayout BufferLayout::row_major(const Shape& shape, int axis, std::optional<int> channel_axis) {
  return layout_of(shape, contiguous_strides(shape), axis, channel_axis);
}

void fill_error_stats(const float* x, const float* y, const BufferLayout& l, QuantizeStats& s) {
  const int64_t n = l.numel();
  const bool clipping = int64_t(s.clip.size()) == l.num_groups() && n > 0;
  constexpr int64_t kChunk = int64_t{1} << 14;  // fixed chunks summed in order: thread-count independent
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  struct Part {
    double signal = 0, noise = 0, flushed = 0, clipped = 0;
  };
  std::vector<Part> parts(static_cast<size_t>(chunks));
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    Part p;
    for (int64_t m = c * kChunk; m < std::min(n, (c + 1) * kChunk); ++m) {
      const double d = double(x[m]) - y[m];
      p.signal += double(x[m]) * x[m];
      p.noise += d * d;
      p.flushed += (x[m] != 0.0f && y[m] == 0.0f);
      if (clipping) p.clipped += std::fabs(x[m]) > s.clip[size_t(l.group_of(m))];
    }
    parts[size_t(c)] = p;
  }
  Part t;
  for (const Part& p : parts) t.signal += p.signal, t.noise += p.noise, t.flushed += p.flushed, t.clipped += p.clipped;
  s.sqnr_db = t.noise > 0 ? 10.0 * std::log10(t.signal / t.noise) : std::numeric_limits<double>::infinity();
  s.flushed_fraction = n > 0 ? t.flushed / double(n) : 0.0;
  if (clipping) s.clipped_fraction = t.clipped / double(n);
}

bool has_clip_value(const Format& f) { return f.get<IntParams>() || f.scales().clip_values; }

QuantizeOptions kernel_options(const Format& f, const BufferLayout& l, const QuantizeOptions& o) {
  LPT_CHECK(l.block_rows == 1 || l.block_rows == f.weight_block_rows(), "tensor '", o.name, "': format ", f.name(),
            " has no 2-D blocks of ", l.block_rows, " rows");
  LPT_CHECK(has_clip_value(f) || o.fixed_clip.empty(), "tensor '", o.name, "': format ", f.name(),
            " has no clip value to freeze");
  LPT_CHECK(f.get<IntParams>() || o.warm_start.empty(), "tensor '", o.name, "': format ", f.name(),
            " has no OCTAV clip value to warm-start");
  // Runs cross samples when there are fewer run lines than whole samples in the shard; then the
  // shards' runs joined end to end make the whole tensor's, with the same blocks only if each
  // shard's run is a whole number of blocks.
  const int64_t block = traits_of(f.params()).block_size(f.params());
  LPT_CHECK(!o.shards || block <= 1 || l.runs.outer % o.shards->samples == 0 || l.runs.len % block == 0,
            "tensor '", o.name, "': the ", f.name(), " blocks of ", block,
            " values run across the samples of the batch, and this process's shard holds ", l.runs.len,
            " values along them, not a whole number of blocks: blocks would straddle two processes' shards; "
            "choose a training.batch_size whose shards fill whole blocks");
  QuantizeOptions k = o;
  k.rounding.mode = f.rounding();
  if (o.shards) k.rounding.first_index = o.shards->shard * l.numel();
  return k;
}

void quantize(const Format& f, const float* x, float* y, const BufferLayout& l, const QuantizeOptions& o) {
  const FormatTraits& t = traits_of(f.params());
  const QuantizeOptions k = kernel_options(f, l, o);
  if (!o.stats) return t.quantize(f.params(), x, y, l, k);
  *o.stats = QuantizeStats{};
  if (x != y || !o.error_stats) {
    t.quantize(f.params(), x, y, l, k);
    if (!o.error_stats) return;
    return fill_error_stats(x, y, l, *o.stats);
  }
  const std::vector<float> original(x, x + l.numel());  // in place: keep x for the error statistics
  t.quantize(f.params(), x, y, l, k);
  fill_error_stats(original.data(), y, l, *o.stats);
}

namespace {
// Runs kernel(options, y) — a quantization that also gives codes and returns their scales or
// codebook — with the diagnostics o asks for; y may be null when the values are not wanted.
template <class Kernel>
std::vector<float> with_stats(const Format& f, const float* x, float* y, const BufferLayout& l,
                              const QuantizeOptions& o, Kernel&& kernel) {
  const QuantizeOptions k = kernel_options(f, l, o);
  if (!o.stats) return kernel(k, y);
  *o.stats = QuantizeStats{};
  if (!o.error_stats) return kernel(k, y);
  std::vector<float> values(y ? 0 : size_t(l.numel()));  // the error statistics compare values
  float* v = y ? y : values.data();
  std::vector<float> result = kernel(k, v);
  fill_error_stats(x, v, l, *o.stats);
  return result;
}
}  // namespace

std::vector<float> quantize_int8(const Format& f, const float* x, float* y, uint8_t* q8, const BufferLayout& l,
                                 const QuantizeOptions& o) {
  const FormatTraits& t = traits_of(f.params());
  LPT_CHECK(t.quantize_int8 && (f.exact_type() == DType::s8 || f.exact_type() == DType::u8), "tensor '", o.name,
            "': format ", f.name(), " has no exact int8 form (SPEC §9)");
  return with_stats(f, x, y, l, o, [&](const QuantizeOptions& k, float* v) {
    return t.quantize_int8(f.params(), x, v, q8, l, k);
  });
}

std::vector<float> quantize_codebook(const Format& f, const float* x, float* y, uint8_t* codes,
                                     const BufferLayout& l, const QuantizeOptions& o) {
  LPT_CHECK(f.has_codebook() && y, "tensor '", o.name, "': format ", f.name(), " has no codebook");
  const FormatTraits& t = traits_of(f.params());
  return with_stats(f, x, y, l, o, [&](const QuantizeOptions& k, float* v) {
    return t.quantize_codebook(f.params(), x, v, codes, l, k);
  });
}

Tensor quantize(const Tensor& x_in, std::shared_ptr<const Format> f, const QuantizeOptions& o) {
  LPT_CHECK(x_in.dtype() == DType::f32, "quantize: tensor '", o.name, "' is ", dtype_name(x_in.dtype()),
            ", expected f32");
  // Contiguous and channels-last memory is walked as it is (LogicalOrder maps it for stochastic
  // rounding); anything else is copied to contiguous first.
  const Tensor x = x_in.is_contiguous() || x_in.is_channels_last() ? x_in : x_in.contiguous();
  Tensor y = Tensor::empty_like(x);
  QuantizeStats stats;
  if (x.numel() > 0) {
    QuantizeOptions k = o;
    k.rounding.order = LogicalOrder::of(x);
    if (!k.stats) k.stats = &stats;
    quantize(*f, x.data<float>(), y.data<float>(), BufferLayout::of(x, o.axis, o.channel_axis), k);
    if (k.stats != &stats) stats = *k.stats;
  }
  const bool outside = f->scales().tensor_scale_outside && !stats.scale.empty();
  y.set_format(std::move(f), outside ? stats.scale[0] : 1.0f);
  return y;
}

Tensor quantize(const Tensor& x, const Format& f, const QuantizeOptions& o) {
  return quantize(x, std::make_shared<const Format>(f), o);
}

}  // namespace lpt::formats
