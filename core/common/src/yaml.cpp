#include "bosh/common/yaml.hpp"

#include <regex>

#include "bosh/common/fs.hpp"

namespace bosh {

YAML::Node parse_yaml(std::string_view text, std::string_view origin) {
  try {
    return YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    // yaml-cpp marks are 0-based; editors count from 1.
    fail<InputError>("{}:{}:{}: {}", origin, e.mark.line + 1, e.mark.column + 1, e.msg);
  }
}

YAML::Node load_yaml_file(const std::filesystem::path& path) {
  return parse_yaml(read_file(path), path.string());
}

std::string yaml_where(const YAML::Node& node, std::string_view origin) {
  const YAML::Mark mark = node.Mark();
  if (mark.is_null()) return std::string(origin);
  return fmt::format("{}:{}:{}", origin, mark.line + 1, mark.column + 1);
}

std::string yaml_type_name(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: return "map";
    case YAML::NodeType::Sequence: return "list";
    case YAML::NodeType::Scalar: return "string";
    case YAML::NodeType::Null: return "null";
    default: return "nothing";
  }
}

namespace {
YAML::Node checked(const YAML::Node& map, const std::string& key, std::string_view origin,
                   YAML::NodeType::value type, std::string_view type_name) {
  const YAML::Node absent(YAML::NodeType::Undefined);
  if (!map.IsDefined() || map.IsNull()) return absent;
  if (!map.IsMap()) {
    fail<InputError>("{}: expected a map, got {}", yaml_where(map, origin), yaml_type_name(map));
  }
  YAML::Node value = map[key];
  if (!value.IsDefined() || value.IsNull()) return absent;
  if (value.Type() != type)
    fail<InputError>("{}: '{}' must be a {}, got {}", yaml_where(value, origin), key, type_name,
                     yaml_type_name(value));
  return value;
}
}  // namespace

std::string yaml_string(const YAML::Node& map, const std::string& key, std::string_view origin,
                        std::string_view fallback) {
  YAML::Node value = checked(map, key, origin, YAML::NodeType::Scalar, "string");
  return value ? value.Scalar() : std::string(fallback);
}

YAML::Node yaml_map(const YAML::Node& map, const std::string& key, std::string_view origin) {
  return checked(map, key, origin, YAML::NodeType::Map, "map");
}

YAML::Node yaml_list(const YAML::Node& map, const std::string& key, std::string_view origin) {
  return checked(map, key, origin, YAML::NodeType::Sequence, "list");
}

plugin::Json yaml_to_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      plugin::JsonObject::Ptr o = new plugin::JsonObject;
      for (const auto& kv : node) o->set(kv.first.Scalar(), yaml_to_json(kv.second));
      return o;
    }
    case YAML::NodeType::Sequence: {
      plugin::JsonArray::Ptr a = new plugin::JsonArray;
      for (const auto& item : node) a->add(yaml_to_json(item));
      return a;
    }
    case YAML::NodeType::Scalar: return node.Scalar();
    default: return plugin::Json();
  }
}

namespace {

bool one_of(const std::string& s, std::initializer_list<const char*> words) {
  for (const char* w : words)
    if (s == w) return true;
  return false;
}

// A plain scalar as YAML 1.1 resolves it (Ruby's Psych, which BOSH parses
// manifests with): null, booleans (yes/no/on/off too), integers, floats.
plugin::Json resolve_plain(const std::string& s) {
  if (one_of(s, {"", "~", "null", "Null", "NULL"})) return plugin::Json();
  if (one_of(s, {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"})) return true;
  if (one_of(s, {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"})) return false;
  static const std::regex integer("[-+]?(0|[1-9][0-9_]*)"), hex("0x[0-9a-fA-F_]+"),
      number("[-+]?([0-9][0-9_]*)?\\.[0-9]*([eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+");
  std::string digits;
  for (char c : s)
    if (c != '_') digits += c;
  try {
    if (std::regex_match(s, integer)) return static_cast<Poco::Int64>(std::stoll(digits));
    if (std::regex_match(s, hex)) return static_cast<Poco::Int64>(std::stoll(digits, nullptr, 16));
    // YAML 1.1's octal (010 is 8) and binary (0b101 is 5), as Psych reads them.
    static const std::regex octal("[-+]?0[0-7_]+"), binary("[-+]?0b[01_]+");
    if (std::regex_match(s, octal)) return static_cast<Poco::Int64>(std::stoll(digits, nullptr, 8));
    if (std::regex_match(s, binary)) {
      const bool negative = digits[0] == '-';
      const std::string bits = digits.substr(digits.find('b') + 1);
      const Poco::Int64 v = static_cast<Poco::Int64>(std::stoll(bits, nullptr, 2));
      return negative ? -v : v;
    }
    if (std::regex_match(s, number) && s != "." ) return std::stod(digits);
  } catch (const std::exception&) {
    // Out of range: keep the text.
  }
  return s;
}

}  // namespace

plugin::Json yaml_to_typed_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      plugin::JsonObject::Ptr o = new plugin::JsonObject;
      for (const auto& kv : node) o->set(kv.first.Scalar(), yaml_to_typed_json(kv.second));
      return o;
    }
    case YAML::NodeType::Sequence: {
      plugin::JsonArray::Ptr a = new plugin::JsonArray;
      for (const auto& item : node) a->add(yaml_to_typed_json(item));
      return a;
    }
    case YAML::NodeType::Scalar:
      // Quoted ("!") and explicitly tagged scalars are strings.
      if (node.Tag() == "?") return resolve_plain(node.Scalar());
      return node.Scalar();
    default: return plugin::Json();
  }
}

namespace {
void emit_json(YAML::Emitter& out, const plugin::Json& value) {
  if (value.isEmpty()) {
    out << YAML::Null;
  } else if (value.type() == typeid(plugin::JsonObject::Ptr)) {
    auto o = value.extract<plugin::JsonObject::Ptr>();
    if (o->size() == 0) {
      out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
      return;
    }
    out << YAML::BeginMap;
    std::vector<std::string> keys;
    o->getNames(keys);  // sorted
    for (const auto& k : keys) {
      out << YAML::Key << k << YAML::Value;
      emit_json(out, o->get(k));
    }
    out << YAML::EndMap;
  } else if (value.type() == typeid(plugin::JsonArray::Ptr)) {
    auto a = value.extract<plugin::JsonArray::Ptr>();
    if (a->size() == 0) {
      out << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
      return;
    }
    out << YAML::BeginSeq;
    for (const auto& item : *a) emit_json(out, item);
    out << YAML::EndSeq;
  } else if (value.type() == typeid(bool)) {
    out << (value.extract<bool>() ? "true" : "false");
  } else if (value.isString()) {
    const std::string s = value.convert<std::string>();
    // A string that would read back as something else is quoted.
    const plugin::Json back = resolve_plain(s);
    if (!back.isString() || s.empty())
      out << YAML::DoubleQuoted << s;
    else
      out << s;
  } else {
    out << value.convert<std::string>();
  }
}
}  // namespace

std::string json_to_yaml(const plugin::Json& value) {
  YAML::Emitter out;
  out.SetIndent(2);
  emit_json(out, value);
  std::string text = out.c_str();
  if (text.empty() || text.back() != '\n') text += '\n';
  return text;
}

std::string to_yaml(const YAML::Node& node) {
  YAML::Emitter out;
  out.SetIndent(2);
  out << node;
  std::string text = out.c_str();
  if (text.empty() || text.back() != '\n') text += '\n';
  return text;
}

}  // namespace bosh
