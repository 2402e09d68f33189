#pragma once
// Internals of the block-scaled formats (HBFP, MX) and the minifloats: the block maximum (which
// also detects NaN/Inf), uniforms for stochastic rounding, powers of two as fp32, and the driver
// that walks a RunGeometry block by block with an AVX-512 or AVX2 kernel.
//
// A block-scaled format supplies an Ops type:
//   Scale scale(uint32_t max_abs_bits) const;        block scale from the largest |x| (finite)
//   float element(float x, Scale) const;             x's code value, nearest even (vectorisable)
//   float element(float x, Scale, float u) const;    the same, stochastic with uniform u
//   float value(float q, Scale) const;               fp32 value of code value q
//   uint32_t code(float q) const;  float code_value(uint32_t c) const;   packed code and back
//   Stored stored(Scale) const;  Scale from_stored(Stored) const;          the scale on disk
// The code value q is what encode stores (HBFP's integer mantissa, an MX element) as an fp32;
// quantize and decode both compute value(q, scale), which makes decode(encode(x)) == quantize(x).
#include <algorithm>
#include <bit>
#include <cstdint>
#include <cmath>
#include <span>
#include <vector>

#include <omp.h>

#include "core/cpu.h"
#include "core/error.h"
#include "formats/code_packing.h"
#include "formats/common.h"
#include "formats/quantize_options.h"

namespace lpt::formats::detail {

constexpr uint32_t kAbsMask = 0x7fffffffu;
constexpr uint32_t kNonFinite = 0x7f800000u;  // |x| bit patterns from here on are Inf or NaN
// Tensors smaller than this run on one thread: waking a team costs more than they take.
constexpr int64_t kParallelMin = 1 << 14;

// 2^e as an fp32 for e in [−149, 127] (subnormal powers included).
inline float pow2f(int e) {
  return e >= -126 ? std::bit_cast<float>(uint32_t(e + 127) << 23) : std::bit_cast<float>(1u << (e + 149));
}

// The largest bit pattern of |x[i]|: it orders finite magnitudes as their values do, and is
// >= kNonFinite iff some x[i] is Inf or NaN (max over floats would drop NaNs).
inline uint32_t max_abs_bits(const float* x, int64_t n) {
  uint32_t m = 0;
#pragma omp simd reduction(max : m)
  for (int64_t i = 0; i < n; ++i) m = std::max(m, std::bit_cast<uint32_t>(x[i]) & kAbsMask);
  return m;
}

// The amax behind a per-tensor scale: the tensor's max |x| (over every shard of the batch under
// o.shards), or the frozen clip value o.fixed_clip (evaluation, calibration: SPEC §2). NaN/Inf in
// x throws naming o.name; `kind` names the format in the error about a bad frozen value.
inline float tensor_amax(const float* x, int64_t n, const QuantizeOptions& o, const char* kind) {
  if (!o.fixed_clip.empty()) {
    LPT_CHECK(o.fixed_clip.size() == 1 && std::isfinite(o.fixed_clip[0]) && o.fixed_clip[0] >= 0, "tensor '", o.name,
              "': a per-tensor ", kind, " scale takes one finite clip value, got ", o.fixed_clip.size());
    return o.fixed_clip[0];
  }
  constexpr int64_t kChunk = 4096;
  uint32_t m = 0;
#pragma omp parallel for schedule(static) reduction(max : m) if (n >= kParallelMin)
  for (int64_t c = 0; c < n; c += kChunk) m = std::max(m, max_abs_bits(x + c, std::min(kChunk, n - c)));
  if (m >= kNonFinite) check_finite(x, n, o.name);
  float amax = std::bit_cast<float>(m);
  if (o.shards) o.shards->max(std::span<float>(&amax, 1));
  return amax;
}

// Uniforms for the elements at memory positions start + i·stride, i < n: the stream's value at
// each element's logical index (SPEC §1); where those are consecutive, one Philox block serves
// four elements.
inline void fill_uniforms(const RoundingContext& r, int64_t start, int64_t stride, int64_t n, float* u) {
  const RandomStream s = r.stream();
  if (r.order.channels != 0 || stride != 1) {
    for (int64_t i = 0; i < n; ++i) u[i] = s.uniform(r.counter(start + i * stride));
    return;
  }
  for (int64_t i = 0; i < n;) {
    const int64_t idx = r.first_index + start + i;
    const auto bits = s.bits4(uint64_t(idx) >> 2);
    for (int64_t k = idx & 3; k < 4 && i < n; ++k, ++i) u[i] = uniform01(bits[k]);
  }
}

// The frexp exponent E(m) of the magnitude whose bit pattern is max_bits (> 0): from the
// exponent field, or frexp for subnormals.
inline int exponent_of_bits(uint32_t max_bits) {
  const int biased = int(max_bits >> 23);
  return biased != 0 ? biased - 126 : exponent_of(std::bit_cast<float>(max_bits));
}

// Work comes in tiles of up to kTile blocks. Runs with stride 1 (inner == 1): a tile is w
// consecutive blocks of one run, n elements in all (the last block may be short). Strided runs
// (inner > 1): a tile is block b of up to kTile neighbouring runs, n rows (along the runs, row
// stride `inner`) × w columns (one run each), so loops over a row are contiguous and vectorise.
constexpr int64_t kTile = 16;

// Kernels for consecutive blocks of `block` elements. Each returns false, writing nothing from
// the offending block on, when a block holds NaN/Inf. encode_run stores the code values in q
// and the block scales in `scales`.
template <class Ops, bool Stochastic>
bool quantize_run(const Ops& ops_ref, const float* x, float* y, int64_t n, int64_t block, const float* u) {
  const Ops ops = ops_ref;  // a local copy: stores to y cannot alias it, so the loop vectorises
  for (int64_t i0 = 0; i0 < n; i0 += block) {
    const int64_t m = std::min(block, n - i0);
    const float* xb = x + i0;
    float* yb = y + i0;
    const float* ub = Stochastic ? u + i0 : nullptr;  // u is null for nearest rounding
    const uint32_t mb = max_abs_bits(xb, m);
    if (mb >= kNonFinite) return false;
    const auto s = ops.scale(mb);
#pragma omp simd
    for (int64_t i = 0; i < m; ++i) {
      if constexpr (Stochastic)
        yb[i] = ops.value(ops.element(xb[i], s, ub[i]), s);
      else
        yb[i] = ops.value(ops.element(xb[i], s), s);
    }
  }
  return true;
}

template <class Ops, bool Stochastic>
bool encode_run(const Ops& ops_ref, const float* x, float* q, int64_t n, int64_t block, const float* u,
                typename Ops::Scale* scales) {
  const Ops ops = ops_ref;
  for (int64_t i0 = 0, k = 0; i0 < n; i0 += block, ++k) {
    const int64_t m = std::min(block, n - i0);
    const float* xb = x + i0;
    float* qb = q + i0;
    const float* ub = Stochastic ? u + i0 : nullptr;  // u is null for nearest rounding
    const uint32_t mb = max_abs_bits(xb, m);
    if (mb >= kNonFinite) return false;
    const auto s = ops.scale(mb);
    scales[k] = s;
#pragma omp simd
    for (int64_t i = 0; i < m; ++i) {
      if constexpr (Stochastic)
        qb[i] = ops.element(xb[i], s, ub[i]);
      else
        qb[i] = ops.element(xb[i], s);
    }
  }
  return true;
}

// Tile kernels: rows j < n at x + j·stride, columns c < w; uniforms u[j·kTile + c]; encode_tile
// stores code values q[j·kTile + c] and w scales.
template <class Ops>
bool tile_scales(const Ops& ops, const float* x, int64_t n, int64_t stride, int64_t w, typename Ops::Scale* s) {
  uint32_t mb[kTile] = {};
  for (int64_t j = 0; j < n; ++j) {
    const float* xr = x + j * stride;
#pragma omp simd
    for (int64_t c = 0; c < w; ++c) mb[c] = std::max(mb[c], std::bit_cast<uint32_t>(xr[c]) & kAbsMask);
  }
  for (int64_t c = 0; c < w; ++c) {
    if (mb[c] >= kNonFinite) return false;
    s[c] = ops.scale(mb[c]);
  }
  return true;
}

template <class Ops, bool Stochastic>
bool quantize_tile(const Ops& ops_ref, const float* x, float* y, int64_t n, int64_t stride, int64_t w,
                   const float* u) {
  const Ops ops = ops_ref;
  typename Ops::Scale s[kTile];
  if (!tile_scales(ops, x, n, stride, w, s)) return false;
  for (int64_t j = 0; j < n; ++j) {
    const float* xr = x + j * stride;
    float* yr = y + j * stride;
    const float* ur = Stochastic ? u + j * kTile : nullptr;
#pragma omp simd
    for (int64_t c = 0; c < w; ++c) {
      if constexpr (Stochastic)
        yr[c] = ops.value(ops.element(xr[c], s[c], ur[c]), s[c]);
      else
        yr[c] = ops.value(ops.element(xr[c], s[c]), s[c]);
    }
  }
  return true;
}

template <class Ops, bool Stochastic>
bool encode_tile(const Ops& ops_ref, const float* x, float* q, int64_t n, int64_t stride, int64_t w, const float* u,
                 typename Ops::Scale* s) {
  const Ops ops = ops_ref;
  if (!tile_scales(ops, x, n, stride, w, s)) return false;
  for (int64_t j = 0; j < n; ++j) {
    const float* xr = x + j * stride;
    float* qr = q + j * kTile;
    const float* ur = Stochastic ? u + j * kTile : nullptr;
#pragma omp simd
    for (int64_t c = 0; c < w; ++c) {
      if constexpr (Stochastic)
        qr[c] = ops.element(xr[c], s[c], ur[c]);
      else
        qr[c] = ops.element(xr[c], s[c]);
    }
  }
  return true;
}

// The same kernels compiled for AVX-512, chosen at run time.
#define LPT_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"), flatten))
template <class Ops, bool Stochastic>
LPT_AVX512 bool quantize_run_avx512(const Ops& ops, const float* x, float* y, int64_t n, int64_t block,
                                    const float* u) {
  return quantize_run<Ops, Stochastic>(ops, x, y, n, block, u);
}
template <class Ops, bool Stochastic>
LPT_AVX512 bool encode_run_avx512(const Ops& ops, const float* x, float* q, int64_t n, int64_t block, const float* u,
                                  typename Ops::Scale* scales) {
  return encode_run<Ops, Stochastic>(ops, x, q, n, block, u, scales);
}
template <class Ops, bool Stochastic>
LPT_AVX512 bool quantize_tile_avx512(const Ops& ops, const float* x, float* y, int64_t n, int64_t stride, int64_t w,
                                     const float* u) {
  return quantize_tile<Ops, Stochastic>(ops, x, y, n, stride, w, u);
}
template <class Ops, bool Stochastic>
LPT_AVX512 bool encode_tile_avx512(const Ops& ops, const float* x, float* q, int64_t n, int64_t stride, int64_t w,
                                   const float* u, typename Ops::Scale* s) {
  return encode_tile<Ops, Stochastic>(ops, x, q, n, stride, w, u, s);
}
#undef LPT_AVX512

// The kernels for one call, picked once: ISA and rounding mode.
template <class Ops>
struct BlockKernels {
  bool (*quantize_run)(const Ops&, const float*, float*, int64_t, int64_t, const float*);
  bool (*encode_run)(const Ops&, const float*, float*, int64_t, int64_t, const float*, typename Ops::Scale*);
  bool (*quantize_tile)(const Ops&, const float*, float*, int64_t, int64_t, int64_t, const float*);
  bool (*encode_tile)(const Ops&, const float*, float*, int64_t, int64_t, int64_t, const float*, typename Ops::Scale*);

  template <bool Stochastic>
  static BlockKernels make(bool avx512) {
    if (avx512)
      return {quantize_run_avx512<Ops, Stochastic>, encode_run_avx512<Ops, Stochastic>,
              quantize_tile_avx512<Ops, Stochastic>, encode_tile_avx512<Ops, Stochastic>};
    return {detail::quantize_run<Ops, Stochastic>, detail::encode_run<Ops, Stochastic>,
            detail::quantize_tile<Ops, Stochastic>, detail::encode_tile<Ops, Stochastic>};
  }
  static BlockKernels pick(bool stochastic) {
    return stochastic ? make<true>(cpu_has_avx512()) : make<false>(cpu_has_avx512());
  }
};

inline int64_t blocks_per_run(const RunGeometry& g, int64_t block) { return (g.len + block - 1) / block; }

// One unit of work starting at memory position `start`: w blocks of one run, n elements in all
// (inner == 1), or block b of the runs c0 .. c0+w−1 of one outer index, n rows of stride inner
// (inner > 1). Its w block scales sit at scale_index + c in [outer, block, inner] order.
struct Tile {
  int64_t start, scale_index, n, w;
};

// Calls f(local, tile) for every tile, statically split over threads (with the indices stepped,
// not divided out, per tile); `make_local` builds each thread's scratch. Returns false when
// some f did.
template <class MakeLocal, class F>
bool for_each_tile(const RunGeometry& g, int64_t block, MakeLocal make_local, F f) {
  const int64_t nb = blocks_per_run(g, block);
  // Tiles per outer index: groups of kTile blocks along a run, or block × groups of kTile runs.
  const int64_t nc = g.inner == 1 ? 1 : (g.inner + kTile - 1) / kTile;
  const int64_t nt = g.inner == 1 ? (nb + kTile - 1) / kTile : nb;
  const int64_t tasks = g.outer * nt * nc;
  int ok = 1;
#pragma omp parallel reduction(min : ok) if (g.numel() >= kParallelMin)
  {
    const int64_t nth = omp_get_num_threads(), tid = omp_get_thread_num();
    const int64_t t0 = tasks * tid / nth, t1 = tasks * (tid + 1) / nth;
    auto local = make_local();
    int64_t ci = t0 % nc, b = t0 / nc % nt, o = t0 / nc / nt;
    for (int64_t t = t0; t < t1; ++t) {
      Tile tile;
      if (g.inner == 1) {
        const int64_t j0 = b * kTile * block;
        tile = {o * g.len + j0, o * nb + b * kTile, std::min(kTile * block, g.len - j0),
                std::min(kTile, nb - b * kTile)};
      } else {
        const int64_t j0 = b * block, c0 = ci * kTile;
        tile = {(o * g.len + j0) * g.inner + c0, (o * nb + b) * g.inner + c0, std::min(block, g.len - j0),
                std::min(kTile, g.inner - c0)};
      }
      if (!f(local, tile)) ok = 0;
      if (++ci == nc) {
        ci = 0;
        if (++b == nt) b = 0, ++o;
      }
    }
  }
  return ok != 0;
}

// Contiguous runs made of whole blocks (or of one short block each) are, block for block and in
// the same scale order, one long run: tiles then span many runs instead of one each, which is what
// keeps short runs fast (a 16-channel layer's rows under 32- or 64-element blocks).
struct Blocking {
  RunGeometry runs;
  int64_t block;
};
inline Blocking merged_runs(const RunGeometry& g, int64_t block) {
  if (g.inner != 1 || g.outer == 1) return {g, block};
  if (g.len <= block) return {{1, g.outer * g.len, 1}, g.len};
  if (g.len % block == 0) return {{1, g.outer * g.len, 1}, block};
  return {g, block};
}

// Uniforms u[j·kTile + c] (strided tiles) or u[i] (blocks along a run) for a tile's elements.
inline void tile_uniforms(const RoundingContext& r, const Tile& t, int64_t inner, float* u) {
  if (inner == 1) return fill_uniforms(r, t.start, 1, t.n, u);
  for (int64_t j = 0; j < t.n; ++j) fill_uniforms(r, t.start + j * inner, 1, t.w, u + j * kTile);
}

// Fake-quantizes x into y (x == y allowed); false when x holds NaN/Inf (whose blocks are left
// unwritten, so the caller can report them).
template <class Ops>
bool quantize_blocks(const Ops& ops, int64_t block_size, const float* x, float* y, const RunGeometry& runs,
                     const RoundingContext& r) {
  const Blocking b = merged_runs(runs, block_size);
  const RunGeometry& g = b.runs;
  const int64_t block = b.block;
  const bool stochastic = r.mode == Rounding::stochastic;
  const auto k = BlockKernels<Ops>::pick(stochastic);
  const int64_t inner = g.inner;
  return for_each_tile(
      g, block, [&] { return std::vector<float>(stochastic ? size_t(block * kTile) : 0); },
      [&](std::vector<float>& u, const Tile& t) {
        if (stochastic) tile_uniforms(r, t, inner, u.data());
        if (inner == 1) return k.quantize_run(ops, x + t.start, y + t.start, t.n, block, u.data());
        return k.quantize_tile(ops, x + t.start, y + t.start, t.n, inner, t.w, u.data());
      });
}

// Encodes x: one code per element (memory order) and one stored scale per block.
template <class Ops>
bool encode_blocks(const Ops& ops, int64_t block_size, const float* x, const RunGeometry& runs,
                   const RoundingContext& r, std::vector<uint16_t>& codes, std::vector<typename Ops::Stored>& scales) {
  const Blocking b = merged_runs(runs, block_size);
  const RunGeometry& g = b.runs;
  const int64_t block = b.block;
  const bool stochastic = r.mode == Rounding::stochastic;
  const auto k = BlockKernels<Ops>::pick(stochastic);
  const int64_t inner = g.inner;
  codes.assign(size_t(g.numel()), 0);
  scales.assign(size_t(g.outer * blocks_per_run(g, block) * inner), {});
  return for_each_tile(
      g, block, [&] { return std::vector<float>(size_t(2 * block * kTile)); },
      [&](std::vector<float>& buf, const Tile& t) {
        float *q = buf.data(), *u = q + block * kTile;
        if (stochastic) tile_uniforms(r, t, inner, u);
        typename Ops::Scale s[kTile];
        const bool ok = inner == 1 ? k.encode_run(ops, x + t.start, q, t.n, block, u, s)
                                   : k.encode_tile(ops, x + t.start, q, t.n, inner, t.w, u, s);
        if (!ok) return false;
        for (int64_t c = 0; c < t.w; ++c) scales[size_t(t.scale_index + c)] = ops.stored(s[c]);
        if (inner == 1) {
          for (int64_t i = 0; i < t.n; ++i) codes[size_t(t.start + i)] = uint16_t(ops.code(q[i]));
        } else {
          for (int64_t j = 0; j < t.n; ++j)
            for (int64_t c = 0; c < t.w; ++c) codes[size_t(t.start + j * inner + c)] = uint16_t(ops.code(q[j * kTile + c]));
        }
        return true;
      });
}

// Decodes codes + stored scales into y.
template <class Ops>
void decode_blocks(const Ops& ops, int64_t block_size, const PackedCodes& codes,
                   const std::vector<typename Ops::Stored>& scales, float* y, const RunGeometry& runs) {
  const Blocking b = merged_runs(runs, block_size);
  const RunGeometry& g = b.runs;
  const int64_t block = b.block;
  for_each_tile(
      g, block, [] { return 0; },
      [&](int, const Tile& t) {
        for (int64_t c = 0; c < t.w; ++c) {
          const auto s = ops.from_stored(scales[size_t(t.scale_index + c)]);
          // Block c of the run (inner == 1), or block b of run c0 + c.
          const int64_t first = g.inner == 1 ? t.start + c * block : t.start + c;
          const int64_t n = g.inner == 1 ? std::min(block, t.n - c * block) : t.n;
          for (int64_t j = 0; j < n; ++j) {
            const int64_t i = first + j * (g.inner == 1 ? 1 : g.inner);
            y[i] = ops.value(ops.code_value(load_code(codes, i)), s);
          }
        }
        return true;
      });
}

// Packs one code per element (uint16) into SPEC §7's layout, in parallel over byte pairs.
inline PackedCodes pack_codes(const std::vector<uint16_t>& codes, int bits) {
  PackedCodes p = PackedCodes::make(bits, int64_t(codes.size()));
  const int64_t n = p.count;
  if (PackedCodes::container_bits(bits) == 4) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (int64_t i = 0; i < n; i += 2)
      p.bytes[size_t(i / 2)] = uint8_t((codes[size_t(i)] & 0xF) | (i + 1 < n ? (codes[size_t(i + 1)] & 0xF) << 4 : 0));
  } else {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (int64_t i = 0; i < n; ++i) store_code(p, i, codes[size_t(i)]);
  }
  return p;
}

// Validates codes against the geometry before decoding.
inline void check_codes(const PackedCodes& codes, int bits, int64_t n_scales_have, int64_t n_scales_want,
                        const RunGeometry& g, const char* format) {
  LPT_CHECK(codes.bits == bits && codes.count == g.numel() &&
                int64_t(codes.bytes.size()) == (codes.count * PackedCodes::container_bits(bits) + 7) / 8,
            format, " decode: ", codes.count, " codes of ", codes.bits, " bits in ", codes.bytes.size(),
            " bytes, expected ", g.numel(), " codes of ", bits, " bits");
  LPT_CHECK(n_scales_have == n_scales_want, format, " decode: ", n_scales_have, " block scales, expected ",
            n_scales_want);
}

}  // namespace lpt::formats::detail
