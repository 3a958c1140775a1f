// The ssh task (bosh ssh / scp): the agent of every chosen instance sets up
// (or cleans up) a login user with the CLI's public key. The result is one
// JSON array, an entry per instance: {status, job, index, id, ip,
// host_public_key, gateway_host, gateway_user}; the CLI checks the host key
// it is given (StrictHostKeyChecking=yes).
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include <mutex>

#include "bosh/common/error.hpp"
#include "bosh/common/json.hpp"
#include "bosh/director/configs.hpp"
#include "task_support.hpp"

namespace bosh::director {

namespace {

std::vector<std::string> strings(const JsonObject::Ptr& o, const std::string& key, const std::string& what) {
  std::vector<std::string> out;
  if (!o->has(key) || o->get(key).isEmpty()) return out;
  for (const auto& v : *as_array(o->get(key), what + "." + key)) out.push_back(v.toString());
  return out;
}

bool chosen(const ExistingInstance& i, const std::string& job, const std::vector<std::string>& ids) {
  if (!job.empty() && i.group != job) return false;
  if (ids.empty()) return true;
  for (const auto& id : ids)
    if (id == i.uuid || id == std::to_string(i.index)) return true;
  return false;
}

}  // namespace

std::string ssh_task(TaskContext& ctx) {
  auto p = payload_of(ctx);
  const std::string name = ctx.task().deployment;
  const std::string command = get_string(p, "command", "ssh");
  if (command != "setup" && command != "cleanup") fail<InputError>("ssh: command must be setup or cleanup, got '{}'", command);
  auto target = p->has("target") ? as_object(p->get("target"), "ssh: target") : JsonObject::Ptr(new JsonObject);
  const std::string job = find_string(target, "job", "ssh: target").value_or("");
  std::vector<std::string> ids = strings(target, "ids", "ssh: target");
  for (const auto& index : strings(target, "indexes", "ssh: target"))
    if (std::find(ids.begin(), ids.end(), index) == ids.end()) ids.push_back(index);
  auto params = as_object(p->get("params"), "ssh: params");
  Deployer d(ctx, name);
  auto instances = load_instances(d.db(), deployment_id_for(d.db(), name));
  std::vector<ExistingInstance*> targets;
  for (auto& i : instances)
    if (i.vm && chosen(i, job, ids)) targets.push_back(&i);
  if (targets.empty())
    fail("No instance with a VM in deployment '{}' matched {}{}", name, job.empty() ? "*" : job,
         ids.empty() ? "" : "/" + ids.front());

  std::mutex mutex;
  JsonArray::Ptr results = new JsonArray;
  const std::string user = find_string(params, "user", "ssh: params").value_or("");
  run_parallel(targets, ctx.config().max_threads, [&](ExistingInstance& e) {
    JsonArray::Ptr message = new JsonArray;
    message->add(command);
    message->add(params);
    JsonObject::Ptr entry = new JsonObject;
    entry->set("job", e.group);
    entry->set("index", e.index);
    entry->set("id", e.uuid);
    entry->set("gateway_host", ctx.config().ssh_gateway_host);
    entry->set("gateway_user", ctx.config().ssh_gateway_user);
    std::string error;
    try {
      auto r = as_object(d.agent(e.vm->agent_id)->send("ssh", Json(message), std::chrono::seconds(60)), "ssh result");
      entry->set("status", find_string(r, "status", "ssh result").value_or("failure"));
      entry->set("ip", find_string(r, "ip", "ssh result").value_or(""));
      entry->set("host_public_key", find_string(r, "host_public_key", "ssh result").value_or(""));
    } catch (const std::exception& ex) {
      error = ex.what();
      entry->set("status", "failure");
      entry->set("error", error);
    }
    Event ev{ctx.task().username, command + " ssh", "instance", e.group + "/" + e.uuid, std::to_string(ctx.task().id),
             name, e.group + "/" + e.uuid, error};
    JsonObject::Ptr context = new JsonObject;
    context->set("user", user);
    ev.context = to_json(Json(context));
    record_event(ctx.db(), ev);
    std::lock_guard lock(mutex);
    results->add(entry);
  });
  std::string failures;
  for (const auto& r : *results) {
    auto o = r.extract<JsonObject::Ptr>();
    if (o->has("error"))
      failures += fmt::format("{}{}/{}: {}", failures.empty() ? "" : "; ", o->getValue<std::string>("job"),
                              o->getValue<std::string>("id"), o->getValue<std::string>("error"));
  }
  if (!failures.empty()) fail("ssh {} failed on {}", command, failures);
  ctx.result_line(to_json(Json(results)));
  return "";
}

}  // namespace bosh::director
