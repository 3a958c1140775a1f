// The vms task (GET .../vms|instances?format=full): one VMInfo JSON line per instance, with the agent's state and vitals.
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>

#include "bosh/common/clock.hpp"
#include "bosh/common/error.hpp"
#include "bosh/common/json.hpp"
#include "bosh/director/configs.hpp"
#include "task_support.hpp"

namespace bosh::director {

namespace {

// {name, version, api_version} of the stemcell the instance's VM runs (the
// spec keeps "name/version" for change detection).
Json stemcell_of(const Json& spec) {
  auto desc = dig(spec, "vm.stemcell");
  if (!desc || !desc->isString()) return Json();
  const std::string text = desc->convert<std::string>();
  JsonObject::Ptr o = new JsonObject;
  o->set("name", text.substr(0, text.find('/')));
  o->set("version", text.find('/') == std::string::npos ? "" : text.substr(text.find('/') + 1));
  auto api = dig(spec, "vm.stemcell_api_version");
  o->set("api_version", api && api->isInteger() ? api->convert<int>() : 1);
  return o;
}

}  // namespace

std::string vm_state_task(TaskContext& ctx) {
  auto p = payload_of(ctx);
  const std::string name = ctx.task().deployment;
  const bool with_missing = flag(p, "instances");
  Deployer d(ctx, name);
  auto instances = load_instances(d.db(), deployment_id_for(d.db(), name));
  std::vector<ExistingInstance*> all;
  for (auto& i : instances)
    if (i.vm || with_missing) all.push_back(&i);
  std::mutex mutex;
  std::vector<std::pair<std::string, std::string>> lines;  // sort key, line
  run_parallel(all, 16, [&](ExistingInstance& e) {
    JsonObject::Ptr o = new JsonObject;
    o->set("vm_cid", e.vm ? Json(e.vm->cid) : Json());
    o->set("active", e.vm.has_value());
    o->set("vm_created_at", e.vm ? Json(rfc3339(e.vm->created_at)) : Json());
    o->set("agent_id", e.vm ? Json(e.vm->agent_id) : Json());
    o->set("job_name", e.group);
    o->set("index", e.index);
    o->set("id", e.uuid);
    o->set("az", e.az.empty() ? Json() : Json(e.az));
    o->set("bootstrap", e.bootstrap);
    o->set("ignore", e.ignore);
    o->set("state", e.state);
    o->set("vm_type", dig(e.spec, "vm.vm_type").value_or(Json()));
    o->set("resource_pool", dig(e.spec, "vm.vm_type").value_or(Json()));
    o->set("stemcell", stemcell_of(e.spec));
    o->set("cloud_properties", dig(e.spec, "vm.cloud_properties").value_or(plugin::json_object()));
    o->set("resurrection_paused", false);
    o->set("dns", plugin::json_array());
    o->set("disk_cid", e.disk ? Json(e.disk->cid) : Json());
    JsonArray::Ptr disks = new JsonArray, ips = new JsonArray;
    if (e.disk) disks->add(e.disk->cid);
    o->set("disk_cids", disks);
    if (auto nets = dig(e.spec, "vm.networks"); nets && nets->type() == typeid(JsonObject::Ptr))
      for (const auto& [n, v] : *nets->extract<JsonObject::Ptr>())
        if (auto ip = dig(v, "ip")) ips->add(*ip);
    o->set("ips", ips);
    o->set("job_state", Json());
    o->set("processes", plugin::json_array());
    o->set("vitals", Json());
    if (e.vm) {
      try {
        mbus::AgentClient agent(*ctx.services().nats, e.vm->agent_id, ctx.services().uuid);
        auto st = as_object(agent.send("get_state", args({std::string("full")}), std::chrono::seconds(5)), "state");
        for (const char* k : {"job_state", "processes", "vitals"})
          if (st->has(k)) o->set(k, st->get(k));
      } catch (const std::exception& ex) {
        o->set("job_state", "unresponsive agent");
      }
    }
    std::lock_guard lock(mutex);
    lines.emplace_back(fmt::format("{}/{:08d}", e.group, e.index), to_json(Json(o)));
  });
  std::sort(lines.begin(), lines.end());
  for (const auto& [k, line] : lines) ctx.result_line(line);
  return "";
}

}  // namespace bosh::director
