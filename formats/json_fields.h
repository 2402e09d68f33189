#pragma once
// Reading a format's JSON object key by key: every error names the format, the key and what was
// expected, and finish() rejects the keys nobody read (a misspelt key is an error, not a default).
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace lpt::formats {

class JsonFields {
 public:
  // `what` names the object in errors, e.g. "format {\"type\":\"int\"...}".
  JsonFields(const nlohmann::json& object, std::string what);

  bool has(const char* key) const { return object_.contains(key); }
  int integer(const char* key, int fallback, int lo, int hi);
  double number(const char* key, double fallback, double lo, double hi);
  bool boolean(const char* key, bool fallback);
  // One of `choices` (returned as its index); `fallback` when the key is absent.
  size_t choice(const char* key, size_t fallback, const std::vector<std::string>& choices);
  // The raw value, or nullptr when absent; marks the key read.
  const nlohmann::json* raw(const char* key);
  // An error about `key`: "<what>: key '<key>' <message>".
  [[noreturn]] void fail_key(const char* key, const std::string& message) const;
  // Throws when a key was not read, listing the keys this format takes.
  void finish() const;

 private:
  const nlohmann::json& object_;
  std::string what_;
  std::set<std::string> read_;
};

}  // namespace lpt::formats
