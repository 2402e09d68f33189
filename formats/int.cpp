#include "formats/int.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "formats/int_kernels.h"

namespace lpt::formats {

using namespace int_kernels;

void validate(const IntParams& p) {
  const bool may_be_signed = p.signedness != Signedness::is_unsigned;
  LPT_CHECK(p.bits >= (may_be_signed ? 2 : 1) && p.bits <= 16, "int format: bits = ", p.bits, ", expected ",
            may_be_signed ? 2 : 1, "..16");
  LPT_CHECK(p.scale_bits >= 0 && p.scale_bits <= 8, "int format: scale_bits = ", p.scale_bits,
            ", expected 0 (fp32 vector scales) or 1..8");
  if (p.granularity == IntGranularity::vector) {
    LPT_CHECK(p.vector_size >= 1, "int format: vector_size = ", p.vector_size, ", expected >= 1");
    LPT_CHECK(p.clipping.method == ClipMethod::max,
              "int format: per-vector scales take each vector's max; clipping applies to tensor and channel "
              "granularity only");
    // (q·S_v) must be an exact fp32 integer (SPEC §1.1 computes it before the γ multiply).
    LPT_CHECK(p.bits + p.scale_bits <= 24, "int format: bits + scale_bits = ", p.bits + p.scale_bits,
              ", expected <= 24");
  } else {
    LPT_CHECK(p.scale_bits == 0, "int format: scale_bits applies to vector granularity only");
  }
  if (p.clipping.method == ClipMethod::percentile)
    LPT_CHECK(p.clipping.percentile > 0 && p.clipping.percentile <= 100,
              "int format: percentile = ", p.clipping.percentile, ", expected 0 < p <= 100");
}

double bits_per_value(const IntParams& p) {
  if (p.granularity != IntGranularity::vector) return p.bits;
  return p.bits + double(p.scale_bits > 0 ? p.scale_bits : 32) / p.vector_size;
}

bool int_is_signed(const IntParams& p, bool input_nonnegative) {
  return p.signedness == Signedness::is_signed || (p.signedness == Signedness::automatic && !input_nonnegative);
}

int64_t int_num_vectors(const IntParams& p, const RunGeometry& runs) {
  return runs.outer * ((runs.len + p.vector_size - 1) / p.vector_size) * runs.inner;
}

namespace {

struct Resolved {
  bool is_signed;
  CodeRange range;
  int qmax;
  float scale_max;  // 2^M − 1 (two-level)
};

Resolved resolve(const IntParams& p, bool is_signed) {
  Resolved r;
  r.is_signed = is_signed;
  const UniformGrid grid{p.bits, r.is_signed};
  r.qmax = grid.qmax();
  r.range = {r.is_signed ? -float(r.qmax) : 0.0f, float(r.qmax)};
  r.scale_max = float((1 << p.scale_bits) - 1);
  return r;
}

void check_input(const float* x, int64_t n, bool finite, bool has_negative, const Resolved& r,
                 const QuantizeOptions& o) {
  if (!finite) check_finite(x, n, o.name);
  if (r.is_signed || !has_negative) return;
  fail("tensor '", o.name, "' holds negative values (min ", *std::min_element(x, x + n),
       ") but its INT format is unsigned; unsigned codes are for non-negative inputs such as ReLU outputs");
}

// The clip value amax of every group: frozen, or chosen by the clipping method.
std::vector<float> group_clips(const IntParams& p, const Resolved& r, const float* x, const BufferLayout& l,
                               const GroupScan& scan, const QuantizeOptions& o, int* octav_iterations) {
  const int64_t G = l.num_groups();
  if (!o.fixed_clip.empty()) {
    LPT_CHECK(int64_t(o.fixed_clip.size()) == G, "tensor '", o.name, "': ", o.fixed_clip.size(),
              " fixed clip values for ", G, " scale groups");
    for (float c : o.fixed_clip)
      LPT_CHECK(std::isfinite(c) && c >= 0, "tensor '", o.name, "': fixed clip value ", c,
                ", expected finite and >= 0");
    return {o.fixed_clip.begin(), o.fixed_clip.end()};
  }
  return clip_values(x, l.groups, p.clipping, UniformGrid{p.bits, r.is_signed}, scan.abs_max, o.warm_start,
                     octav_iterations, o.shards);
}

// Single level: s = amax/qmax; a zero scale (all-zero group, clip 0, underflow) keeps zeros.
GroupSteps single_level_steps(const std::vector<float>& clip, const Resolved& r) {
  GroupSteps st(clip.size());
  for (size_t g = 0; g < clip.size(); ++g) {
    const float s = clip[g] / float(r.qmax);
    st.set(g, s > 0.0f ? Step{s, 1.0f, s, r.range.lo, r.range.hi} : zero_step());
  }
  return st;
}

// Two-level: γ = (amax_g/qmax)/(2^M − 1), and 1 for an all-zero group (or one whose γ underflows).
std::vector<float> gammas_of(const std::vector<float>& clip, const Resolved& r) {
  std::vector<float> gamma(clip.size());
  for (size_t g = 0; g < clip.size(); ++g) {
    const float v = (clip[g] / float(r.qmax)) / r.scale_max;
    gamma[g] = v > 0.0f ? v : 1.0f;
  }
  return gamma;
}

void check_layout(const IntParams& p, const BufferLayout& l, const QuantizeOptions& o) {
  const bool same_axis = l.runs.len > 1 && l.runs.len == l.groups.len && l.runs.inner == l.groups.inner;
  LPT_CHECK(!(p.two_level() && l.has_channel_axis && same_axis), "tensor '", o.name,
            "': two-level INT takes γ per channel of an axis other than the vectors' axis");
  LPT_CHECK(p.granularity != IntGranularity::channel || l.has_channel_axis, "tensor '", o.name,
            "': per-channel INT scales need a channel axis");
  LPT_CHECK(p.granularity != IntGranularity::vector || p.two_level() || o.fixed_clip.empty(), "tensor '", o.name,
            "': fixed clip values do not apply to per-vector fp32 scales");
}

// Everything one quantize or encode call computes: per-group clip values and scales, then the codes.
template <class Sink>
void run(const IntParams& p, const float* x, const Sink& sink, float* vector_scales, const BufferLayout& l,
         const QuantizeOptions& o, std::vector<float>* group_scales) {
  check_layout(p, l, o);
  const Resolved r = resolve(p, int_is_signed(p, o.input_nonnegative));
  const int64_t n = l.numel();
  const RoundingContext& rc = o.rounding;
  QuantizeStats* stats = o.stats;
  if (p.granularity == IntGranularity::vector && !p.two_level()) {
    const InputCheck c = vector_pass(x, sink, l, p.vector_size, VectorScaling{r.range, float(r.qmax), 0, {}, nullptr},
                                     rc, vector_scales);
    check_input(x, n, c.finite, c.has_negative, r, o);
    if (stats) stats->clipped_fraction = 0;  // each vector's scale covers its max
    return;
  }
  // The fused pass takes γ from each group's maximum as it goes: one process's tensor only.
  if (p.two_level() && o.fixed_clip.empty() && !o.shards && two_level_fusable(l)) {
    std::vector<float> clip(size_t(l.num_groups())), gamma(clip.size());
    const InputCheck c = two_level_by_group(x, sink, l, p.vector_size,
                                            VectorScaling{r.range, float(r.qmax), r.scale_max, {}, nullptr}, rc,
                                            vector_scales, clip.data(), gamma.data());
    check_input(x, n, c.finite, c.has_negative, r, o);
    if (stats) {
      stats->clip = std::move(clip);
      stats->scale = gamma;
    }
    if (group_scales) *group_scales = std::move(gamma);
    return;
  }
  if (p.two_level() && !o.fixed_clip.empty()) {
    // Frozen clip values (evaluation, calibrated PTQ): γ needs no scan of x, and the vector pass
    // checks the input itself.
    const std::vector<float> clip = group_clips(p, r, x, l, GroupScan{}, o, nullptr);
    std::vector<float> gamma = gammas_of(clip, r);
    const InputCheck c = vector_pass(
        x, sink, l, p.vector_size, VectorScaling{r.range, float(r.qmax), r.scale_max, l.groups, gamma.data()}, rc,
        vector_scales);
    check_input(x, n, c.finite, c.has_negative, r, o);
    if (stats) {
      stats->clip = clip;
      stats->scale = gamma;
    }
    if (group_scales) *group_scales = std::move(gamma);
    return;
  }
  GroupScan scan = scan_groups(x, l.groups);
  check_input(x, n, scan.finite, scan.has_negative, r, o);
  if (o.shards) o.shards->max(scan.abs_max);
  int octav_iterations = 0;
  const std::vector<float> clip = group_clips(p, r, x, l, scan, o, &octav_iterations);
  std::vector<float> scales;
  if (p.two_level()) {
    scales = gammas_of(clip, r);
    vector_pass(x, sink, l, p.vector_size, VectorScaling{r.range, float(r.qmax), r.scale_max, l.groups, scales.data()},
                rc, vector_scales);
  } else {
    const GroupSteps steps = single_level_steps(clip, r);
    groupwise_pass(x, sink, l.groups, steps, rc);
    scales = steps.B;
  }
  if (stats) {
    stats->clip = clip;
    stats->scale = scales;
    stats->octav_iterations = octav_iterations;
  }
  if (group_scales) *group_scales = std::move(scales);
}

void vector_scale_stats(const std::vector<float>& v, QuantizeStats& s) {
  if (v.empty()) return;
  double lo = v[0], hi = v[0], sum = 0;
  for (float a : v) {
    lo = std::min<double>(lo, a);
    hi = std::max<double>(hi, a);
    sum += a;
  }
  s.vector_scale_min = lo;
  s.vector_scale_max = hi;
  s.vector_scale_mean = sum / double(v.size());
}

void check_encoded(const IntParams& p, const IntEncoded& e, const BufferLayout& l) {
  const int64_t n = l.numel(), nv = int_num_vectors(p, l.runs);
  const int64_t want_scales = p.granularity != IntGranularity::vector ? l.num_groups()
                              : p.two_level()                         ? l.num_groups()
                                                                      : nv;
  LPT_CHECK(e.codes.bits == p.bits && e.codes.count == n, "int decode: ", e.codes.count, " codes of ", e.codes.bits,
            " bits, expected ", n, " of ", p.bits);
  LPT_CHECK(int64_t(e.scales.size()) == want_scales, "int decode: ", e.scales.size(), " scales, expected ",
            want_scales);
  LPT_CHECK(int64_t(e.vector_scales.size()) == (p.two_level() ? nv : 0), "int decode: ", e.vector_scales.size(),
            " vector scales, expected ", p.two_level() ? nv : 0);
}

// The (divisor, A, B) of element m when every scale is given: value = (q·A)·B, as in the kernels.
struct StoredScales {
  const IntParams& p;
  const IntEncoded& e;
  const BufferLayout& l;
  Step at(int64_t m, const CodeRange& range) const {
    const float* s = e.scales.data();
    if (p.granularity != IntGranularity::vector)
      return Step{s[l.group_of(m)], 1.0f, s[l.group_of(m)], range.lo, range.hi};
    const RunGeometry& g = l.runs;
    const int64_t V = p.vector_size, nb = (g.len + V - 1) / V;
    const int64_t j = m % g.inner, r = (m / g.inner) % g.len, o = m / (g.inner * g.len);
    const int64_t v = (o * nb + r / V) * g.inner + j;
    if (!p.two_level()) return Step{s[v], 1.0f, s[v], range.lo, range.hi};
    const float S = float(e.vector_scales[size_t(v)]), gamma = s[l.group_of(m)];
    return Step{S * gamma, S, gamma, range.lo, range.hi};
  }
};

}  // namespace

void int_quantize(const IntParams& p, const float* x, float* y, const BufferLayout& l, const QuantizeOptions& o) {
  std::vector<float> vscales;
  float* vs = nullptr;
  if (o.stats && p.granularity == IntGranularity::vector) {
    vscales.resize(size_t(int_num_vectors(p, l.runs)));
    vs = vscales.data();
  }
  run(p, x, ValueSink{y}, vs, l, o, nullptr);
  if (vs) vector_scale_stats(vscales, *o.stats);
}

DType int_exact_type(const IntParams& p) {
  if (p.bits > 8 || (p.granularity == IntGranularity::vector && !p.two_level())) return DType::f32;
  const int64_t scale_max = p.two_level() ? (int64_t{1} << p.scale_bits) - 1 : 1;
  const bool fits_signed = UniformGrid{p.bits, true}.qmax() * scale_max <= 127;
  const bool fits_unsigned = UniformGrid{p.bits, false}.qmax() * scale_max <= 255;
  switch (p.signedness) {
    case Signedness::is_signed: return fits_signed ? DType::s8 : DType::f32;
    case Signedness::is_unsigned: return fits_unsigned ? DType::u8 : DType::f32;
    case Signedness::automatic: return fits_signed && fits_unsigned ? DType::s8 : DType::f32;
  }
  return DType::f32;
}

std::vector<float> int_quantize_int8(const IntParams& p, const float* x, float* y, uint8_t* q8,
                                     const BufferLayout& l, const QuantizeOptions& o) {
  LPT_CHECK(int_exact_type(p) != DType::f32, "tensor '", o.name, "': its INT format's integers do not fit 8 bits");
  std::vector<float> vscales, group_scales;
  float* vs = nullptr;
  if (o.stats && p.two_level()) {
    vscales.resize(size_t(int_num_vectors(p, l.runs)));
    vs = vscales.data();
  }
  if (y) run(p, x, ValueInt8Sink{y, q8}, vs, l, o, &group_scales);
  else run(p, x, Int8Sink{q8}, vs, l, o, &group_scales);
  if (vs) vector_scale_stats(vscales, *o.stats);
  return group_scales;
}

IntEncoded int_encode(const IntParams& p, const float* x, const BufferLayout& l, const QuantizeOptions& o) {
  const int64_t n = l.numel();
  std::vector<int32_t> q(static_cast<size_t>(n));
  std::vector<float> vscales, group_scales;
  if (p.granularity == IntGranularity::vector) vscales.resize(size_t(int_num_vectors(p, l.runs)));
  run(p, x, CodeSink{q.data()}, vscales.data(), l, o, &group_scales);
  IntEncoded e;
  e.is_signed = int_is_signed(p, o.input_nonnegative);
  e.codes = PackedCodes::make(p.bits, n);
  const int bits = p.bits;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i += 2) {  // pairs: two 4-bit codes share a byte
    store_code(e.codes, i, to_twos_complement(q[size_t(i)], bits));
    if (i + 1 < n) store_code(e.codes, i + 1, to_twos_complement(q[size_t(i + 1)], bits));
  }
  if (p.two_level()) {
    e.scales = std::move(group_scales);
    e.vector_scales.assign(vscales.begin(), vscales.end());  // integers 1..2^M−1
  } else {
    e.scales = p.granularity == IntGranularity::vector ? std::move(vscales) : std::move(group_scales);
  }
  return e;
}

namespace {
// f(m, q, step) for every stored code q (an integer) with its element's (d, A, B), in parallel.
template <class F>
void for_each_code(const IntParams& p, const IntEncoded& e, const BufferLayout& l, F f) {
  check_encoded(p, e, l);
  const StoredScales scales{p, e, l};
  const bool is_signed = e.is_signed;
  const int bits = p.bits;
  const int64_t n = l.numel();
  const CodeRange any{0, 0};
#pragma omp parallel for schedule(static)
  for (int64_t m = 0; m < n; ++m) {
    const uint32_t c = load_code(e.codes, m);
    f(m, is_signed ? from_twos_complement(c, bits) : int32_t(c), scales.at(m, any));
  }
}
}  // namespace

void int_decode(const IntParams& p, const IntEncoded& e, float* y, const BufferLayout& l) {
  for_each_code(p, e, l, [y](int64_t m, int32_t q, const Step& st) { y[m] = (float(q) * st.A) * st.B; });
}

std::vector<float> int_decode_int8(const IntParams& p, const IntEncoded& e, uint8_t* q8, const BufferLayout& l) {
  LPT_CHECK(int_exact_type(p) != DType::f32, "int decode: the format's integers do not fit 8 bits");
  for_each_code(p, e, l, [q8](int64_t m, int32_t q, const Step& st) { q8[m] = uint8_t(q * int32_t(st.A)); });
  return e.scales;
}

void int_quantize_with_scales(const IntParams& p, const IntEncoded& scales, const float* x, float* y,
                              const BufferLayout& l, const QuantizeOptions& o) {
  check_encoded(p, scales, l);
  const Resolved r = resolve(p, scales.is_signed);
  const StoredScales at{p, scales, l};
  const int64_t n = l.numel();
  const GroupScan scan = scan_groups(x, RunGeometry{1, 1, n});
  check_input(x, n, scan.finite, scan.has_negative, r, o);
  const Rounder rounder(o.rounding);
  const bool stochastic = o.rounding.mode == Rounding::stochastic;
#pragma omp parallel for schedule(static)
  for (int64_t m = 0; m < n; ++m) {
    const Step st = at.at(m, r.range);
    const float v = clamp_to(x[m] / st.d, st.lo, st.hi);
    const float q = stochastic ? code_stochastic(v, rounder.u(m)) : code_even(v);
    y[m] = (q * st.A) * st.B;
  }
}

}  // namespace lpt::formats
