#include "bosh/common/yaml.hpp"

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

std::string to_yaml(const YAML::Node& node) {
  YAML::Emitter out;
  out.SetIndent(2);
  out << node;
  std::string text = out.c_str();
  if (text.empty() || text.back() != '\n') text += '\n';
  return text;
}

}  // namespace bosh
