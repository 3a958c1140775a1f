#include "bosh/common/json.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <vector>

#include <Poco/Dynamic/Struct.h>
#include <Poco/Exception.h>
#include <Poco/JSON/Parser.h>

#include "bosh/common/error.hpp"
#include "bosh/common/utf8.hpp"

namespace bosh {

namespace {

// A strict RFC 8259 scan that only locates the first error. POCO 1.11's
// parser says what is wrong ("unexpected byte ',' in value") but not where,
// and at end of input it prints garbage bytes; so when POCO refuses a text,
// this scan produces the message.
class JsonScanner {
 public:
  explicit JsonScanner(std::string_view text) : text_(text) {}

  // Empty if the text is valid JSON; else "<line>:<column>: <message>".
  std::string find_error() {
    try {
      skip_space();
      value(0);
      skip_space();
      if (pos_ < text_.size()) fail("unexpected " + describe_here() + " after the JSON value");
    } catch (const Found& found) {
      return found.message;
    }
    return {};
  }

 private:
  struct Found {
    std::string message;
  };
  static constexpr int kMaxDepth = 1000;

  [[noreturn]] void fail(const std::string& what) { fail_at(pos_, what); }
  [[noreturn]] void fail_at(std::size_t at, const std::string& what) {
    std::size_t line = 1, column = 1;
    for (std::size_t i = 0; i < at && i < text_.size(); ++i) {
      auto c = static_cast<unsigned char>(text_[i]);
      if (c == '\n') {
        ++line;
        column = 1;
      } else if ((c & 0xC0) != 0x80) {  // count UTF-8 characters, not bytes
        ++column;
      }
    }
    throw Found{fmt::format("{}:{}: {}", line, column, what)};
  }

  std::string describe_here() const {
    if (pos_ >= text_.size()) return "end of input";
    auto c = static_cast<unsigned char>(text_[pos_]);
    if (c < 0x20 || c >= 0x7f) return fmt::format("byte 0x{:02x}", c);
    return fmt::format("'{}'", static_cast<char>(c));
  }

  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[pos_]; }

  void skip_space() {
    while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) ++pos_;
  }

  void value(int depth) {
    if (depth > kMaxDepth) fail("nesting too deep");
    if (at_end()) fail("unexpected end of input, expected a value");
    switch (peek()) {
      case '{': return object(depth + 1);
      case '[': return array(depth + 1);
      case '"': return string();
      case 't': return literal("true");
      case 'f': return literal("false");
      case 'n': return literal("null");
      default:
        if (peek() == '-' || (peek() >= '0' && peek() <= '9')) return number();
        fail("unexpected " + describe_here() + ", expected a value");
    }
  }

  void literal(std::string_view word) {
    std::size_t start = pos_;
    std::size_t end = start;
    while (end < text_.size() && std::isalnum(static_cast<unsigned char>(text_[end]))) ++end;
    if (text_.substr(start, end - start) != word) {
      fail_at(start, fmt::format("invalid literal '{}', expected {}", text_.substr(start, end - start), word));
    }
    pos_ = end;
  }

  void digits() {
    if (!(peek() >= '0' && peek() <= '9')) fail("unexpected " + describe_here() + " in number, expected a digit");
    while (peek() >= '0' && peek() <= '9') ++pos_;
  }

  void number() {
    std::size_t start = pos_;
    bool is_integer = true;
    if (peek() == '-') ++pos_;
    if (peek() == '0') {
      ++pos_;
      if (peek() >= '0' && peek() <= '9') fail("leading zeros are not allowed in numbers");
    } else {
      digits();
    }
    if (peek() == '.') {
      is_integer = false;
      ++pos_;
      digits();
    }
    if (peek() == 'e' || peek() == 'E') {
      is_integer = false;
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      digits();
    }
    // POCO refuses what does not fit an Int64/UInt64 or a finite double.
    std::string literal(text_.substr(start, pos_ - start));
    errno = 0;
    if (is_integer) {
      if (literal[0] == '-') {
        (void)std::strtoll(literal.c_str(), nullptr, 10);
      } else {
        (void)std::strtoull(literal.c_str(), nullptr, 10);
      }
      if (errno == ERANGE) fail_at(start, fmt::format("number {} is out of range", literal));
    } else if (double d = std::strtod(literal.c_str(), nullptr); errno == ERANGE && std::isinf(d)) {
      fail_at(start, fmt::format("number {} is out of range", literal));
    }
  }

  unsigned hex4() {
    unsigned code = 0;
    for (int i = 0; i < 4; ++i, ++pos_) {
      char h = peek();
      if (!std::isxdigit(static_cast<unsigned char>(h))) fail("invalid \\u escape, expected 4 hex digits");
      code = code * 16 + static_cast<unsigned>(std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : (h | 0x20) - 'a' + 10);
    }
    return code;
  }

  void string() {
    std::size_t start = pos_;
    ++pos_;  // opening quote
    for (;;) {
      if (at_end()) fail_at(start, "unterminated string");
      auto c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"') {
        ++pos_;
        return;
      }
      if (c < 0x20) fail(c == '\n' ? "newline in string" : fmt::format("control character 0x{:02x} in string", c));
      if (c == '\\') {
        ++pos_;
        char e = peek();
        if (e == 'u') {
          std::size_t escape = pos_ - 1;
          ++pos_;
          unsigned code = hex4();
          if (code >= 0xDC00 && code <= 0xDFFF) fail_at(escape, "unpaired surrogate in \\u escape");
          if (code >= 0xD800 && code <= 0xDBFF) {
            if (text_.substr(pos_, 2) != "\\u") fail_at(escape, "unpaired surrogate in \\u escape");
            pos_ += 2;
            unsigned low = hex4();
            if (low < 0xDC00 || low > 0xDFFF) fail_at(escape, "unpaired surrogate in \\u escape");
          }
          continue;
        }
        if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos || at_end()) {
          fail_at(pos_ - 1, "invalid escape sequence");
        }
        ++pos_;
        continue;
      }
      std::size_t length = utf8_sequence_length(text_, pos_);
      if (length == 0) fail("invalid UTF-8 in string");
      pos_ += length;
    }
  }

  // A scanned string's content with its escapes resolved (the scan has
  // checked them), so "a" and "\u0061" are the same key.
  static std::string decoded(std::string_view raw) {
    if (raw.find('\\') == std::string_view::npos) return std::string(raw);
    std::string out;
    auto hex = [&](std::size_t at) { return static_cast<unsigned>(std::stoul(std::string(raw.substr(at, 4)), nullptr, 16)); };
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] != '\\') {
        out += raw[i];
        continue;
      }
      const char e = raw[++i];
      if (e != 'u') {
        static const std::string_view from = "\"\\/bfnrt", to = "\"\\/\b\f\n\r\t";
        out += to[from.find(e)];
        continue;
      }
      unsigned code = hex(i + 1);
      i += 4;
      if (code >= 0xD800 && code <= 0xDBFF) {
        code = 0x10000 + ((code - 0xD800) << 10) + (hex(i + 3) - 0xDC00);
        i += 6;
      }
      if (code < 0x80) {
        out += static_cast<char>(code);
      } else if (code < 0x800) {
        out += static_cast<char>(0xC0 | (code >> 6));
        out += static_cast<char>(0x80 | (code & 0x3F));
      } else if (code < 0x10000) {
        out += static_cast<char>(0xE0 | (code >> 12));
        out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (code & 0x3F));
      } else {
        out += static_cast<char>(0xF0 | (code >> 18));
        out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (code & 0x3F));
      }
    }
    return out;
  }

  void object(int depth) {
    ++pos_;  // '{'
    skip_space();
    if (peek() == '}') {
      ++pos_;
      return;
    }
    std::set<std::string> keys;
    for (;;) {
      if (peek() != '"') {
        fail("unexpected " + describe_here() + ", expected a string key");
      }
      const std::size_t key_at = pos_;
      string();
      // RFC 8259 leaves duplicate names to the reader; which one wins differs
      // between readers, so a name given twice is refused.
      if (const std::string key = decoded(text_.substr(key_at + 1, pos_ - key_at - 2)); !keys.insert(key).second)
        fail_at(key_at, fmt::format("duplicate key \"{}\"", key));
      skip_space();
      if (peek() != ':') fail("unexpected " + describe_here() + ", expected ':' after the key");
      ++pos_;
      skip_space();
      value(depth);
      skip_space();
      if (peek() == ',') {
        ++pos_;
        skip_space();
        if (peek() == '}') fail("trailing comma before '}'");
        continue;
      }
      if (peek() == '}') {
        ++pos_;
        return;
      }
      fail("unexpected " + describe_here() + ", expected ',' or '}'");
    }
  }

  void array(int depth) {
    ++pos_;  // '['
    skip_space();
    if (peek() == ']') {
      ++pos_;
      return;
    }
    for (;;) {
      value(depth);
      skip_space();
      if (peek() == ',') {
        ++pos_;
        skip_space();
        if (peek() == ']') fail("trailing comma before ']'");
        continue;
      }
      if (peek() == ']') {
        ++pos_;
        return;
      }
      fail("unexpected " + describe_here() + ", expected ',' or ']'");
    }
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

// ---- serialisation ---------------------------------------------------------

void write_string(std::string& out, const std::string& text) {
  // What we write is always JSON: bytes that are not UTF-8 (a file name, a
  // program's output) become U+FFFD rather than an answer no client can read.
  const std::string mended = is_utf8(text) ? std::string() : mend_utf8(text);
  const std::string& s = mended.empty() ? text : mended;
  out += '"';
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += fmt::format("\\u{:04x}", c);
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

void newline(std::string& out, bool pretty, int indent) {
  if (!pretty) return;
  out += '\n';
  out.append(static_cast<std::size_t>(indent) * 2, ' ');
}

void write_value(std::string& out, const plugin::Json& value, bool pretty, int indent);

template <typename Names, typename Get>
void write_object(std::string& out, Names names, Get get, bool pretty, int indent) {
  std::sort(names.begin(), names.end());
  if (names.empty()) {
    out += "{}";
    return;
  }
  out += '{';
  bool first = true;
  for (const auto& name : names) {
    if (!first) out += ',';
    first = false;
    newline(out, pretty, indent + 1);
    write_string(out, name);
    out += pretty ? ": " : ":";
    write_value(out, get(name), pretty, indent + 1);
  }
  newline(out, pretty, indent);
  out += '}';
}

template <typename Range>
void write_array(std::string& out, const Range& items, bool pretty, int indent) {
  if (items.begin() == items.end()) {
    out += "[]";
    return;
  }
  out += '[';
  bool first = true;
  for (const auto& item : items) {
    if (!first) out += ',';
    first = false;
    newline(out, pretty, indent + 1);
    write_value(out, item, pretty, indent + 1);
  }
  newline(out, pretty, indent);
  out += ']';
}

void write_double(std::string& out, double d) {
  if (!std::isfinite(d)) {
    out += "null";
    return;
  }
  std::string s = fmt::format("{}", d);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";  // stays a double when read back
  out += s;
}

void write_value(std::string& out, const plugin::Json& value, bool pretty, int indent) {
  using Poco::JSON::Array;
  using Poco::JSON::Object;
  if (value.isEmpty()) {
    out += "null";
    return;
  }
  const std::type_info& type = value.type();
  if (type == typeid(Object::Ptr) || type == typeid(Object)) {
    const Object& object = type == typeid(Object) ? value.extract<Object>() : *value.extract<Object::Ptr>();
    if (type == typeid(Object::Ptr) && value.extract<Object::Ptr>().isNull()) {
      out += "null";
      return;
    }
    std::vector<std::string> names;
    for (const auto& [name, _] : object) names.push_back(name);
    write_object(out, std::move(names), [&](const std::string& name) { return object.get(name); }, pretty,
                 indent);
    return;
  }
  if (type == typeid(Array::Ptr) || type == typeid(Array)) {
    if (type == typeid(Array::Ptr) && value.extract<Array::Ptr>().isNull()) {
      out += "null";
      return;
    }
    const Array& array = type == typeid(Array) ? value.extract<Array>() : *value.extract<Array::Ptr>();
    write_array(out, array, pretty, indent);
    return;
  }
  if (type == typeid(Poco::DynamicStruct)) {
    const auto& object = value.extract<Poco::DynamicStruct>();
    std::vector<std::string> names;
    for (const auto& [name, _] : object) names.push_back(name);
    write_object(out, std::move(names), [&](const std::string& name) { return object[name]; }, pretty, indent);
    return;
  }
  if (type == typeid(std::vector<plugin::Json>)) {
    write_array(out, value.extract<std::vector<plugin::Json>>(), pretty, indent);
    return;
  }
  if (value.isBoolean()) {
    out += value.extract<bool>() ? "true" : "false";
    return;
  }
  if (value.isString()) {
    write_string(out, value.convert<std::string>());
    return;
  }
  if (value.isNumeric()) {
    if (value.isInteger()) {
      out += value.convert<std::string>();
    } else {
      write_double(out, value.convert<double>());
    }
    return;
  }
  // Anything else POCO can hold: its string form.
  write_string(out, value.convert<std::string>());
}

}  // namespace

plugin::Json parse_json(std::string_view text, std::string_view origin) {
  std::string error = JsonScanner(text).find_error();
  if (!error.empty()) throw InputError(fmt::format("{}:{}", origin, error));
  try {
    Poco::JSON::Parser parser;
    // POCO 1.11 only parses an object or array at the top; RFC 8259 allows
    // any value, so a scalar is parsed as the single element of an array.
    std::size_t first = text.find_first_not_of(" \t\r\n");
    if (text[first] != '{' && text[first] != '[') {
      plugin::Json wrapped = parser.parse(fmt::format("[{}]", text));
      return wrapped.extract<plugin::JsonArray::Ptr>()->get(0);
    }
    return parser.parse(std::string(text));
  } catch (const Poco::Exception& e) {
    // The scan accepted it, so this is POCO being stricter than RFC 8259.
    throw InputError(fmt::format("{}:1:1: {}", origin, e.message().empty() ? e.displayText() : e.message()));
  }
}

plugin::Json load_json_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(fmt::format("{}: cannot read: {}", path.string(), std::strerror(errno)));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw IoError(fmt::format("{}: cannot read: {}", path.string(), std::strerror(errno)));
  return parse_json(buffer.str(), path.string());
}

std::string to_json(const plugin::Json& value, bool pretty) {
  std::string out;
  write_value(out, value, pretty, 0);
  return out;
}

std::string_view json_type_name(const plugin::Json& value) {
  using Poco::JSON::Array;
  using Poco::JSON::Object;
  if (value.isEmpty()) return "null";
  const std::type_info& type = value.type();
  if (type == typeid(Object::Ptr)) return value.extract<Object::Ptr>().isNull() ? "null" : "object";
  if (type == typeid(Object) || type == typeid(Poco::DynamicStruct)) return "object";
  if (type == typeid(Array::Ptr)) return value.extract<Array::Ptr>().isNull() ? "null" : "array";
  if (type == typeid(Array) || type == typeid(std::vector<plugin::Json>)) return "array";
  if (value.isBoolean()) return "boolean";
  if (value.isString()) return "string";
  if (value.isNumeric()) return "number";
  return "unknown";
}

const plugin::JsonObject::Ptr as_object(const plugin::Json& value, std::string_view what) {
  using Poco::JSON::Object;
  if (!value.isEmpty()) {
    if (value.type() == typeid(Object::Ptr) && !value.extract<Object::Ptr>().isNull()) {
      return value.extract<Object::Ptr>();
    }
    if (value.type() == typeid(Object)) return new Object(value.extract<Object>());
  }
  throw InputError(fmt::format("{}: expected an object, got {}", what, json_type_name(value)));
}

const plugin::JsonArray::Ptr as_array(const plugin::Json& value, std::string_view what) {
  using Poco::JSON::Array;
  if (!value.isEmpty()) {
    if (value.type() == typeid(Array::Ptr) && !value.extract<Array::Ptr>().isNull()) {
      return value.extract<Array::Ptr>();
    }
    if (value.type() == typeid(Array)) return new Array(value.extract<Array>());
  }
  throw InputError(fmt::format("{}: expected an array, got {}", what, json_type_name(value)));
}

std::optional<std::string> find_string(const plugin::JsonObject::Ptr& object, const std::string& key,
                                       std::string_view what) {
  if (object.isNull() || !object->has(key)) return std::nullopt;
  plugin::Json value = object->get(key);
  if (value.isEmpty()) return std::nullopt;
  if (!value.isString()) {
    throw InputError(fmt::format("{}: '{}' must be a string, got {}", what, key, json_type_name(value)));
  }
  return value.convert<std::string>();
}

std::optional<bool> find_bool(const plugin::JsonObject::Ptr& object, const std::string& key, std::string_view what) {
  if (object.isNull() || !object->has(key)) return std::nullopt;
  plugin::Json value = object->get(key);
  if (value.isEmpty()) return std::nullopt;
  if (!value.isBoolean())
    throw InputError(fmt::format("{}: '{}' must be true or false, got {}", what, key,
                                 value.isString() ? "'" + value.convert<std::string>() + "'" : std::string(json_type_name(value))));
  return value.extract<bool>();
}

std::string get_string(const plugin::JsonObject::Ptr& object, const std::string& key, std::string_view what) {
  if (object.isNull() || !object->has(key)) {
    throw InputError(fmt::format("{}: missing required key '{}'", what, key));
  }
  auto value = find_string(object, key, what);
  if (!value) throw InputError(fmt::format("{}: '{}' must be a string, got null", what, key));
  return *value;
}

plugin::Json deep_merge(const plugin::Json& base, const plugin::Json& over) {
  using plugin::JsonObject;
  if (base.type() != typeid(JsonObject::Ptr) || over.type() != typeid(JsonObject::Ptr))
    return over.isEmpty() ? base : over;
  JsonObject::Ptr out = new JsonObject;
  for (const auto& [k, v] : *base.extract<JsonObject::Ptr>()) out->set(k, v);
  for (const auto& [k, v] : *over.extract<JsonObject::Ptr>())
    out->set(k, out->has(k) && !v.isEmpty() ? deep_merge(out->get(k), v) : v);  // a null replaces too
  return out;
}

std::optional<plugin::Json> dig(const plugin::Json& value, const std::string& dotted_path) {
  plugin::Json at = value;
  std::size_t start = 0;
  while (start <= dotted_path.size()) {
    const std::size_t dot = dotted_path.find('.', start);
    const std::string key = dotted_path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (at.type() != typeid(plugin::JsonObject::Ptr)) return std::nullopt;
    auto o = at.extract<plugin::JsonObject::Ptr>();
    if (!o->has(key)) return std::nullopt;
    at = o->get(key);
    if (dot == std::string::npos) return at;
    start = dot + 1;
  }
  return at;
}

}  // namespace bosh
