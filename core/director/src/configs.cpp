#include "bosh/director/configs.hpp"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include <ctime>
#include <map>
#include <regex>
#include <set>

#include "bosh/common/clock.hpp"
#include "bosh/common/error.hpp"
#include "bosh/common/json.hpp"
#include "bosh/common/yaml.hpp"

namespace bosh::director {

namespace {

constexpr const char* kColumns = "id, type, name, content, created_at";

void check_name(const std::string& what, const std::string& value) {
  static const std::regex allowed("[A-Za-z0-9_.-]{1,128}");
  if (!std::regex_match(value, allowed))
    fail<InputError>("config {} '{}' may only have letters, digits, '_', '.' and '-'", what, value);
}

ConfigRow to_row(const DbRow& r) {
  return {std::stoll(r[0]), r[1], r[2], r[3], std::stoll(r[4])};
}

// Which ids are the latest of their type and name.
std::set<std::int64_t> current_ids(Database& db) {
  std::set<std::int64_t> out;
  for (const auto& r : db.rows("SELECT MAX(id) FROM configs WHERE deleted = FALSE GROUP BY type, name"))
    if (!r[0].empty()) out.insert(std::stoll(r[0]));
  return out;
}

}  // namespace

void check_config(const std::string& type, const std::string& content) {
  const std::string origin = type + " config";
  YAML::Node root = parse_yaml(content, origin);
  if (!root.IsMap()) fail<InputError>("{}: expected a map, got {}", yaml_where(root, origin), yaml_type_name(root));
  if (type != "cloud") return;
  static const std::set<std::string> known = {"azs", "vm_types", "vm_extensions", "disk_types", "networks",
                                              "compilation"};
  for (const auto& kv : root)
    if (!known.count(kv.first.Scalar()))
      fail<InputError>("{}: unknown key '{}' (expected azs, compilation, disk_types, networks, vm_extensions or "
                       "vm_types)",
                       yaml_where(kv.first, origin), kv.first.Scalar());
  for (const char* list : {"azs", "vm_types", "vm_extensions", "disk_types", "networks"})
    if (YAML::Node items = yaml_list(root, list, origin)) {
      std::set<std::string> names;
      for (const auto& item : items) {
        if (!item.IsMap() || yaml_string(item, "name", origin).empty())
          fail<InputError>("{}: each of '{}' needs a name", yaml_where(item, origin), list);
        const std::string name = yaml_string(item, "name", origin);
        if (!names.insert(name).second)
          fail<InputError>("{}: {} '{}' is defined twice", yaml_where(item["name"], origin), list, name);
      }
    }
}

ConfigRow update_config(Database& db, const std::string& type, const std::string& name, const std::string& content) {
  check_name("type", type);
  check_name("name", name);
  check_config(type, content);
  if (auto latest = latest_config(db, type, name); latest && latest->content == content) return *latest;
  const std::int64_t id = db.insert("INSERT INTO configs (type, name, content, created_at) VALUES (?, ?, ?, ?)",
                                    {type, name, content, now_seconds()});
  return *config_by_id(db, id);
}

std::optional<ConfigRow> latest_config(Database& db, const std::string& type, const std::string& name) {
  auto rows = db.rows(fmt::format("SELECT {} FROM configs WHERE type = ? AND name = ? AND deleted = FALSE ORDER BY id "
                                  "DESC LIMIT 1",
                                  kColumns),
                      {type, name});
  if (rows.empty()) return std::nullopt;
  ConfigRow row = to_row(rows.front());
  row.current = true;
  return row;
}

std::vector<ConfigRow> latest_configs(Database& db, const std::string& type) {
  ConfigFilter f;
  f.type = type;
  auto rows = list_configs(db, f);
  std::reverse(rows.begin(), rows.end());  // oldest name first: a stable merge order
  return rows;
}

std::pair<plugin::Json, std::int64_t> merged_cloud_config(Database& db) {
  const auto rows = latest_configs(db, "cloud");
  if (rows.empty()) return {plugin::Json(), 0};
  Poco::JSON::Object::Ptr merged = new Poco::JSON::Object;
  std::map<std::string, std::string> owner;  // "list/name" -> config name
  std::int64_t newest = 0;
  for (const auto& row : rows) {
    newest = std::max(newest, row.id);
    const std::string origin = "cloud config '" + row.name + "'";
    auto o = as_object(yaml_to_typed_json(parse_yaml(row.content, origin)), origin);
    for (const auto& [key, value] : *o) {
      if (key == "compilation") {
        if (merged->has(key))
          fail<InputError>("compilation is given in cloud configs '{}' and '{}'", owner["compilation"], row.name);
        merged->set(key, value);
        owner["compilation"] = row.name;
        continue;
      }
      if (value.isEmpty()) continue;
      if (!merged->has(key)) merged->set(key, Poco::JSON::Array::Ptr(new Poco::JSON::Array));
      auto list = merged->getArray(key);
      for (const auto& item : *as_array(value, origin + ": " + key)) {
        const std::string name = item.type() == typeid(Poco::JSON::Object::Ptr)
                                     ? find_string(item.extract<Poco::JSON::Object::Ptr>(), "name", origin).value_or("")
                                     : "";
        const std::string id = key + "/" + name;
        if (!name.empty() && owner.count(id))
          fail<InputError>("{} '{}' is defined in cloud configs '{}' and '{}'", key, name, owner[id], row.name);
        owner[id] = row.name;
        list->add(item);
      }
    }
  }
  return {plugin::Json(merged), newest};
}

std::optional<ConfigRow> config_by_id(Database& db, std::int64_t id) {
  auto rows = db.rows(fmt::format("SELECT {} FROM configs WHERE id = ? AND deleted = FALSE", kColumns), {id});
  if (rows.empty()) return std::nullopt;
  ConfigRow row = to_row(rows.front());
  row.current = current_ids(db).count(row.id) > 0;
  return row;
}

std::vector<ConfigRow> list_configs(Database& db, const ConfigFilter& filter) {
  const auto current = current_ids(db);
  std::vector<ConfigRow> out;
  for (const auto& r : db.rows(fmt::format("SELECT {} FROM configs WHERE (? = '' OR type = ?) AND (? = '' OR name = ?) "
                                           "AND deleted = FALSE ORDER BY id DESC",
                                           kColumns),
                               {filter.type, filter.type, filter.name, filter.name})) {
    ConfigRow row = to_row(r);
    row.current = current.count(row.id) > 0;
    if (filter.latest && !row.current) continue;
    out.push_back(std::move(row));
    if (static_cast<int>(out.size()) >= filter.limit) break;
  }
  return out;
}

int delete_configs(Database& db, const std::string& type, const std::string& name) {
  return static_cast<int>(
      db.exec("UPDATE configs SET deleted = ? WHERE type = ? AND name = ? AND deleted = FALSE", {db_bool(true), type, name}));
}

bool delete_config_id(Database& db, std::int64_t id) {
  return db.exec("UPDATE configs SET deleted = ? WHERE id = ? AND deleted = FALSE", {db_bool(true), id}) > 0;
}

std::string ruby_time(std::int64_t unix_seconds) { return utc_time(unix_seconds, "%Y-%m-%d %H:%M:%S UTC"); }

std::int64_t record_event(Database& db, const Event& e) {
  return db.insert("INSERT INTO events (parent_id, timestamp, username, action, object_type, object_name, task, "
                   "deployment, instance, error, context) VALUES (NULLIF(?, 0), ?, ?, ?, ?, ?, ?, ?, ?, NULLIF(?, ''), ?)",
                   {e.parent_id, now_seconds(), e.user, e.action,
                    e.object_type, e.object_name, e.task, e.deployment, e.instance, e.error, e.context});
}

namespace {

constexpr const char* kEventColumns =
    "id, COALESCE(parent_id, 0), timestamp, username, action, object_type, object_name, task, deployment, instance, "
    "COALESCE(error, ''), context";

plugin::Json event_json(const DbRow& r) {
  Poco::JSON::Object::Ptr o = new Poco::JSON::Object;
  o->set("id", r[0]);
  if (r[1] != "0") o->set("parent_id", r[1]);
  o->set("timestamp", std::stoll(r[2]));
  o->set("user", r[3]);
  o->set("action", r[4]);
  o->set("object_type", r[5]);
  o->set("object_name", r[6]);
  o->set("task", r[7]);
  o->set("deployment", r[8]);
  o->set("instance", r[9]);
  o->set("error", r[10].empty() ? plugin::Json() : plugin::Json(r[10]));
  plugin::Json context = plugin::json_object();
  try {
    context = parse_json(r[11].empty() ? "{}" : r[11], "event context");
  } catch (const Error&) {
  }
  o->set("context", context);
  return o;
}

}  // namespace

plugin::Json list_events(Database& db, const EventFilter& f) {
  std::string where = "1 = 1";
  std::vector<DbParam> params;
  auto add = [&](const char* clause, DbParam value) {
    where += std::string(" AND ") + clause;
    params.push_back(std::move(value));
  };
  if (f.before_id) add("id < ?", f.before_id);
  if (f.before_time) add("timestamp < ?", f.before_time);
  if (f.after_time) add("timestamp > ?", f.after_time);
  for (const auto& [column, value] : std::vector<std::pair<const char*, const std::string*>>{
           {"deployment = ?", &f.deployment}, {"task = ?", &f.task}, {"instance = ?", &f.instance},
           {"username = ?", &f.user}, {"action = ?", &f.action}, {"object_type = ?", &f.object_type},
           {"object_name = ?", &f.object_name}})
    if (!value->empty()) add(column, *value);
  params.push_back(std::int64_t{std::clamp(f.limit, 1, 1000)});
  Poco::JSON::Array::Ptr out = new Poco::JSON::Array;
  for (const auto& r :
       db.rows(fmt::format("SELECT {} FROM events WHERE {} ORDER BY id DESC LIMIT ?", kEventColumns, where), params))
    out->add(event_json(r));
  return out;
}

std::optional<plugin::Json> event_by_id(Database& db, std::int64_t id) {
  auto rows = db.rows(fmt::format("SELECT {} FROM events WHERE id = ?", kEventColumns), {id});
  if (rows.empty()) return std::nullopt;
  return event_json(rows.front());
}

}  // namespace bosh::director
