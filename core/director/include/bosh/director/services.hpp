// What the director's tasks and API share: its config, database, blobstore,
// the CPI (made from the configured plugin) and the message bus to agents.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "bosh/director/config.hpp"
#include "bosh/director/db.hpp"
#include "bosh/plugin/blobstore.hpp"
#include "bosh/plugin/cpi.hpp"

namespace bosh::mbus {
class NatsConnection;
}

namespace bosh::director {

struct DirectorServices {
  const DirectorConfig& config;
  Database& db;
  plugin::Blobstore& blobstore;
  std::string uuid;
  // A CPI object for one task (the plugin's objects are cheap; a task keeps
  // its own). Throws Error "no CPI configured" when director.yml names none.
  std::function<std::shared_ptr<plugin::Cpi>()> make_cpi;
  // {"api_version", "stemcell_formats"} of the configured CPI, or null.
  plugin::Json cpi_info;
  // The NATS connection to agents; null when director.yml names no NATS.
  mbus::NatsConnection* nats = nullptr;
  // The ERB renderer script (share/bosh/bosh_renderer.rb).
  std::string renderer;
};

}  // namespace bosh::director
