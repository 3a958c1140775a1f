// YAML loading whose errors point at the file, line and column at fault.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include <yaml-cpp/yaml.h>

#include "bosh/common/error.hpp"
#include "bosh/plugin/json.hpp"

namespace bosh {

// What one YAML text may expand to. Every YAML read goes through parse_yaml,
// which checks these on the parser's events before any node is built (an
// alias costs what its anchor holds, so a "billion laughs" is refused after
// reading it once, in time and memory bounded by its size).
struct YamlLimits {
  std::size_t max_aliases = 10000;      // alias uses (*name) in one document
  std::size_t max_depth = 256;          // nesting of maps and lists
  std::size_t max_nodes = 2'000'000;    // nodes after expanding every alias
  std::size_t max_bytes = 128u << 20;   // scalar bytes after expanding every alias
};

// Parses one YAML document; InputError "<origin>:<line>:<col>: <problem>".
// Also refused, with the line: text that is not UTF-8, a key given twice in
// one map (YAML 1.2), an alias to a node that contains it, and anything past
// `limits`.
YAML::Node parse_yaml(std::string_view text, std::string_view origin, const YamlLimits& limits = {});
// Reads and parses a file; IoError when it cannot be read.
YAML::Node load_yaml_file(const std::filesystem::path& path);

// "<origin>:<line>:<col>" of a node (1-based), or "<origin>" when the node has
// no position (built in memory).
std::string yaml_where(const YAML::Node& node, std::string_view origin);

// A readable name for a node's type: "map", "list", "string", "null".
std::string yaml_type_name(const YAML::Node& node);

// Checked reads of a map's field. `what` names the map for messages, e.g.
// "~/.bosh_config". Errors: "<origin>:<line>:<col>: '<key>' must be a <type>, got <type>".
std::string yaml_string(const YAML::Node& map, const std::string& key, std::string_view origin,
                        std::string_view fallback = "");
YAML::Node yaml_map(const YAML::Node& map, const std::string& key, std::string_view origin);
YAML::Node yaml_list(const YAML::Node& map, const std::string& key, std::string_view origin);

// A YAML node as the plugin API's JSON value (maps, lists, strings; null for
// anything else). Scalars stay strings: YAML does not say what they are.
plugin::Json yaml_to_json(const YAML::Node& node);

// The same with scalars typed as YAML 1.1 (Ruby's Psych, BOSH's parser) reads
// them: plain `8080` is a number, `true`/`yes` a boolean, `~` null; quoted
// scalars stay strings. Manifests and properties go through this.
plugin::Json yaml_to_typed_json(const YAML::Node& node);

// A JSON value as block-style YAML (keys sorted), strings quoted where they
// would otherwise read back as another type.
std::string json_to_yaml(const plugin::Json& value);

// Serialises a node as block-style YAML ending in a newline.
std::string to_yaml(const YAML::Node& node);

}  // namespace bosh
