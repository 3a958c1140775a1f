// The director API's deployment routes (BOSH's deployments controller).
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/StreamCopier.h>

#include <sstream>

#include "bosh/common/error.hpp"
#include "bosh/common/json.hpp"
#include "bosh/common/names.hpp"
#include "bosh/director/manifest.hpp"
#include "bosh/common/yaml.hpp"
#include "bosh/release/spec.hpp"
#include "bosh/director/configs.hpp"
#include "bosh/director/deployments.hpp"
#include "bosh/director/diff.hpp"
#include "bosh/director/tasks.hpp"
#include "deploy.hpp"
#include "router.hpp"

namespace bosh::director {

using plugin::Json;
using plugin::JsonArray;
using plugin::JsonObject;

namespace {

std::int64_t enqueue(Call& c, const std::string& type, const std::string& description, const std::string& deployment,
                     const JsonObject::Ptr& payload, int priority = 0) {
  return TaskQueue(c.s.db).enqueue(type, description, c.user, deployment, to_json(Json(payload)), priority);
}

bool deployment_exists(Call& c, const std::string& name) {
  if (deploy::find_deployment(c.s.db, name)) return true;
  c.error(Status::HTTP_NOT_FOUND, 70000, "Deployment '" + name + "' doesn't exist");
  return false;
}

}  // namespace

void add_deployment_routes(Router& r) {
  r.add("GET", "/deployments", [](Call& c) { c.json(Status::HTTP_OK, list_deployments(c.s.db)); });

  r.add("POST", "/deployments", [](Call& c) {
    const std::string manifest = c.body();
    std::string name;
    try {
      auto root = as_object(yaml_to_typed_json(parse_yaml(manifest, "manifest")), "manifest");
      name = find_string(root, "name", "manifest").value_or("");
    } catch (const InputError& e) {
      return c.error(Status::HTTP_BAD_REQUEST, 40000, e.what());
    }
    if (name.empty()) return c.error(Status::HTTP_BAD_REQUEST, 40000, "manifest: missing 'name'");
    check_bosh_name("manifest: name", name);
    for (const char* f : {"canaries", "max_in_flight"})
      if (!c.q(f).empty()) check_count_or_percent(c.q(f), f);
    JsonObject::Ptr payload = new JsonObject;
    payload->set("manifest", manifest);
    for (const char* f : {"recreate", "dry_run", "fix", "recreate_persistent_disks"}) payload->set(f, c.flag(f));
    payload->set("skip_drain", c.q("skip_drain"));
    for (const char* f : {"canaries", "max_in_flight"})
      if (!c.q(f).empty()) payload->set(f, c.q(f));
    c.task(enqueue(c, "update_deployment", c.flag("dry_run") ? "create deployment (dry run)" : "create deployment", name,
                   payload));
  });

  r.add("GET", "/deployments/:d", [](Call& c) {
    auto d = deploy::find_deployment(c.s.db, c.params[0]);
    if (!d || d->manifest.empty())
      return c.error(Status::HTTP_NOT_FOUND, 70000, "Deployment '" + c.params[0] + "' doesn't exist");
    JsonObject::Ptr o = new JsonObject;
    o->set("manifest", d->manifest);
    c.json(Status::HTTP_OK, o);
  });

  r.add("DELETE", "/deployments/:d", [](Call& c) {
    if (!deployment_exists(c, c.params[0])) return;
    JsonObject::Ptr payload = new JsonObject;
    payload->set("force", c.flag("force"));
    payload->set("skip_drain", c.flag("skip_drain"));
    c.task(enqueue(c, "delete_deployment", "delete deployment " + c.params[0], c.params[0], payload));
  });

  // The diff `bosh deploy` shows before it asks; a manifest the deploy would
  // refuse is refused here (400, with the reason), before anyone confirms.
  r.add("POST", "/deployments/:d/diff", [](Call& c) {
    const std::string manifest = c.body();
    validate_manifest(c.s.db, c.s.config.name, manifest);
    auto d = deploy::find_deployment(c.s.db, c.params[0]);
    JsonObject::Ptr out = new JsonObject;
    out->set("diff", manifest_diff(d ? d->manifest : "", manifest, c.q("redact") != "false"));
    out->set("context", plugin::json_object());
    c.json(Status::HTTP_OK, out);
  });

  for (const std::string kind : {"vms", "instances"}) {
    r.add("GET", "/deployments/:d/" + kind, [kind](Call& c) {
      if (!deployment_exists(c, c.params[0])) return;
      if (c.q("format") == "full") {
        JsonObject::Ptr payload = new JsonObject;
        payload->set("instances", kind == "instances");
        return c.task(enqueue(c, "vms", "retrieve vm-stats", c.params[0], payload));
      }
      c.json(Status::HTTP_OK, list_vms(c.s.db, c.params[0], kind == "instances"));
    });
  }

  // start / stop / restart / recreate: PUT /deployments/d/jobs/<group|*>[/<id|index>]?state=
  auto change_state = [](Call& c) {
    if (!deployment_exists(c, c.params[0])) return;
    const std::string state = c.q("state");
    static const std::set<std::string> states = {"started", "stopped", "detached", "restart", "recreate"};
    if (!states.count(state))
      return c.error(Status::HTTP_BAD_REQUEST, 40000,
                     "state must be started, stopped, detached, restart or recreate, got '" + state + "'");
    JsonObject::Ptr payload = new JsonObject;
    payload->set("group", c.params[1]);
    payload->set("instance", c.params.size() > 2 ? c.params[2] : "");
    payload->set("state", state == "detached" ? std::string("stopped") : state);
    payload->set("hard", state == "detached" || c.flag("hard"));
    payload->set("skip_drain", c.flag("skip_drain"));
    payload->set("fix", c.flag("fix"));
    payload->set("dry_run", c.flag("dry_run"));
    for (const char* f : {"canaries", "max_in_flight"})
      if (!c.q(f).empty()) payload->set(f, c.q(f));
    const std::string what = c.params[1] + (c.params.size() > 2 ? "/" + c.params[2] : "");
    c.task(enqueue(c, "change_state", state + " " + what, c.params[0], payload));
  };
  r.add("PUT", "/deployments/:d/jobs/:group", change_state);
  r.add("PUT", "/deployments/:d/jobs/:group/:id", change_state);
  // --no-converge: one instance, without looking at the rest of the deployment.
  r.add("POST", "/deployments/:d/instance_groups/:group/:id/actions/:action", [](Call& c) {
    if (!deployment_exists(c, c.params[0])) return;
    static const std::map<std::string, std::string> states = {
        {"start", "started"}, {"stop", "stopped"}, {"restart", "restart"}, {"recreate", "recreate"}};
    auto it = states.find(c.params[3]);
    if (it == states.end())
      return c.error(Status::HTTP_NOT_FOUND, 404, "No such action '" + c.params[3] + "' (start, stop, restart or recreate)");
    JsonObject::Ptr payload = new JsonObject;
    payload->set("group", c.params[1]);
    payload->set("instance", c.params[2]);
    payload->set("state", it->second);
    payload->set("hard", c.flag("hard"));
    payload->set("skip_drain", c.flag("skip_drain"));
    payload->set("fix", c.flag("ignore_unresponsive_agent"));
    c.task(enqueue(c, "change_state", c.params[3] + " " + c.params[1] + "/" + c.params[2], c.params[0], payload));
  });

  r.add("GET", "/deployments/:d/jobs/:group/:id/logs", [](Call& c) {
    if (!deployment_exists(c, c.params[0])) return;
    JsonObject::Ptr payload = new JsonObject;
    payload->set("group", c.params[1]);
    payload->set("instance", c.params[2]);
    payload->set("type", c.q("type", "job"));
    plugin::JsonArray::Ptr filters = new plugin::JsonArray;
    std::stringstream in(c.q("filters"));
    for (std::string f; std::getline(in, f, ',');)
      if (!f.empty()) filters->add(f);
    payload->set("filters", filters);
    c.task(enqueue(c, "fetch_logs", "fetch logs", c.params[0], payload));
  });

  // Errand groups, and jobs with a bin/run template on service groups (co-located errands).
  r.add("GET", "/deployments/:d/errands", [](Call& c) {
    auto d = deploy::find_deployment(c.s.db, c.params[0]);
    if (!d || d->manifest.empty())
      return c.error(Status::HTTP_NOT_FOUND, 70000, "Deployment '" + c.params[0] + "' doesn't exist");
    std::set<std::string> runnable;
    for (const auto& t : c.s.db.rows("SELECT t.name, t.spec FROM templates t JOIN release_versions_templates l ON "
                                     "l.template_id = t.id JOIN deployments_release_versions dr ON "
                                     "dr.release_version_id = l.release_version_id WHERE dr.deployment_id = ?",
                                     {d->id})) {
      try {
        for (const auto& [src, dest] : release::parse_job_spec(t[1], t[0] + "/job.MF").templates)
          if (dest == "bin/run") runnable.insert(t[0]);
      } catch (const Error&) {
      }
    }
    JsonArray::Ptr out = new JsonArray;
    std::set<std::string> listed;
    auto add = [&](const std::string& name) {
      if (!listed.insert(name).second) return;
      JsonObject::Ptr e = new JsonObject;
      e->set("name", name);
      out->add(e);
    };
    auto root = as_object(yaml_to_typed_json(parse_yaml(d->manifest, "manifest")), "manifest");
    for (const char* key : {"instance_groups", "jobs"}) {
      if (!root->has(key) || root->get(key).isEmpty()) continue;
      for (const auto& g : *as_array(root->get(key), key)) {
        auto o = as_object(g, key);
        if (find_string(o, "lifecycle", key).value_or("service") == "errand") {
          add(get_string(o, "name", key));
          continue;
        }
        const char* jobs_key = o->has("jobs") ? "jobs" : "templates";
        if (!o->has(jobs_key) || o->get(jobs_key).isEmpty()) continue;
        for (const auto& j : *as_array(o->get(jobs_key), jobs_key)) {
          const std::string job = get_string(as_object(j, jobs_key), "name", jobs_key);
          if (runnable.count(job)) add(job);
        }
      }
    }
    c.json(Status::HTTP_OK, out);
  });

  r.add("POST", "/deployments/:d/errands/:name/runs", [](Call& c) {
    if (!deployment_exists(c, c.params[0])) return;
    JsonObject::Ptr payload = new JsonObject;
    payload->set("name", c.params[1]);
    // {"keep-alive": bool, "when-changed": bool, "instances": [{"group", "id"?}]}
    const std::string text = c.body();
    JsonObject::Ptr body = text.empty() ? JsonObject::Ptr(new JsonObject) : as_object(parse_json(text, "request body"), "request body");
    payload->set("keep_alive", find_bool(body, "keep-alive", "request body").value_or(false));
    payload->set("when_changed", find_bool(body, "when-changed", "request body").value_or(false));
    JsonArray::Ptr instances = new JsonArray;
    if (body->has("instances") && !body->get("instances").isEmpty()) {
      int n = 0;
      for (const auto& i : *as_array(body->get("instances"), "request body: instances")) {
        const std::string what = fmt::format("request body: instances[{}]", n++);
        auto o = as_object(i, what);
        JsonObject::Ptr f = new JsonObject;
        f->set("group", get_string(o, "group", what));
        if (auto id = find_string(o, "id", what)) f->set("id", *id);
        instances->add(f);
      }
    }
    payload->set("instances", instances);
    c.task(enqueue(c, "run_errand", "run errand " + c.params[1] + " from deployment " + c.params[0], c.params[0],
                   payload));
  });

  // The variables the director generated for the deployment: [{id, name}],
  // names as BOSH's config server shows them (/<director>/<deployment>/<name>).
  r.add("GET", "/deployments/:d/variables", [](Call& c) {
    auto d = deploy::find_deployment(c.s.db, c.params[0]);
    if (!d) return c.error(Status::HTTP_NOT_FOUND, 70000, "Deployment '" + c.params[0] + "' doesn't exist");
    JsonArray::Ptr out = new JsonArray;
    for (const auto& row : c.s.db.rows("SELECT id, name FROM variables WHERE deployment_id = ? ORDER BY name", {d->id})) {
      JsonObject::Ptr o = new JsonObject;
      o->set("id", row[0]);
      o->set("name", "/" + c.s.config.name + "/" + d->name + "/" + row[1]);
      out->add(o);
    }
    c.json(Status::HTTP_OK, out);
  });

  // bosh ignore / unignore: {"ignore": bool}
  r.add("PUT", "/deployments/:d/instance_groups/:group/:id/ignore", [](Call& c) {
    auto d = deploy::find_deployment(c.s.db, c.params[0]);
    if (!d) return c.error(Status::HTTP_NOT_FOUND, 70000, "Deployment '" + c.params[0] + "' doesn't exist");
    auto ignore = find_bool(c.json_body(), "ignore", "request body");
    if (!ignore) throw InputError("request body: 'ignore' (true or false) is required");
    const auto changed = c.s.db.exec("UPDATE instances SET ignored = ? WHERE deployment_id = ? AND job = ? AND (uuid = ? "
                                     "OR CAST(idx AS TEXT) = ?)",
                                     {db_bool(*ignore), d->id, c.params[1], c.params[2], c.params[2]});
    if (changed == 0)
      return c.error(Status::HTTP_NOT_FOUND, 70001,
                     "Instance '" + c.params[1] + "/" + c.params[2] + "' doesn't exist in deployment '" + d->name + "'");
    record_event(c.s.db, {c.user, *ignore ? "ignore" : "unignore", "instance", c.params[1] + "/" + c.params[2], "",
                          d->name, c.params[1] + "/" + c.params[2]});
    c.text(Status::HTTP_OK, "", "application/json");
  });

  r.add("GET", "/deployments/:d/snapshots", [](Call& c) {
    if (!deployment_exists(c, c.params[0])) return;
    c.json(Status::HTTP_OK, list_snapshots(c.s.db, c.params[0]));
  });
  r.add("POST", "/deployments/:d/snapshots", [](Call& c) {
    if (!deployment_exists(c, c.params[0])) return;
    c.task(enqueue(c, "snapshot_deployment", "snapshot deployment", c.params[0], new JsonObject));
  });
  r.add("POST", "/deployments/:d/jobs/:group/:id/snapshots", [](Call& c) {
    if (!deployment_exists(c, c.params[0])) return;
    JsonObject::Ptr payload = new JsonObject;
    payload->set("group", c.params[1]);
    payload->set("instance", c.params[2]);
    c.task(enqueue(c, "snapshot_deployment", "snapshot instance " + c.params[1] + "/" + c.params[2], c.params[0], payload));
  });
  r.add("DELETE", "/deployments/:d/snapshots", [](Call& c) {
    if (!deployment_exists(c, c.params[0])) return;
    c.task(enqueue(c, "delete_snapshot", "delete snapshots", c.params[0], new JsonObject));
  });
  r.add("DELETE", "/deployments/:d/snapshots/:cid", [](Call& c) {
    if (!deployment_exists(c, c.params[0])) return;
    JsonObject::Ptr payload = new JsonObject;
    payload->set("snapshot_cid", c.params[1]);
    c.task(enqueue(c, "delete_snapshot", "delete snapshot " + c.params[1], c.params[0], payload));
  });

  // bosh export-release: {deployment_name, release_name, release_version, stemcell_os, stemcell_version, sha2, jobs}
  r.add("POST", "/releases/export", [](Call& c) {
    auto body = c.json_body();
    const std::string deployment = get_string(body, "deployment_name", "request body");
    if (!deployment_exists(c, deployment)) return;
    JsonObject::Ptr payload = new JsonObject;
    for (const char* key : {"release_name", "release_version", "stemcell_os", "stemcell_version"})
      payload->set(key, get_string(body, key, "request body"));
    payload->set("sha2", find_bool(body, "sha2", "request body").value_or(false));
    JsonArray::Ptr jobs = new JsonArray;
    if (body->has("jobs") && !body->get("jobs").isEmpty())
      for (const auto& j : *as_array(body->get("jobs"), "request body: jobs")) {
        JsonObject::Ptr o = new JsonObject;
        o->set("name", get_string(as_object(j, "request body: jobs[]"), "name", "request body: jobs[]"));
        jobs->add(o);
      }
    payload->set("jobs", jobs);
    c.task(enqueue(c, "export_release",
                   "export release: '" + payload->getValue<std::string>("release_name") + "/" +
                       payload->getValue<std::string>("release_version") + "' for '" +
                       payload->getValue<std::string>("stemcell_os") + "/" +
                       payload->getValue<std::string>("stemcell_version") + "'",
                   deployment, payload));
  });

  // bosh ssh / scp: {"command": "setup"|"cleanup", "target": {"job", "indexes", "ids"},
  // "params": {"user", "public_key"} | {"user_regex"}}
  r.add("POST", "/deployments/:d/ssh", [](Call& c) {
    if (!deployment_exists(c, c.params[0])) return;
    auto body = c.json_body();
    const std::string command = get_string(body, "command", "request body");
    if (command != "setup" && command != "cleanup")
      throw InputError("request body: command must be setup or cleanup, got '" + command + "'");
    JsonObject::Ptr payload = new JsonObject;
    payload->set("command", command);
    payload->set("target", body->has("target") ? Json(as_object(body->get("target"), "request body: target"))
                                               : Json(plugin::json_object()));
    payload->set("params", as_object(body->has("params") ? body->get("params") : Json(), "request body: params"));
    c.task(enqueue(c, "ssh", "ssh: " + command, c.params[0], payload));
  });

  r.add("GET", "/resources/:id", [](Call& c) {
    if (!c.s.blobstore.exists(c.params[0]))
      return c.error(Status::HTTP_NOT_FOUND, 100000, "Resource '" + c.params[0] + "' not found");
    // Streamed as it is read from the blobstore (a log bundle may be large).
    std::ostream& out = c.resp.begin(Status::HTTP_OK, std::nullopt, "application/octet-stream");
    c.s.blobstore.get(c.params[0], out);
  });

  // {"config": {"remove_all": bool, "keep_orphaned_disks": bool}}, types checked.
  r.add("POST", "/cleanup", [](Call& c) {
    const std::string text = c.body();
    JsonObject::Ptr payload = new JsonObject;
    bool all = false, keep_disks = false;
    if (!text.empty()) {
      auto o = as_object(parse_json(text, "request body"), "request body");
      if (o->has("config") && !o->get("config").isEmpty()) {
        auto cfg = as_object(o->get("config"), "request body: config");
        all = find_bool(cfg, "remove_all", "request body: config").value_or(false);
        keep_disks = find_bool(cfg, "keep_orphaned_disks", "request body: config").value_or(false);
      }
    }
    payload->set("remove_all", all);
    payload->set("keep_orphaned_disks", keep_disks);
    c.task(enqueue(c, "cleanup", all ? "clean up all" : "clean up", "", payload));
  });
  r.add("GET", "/cleanup/dryrun", [](Call& c) {
    for (const char* key : {"remove_all", "keep_orphaned_disks"})
      if (!c.q(key).empty() && c.q(key) != "true" && c.q(key) != "false")
        throw InputError(std::string(key) + " must be true or false, got '" + c.q(key) + "'");
    c.json(Status::HTTP_OK, cleanup_plan(c.s.db, c.q("remove_all") == "true", c.q("keep_orphaned_disks") == "true"));
  });

  r.add("GET", "/disks", [](Call& c) { c.json(Status::HTTP_OK, list_orphaned_disks(c.s.db)); });
  // BOSH keeps VMs it replaced (create-swap-delete) and the networks it
  // created; this director does neither, so there are never any to list.
  r.add("GET", "/orphaned_vms", [](Call& c) { c.json(Status::HTTP_OK, plugin::json_array()); });
  r.add("GET", "/networks", [](Call& c) { c.json(Status::HTTP_OK, plugin::json_array()); });
}

}  // namespace bosh::director
