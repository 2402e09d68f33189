#include "formats/json_fields.h"

#include <cmath>

#include "core/error.h"

namespace lpt::formats {

JsonFields::JsonFields(const nlohmann::json& object, std::string what) : object_(object), what_(std::move(what)) {
  LPT_CHECK(object_.is_object(), what_, ": expected a JSON object, got ", object_.dump());
}

const nlohmann::json* JsonFields::raw(const char* key) {
  read_.insert(key);
  const auto it = object_.find(key);
  return it == object_.end() ? nullptr : &*it;
}

void JsonFields::fail_key(const char* key, const std::string& message) const {
  fail(what_, ": key '", key, "' ", message);
}

int JsonFields::integer(const char* key, int fallback, int lo, int hi) {
  const nlohmann::json* v = raw(key);
  if (!v) return fallback;
  if (!v->is_number_integer())
    fail_key(key, "must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + v->dump());
  const int64_t i = v->get<int64_t>();
  if (i < lo || i > hi)
    fail_key(key, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + v->dump());
  return int(i);
}

double JsonFields::number(const char* key, double fallback, double lo, double hi) {
  const nlohmann::json* v = raw(key);
  if (!v) return fallback;
  if (!v->is_number()) fail_key(key, "must be a number, got " + v->dump());
  const double d = v->get<double>();
  if (!(d >= lo && d <= hi))
    fail_key(key,
             "must be in [" + nlohmann::json(lo).dump() + ", " + nlohmann::json(hi).dump() + "], got " + v->dump());
  return d;
}

bool JsonFields::boolean(const char* key, bool fallback) {
  const nlohmann::json* v = raw(key);
  if (!v) return fallback;
  if (!v->is_boolean()) fail_key(key, "must be true or false, got " + v->dump());
  return v->get<bool>();
}

size_t JsonFields::choice(const char* key, size_t fallback, const std::vector<std::string>& choices) {
  const nlohmann::json* v = raw(key);
  if (!v) return fallback;
  for (size_t i = 0; i < choices.size(); ++i)
    if (v->is_string() && v->get<std::string>() == choices[i]) return i;
  fail_key(key, "must be one of " + nlohmann::json(choices).dump() + ", got " + v->dump());
}

void JsonFields::finish() const {
  for (const auto& [key, value] : object_.items())
    if (!read_.count(key)) fail(what_, ": unknown key '", key, "'; this format takes ", nlohmann::json(read_).dump());
}

}  // namespace lpt::formats
