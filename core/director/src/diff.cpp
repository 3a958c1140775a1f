#include "bosh/director/diff.hpp"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include <algorithm>
#include <regex>

#include "bosh/common/digest.hpp"
#include "bosh/common/json.hpp"
#include "bosh/common/line_diff.hpp"
#include "bosh/common/yaml.hpp"

namespace bosh::director {

using plugin::Json;
using plugin::JsonArray;
using plugin::JsonObject;

namespace {

Json redacted(const Json& v, bool under_secret) {
  if (v.type() == typeid(JsonObject::Ptr)) {
    JsonObject::Ptr out = new JsonObject;
    for (const auto& [k, item] : *v.extract<JsonObject::Ptr>())
      out->set(k, redacted(item, under_secret || k == "properties" || k == "env"));
    return out;
  }
  if (v.type() == typeid(JsonArray::Ptr)) {
    JsonArray::Ptr out = new JsonArray;
    for (const auto& item : *v.extract<JsonArray::Ptr>()) out->add(redacted(item, under_secret));
    return out;
  }
  // A digest in the marker makes a changed secret a changed line; it is cut
  // from what is shown.
  if (under_secret && !v.isEmpty()) return "<redacted:" + sha1_hex(to_json(v)).substr(0, 12) + ">";
  return v;
}

// The YAML's top-level sections in `order` (the rest after, sorted), each
// as block YAML, a blank line between sections.
std::vector<std::string> yaml_lines(const std::string& text, const std::string& origin, bool redact,
                                    const std::vector<std::string>& order) {
  if (text.empty()) return {};
  Json v = yaml_to_typed_json(parse_yaml(text, origin));
  if (v.isEmpty()) return {};
  if (redact) v = redacted(v, false);
  std::vector<std::string> lines;
  auto o = as_object(v, origin);
  std::vector<std::string> keys;
  for (const auto& k : order)
    if (o->has(k)) keys.push_back(k);
  std::vector<std::string> names;
  o->getNames(names);
  for (const auto& k : names)
    if (std::find(order.begin(), order.end(), k) == order.end()) keys.push_back(k);
  for (const auto& k : keys) {
    JsonObject::Ptr one = new JsonObject;
    one->set(k, o->get(k));
    std::string yaml = json_to_yaml(Json(one));
    if (!lines.empty()) lines.push_back("");
    for (std::size_t start = 0; start < yaml.size();) {
      auto nl = yaml.find('\n', start);
      lines.push_back(yaml.substr(start, nl - start));
      start = nl + 1;
    }
  }
  return lines;
}

Json as_json_diff(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  JsonArray::Ptr out = new JsonArray;
  static const std::regex marker("<redacted:[0-9a-f]{12}>");
  for (const auto& d : line_diff(a, b)) {
    JsonArray::Ptr l = new JsonArray;
    l->add(std::regex_replace(d.text, marker, "<redacted>"));
    l->add(d.op == DiffOp::same ? Json() : Json(std::string(d.op == DiffOp::added ? "added" : "removed")));
    out->add(l);
  }
  return out;
}

}  // namespace

Json manifest_diff(const std::string& old_manifest, const std::string& manifest, bool redact) {
  // BOSH's section order, then the rest.
  static const std::vector<std::string> order = {"name", "director_uuid", "releases", "stemcells", "update",
                                                 "compilation", "networks", "resource_pools", "disk_pools",
                                                 "instance_groups", "jobs", "addons", "variables", "properties"};
  return as_json_diff(yaml_lines(old_manifest, "deployed manifest", redact, order),
                      yaml_lines(manifest, "manifest", redact, order));
}

Json config_diff(const std::string& type, const std::string& before, const std::string& after, bool redact) {
  static const std::vector<std::string> cloud = {"azs", "vm_types", "vm_extensions", "disk_types", "networks",
                                                 "compilation"};
  static const std::vector<std::string> runtime = {"releases", "addons", "variables", "tags"};
  const auto& order = type == "cloud" ? cloud : type == "runtime" ? runtime : std::vector<std::string>{};
  const bool secrets = redact && type != "cloud";
  return as_json_diff(yaml_lines(before, type + " config (stored)", secrets, order),
                      yaml_lines(after, type + " config", secrets, order));
}

}  // namespace bosh::director
