#include "dependency_key.hpp"

#include <algorithm>

#include "bosh/common/error.hpp"
#include "bosh/common/json.hpp"

namespace bosh::director {

namespace {
plugin::Json tree(const std::map<std::string, PackageDeps>& packages, const std::string& name, int depth) {
  if (depth > 64) fail("package '{}': dependency cycle", name);
  auto it = packages.find(name);
  if (it == packages.end()) fail("package '{}' is not in the release", name);
  std::vector<std::string> deps = it->second.dependencies;
  std::sort(deps.begin(), deps.end());
  plugin::JsonArray::Ptr out = new plugin::JsonArray;
  for (const auto& d : deps) {
    auto dep = packages.find(d);
    if (dep == packages.end()) fail("package '{}' depends on '{}', which the release lacks", name, d);
    plugin::JsonArray::Ptr entry = new plugin::JsonArray;
    entry->add(d);
    entry->add(dep->second.version);
    plugin::Json sub = tree(packages, d, depth + 1);
    if (sub.extract<plugin::JsonArray::Ptr>()->size() > 0) entry->add(sub);
    out->add(entry);
  }
  return out;
}
}  // namespace

std::string dependency_key(const std::map<std::string, PackageDeps>& packages, const std::string& name) {
  return to_json(tree(packages, name, 0));
}

}  // namespace bosh::director
