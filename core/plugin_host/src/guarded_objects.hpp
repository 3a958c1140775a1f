// Wrappers around objects a plugin made: every call guarded, library kept alive.
#pragma once

#include <memory>
#include <string>

#include "bosh/plugin/blobstore.hpp"
#include "bosh/plugin/cli.hpp"
#include "bosh/plugin/cpi.hpp"

namespace bosh::plugin_host {

// Keeps whatever must outlive the plugin's objects (the shared library, the
// HostServices they hold a reference to). Destroyed last.
struct Keepalive {
  virtual ~Keepalive() = default;
};

std::shared_ptr<plugin::Cpi> guard_cpi(std::string plugin_name, std::unique_ptr<plugin::Cpi> impl,
                                       std::shared_ptr<Keepalive> keepalive);
std::shared_ptr<plugin::Blobstore> guard_blobstore(std::string plugin_name,
                                                   std::unique_ptr<plugin::Blobstore> impl,
                                                   std::shared_ptr<Keepalive> keepalive);
std::shared_ptr<plugin::CommandGroup> guard_cli(std::string plugin_name,
                                                std::unique_ptr<plugin::CommandGroup> impl,
                                                std::shared_ptr<Keepalive> keepalive);

}  // namespace bosh::plugin_host
