#include "formats/format_table.h"

#include <cstring>
#include <sstream>
#include <type_traits>

#include "core/error.h"

namespace lpt::formats {
namespace {

using nlohmann::json;

// ---- shared pieces --------------------------------------------------------------------------

const std::vector<std::string> kRoundings = {"nearest", "stochastic"};
Rounding parse_rounding(JsonFields& f) { return Rounding(f.choice("rounding", 0, kRoundings)); }
const std::string& rounding_json(Rounding r) { return kRoundings[size_t(r)]; }
const char* rounding_suffix(Rounding r) { return r == Rounding::stochastic ? "-sr" : ""; }

// JSON names of the element types, in ElementType's order.
const std::vector<std::string> kElementJson = {"fp8_e4m3", "fp8_e5m2", "fp6_e3m2", "fp6_e2m3", "fp4_e2m1", "int8"};

std::string number_text(double v) {  // 99.99 -> "99.99", 8 -> "8"
  std::ostringstream os;
  os << v;
  return os.str();
}

Tensor bytes_tensor(const std::vector<uint8_t>& b) {
  Tensor t = Tensor::empty({int64_t(b.size())}, DType::u8);
  if (!b.empty()) std::memcpy(t.raw_data(), b.data(), b.size());
  return t;
}
Tensor floats_tensor(const std::vector<float>& v) { return Tensor::from_vector({int64_t(v.size())}, v); }
Tensor int16_tensor(const std::vector<int16_t>& v) {
  Tensor t = Tensor::empty({int64_t(v.size())}, DType::s16);
  std::copy(v.begin(), v.end(), t.data<int16_t>());
  return t;
}
EncodedArray packed_array(const char* name, const PackedCodes& p) {
  return {name, ArrayIndex::packed_codes, bytes_tensor(p.bytes), p.bits, p.count};
}

// Reading arrays back (from_arrays): their dtypes and sizes are checked before these run.
template <class T>
std::vector<T> values_of(const EncodedArray& a) {
  const Tensor c = a.data.contiguous();
  return std::vector<T>(c.data<T>(), c.data<T>() + c.numel());
}
PackedCodes packed_of(const EncodedArray& a) {
  PackedCodes p;
  p.bits = a.code_bits;
  p.count = a.count;
  p.bytes = values_of<uint8_t>(a);
  return p;
}

// The position of T among a variant's alternatives (their count when absent).
template <class T, class V>
struct IndexIn;
template <class T, class... Ts>
struct IndexIn<T, std::variant<Ts...>> {
  static constexpr size_t value = [] {
    constexpr bool same[] = {std::is_same_v<T, Ts>...};
    for (size_t i = 0; i < sizeof...(Ts); ++i)
      if (same[i]) return i;
    return sizeof...(Ts);
  }();
};

// The kernels of a kind, adapted to the table's variant-taking signatures. Every kind's kernels
// share one shape: quantize(p, x, y, layout, options), encode(p, x, layout, options) and
// decode(p, encoded, y, layout). `index` is the kind's row: its position in FormatParams, which
// EncodedData must share.
template <class P, auto Quantize, auto Encode, auto Decode>
struct Kernels {
  using E = std::invoke_result_t<decltype(Encode), const P&, const float*, const BufferLayout&, const QuantizeOptions&>;
  static constexpr size_t index = IndexIn<P, FormatParams>::value;
  static_assert(index < std::variant_size_v<FormatParams>, "a kind's parameters must be an alternative of FormatParams");
  static_assert(std::is_same_v<std::variant_alternative_t<index, EncodedData>, E>,
                "EncodedData must list the kinds' encoded forms in FormatParams' order");
  static void quantize(const FormatParams& p, const float* x, float* y, const BufferLayout& l,
                       const QuantizeOptions& o) {
    Quantize(std::get<P>(p), x, y, l, o);
  }
  static EncodedData encode(const FormatParams& p, const float* x, const BufferLayout& l, const QuantizeOptions& o) {
    return Encode(std::get<P>(p), x, l, o);
  }
  static void decode(const FormatParams& p, const EncodedData& e, float* y, const BufferLayout& l) {
    Decode(std::get<P>(p), std::get<E>(e), y, l);
  }
  static void validate(const FormatParams& p) { formats::validate(std::get<P>(p)); }
  static double bits_per_value(const FormatParams& p) { return formats::bits_per_value(std::get<P>(p)); }
};

// ---- int ------------------------------------------------------------------------------------

namespace int_kind {
const std::vector<std::string> kGranularities = {"tensor", "channel", "vector"};
const std::vector<std::string> kClippings = {"max", "percentile", "mse", "octav"};
const IntParams& of(const FormatParams& p) { return std::get<IntParams>(p); }

FormatParams parse(const std::string&, JsonFields& f) {
  IntParams p;
  p.bits = f.integer("bits", p.bits, 1, 16);
  if (const json* s = f.raw("signed")) {
    if (s->is_boolean())
      p.signedness = s->get<bool>() ? Signedness::is_signed : Signedness::is_unsigned;
    else if (*s == "auto")
      p.signedness = Signedness::automatic;
    else
      f.fail_key("signed", "must be true, false or \"auto\", got " + s->dump());
  }
  p.granularity = IntGranularity(f.choice("granularity", 0, kGranularities));
  const bool vector = p.granularity == IntGranularity::vector;
  for (const char* key : {"vector_size", "scale_bits"})
    if (f.has(key) && !vector) f.fail_key(key, "applies to granularity \"vector\" only");
  p.vector_size = f.integer("vector_size", p.vector_size, 1, 1 << 16);
  p.scale_bits = f.integer("scale_bits", p.scale_bits, 0, 8);
  p.clipping.method = ClipMethod(f.choice("clipping", 0, kClippings));
  const bool percentile = p.clipping.method == ClipMethod::percentile;
  if (f.has("percentile") != percentile)
    f.fail_key("percentile", "is required with clipping \"percentile\" and taken only then");
  p.clipping.percentile = f.number("percentile", p.clipping.percentile, 1e-9, 100);
  p.rounding = parse_rounding(f);
  return p;
}

json to_json(const FormatParams& fp) {
  const IntParams& p = of(fp);
  json j = {{"type", "int"}, {"bits", p.bits}};
  j["signed"] = p.signedness == Signedness::automatic ? json("auto") : json(p.signedness == Signedness::is_signed);
  j["granularity"] = kGranularities[size_t(p.granularity)];
  if (p.granularity == IntGranularity::vector) {
    j["vector_size"] = p.vector_size;
    j["scale_bits"] = p.scale_bits;
  }
  j["clipping"] = kClippings[size_t(p.clipping.method)];
  if (p.clipping.method == ClipMethod::percentile) j["percentile"] = p.clipping.percentile;
  j["rounding"] = rounding_json(p.rounding);
  return j;
}

std::string name(const FormatParams& fp) {
  const IntParams& p = of(fp);
  std::string s = (p.signedness == Signedness::is_unsigned ? "uint" : "int") + std::to_string(p.bits);
  switch (p.granularity) {
    case IntGranularity::tensor:
      s += "-pt";
      break;
    case IntGranularity::channel:
      s += "-pc";
      break;
    case IntGranularity::vector:
      s += "-pv" + std::to_string(p.vector_size);
      break;
  }
  if (p.scale_bits > 0) s += "-s" + std::to_string(p.scale_bits);
  switch (p.clipping.method) {
    case ClipMethod::max:
      break;
    case ClipMethod::percentile:
      s += "-pct" + number_text(p.clipping.percentile);
      break;
    case ClipMethod::mse:
      s += "-mse";
      break;
    case ClipMethod::octav:
      s += "-octav";
      break;
  }
  if (p.signedness == Signedness::automatic) s += "-auto";
  return s + rounding_suffix(p.rounding);
}

int64_t block_size(const FormatParams& fp) {
  return of(fp).granularity == IntGranularity::vector ? of(fp).vector_size : 0;
}

// q·S_v (or q) in s8 / u8 times one fp32 scale per group; fp32 vector scales: f32.
DType exact_type(const FormatParams& fp) { return int_exact_type(of(fp)); }

std::vector<float> quantize_int8(const FormatParams& fp, const float* x, float* y, uint8_t* q8, const BufferLayout& l,
                                 const QuantizeOptions& o) {
  return int_quantize_int8(of(fp), x, y, q8, l, o);
}

std::vector<float> decode_int8(const FormatParams& fp, const EncodedData& e, uint8_t* q8, const BufferLayout& l) {
  return int_decode_int8(of(fp), std::get<IntEncoded>(e), q8, l);
}

ScaleTraits scales(const FormatParams& fp) {
  const IntParams& p = of(fp);
  const bool per_vector = p.granularity == IntGranularity::vector;
  return {.channel_groups = p.granularity == IntGranularity::channel || p.two_level(),
          .clip_values = !per_vector || p.two_level(),
          .clips_range = !per_vector,
          .warm_started = p.clipping.method == ClipMethod::octav};
}

std::vector<EncodedArray> arrays(const FormatParams& fp, const EncodedData& ed) {
  const IntParams& p = of(fp);
  const IntEncoded& e = std::get<IntEncoded>(ed);
  std::vector<EncodedArray> a{packed_array("codes", e.codes)};
  const bool fp32_vector_scales = p.granularity == IntGranularity::vector && !p.two_level();
  a.push_back({"scales", fp32_vector_scales ? ArrayIndex::per_block : ArrayIndex::per_group, floats_tensor(e.scales)});
  if (p.two_level()) {  // M-bit integers, packed like codes (two per byte for M ≤ 4)
    PackedCodes s = PackedCodes::make(p.scale_bits, int64_t(e.vector_scales.size()));
    for (size_t v = 0; v < e.vector_scales.size(); ++v) store_code(s, int64_t(v), e.vector_scales[v]);
    a.push_back(packed_array("vector_scales", s));
  }
  return a;
}

EncodedData from_arrays(const FormatParams& fp, const std::vector<EncodedArray>& a) {
  const IntParams& p = of(fp);
  LPT_CHECK(p.signedness != Signedness::automatic, "int codes: format ", name(fp),
            " has signed \"auto\"; encoded codes need it resolved to true or false");
  IntEncoded e;
  e.is_signed = p.signedness == Signedness::is_signed;
  e.codes = packed_of(a[0]);
  e.scales = values_of<float>(a[1]);
  if (p.two_level()) {
    const PackedCodes s = packed_of(a[2]);
    e.vector_scales.resize(size_t(s.count));
    for (int64_t v = 0; v < s.count; ++v) e.vector_scales[size_t(v)] = uint8_t(load_code(s, v));
  }
  return e;
}
}  // namespace int_kind

// ---- hbfp -----------------------------------------------------------------------------------

namespace hbfp_kind {
const HbfpParams& of(const FormatParams& p) { return std::get<HbfpParams>(p); }

FormatParams parse(const std::string&, JsonFields& f) {
  HbfpParams p;
  p.mantissa_bits = f.integer("mantissa_bits", p.mantissa_bits, 1, 15);
  p.block_size = f.integer("block_size", p.block_size, 1, 65536);
  p.exponent_bits = f.integer("exponent_bits", p.exponent_bits, 0, 12);
  p.rounding = parse_rounding(f);
  return p;
}

json to_json(const FormatParams& fp) {
  const HbfpParams& p = of(fp);
  json j = {{"type", "hbfp"}, {"mantissa_bits", p.mantissa_bits}, {"block_size", p.block_size}};
  if (p.exponent_bits > 0) j["exponent_bits"] = p.exponent_bits;
  j["rounding"] = rounding_json(p.rounding);
  return j;
}

std::string name(const FormatParams& fp) {
  const HbfpParams& p = of(fp);
  std::string s = "hbfp" + std::to_string(p.mantissa_bits + 1) + "-b" + std::to_string(p.block_size);
  if (p.exponent_bits > 0) s += "-e" + std::to_string(p.exponent_bits);
  return s + rounding_suffix(p.rounding);
}

int64_t block_size(const FormatParams& fp) { return of(fp).block_size; }

// n·2^(e−m) with |n| < 2^m has at most m significant bits; bf16 holds 8.
DType exact_type(const FormatParams& fp) { return of(fp).mantissa_bits <= 8 ? DType::bf16 : DType::f32; }

ScaleTraits scales(const FormatParams&) { return {}; }  // block exponents only

std::vector<EncodedArray> arrays(const FormatParams&, const EncodedData& ed) {
  const HbfpEncoded& e = std::get<HbfpEncoded>(ed);
  return {packed_array("codes", e.mantissas), {"exponents", ArrayIndex::per_block, int16_tensor(e.exponents)}};
}

EncodedData from_arrays(const FormatParams&, const std::vector<EncodedArray>& a) {
  return HbfpEncoded{packed_of(a[0]), values_of<int16_t>(a[1])};
}
}  // namespace hbfp_kind

// ---- lns ------------------------------------------------------------------------------------

namespace lns_kind {
const LnsParams& of(const FormatParams& p) { return std::get<LnsParams>(p); }

// scale·2^(k/γ): irrational steps and an fp32 scale.
DType exact_type(const FormatParams&) { return DType::f32; }

ScaleTraits scales(const FormatParams& fp) {
  return {.channel_groups = of(fp).granularity == LnsGranularity::channel};
}
const std::vector<std::string> kGranularities = {"tensor", "channel"};

FormatParams parse(const std::string&, JsonFields& f) {
  LnsParams p;
  p.bits = f.integer("bits", p.bits, 2, 16);
  p.gamma = f.number("gamma", p.gamma, 1e-6, 1e6);
  p.granularity = LnsGranularity(f.choice("granularity", 0, kGranularities));
  p.rounding = parse_rounding(f);
  return p;
}

json to_json(const FormatParams& fp) {
  const LnsParams& p = of(fp);
  return {{"type", "lns"},
          {"bits", p.bits},
          {"gamma", p.gamma},
          {"granularity", kGranularities[size_t(p.granularity)]},
          {"rounding", rounding_json(p.rounding)}};
}

std::string name(const FormatParams& fp) {
  const LnsParams& p = of(fp);
  return "lns" + std::to_string(p.bits) + "-g" + number_text(p.gamma) +
         (p.granularity == LnsGranularity::channel ? "-pc" : "") + rounding_suffix(p.rounding);
}

std::vector<EncodedArray> arrays(const FormatParams& fp, const EncodedData& ed) {
  const LnsEncoded& e = std::get<LnsEncoded>(ed);
  const bool per_channel = of(fp).granularity == LnsGranularity::channel;
  return {packed_array("codes", e.codes),
          {"scales", per_channel ? ArrayIndex::per_group : ArrayIndex::per_tensor, floats_tensor(e.scales)}};
}

EncodedData from_arrays(const FormatParams&, const std::vector<EncodedArray>& a) {
  return LnsEncoded{packed_of(a[0]), values_of<float>(a[1])};
}

bool has_codebook(const FormatParams& fp) { return lns_has_codebook(of(fp)); }
std::vector<float> quantize_codebook(const FormatParams& fp, const float* x, float* y, uint8_t* codes,
                                     const BufferLayout& l, const QuantizeOptions& o) {
  return lns_quantize_codebook(of(fp), x, y, codes, l, o);
}
}  // namespace lns_kind

// ---- minifloats -----------------------------------------------------------------------------

namespace minifloat_kind {
const MinifloatParams& of(const FormatParams& p) { return std::get<MinifloatParams>(p); }

// Elements have at most 4 significant bits, so they are bf16s; a power-of-two scale keeps the values
// so, an fp32 one stays outside them (SPEC §9).
DType exact_type(const FormatParams&) { return DType::bf16; }

// The amax behind a per-tensor scale is a clip value, but values beyond it saturate rather than clip.
ScaleTraits scales(const FormatParams& fp) {
  const bool scaled = of(fp).scaling == MinifloatScaling::tensor;
  return {.clip_values = scaled, .tensor_scale_outside = scaled && !of(fp).pow2_scale};
}
const std::vector<std::string> kScalings = {"none", "tensor"};

FormatParams parse(const std::string& type, JsonFields& f) {
  MinifloatParams p;
  p.element = ElementType(std::find(kElementJson.begin(), kElementJson.end(), type) - kElementJson.begin());
  p.scaling = MinifloatScaling(f.choice("scale", 0, kScalings));
  if (f.has("pow2_scale") && p.scaling == MinifloatScaling::none)
    f.fail_key("pow2_scale", "applies with \"scale\": \"tensor\" only");
  p.pow2_scale = f.boolean("pow2_scale", false);
  p.rounding = parse_rounding(f);
  return p;
}

json to_json(const FormatParams& fp) {
  const MinifloatParams& p = of(fp);
  json j = {{"type", kElementJson[size_t(p.element)]}, {"scale", kScalings[size_t(p.scaling)]}};
  if (p.scaling == MinifloatScaling::tensor) j["pow2_scale"] = p.pow2_scale;
  j["rounding"] = rounding_json(p.rounding);
  return j;
}

std::string name(const FormatParams& fp) {
  const MinifloatParams& p = of(fp);
  std::string s = element_traits(p.element).name;
  if (p.scaling == MinifloatScaling::tensor) s += p.pow2_scale ? "-ts-pow2" : "-ts";
  return s + rounding_suffix(p.rounding);
}

std::vector<EncodedArray> arrays(const FormatParams&, const EncodedData& ed) {
  const MinifloatEncoded& e = std::get<MinifloatEncoded>(ed);
  return {packed_array("codes", e.codes), {"scales", ArrayIndex::per_tensor, floats_tensor({e.scale})}};
}

EncodedData from_arrays(const FormatParams&, const std::vector<EncodedArray>& a) {
  return MinifloatEncoded{packed_of(a[0]), values_of<float>(a[1])[0]};
}
}  // namespace minifloat_kind

// ---- mx -------------------------------------------------------------------------------------

namespace mx_kind {
const MxParams& of(const FormatParams& p) { return std::get<MxParams>(p); }

// 2^E times an element of at most 8 significant bits (MXINT8: 7).
DType exact_type(const FormatParams&) { return DType::bf16; }

ScaleTraits scales(const FormatParams&) { return {}; }  // block scales only

FormatParams parse(const std::string&, JsonFields& f) {
  MxParams p;
  p.element = ElementType(f.choice("element", size_t(p.element), kElementJson));
  p.block_size = f.integer("block_size", p.block_size, 1, 65536);
  p.rounding = parse_rounding(f);
  return p;
}

json to_json(const FormatParams& fp) {
  const MxParams& p = of(fp);
  return {{"type", "mx"},
          {"element", kElementJson[size_t(p.element)]},
          {"block_size", p.block_size},
          {"rounding", rounding_json(p.rounding)}};
}

std::string name(const FormatParams& fp) {
  const MxParams& p = of(fp);
  // OCP's names: mxfp4, mxfp6e3m2, mxfp8e4m3, mxint8.
  std::string s = p.element == ElementType::e2m1 ? "mxfp4" : "mx" + std::string(element_traits(p.element).name);
  if (p.block_size != 32) s += "-b" + std::to_string(p.block_size);
  return s + rounding_suffix(p.rounding);
}

int64_t block_size(const FormatParams& fp) { return of(fp).block_size; }

std::vector<EncodedArray> arrays(const FormatParams&, const EncodedData& ed) {
  const MxEncoded& e = std::get<MxEncoded>(ed);
  return {packed_array("codes", e.elements), {"scales", ArrayIndex::per_block, bytes_tensor(e.scales)}};
}

EncodedData from_arrays(const FormatParams&, const std::vector<EncodedArray>& a) {
  return MxEncoded{packed_of(a[0]), values_of<uint8_t>(a[1])};
}
}  // namespace mx_kind

// ---- nvfp4 ----------------------------------------------------------------------------------

namespace nvfp4_kind {
const Nvfp4Params& of(const FormatParams& p) { return std::get<Nvfp4Params>(p); }

// fl32(e·s_b) has at most 6 significant bits: bf16 once s_t is factored out.
DType exact_type(const FormatParams&) { return DType::bf16; }

// amax_t is a clip value that evaluation freezes; values beyond it saturate rather than clip.
ScaleTraits scales(const FormatParams&) { return {.clip_values = true, .tensor_scale_outside = true}; }

// A function, not a namespace-scope vector: formats may be parsed during other files' static
// initialisation.
const std::vector<std::string>& weight_blocks_choices() {
  static const std::vector<std::string> choices = {"1d", "2d"};
  return choices;
}

FormatParams parse(const std::string&, JsonFields& f) {
  return Nvfp4Params{.rounding = parse_rounding(f), .weight_blocks_2d = f.choice("weight_blocks", 0, weight_blocks_choices()) == 1};
}

json to_json(const FormatParams& fp) {
  json j{{"type", "nvfp4"}, {"rounding", rounding_json(of(fp).rounding)}};
  if (of(fp).weight_blocks_2d) j["weight_blocks"] = "2d";
  return j;
}

std::string name(const FormatParams& fp) {
  return std::string("nvfp4") + (of(fp).weight_blocks_2d ? "-w2d" : "") + rounding_suffix(of(fp).rounding);
}

int64_t block_size(const FormatParams&) { return kNvfp4Block; }

int64_t weight_block_rows(const FormatParams& fp) { return of(fp).weight_blocks_2d ? kNvfp4Block : 1; }

std::vector<EncodedArray> arrays(const FormatParams&, const EncodedData& ed) {
  const Nvfp4Encoded& e = std::get<Nvfp4Encoded>(ed);
  return {packed_array("codes", e.elements),
          {"scales", ArrayIndex::per_block, bytes_tensor(e.scales)},
          {"tensor_scale", ArrayIndex::per_tensor, floats_tensor({e.tensor_scale})}};
}

EncodedData from_arrays(const FormatParams&, const std::vector<EncodedArray>& a) {
  return Nvfp4Encoded{packed_of(a[0]), values_of<uint8_t>(a[1]), values_of<float>(a[2])[0]};
}
}  // namespace nvfp4_kind

int64_t unblocked(const FormatParams&) { return 0; }

using IntK = Kernels<IntParams, int_quantize, int_encode, int_decode>;
using HbfpK = Kernels<HbfpParams, hbfp_quantize, hbfp_encode, hbfp_decode>;
using LnsK = Kernels<LnsParams, lns_quantize, lns_encode, lns_decode>;
using MinifloatK = Kernels<MinifloatParams, minifloat_quantize, minifloat_encode, minifloat_decode>;
using MxK = Kernels<MxParams, mx_quantize, mx_encode, mx_decode>;
using Nvfp4K = Kernels<Nvfp4Params, nvfp4_quantize, nvfp4_encode, nvfp4_decode>;

// The rows below are written in this order, which must be FormatParams' (traits_of indexes the
// table by the variant's index).
static_assert(IntK::index == 0 && HbfpK::index == 1 && LnsK::index == 2 && MinifloatK::index == 3 &&
                  MxK::index == 4 && Nvfp4K::index == 5 && std::variant_size_v<FormatParams> == 6,
              "format_table()'s rows must follow FormatParams' order");

}  // namespace

const std::vector<FormatTraits>& format_table() {
  static const std::vector<FormatTraits> table = {
      {"int",
       {"int"},
       int_kind::parse,
       int_kind::to_json,
       int_kind::name,
       IntK::bits_per_value,
       int_kind::block_size,
       int_kind::exact_type,
       int_kind::scales,
       IntK::validate,
       IntK::quantize,
       int_kind::quantize_int8,
       IntK::encode,
       IntK::decode,
       int_kind::decode_int8,
       int_kind::arrays,
       int_kind::from_arrays,
       {R"({"type":"int","bits":8,"signed":true})", R"({"type":"int","bits":4,"signed":true,"granularity":"channel"})",
        R"({"type":"int","bits":4,"signed":true,"granularity":"vector","vector_size":16,"scale_bits":4})",
        R"({"type":"int","bits":4,"signed":true,"granularity":"vector","vector_size":16})",
        R"({"type":"int","bits":4,"signed":false})",
        R"({"type":"int","bits":4,"signed":true,"granularity":"channel","clipping":"octav"})",
        R"({"type":"int","bits":6,"signed":true,"clipping":"percentile","percentile":99.9})",
        R"({"type":"int","bits":8,"signed":true,"clipping":"mse"})",
        R"({"type":"int","bits":4,"signed":true,"rounding":"stochastic"})",
        R"({"type":"int","bits":4,"signed":true,"granularity":"vector","scale_bits":4,"rounding":"stochastic"})"}},
      {"hbfp",
       {"hbfp"},
       hbfp_kind::parse,
       hbfp_kind::to_json,
       hbfp_kind::name,
       HbfpK::bits_per_value,
       hbfp_kind::block_size,
       hbfp_kind::exact_type,
       hbfp_kind::scales,
       HbfpK::validate,
       HbfpK::quantize,
       nullptr,
       HbfpK::encode,
       HbfpK::decode,
       nullptr,
       hbfp_kind::arrays,
       hbfp_kind::from_arrays,
       {R"({"type":"hbfp","mantissa_bits":3,"block_size":64})", R"({"type":"hbfp","mantissa_bits":5,"block_size":64})",
        R"({"type":"hbfp","mantissa_bits":7,"block_size":16,"exponent_bits":4})",
        R"({"type":"hbfp","mantissa_bits":3,"block_size":64,"rounding":"stochastic"})"}},
      {"lns",
       {"lns"},
       lns_kind::parse,
       lns_kind::to_json,
       lns_kind::name,
       LnsK::bits_per_value,
       unblocked,
       lns_kind::exact_type,
       lns_kind::scales,
       LnsK::validate,
       LnsK::quantize,
       nullptr,
       LnsK::encode,
       LnsK::decode,
       nullptr,
       lns_kind::arrays,
       lns_kind::from_arrays,
       {R"({"type":"lns","bits":8,"gamma":8})", R"({"type":"lns","bits":8,"gamma":8,"granularity":"channel"})",
        R"({"type":"lns","bits":5,"gamma":2})", R"({"type":"lns","bits":8,"gamma":8,"rounding":"stochastic"})"},
       lns_kind::has_codebook,
       lns_kind::quantize_codebook},
      {"minifloat",
       {"fp8_e4m3", "fp8_e5m2", "fp6_e3m2", "fp6_e2m3", "fp4_e2m1"},
       minifloat_kind::parse,
       minifloat_kind::to_json,
       minifloat_kind::name,
       MinifloatK::bits_per_value,
       unblocked,
       minifloat_kind::exact_type,
       minifloat_kind::scales,
       MinifloatK::validate,
       MinifloatK::quantize,
       nullptr,
       MinifloatK::encode,
       MinifloatK::decode,
       nullptr,
       minifloat_kind::arrays,
       minifloat_kind::from_arrays,
       {R"({"type":"fp8_e4m3"})", R"({"type":"fp8_e5m2"})", R"({"type":"fp6_e3m2"})", R"({"type":"fp6_e2m3"})",
        R"({"type":"fp4_e2m1"})", R"({"type":"fp8_e4m3","scale":"tensor"})",
        R"({"type":"fp8_e5m2","scale":"tensor","pow2_scale":true})",
        R"({"type":"fp4_e2m1","scale":"tensor","pow2_scale":true,"rounding":"stochastic"})"}},
      {"mx",
       {"mx"},
       mx_kind::parse,
       mx_kind::to_json,
       mx_kind::name,
       MxK::bits_per_value,
       mx_kind::block_size,
       mx_kind::exact_type,
       mx_kind::scales,
       MxK::validate,
       MxK::quantize,
       nullptr,
       MxK::encode,
       MxK::decode,
       nullptr,
       mx_kind::arrays,
       mx_kind::from_arrays,
       {R"({"type":"mx","element":"fp4_e2m1"})", R"({"type":"mx","element":"fp6_e3m2"})",
        R"({"type":"mx","element":"fp6_e2m3"})", R"({"type":"mx","element":"fp8_e4m3"})",
        R"({"type":"mx","element":"fp8_e5m2"})", R"({"type":"mx","element":"int8"})",
        R"({"type":"mx","element":"fp4_e2m1","rounding":"stochastic"})"}},
      {"nvfp4",
       {"nvfp4"},
       nvfp4_kind::parse,
       nvfp4_kind::to_json,
       nvfp4_kind::name,
       Nvfp4K::bits_per_value,
       nvfp4_kind::block_size,
       nvfp4_kind::exact_type,
       nvfp4_kind::scales,
       Nvfp4K::validate,
       Nvfp4K::quantize,
       nullptr,
       Nvfp4K::encode,
       Nvfp4K::decode,
       nullptr,
       nvfp4_kind::arrays,
       nvfp4_kind::from_arrays,
       {R"({"type":"nvfp4"})", R"({"type":"nvfp4","rounding":"stochastic"})", R"({"type":"nvfp4","weight_blocks":"2d"})"},
       nullptr,
       nullptr,
       nvfp4_kind::weight_block_rows},
  };
  return table;
}

}  // namespace lpt::formats
