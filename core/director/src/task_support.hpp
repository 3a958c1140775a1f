// What the deployment tasks (one file each: task_*.cpp) share: payload
// readers, the deployment lock, parallel runs and the deploy itself, which
// state changes and errands reuse.
#pragma once

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include <cctype>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "bosh/common/error.hpp"
#include "bosh/common/json.hpp"
#include "bosh/director/workers.hpp"
#include "deploy.hpp"

namespace bosh::director {

using plugin::Json;
using plugin::JsonArray;
using plugin::JsonObject;
using namespace deploy;

inline Json args(std::initializer_list<Json> items) {
  JsonArray::Ptr a = new JsonArray;
  for (const auto& i : items) a->add(i);
  return a;
}

inline JsonObject::Ptr payload_of(TaskContext& ctx) { return as_object(parse_json(ctx.task().payload, "task payload"), "task payload"); }

inline bool flag(const JsonObject::Ptr& o, const std::string& key) {
  return o->has(key) && !o->get(key).isEmpty() && o->get(key).convert<bool>();
}

// ?skip_drain= as the Go CLI sends it: "*" (or "true") for all, else a
// comma list of groups and group/ids.
inline void read_skip_drain(const std::string& value, bool& all, std::set<std::string>& some) {
  if (value.empty() || value == "false") return;
  if (value == "*" || value == "true") {
    all = true;
    return;
  }
  std::stringstream in(value);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) some.insert(item);
}

inline std::string text(const JsonObject::Ptr& o, const std::string& key) {
  return o->has(key) && !o->get(key).isEmpty() ? o->get(key).convert<std::string>() : "";
}

// A lock ("lock:<type>:<resource>", e.g. a deployment or a release being
// uploaded), held and renewed for as long as the task works on it.
class TaskLock {
 public:
  // `busy` says what the holder is doing, for the refusal ("is already being uploaded").
  TaskLock(TaskContext& ctx, const std::string& type, const std::string& resource, const std::string& busy = "is locked")
      : locks_(ctx.db()), name_("lock:" + type + ":" + resource), task_(ctx.task().id) {
    if (!locks_.acquire(name_, task_, ctx.task().username, kTtl)) {
      std::string holder;
      for (const auto& l : locks_.list())
        if (l.name == name_)
          holder = fmt::format(" by task {} (user '{}', since {})", l.task_id, l.username, l.acquired_at);
      std::string what = type;
      if (!what.empty()) what[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(what[0])));
      fail("{} '{}' {}{}; try again when it is done (bosh locks)", what, resource, busy, holder);
    }
    renewer_ = std::thread([this] {
      std::unique_lock lock(mutex_);
      while (!done_) {
        cv_.wait_for(lock, std::chrono::seconds(15));
        if (!done_) locks_.renew(name_, task_, kTtl);
      }
    });
  }
  ~TaskLock() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    cv_.notify_all();
    renewer_.join();
    try {
      locks_.release(name_, task_);
    } catch (const std::exception&) {
    }
  }
  TaskLock(const TaskLock&) = delete;
  TaskLock& operator=(const TaskLock&) = delete;

 private:
  static constexpr std::chrono::seconds kTtl{60};
  Locks locks_;
  std::string name_;
  std::int64_t task_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread renewer_;
};

// The deployment's lock, held (and renewed) for as long as the task works on it.
class DeploymentLock : public TaskLock {
 public:
  DeploymentLock(TaskContext& ctx, const std::string& deployment) : TaskLock(ctx, "deployment", deployment) {}
};

// Runs fn over items, `width` at a time; the first failure stops new starts
// and is rethrown once the running ones end.
template <typename T, typename F>
void run_parallel(std::vector<T*>& items, int width, F fn) {
  std::mutex mutex;
  std::size_t next = 0;
  std::exception_ptr error;
  auto worker = [&] {
    for (;;) {
      T* item;
      {
        std::lock_guard lock(mutex);
        if (error || next >= items.size()) return;
        item = items[next++];
      }
      try {
        fn(*item);
      } catch (...) {
        std::lock_guard lock(mutex);
        if (!error) error = std::current_exception();
      }
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < std::max(1, std::min<int>(width, static_cast<int>(items.size()))); ++i) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  if (error) std::rethrow_exception(error);
}

// ---- the deploy ----------------------------------------------------------------------

struct DeployRequest {
  std::string manifest;  // as the operator wrote it (with ((variables)))
  PlanOptions plan_options;
  bool skip_drain = false, dry_run = false, fix = false;
  // --skip-drain=G[/ID],...: only these groups or instances skip drain (skip_drain: all do).
  std::set<std::string> skip_drain_for;
  bool skips_drain(const std::string& group, const std::string& uuid, int index) const {
    return skip_drain || skip_drain_for.count(group) || skip_drain_for.count(group + "/" + uuid) ||
           skip_drain_for.count(group + "/" + std::to_string(index));
  }
  std::string canaries, max_in_flight;  // overrides
  // Only these instances are updated (state changes); null: every changed one.
  std::function<bool(const InstancePlan&)> only;
  std::function<void(InstancePlan&)> adjust;  // e.g. the desired state of `bosh start`
  std::set<std::string> errands;              // errand groups to give VMs
};

struct Prepared {
  Plan plan;
  std::int64_t deployment_id = 0;
  std::int64_t cloud_config_id = 0;
};

// Plans the deployment (manifest, cloud config, variables, instances) without touching anything.
Prepared prepare(Deployer& d, const DeployRequest& req);
// New instance rows and the IPs the plan chose, in one transaction.
void record_plan(Deployer& d, Prepared& p);
// The whole deploy under the deployment's lock: plan, compile, render, update, post-deploy.
std::string run_deploy(TaskContext& ctx, const DeployRequest& req, const std::string& deployment_name);

// The task types (registered in deployments.cpp).
std::string update_deployment_task(TaskContext& ctx);
std::string delete_deployment_task(TaskContext& ctx);
std::string change_state_task(TaskContext& ctx);
std::string vm_state_task(TaskContext& ctx);
std::string run_errand_task(TaskContext& ctx);
std::string fetch_logs_task(TaskContext& ctx);
std::string cleanup_task(TaskContext& ctx);
std::string ssh_task(TaskContext& ctx);
std::string snapshot_task(TaskContext& ctx);
std::string delete_snapshot_task(TaskContext& ctx);
std::string export_release_task(TaskContext& ctx);
// A disk about to be deleted: its snapshots go first (CPI and rows).
void delete_disk_snapshots(TaskContext& ctx, const std::string& disk_cid);

}  // namespace bosh::director
