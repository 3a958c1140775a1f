#include "bosh/director/configs.hpp"

#include <Poco/Data/RecordSet.h>
#include <Poco/Data/Statement.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include <chrono>
#include <set>

#include "bosh/common/clock.hpp"
#include "bosh/common/error.hpp"
#include "bosh/common/json.hpp"
#include "bosh/common/yaml.hpp"

namespace bosh::director {

using namespace Poco::Data::Keywords;

namespace {


void check_content(const std::string& type, const std::string& content) {
  const std::string origin = type + " config";
  YAML::Node root = parse_yaml(content, origin);
  if (!root.IsMap()) fail<InputError>("{}: expected a map, got {}", yaml_where(root, origin), yaml_type_name(root));
  if (type == "cloud") {
    static const std::set<std::string> known = {"azs", "vm_types", "vm_extensions", "disk_types", "networks",
                                                "compilation"};
    for (const auto& kv : root)
      if (!known.count(kv.first.Scalar()))
        fail<InputError>("{}: unknown key '{}' (expected azs, compilation, disk_types, networks, vm_extensions or "
                         "vm_types)",
                         yaml_where(kv.first, origin), kv.first.Scalar());
    for (const char* list : {"azs", "vm_types", "vm_extensions", "disk_types", "networks"})
      if (YAML::Node items = yaml_list(root, list, origin))
        for (const auto& item : items) {
          if (!item.IsMap() || yaml_string(item, "name", origin).empty())
            fail<InputError>("{}: each of '{}' needs a name", yaml_where(item, origin), list);
        }
  }
}

std::vector<ConfigRow> read_rows(Poco::Data::Statement& st) {
  st.execute();
  Poco::Data::RecordSet rs(st);
  std::vector<ConfigRow> out;
  for (bool more = rs.moveFirst(); more; more = rs.moveNext())
    out.push_back({rs[0].convert<std::int64_t>(), rs[1].convert<std::string>(), rs[2].convert<std::string>(),
                   rs[3].convert<std::string>(), rs[4].convert<std::int64_t>()});
  return out;
}

}  // namespace

ConfigRow update_config(Database& db, const std::string& type, const std::string& name, const std::string& content) {
  static const std::set<std::string> types = {"cloud", "runtime", "cpi"};
  if (!types.count(type)) fail<InputError>("config type '{}' is not cloud, runtime or cpi", type);
  if (name.empty()) fail<InputError>("a config needs a name");
  check_content(type, content);
  if (auto latest = latest_config(db, type, name); latest && latest->content == content) return *latest;
  auto s = db.session();
  std::string t = type, n = name, c = content;
  std::int64_t at = now_seconds();
  s << db.sql("INSERT INTO configs (type, name, content, created_at) VALUES (?, ?, ?, ?)"), use(t), use(n), use(c),
      use(at), now;
  return *latest_config(db, type, name);
}

std::optional<ConfigRow> latest_config(Database& db, const std::string& type, const std::string& name) {
  auto s = db.session();
  std::string t = type, n = name;
  Poco::Data::Statement st(s);
  st << db.sql("SELECT id, type, name, content, created_at FROM configs WHERE type = ? AND name = ? AND deleted = "
               "FALSE ORDER BY id DESC LIMIT 1"),
      use(t), use(n);
  auto rows = read_rows(st);
  if (rows.empty()) return std::nullopt;
  return rows.front();
}

std::vector<ConfigRow> list_configs(Database& db, const std::string& type, bool latest_only) {
  auto s = db.session();
  std::string t = type;
  Poco::Data::Statement st(s);
  st << db.sql("SELECT id, type, name, content, created_at FROM configs WHERE (? = '' OR type = ?) AND deleted = FALSE "
               "ORDER BY id DESC"),
      use(t), use(t);
  auto rows = read_rows(st);
  if (!latest_only) return rows;
  std::vector<ConfigRow> out;
  std::set<std::pair<std::string, std::string>> seen;
  for (auto& r : rows)
    if (seen.insert({r.type, r.name}).second) out.push_back(std::move(r));
  return out;
}

void record_event(Database& db, const Event& e) {
  auto s = db.session();
  Event v = e;
  std::int64_t at = now_seconds();
  s << db.sql("INSERT INTO events (timestamp, username, action, object_type, object_name, task, deployment, instance, "
              "error, context) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
      use(at), use(v.user), use(v.action), use(v.object_type), use(v.object_name), use(v.task), use(v.deployment),
      use(v.instance), use(v.error), use(v.context), now;
}

plugin::Json list_events(Database& db, int limit) {
  auto s = db.session();
  int l = limit;
  Poco::Data::Statement st(s);
  st << db.sql("SELECT id, timestamp, username, action, object_type, object_name, task, deployment, instance, "
               "COALESCE(error, ''), context FROM events ORDER BY id DESC LIMIT ?"),
      use(l);
  st.execute();
  Poco::Data::RecordSet rs(st);
  Poco::JSON::Array::Ptr out = new Poco::JSON::Array;
  for (bool more = rs.moveFirst(); more; more = rs.moveNext()) {
    Poco::JSON::Object::Ptr o = new Poco::JSON::Object;
    o->set("id", rs[0].convert<std::string>());
    o->set("timestamp", rs[1].convert<std::int64_t>());
    o->set("user", rs[2].convert<std::string>());
    o->set("action", rs[3].convert<std::string>());
    o->set("object_type", rs[4].convert<std::string>());
    o->set("object_name", rs[5].convert<std::string>());
    o->set("task", rs[6].convert<std::string>());
    o->set("deployment", rs[7].convert<std::string>());
    o->set("instance", rs[8].convert<std::string>());
    std::string error = rs[9].convert<std::string>();
    o->set("error", error.empty() ? plugin::Json() : plugin::Json(error));
    o->set("context", parse_json(rs[10].convert<std::string>(), "event context"));
    out->add(o);
  }
  return out;
}

}  // namespace bosh::director
