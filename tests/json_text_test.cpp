// Untrusted JSON text (core/json_text.h): nesting deep enough to overflow the recursive walks is
// refused, as are repeated keys, with the JSON path; nlohmann's own checks (NUL bytes, invalid
// UTF-8, overflowing numbers, syntax) come back as errors naming the source.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/json_text.h"
#include "tests/support/test_helpers.h"

namespace lpt {
namespace {

std::string error_of(std::string_view text) {
  try {
    parse_json_text(text, "source 'x'");
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

std::string nested(int depth) { return std::string(size_t(depth), '[') + std::string(size_t(depth), ']'); }

TEST(JsonText, NestingIsLimited) {
  EXPECT_EQ(error_of(nested(kMaxJsonDepth)), "no error");
  const std::string m = error_of(nested(kMaxJsonDepth + 1));
  EXPECT_EQ(m.rfind("source 'x': /0/0/", 0), 0u) << m;
  EXPECT_NE(m.find(": nested deeper than 64 levels"), std::string::npos) << m;
  // Far deeper than the stack could take if anything walked it recursively.
  EXPECT_NE(error_of("{\"a\":" + nested(1000000) + "}").find("/a/0/0"), std::string::npos);
}

TEST(JsonText, RepeatedKeysAreRefusedWithTheirPath) {
  EXPECT_EQ(error_of(R"({"seed": 1, "seed": 2})"), "source 'x': /: key 'seed' appears twice");
  EXPECT_EQ(error_of(R"({"a": {"b": [1, {"c": 1, "c": 2}]}})"), "source 'x': /a/b/1: key 'c' appears twice");
  EXPECT_EQ(error_of(R"([{"c": 1}, {"c": 2}])"), "no error");  // one key in each of two objects
}

TEST(JsonText, NlohmannsChecksNameTheSource) {
  for (const std::string& text : {std::string("{\"a\":1e999}"), std::string("{\"a\":\"x\0y\"}", 12),
                                 std::string("{\"a\":\"\xff\"}"), std::string("{\"a\":"), std::string("")}) {
    const std::string m = error_of(text);
    EXPECT_EQ(m.rfind("source 'x': not valid JSON: ", 0), 0u) << m;
  }
  EXPECT_EQ(parse_json_text(R"({"a": [1, 2.5, "s", null, true]})", "s")["a"][1], 2.5);
}

TEST(JsonText, OutsideStringsMustBeUtf8) {
  EXPECT_EQ(json_string_text("caf\xc3\xa9", "s"), "caf\xc3\xa9");
  try {
    json_string_text("a\xa6", "--set 'x'");
    FAIL() << "invalid UTF-8 accepted";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("--set 'x': not valid UTF-8 text", 0), 0u) << e.what();
  }
}

TEST(JsonText, FilesAreSizeCheckedBeforeReading) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("lpt_json_text_" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string file = (dir / "a.json").string();
  std::ofstream(file) << R"({"k": [1, 2, 3]})";
  EXPECT_EQ(read_json_file(file, "config")["k"].size(), 3u);
  EXPECT_NE(testing::error_of([&] { read_json_file(file, "config", 10); }).find("more than the 10"), std::string::npos);
  EXPECT_NE(testing::error_of([&] { read_json_file((dir / "missing.json").string(), "config"); }).find("cannot read"),
            std::string::npos);
  EXPECT_NE(testing::error_of([&] { read_json_file(dir.string(), "config"); }).find("config: "), std::string::npos);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace lpt
