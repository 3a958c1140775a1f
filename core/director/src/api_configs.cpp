// The director API's config routes: /configs (any type, named, versioned)
// and the legacy /cloud_configs, /runtime_configs and /cpi_configs, each
// with the /diff the CLI shows before it uploads.
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include "bosh/common/json.hpp"
#include "bosh/director/configs.hpp"
#include "bosh/director/diff.hpp"
#include "router.hpp"

namespace bosh::director {

using plugin::Json;
using plugin::JsonArray;
using plugin::JsonObject;

namespace {

JsonObject::Ptr config_json(const ConfigRow& c) {
  JsonObject::Ptr o = new JsonObject;
  o->set("id", std::to_string(c.id));
  o->set("type", c.type);
  o->set("name", c.name);
  o->set("content", c.content);
  o->set("created_at", ruby_time(c.created_at));
  o->set("team", Json());
  o->set("current", c.current);
  return o;
}

// The name a legacy route was given (?name=, empty for the default).
std::string config_name(const Call& c) { return c.q("name").empty() ? "default" : c.q("name"); }

ConfigRow store(Call& c, const std::string& type, const std::string& name, const std::string& content) {
  auto row = update_config(c.s.db, type, name, content);
  record_event(c.s.db, {c.user, "update", type + "-config", name});
  return row;
}

JsonObject::Ptr diff_answer(const Json& diff, const std::optional<ConfigRow>& from) {
  JsonObject::Ptr out = new JsonObject;
  out->set("diff", diff);
  if (from) {
    JsonObject::Ptr f = new JsonObject;
    f->set("id", std::to_string(from->id));
    out->set("from", f);
  }
  return out;
}

// {"from": {"id"|"content"}, "to": {"id"|"content"}}: one side's content.
std::string side_content(Call& c, const JsonObject::Ptr& body, const char* side, std::string& type) {
  if (!body->has(side)) throw InputError(std::string("request body: missing '") + side + "'");
  auto o = as_object(body->get(side), std::string("request body: ") + side);
  const std::string id = find_string(o, "id", side).value_or("");
  const std::string content = find_string(o, "content", side).value_or("");
  if (id.empty() == content.empty())
    throw InputError(std::string("request body: ") + side + " needs exactly one of 'id' and 'content'");
  if (id.empty()) return content;
  auto n = positive_id(id);
  auto row = n ? config_by_id(c.s.db, *n) : std::nullopt;
  if (!row) throw InputError(std::string("request body: ") + side + ": no config with id '" + id + "'");
  type = row->type;
  return row->content;
}

void configs_diff(Call& c) {
  auto body = c.json_body();
  if (body->has("from") || body->has("to")) {
    std::string type;
    const std::string before = side_content(c, body, "from", type);
    const std::string after = side_content(c, body, "to", type);
    return c.json(Status::HTTP_OK, diff_answer(config_diff(type, before, after, c.q("redact") != "false"), {}));
  }
  const std::string type = get_string(body, "type", "request body");
  const std::string name = find_string(body, "name", "request body").value_or("default");
  const std::string content = get_string(body, "content", "request body");
  check_config(type, content);
  auto latest = latest_config(c.s.db, type, name);
  c.json(Status::HTTP_OK,
         diff_answer(config_diff(type, latest ? latest->content : "", content, c.q("redact") != "false"), latest));
}

void add_legacy_routes(Router& r, const std::string& path, const std::string& type) {
  r.add("POST", path, [type](Call& c) {
    store(c, type, type == "cpi" ? "default" : config_name(c), c.body());
    c.text(Status::HTTP_CREATED, "", "application/json");
  });
  r.add("GET", path, [type](Call& c) {
    ConfigFilter f;
    f.type = type;
    f.name = type == "cpi" ? "default" : config_name(c);
    f.latest = false;
    f.limit = bounded_limit(c, 1, 100);
    JsonArray::Ptr out = new JsonArray;
    for (const auto& row : list_configs(c.s.db, f)) {
      JsonObject::Ptr o = new JsonObject;
      o->set("properties", row.content);
      o->set("created_at", ruby_time(row.created_at));
      out->add(o);
    }
    c.json(Status::HTTP_OK, out);
  });
  r.add("POST", path + "/diff", [type](Call& c) {
    const std::string content = c.body();
    check_config(type, content);
    auto latest = latest_config(c.s.db, type, type == "cpi" ? "default" : config_name(c));
    c.json(Status::HTTP_OK,
           diff_answer(config_diff(type, latest ? latest->content : "", content, c.q("redact") != "false"), {}));
  });
}

}  // namespace

void add_config_routes(Router& r) {
  r.add("POST", "/configs", [](Call& c) {
    auto body = c.json_body();
    const std::string type = get_string(body, "type", "request body");
    const std::string name = find_string(body, "name", "request body").value_or("default");
    const std::string content = get_string(body, "content", "request body");
    if (auto expected = find_string(body, "expected_latest_id", "request body"); expected && !expected->empty()) {
      auto latest = latest_config(c.s.db, type, name);
      const std::string latest_id = latest ? std::to_string(latest->id) : "0";
      if (latest_id != *expected) {
        JsonObject::Ptr o = new JsonObject;
        o->set("latest_id", latest_id);
        o->set("expected_latest_id", *expected);
        return c.json(Status::HTTP_PRECONDITION_FAILED, o);
      }
    }
    c.json(Status::HTTP_CREATED, config_json(store(c, type, name, content)));
  });
  r.add("GET", "/configs", [](Call& c) {
    ConfigFilter f;
    f.type = c.q("type");
    f.name = c.q("name");
    const std::string latest = c.q("latest", "true");
    if (latest != "true" && latest != "false")
      throw InputError("latest must be true or false, got '" + latest + "'");
    f.latest = latest == "true";
    // Every type and name's latest, however many; a limit only counts history (--recent).
    f.limit = f.latest ? 100000 : bounded_limit(c, 1000, 1000);
    JsonArray::Ptr out = new JsonArray;
    for (const auto& row : list_configs(c.s.db, f)) out->add(config_json(row));
    c.json(Status::HTTP_OK, out);
  });
  r.add("GET", "/configs/:id", [](Call& c) {
    auto id = positive_id(c.params[0]);
    auto row = id ? config_by_id(c.s.db, *id) : std::nullopt;
    if (!row) return c.error(Status::HTTP_NOT_FOUND, 440012, "Config " + c.params[0] + " not found");
    c.json(Status::HTTP_OK, config_json(*row));
  });
  r.add("DELETE", "/configs", [](Call& c) {
    if (c.q("type").empty()) throw InputError("type is required");
    const std::string name = c.q("name").empty() ? "default" : c.q("name");
    if (delete_configs(c.s.db, c.q("type"), name) == 0)
      return c.error(Status::HTTP_NOT_FOUND, 440012, "No config of type '" + c.q("type") + "' named '" + name + "'");
    record_event(c.s.db, {c.user, "delete", c.q("type") + "-config", name});
    c.no_content();
  });
  r.add("DELETE", "/configs/:id", [](Call& c) {
    auto id = positive_id(c.params[0]);
    auto row = id ? config_by_id(c.s.db, *id) : std::nullopt;
    if (!row || !delete_config_id(c.s.db, row->id))
      return c.error(Status::HTTP_NOT_FOUND, 440012, "Config " + c.params[0] + " not found");
    record_event(c.s.db, {c.user, "delete", row->type + "-config", row->name});
    c.no_content();
  });
  r.add("POST", "/configs/diff", configs_diff);
  add_legacy_routes(r, "/cloud_configs", "cloud");
  add_legacy_routes(r, "/runtime_configs", "runtime");
  add_legacy_routes(r, "/cpi_configs", "cpi");
}

}  // namespace bosh::director
