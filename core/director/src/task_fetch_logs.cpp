// The fetch_logs task: the logs of one instance, a group or a whole
// deployment ('*' for group or index means all), of the types asked for
// (job, agent, system, or several joined by ','). One instance's tarball is
// the result as the agent made it; several are bundled into one tarball of
// "<group>.<id>.<time>.tgz" entries, as BOSH does. The result is the blob id.
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <mutex>

#include "bosh/blobstore/blobstore.hpp"
#include "bosh/common/archive.hpp"
#include "bosh/common/clock.hpp"
#include "bosh/common/digest.hpp"
#include "bosh/common/error.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/json.hpp"
#include "task_support.hpp"

namespace bosh::director {

namespace {

bool wanted(const ExistingInstance& i, const std::string& group, const std::string& instance) {
  if (!group.empty() && group != "*" && i.group != group) return false;
  return instance.empty() || instance == "*" || i.uuid == instance || std::to_string(i.index) == instance;
}

// The agent's answer: {"blobstore_id", "sha1"}.
std::pair<std::string, std::string> fetch_one(Deployer& d, const ExistingInstance& e, const std::string& type,
                                              const JsonArray::Ptr& filters) {
  auto r = as_object(d.agent(e.vm->agent_id)->run("fetch_logs", args({type, filters}), std::chrono::minutes(30)),
                     "fetch_logs result");
  return {get_string(r, "blobstore_id", "fetch_logs result"), find_string(r, "sha1", "fetch_logs result").value_or("")};
}

}  // namespace

std::string fetch_logs_task(TaskContext& ctx) {
  auto p = payload_of(ctx);
  const std::string name = ctx.task().deployment, group = text(p, "group"), instance = text(p, "instance");
  const std::string type = text(p, "type").empty() ? "job" : text(p, "type");
  JsonArray::Ptr filters = new JsonArray;
  if (p->has("filters") && !p->get("filters").isEmpty())
    for (const auto& f : *as_array(p->get("filters"), "filters")) filters->add(f);
  Deployer d(ctx, name);
  auto instances = load_instances(d.db(), deployment_id_for(d.db(), name));
  std::vector<ExistingInstance*> targets;
  for (auto& i : instances)
    if (wanted(i, group, instance)) {
      if (i.vm)
        targets.push_back(&i);
      else if (!instance.empty() && instance != "*")
        fail("'{}' has no VM to fetch logs from", i.name());
    }
  if (targets.empty()) {
    if ((group.empty() || group == "*") && (instance.empty() || instance == "*"))
      fail("Deployment '{}' has no instances with VMs to fetch logs from", name);
    fail("No instance '{}{}' with a VM in deployment '{}'", group, instance.empty() || instance == "*" ? "" : "/" + instance,
         name);
  }
  if (targets.size() == 1) {
    std::string blob;
    d.step("Fetching logs", {targets[0]->group}, targets[0]->name(), 1, 1,
           [&] { blob = fetch_one(d, *targets[0], type, filters).first; });
    return blob;
  }
  TempDir work("bosh-fetch-logs");
  std::mutex mutex;
  std::vector<TarInput> bundle;
  std::atomic<int> index{0};
  const int total = static_cast<int>(targets.size());
  const std::string stamp = utc_time(now_seconds(), "%Y-%m-%d-%H-%M-%S");
  run_parallel(targets, ctx.config().max_threads, [&](ExistingInstance& e) {
    d.step("Fetching logs", {e.group}, e.name(), ++index, total, [&] {
      auto [id, digest] = fetch_one(d, e, type, filters);
      const std::string file = e.group + "." + e.uuid + "." + stamp + ".tgz";
      const auto path = work.path() / file;
      try {
        if (digest.empty()) {  // an agent that names no digest (older bosh-agents)
          std::ofstream out(path, std::ios::binary);
          ctx.blobstore().get(id, out);
        } else {
          blobstore::get_file(ctx.blobstore(), id, path, strongest_digest(parse_multi_digest(digest)));
        }
      } catch (...) {
        ctx.blobstore().delete_blob(id);
        throw;
      }
      ctx.blobstore().delete_blob(id);
      std::lock_guard lock(mutex);
      bundle.push_back({file, path});
    });
  });
  std::string blob;
  d.step("Fetching group of logs", {}, "Packing log files together", 1, 1, [&] {
    std::sort(bundle.begin(), bundle.end(), [](const TarInput& a, const TarInput& b) { return a.name < b.name; });
    create_tgz_from(bundle, work.path() / "logs.tgz");
    blob = blobstore::put_file(ctx.blobstore(), work.path() / "logs.tgz", DigestAlgorithm::sha1).id;
  });
  return blob;
}

}  // namespace bosh::director
