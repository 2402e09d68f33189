#include "core/json_text.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <vector>

#include "core/error.h"

namespace lpt {

namespace {

using json = nlohmann::json;

// A SAX pass that builds nothing: it tracks the path of open objects and arrays and stops at the
// first problem, which it keeps in `error`.
class StrictChecker : public nlohmann::json_sax<json> {
 public:
  std::string error;

  bool null() override { return value(); }
  bool boolean(bool) override { return value(); }
  bool number_integer(number_integer_t) override { return value(); }
  bool number_unsigned(number_unsigned_t) override { return value(); }
  bool number_float(number_float_t, const string_t&) override { return value(); }
  bool string(string_t&) override { return value(); }
  bool binary(binary_t&) override { return value(); }
  bool start_object(std::size_t) override { return open(true); }
  bool key(string_t& k) override {
    Level& l = levels_.back();
    if (!l.keys.insert(k).second) return stop(path(levels_.size() - 1) + ": key '" + k + "' appears twice");
    l.name = k;
    return true;
  }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(false); }
  bool end_array() override { return close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    return stop(std::string("not valid JSON: ") + e.what());
  }

 private:
  struct Level {
    bool is_object;
    std::set<std::string> keys;
    std::string name;   // objects: the current key
    int64_t index = -1;  // arrays: the current element
  };
  std::vector<Level> levels_;

  bool stop(std::string message) {
    if (error.empty()) error = std::move(message);
    return false;
  }
  // A value (scalar, or an object or array starting) takes the next array slot.
  bool value() {
    if (!levels_.empty() && !levels_.back().is_object) ++levels_.back().index;
    return true;
  }
  bool open(bool is_object) {
    value();
    if (int(levels_.size()) >= kMaxJsonDepth)
      return stop(path(levels_.size()) + ": nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    levels_.push_back({is_object, {}, {}, -1});
    return true;
  }
  bool close() {
    levels_.pop_back();
    return true;
  }
  // The JSON path through the first `depth` open levels (the object or array at that depth).
  std::string path(size_t depth) const {
    std::string p;
    for (size_t i = 0; i < depth; ++i) {
      if (p.size() > 200) return p + "/...";
      p += "/" + (levels_[i].is_object ? levels_[i].name : std::to_string(levels_[i].index));
    }
    return p.empty() ? "/" : p;
  }
};

}  // namespace

json parse_json_text(std::string_view text, const std::string& source) {
  StrictChecker checker;
  json::sax_parse(text, &checker, json::input_format_t::json, /*strict=*/true);
  LPT_CHECK(checker.error.empty(), source, ": ", checker.error);
  return json::parse(text);
}

json json_string_text(std::string_view text, const std::string& source) {
  json value = std::string(text);
  try {
    (void)value.dump();  // nlohmann's own UTF-8 validation
  } catch (const json::type_error& e) {
    fail(source, ": not valid UTF-8 text (", e.what(), ")");
  }
  return value;
}

json read_json_file(const std::string& path, const std::string& source, int64_t max_bytes) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  LPT_CHECK(!ec, source, ": cannot read '", path, "': ", ec.message());
  LPT_CHECK(int64_t(size) <= max_bytes, source, ": '", path, "' is ", size, " bytes, more than the ", max_bytes,
            " a JSON file here may have");
  std::ifstream in(path, std::ios::binary);
  LPT_CHECK(in, source, ": cannot open '", path, "'");
  std::string text(size, '\0');
  in.read(text.data(), std::streamsize(size));
  LPT_CHECK(in.gcount() == std::streamsize(size), source, ": reading '", path, "' failed");
  return parse_json_text(text, source);
}

}  // namespace lpt
