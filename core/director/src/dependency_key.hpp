// BOSH's dependency key of a compiled package: its direct dependencies,
// sorted by name, as [name, version(, [their dependencies...])], in JSON.
// Compiled packages are found again by (package, stemcell, this key).
#pragma once

#include <map>
#include <string>
#include <vector>

namespace bosh::director {

struct PackageDeps {
  std::string version;
  std::vector<std::string> dependencies;
};

// Error naming the package when a dependency is missing or they form a cycle.
std::string dependency_key(const std::map<std::string, PackageDeps>& packages, const std::string& name);

}  // namespace bosh::director
