// Hostile text at the edges: YAML alias bombs, deep nesting, duplicate keys
// and bytes that are not UTF-8 are refused with the line at fault, in time
// and memory bounded by the input's size.
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "bosh/common/error.hpp"
#include "bosh/common/json.hpp"
#include "bosh/common/utf8.hpp"
#include "bosh/common/yaml.hpp"

namespace {

std::string yaml_error(const std::string& text, const bosh::YamlLimits& limits = {}) {
  try {
    bosh::parse_yaml(text, "m.yml", limits);
  } catch (const bosh::InputError& e) {
    return e.what();
  }
  return "(no error)";
}

std::string json_error(const std::string& text) {
  try {
    bosh::parse_json(text, "in.json");
  } catch (const bosh::InputError& e) {
    return e.what();
  }
  return "(no error)";
}

// The classic "billion laughs": each level's anchor is ten aliases of the one
// before, so `levels` levels expand to 10^levels scalars.
std::string laughs(int levels, const std::string& indent = "") {
  std::string text = indent + "a0: &a0 \"lol\"\n";
  for (int i = 1; i <= levels; ++i) {
    text += indent + "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int j = 0; j < 10; ++j) text += std::string(j ? ", " : "") + "*a" + std::to_string(i - 1);
    text += "]\n";
  }
  return text;
}

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("yaml: a billion laughs is refused at the alias that goes past the limit and quickly") {
    const std::string bomb = "cloud_properties:\n" + laughs(9, "  ");
    CHECK(bomb.size() < 1024);
    const auto start = std::chrono::steady_clock::now();
    const std::string error = yaml_error(bomb);
    // Far below what expanding the 10^9 scalars would take (the message below
    // pins the 2 million node limit); room for a busy machine and sanitizers.
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(20));
    CHECK(error.rfind("m.yml:9:", 0) == 0);  // a7: the level that crosses 2 million nodes
    CHECK(error.find("expands to more than 2000000 nodes (aliases included)") != std::string::npos);
  }

  TEST_CASE("yaml: aliases within the limits still work and their anchors are shared") {
    auto root = bosh::parse_yaml(laughs(3), "m.yml");
    CHECK(root["a3"].size() == 10);
    CHECK(root["a3"][9][9][9].as<std::string>() == "lol");
    auto j = bosh::yaml_to_json(bosh::parse_yaml("base: &b {x: 1}\nuse: *b\n", "t"));
    CHECK(bosh::to_json(j) == R"({"base":{"x":"1"},"use":{"x":"1"}})");
  }

  TEST_CASE("yaml: the expanded byte size and the alias count are bounded too") {
    bosh::YamlLimits small;
    small.max_bytes = 1 << 20;
    const std::string big(600 * 1024, 'x');
    CHECK(yaml_error("a: &a " + big + "\nb: *a\n", small) ==
          "m.yml:2:4: the document expands to more than 1 MiB of values (aliases included)");
    bosh::YamlLimits few;
    few.max_aliases = 3;
    CHECK(yaml_error("a: &a 1\nb: [*a, *a, *a, *a]\n", few) == "m.yml:2:17: more than 3 aliases in one document");
  }

  TEST_CASE("yaml: nesting deeper than the limit is refused with its line") {
    std::string deep;
    for (int i = 0; i < 300; ++i) deep += "[";
    for (int i = 0; i < 300; ++i) deep += "]";
    CHECK(yaml_error(deep) == "m.yml:1:257: nested more than 256 levels deep");
    std::string block;
    for (int i = 0; i < 260; ++i) block += std::string(static_cast<std::size_t>(i) * 2, ' ') + "k:\n";
    CHECK(yaml_error(block).find("nested more than 256 levels deep") != std::string::npos);
  }

  TEST_CASE("yaml: a key given twice in one map is refused (YAML 1.2) at the second one") {
    CHECK(yaml_error("name: badc\nreleases: []\nname: other\n") == "m.yml:3:1: duplicate key 'name'");
    CHECK(yaml_error("a:\n  x: 1\n  y: 2\n  x: 3\n") == "m.yml:4:3: duplicate key 'x'");
    CHECK(yaml_error("{a: 1, a: 2}") == "m.yml:1:8: duplicate key 'a'");
    // The same key in different maps, or as a value, is fine.
    CHECK(yaml_error("a: {x: 1}\nb: {x: 1}\nc: a\nd: [a, a]\n") == "(no error)");
  }

  TEST_CASE("yaml: an alias to a node that contains it is refused") {
    CHECK(yaml_error("a: &a [1, *a]\n") == "m.yml:1:11: alias refers to a node that contains it");
  }

  TEST_CASE("yaml: bytes that are not UTF-8 are refused with line and column") {
    CHECK(yaml_error("name: ok\nversion: \xff\xfe\n") == "m.yml:2:10: not UTF-8 (byte 0xff)");
    CHECK(yaml_error("a: \"caf\xc3\xa9\"\n") == "(no error)");
    CHECK(yaml_error("a: \xed\xa0\x80\n") == "m.yml:1:4: not UTF-8 (byte 0xed)");  // a surrogate
  }

  TEST_CASE("json: a key given twice is refused however it is spelled") {
    CHECK(json_error(R"({"config": {"remove_all": true, "remove_all": false}})") ==
          "in.json:1:33: duplicate key \"remove_all\"");
    CHECK(json_error(R"({"a": 1, "\u0061": 2})") == "in.json:1:10: duplicate key \"a\"");
    CHECK(json_error(R"([{"a": 1}, {"a": 2}])") == "(no error)");
  }

  TEST_CASE("json: what we write is valid UTF-8 even when a string is not") {
    bosh::plugin::JsonObject::Ptr o = new bosh::plugin::JsonObject;
    o->set("name", std::string("bad\xff\xfe"));
    const std::string text = bosh::to_json(o);
    CHECK(text == "{\"name\":\"bad\xef\xbf\xbd\xef\xbf\xbd\"}");
    CHECK(bosh::is_utf8(text));
    CHECK_NOTHROW(bosh::parse_json(text, "back"));
  }

  TEST_CASE("utf8: offsets of the first bad byte and mending") {
    CHECK_FALSE(bosh::utf8_error_offset("plain ascii"));
    CHECK(bosh::utf8_error_offset("ab\xc3(").value() == 2);
    CHECK(bosh::utf8_error_offset("\xc0\x80").value() == 0);  // overlong NUL
    CHECK(bosh::mend_utf8("a\xffz") == "a\xef\xbf\xbdz");
    CHECK(bosh::mend_utf8("\xe2\x82\xac") == "\xe2\x82\xac");
  }
}
