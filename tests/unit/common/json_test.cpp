#include "bosh/common/json.hpp"

#include <doctest/doctest.h>

#include "bosh/common/error.hpp"
#include "test_tmp_dir.hpp"

using bosh::parse_json;
using bosh::to_json;

namespace {

std::string parse_error(std::string_view text, std::string_view origin = "in.json") {
  try {
    parse_json(text, origin);
  } catch (const bosh::InputError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("json: parse and serialise round trip with sorted keys") {
    auto value = parse_json(R"({"b": [1, 2.5, "x", true, null, {}], "a": {"z": -3, "y": "q\"\n\u00e9"}, "c": []})",
                            "in.json");
    std::string compact = to_json(value);
    CHECK(compact == R"({"a":{"y":"q\"\né","z":-3},"b":[1,2.5,"x",true,null,{}],"c":[]})");
    CHECK(to_json(parse_json(compact, "again")) == compact);
    CHECK(to_json(value, true) ==
          "{\n"
          "  \"a\": {\n"
          "    \"y\": \"q\\\"\\n\xc3\xa9\",\n"
          "    \"z\": -3\n"
          "  },\n"
          "  \"b\": [\n"
          "    1,\n"
          "    2.5,\n"
          "    \"x\",\n"
          "    true,\n"
          "    null,\n"
          "    {}\n"
          "  ],\n"
          "  \"c\": []\n"
          "}");
  }

  TEST_CASE("json: insertion-ordered objects still serialise sorted - scalars and escapes") {
    bosh::plugin::JsonObject::Ptr object = new bosh::plugin::JsonObject(Poco::JSON_PRESERVE_KEY_ORDER);
    object->set("zeta", 1);
    object->set("alpha", std::string("tab\there\x01"));
    object->set("mid", 2.0);
    object->set("big", static_cast<Poco::Int64>(1) << 40);
    CHECK(to_json(bosh::plugin::Json(object)) ==
          R"({"alpha":"tab\there\u0001","big":1099511627776,"mid":2.0,"zeta":1})");
    CHECK(to_json(bosh::plugin::Json()) == "null");
    CHECK(to_json(bosh::plugin::json_array()) == "[]");
    CHECK(to_json(bosh::plugin::json_object(), true) == "{}");
    CHECK(to_json(parse_json("\"top-level string\"", "x")) == "\"top-level string\"");
    CHECK(to_json(parse_json(" 42 ", "x")) == "42");
    CHECK(to_json(parse_json("null", "x")) == "null");
    CHECK(to_json(parse_json("[\"\\ud83d\\ude00\"]", "x")) == "[\"\xf0\x9f\x98\x80\"]");
  }

  TEST_CASE("json: syntax errors point at line and column") {
    CHECK(parse_error("{\"a\": 1,}") == "in.json:1:9: trailing comma before '}'");
    CHECK(parse_error("{\n  \"a\": tru\n}") == "in.json:2:8: invalid literal 'tru', expected true");
    CHECK(parse_error("[1, 2") == "in.json:1:6: unexpected end of input, expected ',' or ']'");
    CHECK(parse_error("{\"a\" 1}") == "in.json:1:6: unexpected '1', expected ':' after the key");
    CHECK(parse_error("") == "in.json:1:1: unexpected end of input, expected a value");
    CHECK(parse_error("{\"a\":1} x") == "in.json:1:9: unexpected 'x' after the JSON value");
    CHECK(parse_error("{\n \"k\": [1,\n 2,\n x]}") == "in.json:4:2: unexpected 'x', expected a value");
    CHECK(parse_error("[\"abc", "<stdin>") == "<stdin>:1:2: unterminated string");
    CHECK(parse_error("{\"a\":\"b\nc\"}") == "in.json:1:8: newline in string");
    CHECK(parse_error("[01]") == "in.json:1:3: leading zeros are not allowed in numbers");
    CHECK(parse_error("[1.]") == "in.json:1:4: unexpected ']' in number, expected a digit");
    CHECK(parse_error("{'a': 1}") == "in.json:1:2: unexpected ''', expected a string key");
    CHECK(parse_error("[\"\\x\"]") == "in.json:1:3: invalid escape sequence");
    CHECK(parse_error("{\"é\": [1 2]}") == "in.json:1:10: unexpected '2', expected ',' or ']'");
    CHECK(parse_error("[1]\n\n  ]") == "in.json:3:3: unexpected ']' after the JSON value");
    // What POCO itself refuses is caught with a position too.
    CHECK(parse_error("[1,\n 123456789012345678901234567890]") ==
          "in.json:2:2: number 123456789012345678901234567890 is out of range");
    CHECK(parse_error("{\"x\": 1e400}") == "in.json:1:7: number 1e400 is out of range");
    CHECK(parse_error("[\"ab\xff\"]") == "in.json:1:5: invalid UTF-8 in string");
    CHECK(parse_error("[\"\\ud800x\"]") == "in.json:1:3: unpaired surrogate in \\u escape");
    CHECK(parse_error("[\"\\u12g4\"]") == "in.json:1:7: invalid \\u escape, expected 4 hex digits");
  }

  TEST_CASE("json: load_json_file") {
    bosh::testing::TmpDir tmp("json");
    bosh::testing::write_file(tmp / "ok.json", R"({"name": "x"})");
    auto value = bosh::load_json_file(tmp / "ok.json");
    CHECK(bosh::get_string(bosh::as_object(value, "ok.json"), "name", "ok.json") == "x");

    bosh::testing::write_file(tmp / "bad.json", "{\n  \"name\": \"x\",\n}\n");
    auto bad = (tmp / "bad.json").string();
    CHECK_THROWS_WITH_AS(bosh::load_json_file(bad), (bad + ":3:1: trailing comma before '}'").c_str(),
                         bosh::InputError);

    auto missing = (tmp / "missing.json").string();
    CHECK_THROWS_WITH_AS(bosh::load_json_file(missing), (missing + ": cannot read: No such file or directory").c_str(),
                         bosh::IoError);
  }

  TEST_CASE("json: accessors") {
    auto value = parse_json(R"({"s": "str", "n": 5, "z": null, "o": {}, "a": [1]})", "cfg");
    auto object = bosh::as_object(value, "cfg");
    CHECK(bosh::get_string(object, "s", "cfg") == "str");
    CHECK(bosh::find_string(object, "s", "cfg") == std::optional<std::string>("str"));
    CHECK_FALSE(bosh::find_string(object, "absent", "cfg").has_value());
    CHECK_FALSE(bosh::find_string(object, "z", "cfg").has_value());
    CHECK(bosh::as_array(object->get("a"), "cfg.a")->size() == 1);

    CHECK_THROWS_WITH_AS(bosh::get_string(object, "absent", "cfg"), "cfg: missing required key 'absent'",
                         bosh::InputError);
    CHECK_THROWS_WITH_AS(bosh::get_string(object, "n", "cfg"), "cfg: 'n' must be a string, got number",
                         bosh::InputError);
    CHECK_THROWS_WITH_AS(bosh::get_string(object, "z", "cfg"), "cfg: 'z' must be a string, got null",
                         bosh::InputError);
    CHECK_THROWS_WITH_AS(bosh::find_string(object, "o", "cfg"), "cfg: 'o' must be a string, got object",
                         bosh::InputError);
    CHECK_THROWS_WITH_AS(bosh::as_object(object->get("a"), "cfg.a"), "cfg.a: expected an object, got array",
                         bosh::InputError);
    CHECK_THROWS_WITH_AS(bosh::as_object(parse_json("\"x\"", "v"), "v"), "v: expected an object, got string",
                         bosh::InputError);
    CHECK_THROWS_WITH_AS(bosh::as_object(bosh::plugin::Json(), "nothing"), "nothing: expected an object, got null",
                         bosh::InputError);
    CHECK_THROWS_WITH_AS(bosh::as_array(object, "cfg"), "cfg: expected an array, got object", bosh::InputError);
    CHECK(bosh::json_type_name(parse_json("true", "b")) == "boolean");
    CHECK(bosh::json_type_name(parse_json("1.5", "n")) == "number");
  }
}
