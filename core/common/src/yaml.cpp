#include "bosh/common/yaml.hpp"

#include <algorithm>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <vector>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>

#include "bosh/common/fs.hpp"
#include "bosh/common/utf8.hpp"

namespace bosh {

namespace {

// Walks the parser's events once, before any node is built: UTF-8, unique
// keys, depth, and the size the document has once every alias is expanded
// (each anchor's size is known when its node ends, so an alias costs one
// lookup, however large what it names).
class YamlGuard : public YAML::EventHandler {
 public:
  YamlGuard(std::string_view origin, const YamlLimits& limits) : origin_(origin), limits_(limits) {}

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override { leaf(mark, anchor, "~", 0); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor, const std::string& value) override {
    if (auto bad = utf8_error_offset(value))
      fail<InputError>("{}: not UTF-8 (byte 0x{:02x} at offset {} of this value)", where(mark),
                       static_cast<unsigned char>(value[*bad]), *bad);
    leaf(mark, anchor, value, value.size());
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    if (++aliases_ > limits_.max_aliases)
      fail<InputError>("{}: more than {} aliases in one document", where(mark), limits_.max_aliases);
    if (anchor >= anchors_.size() || !anchors_[anchor].done)
      fail<InputError>("{}: alias refers to a node that contains it", where(mark));
    key_or_value(mark, std::nullopt);
    count(mark, anchors_[anchor].nodes, anchors_[anchor].bytes);
    add_to_parent(anchors_[anchor].nodes, anchors_[anchor].bytes);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(mark, anchor, false);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(mark, anchor, true);
  }
  void OnMapEnd() override { close(); }

 private:
  struct Frame {
    bool is_map;
    YAML::anchor_t anchor;
    std::size_t nodes = 1, bytes = 0;
    bool expect_key = true;  // maps: the next event is a key
    std::set<std::string> keys;
  };
  struct Anchor {
    bool done = false;
    std::size_t nodes = 0, bytes = 0;
  };

  std::string where(const YAML::Mark& mark) const {
    return fmt::format("{}:{}:{}", origin_, mark.line + 1, mark.column + 1);
  }

  // In a map, every other event is a key; scalar keys must be unique.
  void key_or_value(const YAML::Mark& mark, const std::optional<std::string>& scalar) {
    if (stack_.empty() || !stack_.back().is_map) return;
    Frame& map = stack_.back();
    if (map.expect_key && scalar && !map.keys.insert(*scalar).second)
      fail<InputError>("{}: duplicate key '{}'", where(mark), *scalar);
    map.expect_key = !map.expect_key;
  }

  // Every node counts once where it stands and once more for every alias to it.
  void count(const YAML::Mark& mark, std::size_t nodes, std::size_t bytes) {
    total_nodes_ += nodes;
    total_bytes_ += bytes;
    if (total_nodes_ > limits_.max_nodes)
      fail<InputError>("{}: the document expands to more than {} nodes (aliases included)", where(mark),
                       limits_.max_nodes);
    if (total_bytes_ > limits_.max_bytes)
      fail<InputError>("{}: the document expands to more than {} MiB of values (aliases included)", where(mark),
                       limits_.max_bytes >> 20);
  }

  void add_to_parent(std::size_t nodes, std::size_t bytes) {
    if (stack_.empty()) return;
    stack_.back().nodes += nodes;
    stack_.back().bytes += bytes;
  }

  void anchor_done(YAML::anchor_t anchor, std::size_t nodes, std::size_t bytes) {
    if (anchor == YAML::NullAnchor) return;
    if (anchors_.size() <= anchor) anchors_.resize(anchor + 1);
    anchors_[anchor] = {true, nodes, bytes};
  }

  void leaf(const YAML::Mark& mark, YAML::anchor_t anchor, const std::string& value, std::size_t bytes) {
    key_or_value(mark, value);
    count(mark, 1, bytes);
    add_to_parent(1, bytes);
    anchor_done(anchor, 1, bytes);
  }

  void open(const YAML::Mark& mark, YAML::anchor_t anchor, bool is_map) {
    key_or_value(mark, std::nullopt);
    if (stack_.size() >= limits_.max_depth)
      fail<InputError>("{}: nested more than {} levels deep", where(mark), limits_.max_depth);
    count(mark, 1, 0);
    if (anchor != YAML::NullAnchor && anchors_.size() <= anchor) anchors_.resize(anchor + 1);
    stack_.push_back(Frame{is_map, anchor});
  }

  void close() {
    Frame f = std::move(stack_.back());
    stack_.pop_back();
    anchor_done(f.anchor, f.nodes, f.bytes);
    add_to_parent(f.nodes, f.bytes);
  }

  std::string_view origin_;
  const YamlLimits& limits_;
  std::vector<Frame> stack_;
  std::vector<Anchor> anchors_;
  std::size_t aliases_ = 0, total_nodes_ = 0, total_bytes_ = 0;
};

[[noreturn]] void yaml_syntax_error(const YAML::Exception& e, std::string_view origin) {
  // yaml-cpp marks are 0-based; editors count from 1.
  fail<InputError>("{}:{}:{}: {}", origin, e.mark.line + 1, e.mark.column + 1, e.msg);
}

}  // namespace

YAML::Node parse_yaml(std::string_view text, std::string_view origin, const YamlLimits& limits) {
  if (auto bad = utf8_error_offset(text)) {
    const auto before = text.substr(0, *bad);
    const std::size_t line = static_cast<std::size_t>(std::count(before.begin(), before.end(), '\n')) + 1;
    const std::size_t line_start = before.rfind('\n') == std::string_view::npos ? 0 : before.rfind('\n') + 1;
    fail<InputError>("{}:{}:{}: not UTF-8 (byte 0x{:02x})", origin, line, *bad - line_start + 1,
                     static_cast<unsigned char>(text[*bad]));
  }
  const std::string owned(text);
  try {
    std::istringstream in(owned);
    YAML::Parser parser(in);
    YamlGuard guard(origin, limits);
    parser.HandleNextDocument(guard);
  } catch (const YAML::Exception& e) {
    yaml_syntax_error(e, origin);
  }
  try {
    return YAML::Load(owned);
  } catch (const YAML::Exception& e) {
    yaml_syntax_error(e, origin);
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
