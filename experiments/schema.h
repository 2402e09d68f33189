#pragma once
// A declarative schema for JSON configs: every key with its type, default, range and help text.
// Validation fills defaults and rejects unknown keys, wrong types and out-of-range values with the
// JSON path of the offending key; the same table prints the config reference (`lpt config-keys`).
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace lpt {

using json = nlohmann::json;

struct SchemaField {
  // removed: a key that no longer exists; `help` says what to write instead.
  enum class Kind { boolean, integer, number, string, number_list, integer_list, object, any, removed };
  std::string key;
  Kind kind;
  json default_value;  // null = required (objects: filled from their children's defaults)
  std::string help;
  std::optional<double> min, max;    // for numbers (and list elements)
  std::vector<std::string> choices;  // for strings
  std::vector<SchemaField> fields;   // for objects
  bool optional = false;             // may be absent without a default (null); objects too
  bool max_exclusive = false;        // max is excluded: [min, max)
  std::optional<size_t> min_items = {}, max_items = {};  // for lists
};

// Returns `config` with defaults filled; throws lpt::Error naming `source` and the key's JSON path
// (e.g. "config.json: /optimizer/lr: expected a number > 0, got -1").
json validate(const json& config, const std::vector<SchemaField>& schema, const std::string& source);

// One line per key: "/optimizer/lr  number (default 0.1)  learning rate ...".
std::string describe_schema(const std::vector<SchemaField>& schema);

// Applies "a.b.c=value" (value parsed as JSON, else taken as a string) to the config.
void apply_override(json& config, const std::string& assignment);

}  // namespace lpt
