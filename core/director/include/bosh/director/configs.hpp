// Configs (cloud, runtime, cpi: versioned YAML, latest wins) and events.
#pragma once

#include <optional>
#include <string>

#include "bosh/director/db.hpp"
#include "bosh/plugin/json.hpp"

namespace bosh::director {

struct ConfigRow {
  std::int64_t id = 0;
  std::string type, name, content;
  std::int64_t created_at = 0;
};

// Checks the YAML (a map; for cloud configs only BOSH's keys) and stores a
// new version; InputError naming the line otherwise. An unchanged content is
// not stored again (returns the latest).
ConfigRow update_config(Database& db, const std::string& type, const std::string& name, const std::string& content);
std::optional<ConfigRow> latest_config(Database& db, const std::string& type, const std::string& name = "default");
std::vector<ConfigRow> list_configs(Database& db, const std::string& type, bool latest_only);

struct Event {
  std::string user, action, object_type, object_name, task, deployment, instance, error;
  std::string context = "{}";
};
void record_event(Database& db, const Event& event);
plugin::Json list_events(Database& db, int limit);

}  // namespace bosh::director
