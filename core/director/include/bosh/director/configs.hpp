// Configs (cloud, runtime, cpi and any other type: versioned YAML per type
// and name, the latest wins) and events.
#pragma once

#include <optional>
#include <utility>
#include <string>
#include <vector>

#include "bosh/director/db.hpp"
#include "bosh/plugin/json.hpp"

namespace bosh::director {

struct ConfigRow {
  std::int64_t id = 0;
  std::string type, name, content;
  std::int64_t created_at = 0;
  bool current = false;  // the latest of its type and name
};

// Checks the YAML (a map; cloud configs only BOSH's keys, each named item
// once) and stores a new version; InputError naming the line otherwise.
// Types and names are [A-Za-z0-9_.-]+. An unchanged content is not stored
// again (returns the latest).
ConfigRow update_config(Database& db, const std::string& type, const std::string& name, const std::string& content);
// The same check without storing (diffs, dry runs).
void check_config(const std::string& type, const std::string& content);
std::optional<ConfigRow> latest_config(Database& db, const std::string& type, const std::string& name = "default");
// Every type's latest version of each name, e.g. all cloud configs a deploy merges.
std::vector<ConfigRow> latest_configs(Database& db, const std::string& type);
std::optional<ConfigRow> config_by_id(Database& db, std::int64_t id);

// What a deploy sees: every named cloud config's latest version merged (the
// lists joined; an item named twice, or compilation given twice, is an
// InputError naming both configs), and the newest id among them (0: none).
std::pair<plugin::Json, std::int64_t> merged_cloud_config(Database& db);

struct ConfigFilter {
  std::string type, name;  // empty: any
  bool latest = true;      // only each type and name's latest version
  int limit = 1000;
};
// Newest first.
std::vector<ConfigRow> list_configs(Database& db, const ConfigFilter& filter);
// Marks every version of type/name deleted; how many were.
int delete_configs(Database& db, const std::string& type, const std::string& name);
bool delete_config_id(Database& db, std::int64_t id);

// "2026-12-02 14:46:38 UTC": how BOSH shows a config's created_at.
std::string ruby_time(std::int64_t unix_seconds);

struct Event {
  std::string user, action, object_type, object_name, task, deployment, instance, error;
  std::string context = "{}";
  std::int64_t parent_id = 0;
};
// Returns the new event's id.
std::int64_t record_event(Database& db, const Event& event);

struct EventFilter {
  std::int64_t before_id = 0, before_time = 0, after_time = 0;  // 0: no bound
  std::string deployment, task, instance, user, action, object_type, object_name;
  int limit = 200;
};
// GET /events: newest first, [{id, parent_id, timestamp, user, action, object_type, object_name, task,
// deployment, instance, context, error}].
plugin::Json list_events(Database& db, const EventFilter& filter);
std::optional<plugin::Json> event_by_id(Database& db, std::int64_t id);

}  // namespace bosh::director
