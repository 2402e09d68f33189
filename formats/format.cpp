#include "formats/format.h"

#include "core/error.h"
#include "core/json_text.h"
#include "formats/format_table.h"

namespace lpt::formats {

Format::Format(FormatParams params) : params_(std::move(params)) { traits_of(params_).validate(params_); }

Format Format::parse(const nlohmann::json& j) {
  const std::string what = "format " + j.dump();
  LPT_CHECK(j.is_object(), what, ": expected a JSON object such as {\"type\":\"int\",\"bits\":8}");
  const auto type = j.find("type");
  std::vector<std::string> known;
  for (const FormatTraits& t : format_table()) known.insert(known.end(), t.types.begin(), t.types.end());
  LPT_CHECK(type != j.end() && type->is_string(), what, ": key 'type' is required, one of ",
            nlohmann::json(known).dump());
  const std::string name = type->get<std::string>();
  for (const FormatTraits& t : format_table()) {
    if (std::find(t.types.begin(), t.types.end(), name) == t.types.end()) continue;
    JsonFields fields(j, what);
    fields.raw("type");
    FormatParams p = t.parse(name, fields);
    fields.finish();
    try {
      return Format(std::move(p));
    } catch (const Error& e) {
      fail(what, ": ", e.what());
    }
  }
  fail(what, ": unknown type '", name, "', expected one of ", nlohmann::json(known).dump());
}

Format Format::parse_text(std::string_view text) {
  const std::string_view shown = text.substr(0, 200);
  return parse(parse_json_text(text, "format '" + std::string(shown) + (shown.size() < text.size() ? "...'" : "'")));
}

nlohmann::json Format::json() const { return traits_of(params_).json(params_); }
std::string Format::name() const { return traits_of(params_).name(params_); }
double Format::bits_per_value() const { return traits_of(params_).bits_per_value(params_); }
DType Format::exact_type() const { return traits_of(params_).exact_type(params_); }
bool Format::has_codebook() const {
  const FormatTraits& t = traits_of(params_);
  return t.has_codebook && t.has_codebook(params_);
}
ScaleTraits Format::scales() const { return traits_of(params_).scales(params_); }

int64_t Format::weight_block_rows() const {
  const FormatTraits& t = traits_of(params_);
  return t.weight_block_rows ? t.weight_block_rows(params_) : 1;
}

Rounding Format::rounding() const {
  return std::visit([](const auto& p) { return p.rounding; }, params_);
}

Format Format::resolved(bool input_nonnegative) const {
  const IntParams* p = get<IntParams>();
  if (!p || p->signedness != Signedness::automatic) return *this;
  IntParams q = *p;
  q.signedness = input_nonnegative ? Signedness::is_unsigned : Signedness::is_signed;
  return Format(q);
}

}  // namespace lpt::formats
