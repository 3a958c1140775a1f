// The Deployer: a task's hands on the cloud (CPI) and the VMs (agents).
#include <thread>

#include "bosh/common/clock.hpp"
#include "bosh/common/error.hpp"
#include "bosh/common/json.hpp"
#include "bosh/common/random.hpp"
#include "bosh/mbus/nats.hpp"
#include "bosh/director/configs.hpp"
#include "deploy.hpp"

namespace bosh::director::deploy {

using plugin::JsonObject;

Deployer::Deployer(TaskContext& ctx, std::string deployment) : ctx_(ctx), deployment_(std::move(deployment)) {}

std::int64_t Deployer::record(const std::string& action, const std::string& object_type, const std::string& object_name,
                      const std::string& instance, const std::string& error) {
  // "group/uuid (index)" as the event log names instances is "group/uuid" here.
  std::string who = instance.substr(0, instance.find(' '));
  Event e{ctx_.task().username, action, object_type, object_name, std::to_string(ctx_.task().id), deployment_, who, error};
  e.parent_id = parent_event;
  try {
    return record_event(db(), e);
  } catch (const std::exception& ex) {
    ctx_.debug(fmt::format("could not record the event {} {} {}: {}", action, object_type, object_name, ex.what()));
    return 0;
  }
}

std::unique_ptr<mbus::AgentClient> Deployer::agent(const std::string& agent_id) {
  if (!ctx_.services().nats) fail("director.yml names no NATS: the director cannot reach agents");
  return std::make_unique<mbus::AgentClient>(*ctx_.services().nats, agent_id, ctx_.services().uuid);
}

void Deployer::wait_for_agent(mbus::AgentClient& agent, const std::string& vm_cid, const std::string& what) {
  const auto timeout = std::chrono::seconds(ctx_.config().agent_wait_timeout);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string last_error;
  // A ping sent before the agent subscribes is lost: ask again soon, then less often.
  auto wait = std::chrono::milliseconds(100);
  while (std::chrono::steady_clock::now() < deadline) {
    ctx_.check_cancelled();
    try {
      if (agent.ping(wait) == "pong") return;
    } catch (const std::exception& e) {
      last_error = e.what();
    }
    wait = std::min<std::chrono::milliseconds>(wait * 2, std::chrono::seconds(2));
  }
  fail("Timed out pinging agent {} of {} (VM {}) after {} s: {}", agent.agent_id(), what, vm_cid, timeout.count(),
       last_error.empty() ? "no answer" : last_error);
}

VmRow Deployer::create_vm(const std::string& what, std::int64_t instance_id, const StemcellRow& stemcell,
                          const Json& cloud_properties, Json& networks, const std::vector<std::string>& disk_cids,
                          const Json& env, const plugin::Metadata& metadata) {
  const std::string agent_id = random_uuid();
  plugin::CreateVmResult created;
  // A VMCreationFailed that may be retried is, a few times (BOSH's max_vm_create_tries).
  for (int attempt = 1;; ++attempt) {
    try {
      created = cpi().create_vm(agent_id, stemcell.cid, cloud_properties, networks, disk_cids, env);
      break;
    } catch (const plugin::VMCreationFailed& e) {
      if (!e.ok_to_retry() || attempt >= 5) throw;
      ctx_.debug(fmt::format("create_vm for {} failed (attempt {}), retrying: {}", what, attempt, e.what()));
    }
  }
  ctx_.debug(fmt::format("CPI create_vm({}) for {} -> {}", agent_id, what, created.vm_cid));
  record("create", "vm", created.vm_cid, instance_id ? what : "");
  VmRow vm{0, created.vm_cid, agent_id, now_seconds()};
  try {
    if (!created.networks.isEmpty()) networks = created.networks;
    plugin::Metadata meta = metadata;
    meta["director"] = ctx_.config().name;
    meta["deployment"] = deployment_;
    meta["created_at"] = std::to_string(vm.created_at);
    try {
      cpi().set_vm_metadata(vm.cid, meta);
    } catch (const plugin::NotImplemented&) {
    }
    if (instance_id)
      vm.id = db().insert("INSERT INTO vms (instance_id, cid, agent_id, cpi, active, created_at) VALUES "
                                          "(?, ?, ?, ?, ?, ?)",
                          {instance_id, vm.cid, agent_id, ctx_.config().cpi_plugin, db_bool(true), vm.created_at});
    auto client = agent(agent_id);
    wait_for_agent(*client, vm.cid, what);
  } catch (const std::exception&) {
    // Nothing half-made stays behind: the VM and its row go.
    try {
      cpi().delete_vm(vm.cid);
    } catch (const std::exception& e) {
      ctx_.warning(fmt::format("could not delete VM {} after a failed create: {}", vm.cid, e.what()));
    }
    if (vm.id) db().exec("DELETE FROM vms WHERE id = ?", {vm.id});
    throw;
  }
  return vm;
}

void Deployer::delete_vm(const VmRow& vm, const std::string& what) {
  cpi().delete_vm(vm.cid);
  ctx_.debug(fmt::format("CPI delete_vm({}) for {}", vm.cid, what));
  record("delete", "vm", vm.cid, vm.id ? what : "");
  if (vm.id) db().exec("DELETE FROM vms WHERE id = ?", {vm.id});
}

}  // namespace bosh::director::deploy
