#pragma once
// Parsing JSON text that comes from outside (configs, --set values, format arguments, the JSON
// stored in checkpoints and exports, metrics lines). nlohmann's parser itself is iterative, but
// dump(), validators and error messages walk a value recursively, so deep nesting would overflow
// the stack, and JSON lets an object repeat a key (nlohmann keeps the last, silently):
// parse_json_text rejects both before building the value (nlohmann itself rejects invalid
// UTF-8, NUL bytes and numbers that overflow a double).
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace lpt {

inline constexpr int kMaxJsonDepth = 64;  // far above any config's nesting (5 levels)

// Throws lpt::Error starting with `source` (e.g. "config 'a.json'"): not valid JSON (with
// nlohmann's position and reason), nesting deeper than kMaxJsonDepth or a key repeated within
// one object, naming the JSON path.
nlohmann::json parse_json_text(std::string_view text, const std::string& source);

// A string from outside (a --set bare word, a key path) as a JSON string. nlohmann stores any
// bytes but dump() throws on invalid UTF-8, and error messages and manifests dump values, so
// invalid UTF-8 is refused here: lpt::Error starting with `source`.
nlohmann::json json_string_text(std::string_view text, const std::string& source);

// Reads a whole file (at most max_bytes, checked before reading) and parses it as above.
nlohmann::json read_json_file(const std::string& path, const std::string& source, int64_t max_bytes = 64 << 20);

}  // namespace lpt
