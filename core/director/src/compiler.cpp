// Package compilation on compilation VMs (BOSH's package compile step).
#include <condition_variable>
#include <deque>
#include <thread>

#include "bosh/common/clock.hpp"
#include "bosh/common/error.hpp"
#include "bosh/common/json.hpp"
#include "bosh/director/tasks.hpp"
#include "deploy.hpp"
#include "dependency_key.hpp"

namespace bosh::director::deploy {

using plugin::JsonArray;
using plugin::JsonObject;

namespace {

struct CompileKey {
  std::string release, package, stemcell_alias;
  bool operator<(const CompileKey& o) const {
    return std::tie(release, package, stemcell_alias) < std::tie(o.release, o.package, o.stemcell_alias);
  }
};

struct CompileTask {
  CompileKey key;
  const PackageRow* package = nullptr;
  const StemcellRow* stemcell = nullptr;
  std::string dependency_key;
  std::vector<CompileKey> deps;  // direct dependencies
  // The compiled result.
  bool done = false;
  std::string version;  // "<version>.<build>"
  std::string sha1, blobstore_id;
};

// A compilation VM and the IP it holds.
struct CompileVm {
  VmRow vm;
  const StemcellRow* stemcell = nullptr;
  std::string ip_network, ip;
  std::unique_ptr<mbus::AgentClient> agent;
};

// The lowest free address of the compilation network's subnet in `az`,
// recorded (instance_id NULL) so no instance gets it meanwhile.
std::string reserve_compile_ip(Deployer& d, const Network& net, const std::string& az) {
  for (const auto& s : net.subnets) {
    if (!s.azs.empty() && std::find(s.azs.begin(), s.azs.end(), az) == s.azs.end()) continue;
    for (int attempt = 0; attempt < 5; ++attempt) {
      auto used = addresses_in_use(d.db(), net.name);
      std::string chosen;
      for (std::uint32_t ip = s.network + 1; ip < s.broadcast && chosen.empty(); ++ip) {
        const std::string text = format_ip(ip);
        if (text == s.gateway || s.in_reserved(ip) || s.in_static(ip) || used.count(text)) continue;
        chosen = text;
      }
      if (chosen.empty()) break;
      try {
        d.db().exec("INSERT INTO ip_addresses (network, address, static, task_id) VALUES (?, ?, ?, ?)",
                    {net.name, chosen, db_bool(false), d.ctx().task().id});
        return chosen;
      } catch (const DbError&) {
        // Taken by someone else just now: look again.
      }
    }
  }
  fail("no free IP for a compilation VM on network '{}'", net.name);
}

}  // namespace

void compile_packages(Deployer& d, Plan& plan) {
  TaskContext& ctx = d.ctx();
  std::map<CompileKey, CompileTask> tasks;
  d.step("Preparing package compilation", {}, "Finding packages to compile", 1, 1, [&] {
    std::function<void(const std::string&, const std::string&, const std::string&)> add;
    add = [&](const std::string& release, const std::string& package, const std::string& alias) {
      CompileKey key{release, package, alias};
      if (tasks.count(key)) return;
      const ReleaseVersionRow& rv = plan.releases.at(release);
      auto it = rv.packages.find(package);
      if (it == rv.packages.end()) fail("release '{}/{}' has no package '{}'", rv.name, rv.version, package);
      CompileTask t;
      t.key = key;
      t.package = &it->second;
      t.stemcell = &plan.stemcells.at(alias);
      std::map<std::string, PackageDeps> all;
      for (const auto& [n, row] : rv.packages) all[n] = {row.version, row.dependencies};
      t.dependency_key = dependency_key(all, package);
      tasks[key] = t;
      for (const auto& dep : it->second.dependencies) {
        add(release, dep, alias);
        tasks[key].deps.push_back({release, dep, alias});
      }
    };
    for (const auto& g : plan.spec.groups)
      for (const auto& j : g.jobs)
        for (const auto& p : plan.releases.at(j.release).templates.at(j.name).spec.packages) add(j.release, p, g.stemcell);
    // What is compiled already.
    for (auto& [key, t] : tasks) {
      auto rows = d.db().rows("SELECT build, sha1, blobstore_id FROM compiled_packages WHERE package_id = ? AND "
                              "stemcell_os = ? AND stemcell_version = ? AND dependency_key = ?",
                              {t.package->id, t.stemcell->os, t.stemcell->version, t.dependency_key});
      if (rows.empty()) continue;
      t.done = true;
      t.version = t.package->version + "." + rows[0][0];
      t.sha1 = rows[0][1];
      t.blobstore_id = rows[0][2];
    }
  });

  std::vector<CompileTask*> todo;
  for (auto& [key, t] : tasks) {
    if (t.done) continue;
    if (t.package->blobstore_id.empty())
      fail("package '{}/{}' has no source (a compiled release) and was not compiled for stemcell {}/{}", t.package->name,
           t.package->version, t.stemcell->os, t.stemcell->version);
    todo.push_back(&t);
  }
  if (!todo.empty()) {
    const Compilation& comp = plan.spec.cloud.compilation;
    const Network& net = plan.spec.cloud.networks.at(comp.network);
    const std::string az = comp.az.empty() && !plan.spec.cloud.az_order.empty() ? plan.spec.cloud.az_order[0] : comp.az;
    const Json az_properties = az.empty() || !plan.spec.cloud.azs.count(az) ? plugin::json_object()
                                                                           : plan.spec.cloud.azs.at(az);
    std::mutex mutex;
    std::condition_variable changed;
    std::set<CompileTask*> pending(todo.begin(), todo.end()), running;
    std::exception_ptr first_error;
    int index = 0;
    const int total = static_cast<int>(todo.size());

    auto make_vm = [&](const StemcellRow& stemcell) {
      auto vm = std::make_unique<CompileVm>();
      vm->ip_network = net.name;
      JsonObject::Ptr settings = new JsonObject, n = new JsonObject;
      if (net.type == "manual") {
        vm->ip = reserve_compile_ip(d, net, az);
        const Subnet* s = nullptr;
        for (const auto& sub : net.subnets)
          if (parse_ip(vm->ip, "ip") > sub.network && parse_ip(vm->ip, "ip") < sub.broadcast) s = &sub;
        n->set("type", "manual");
        n->set("ip", vm->ip);
        n->set("netmask", s->netmask);
        n->set("gateway", s->gateway);
        JsonArray::Ptr dns = new JsonArray;
        for (const auto& x : s->dns) dns->add(x);
        n->set("dns", dns);
        n->set("cloud_properties", s->cloud_properties);
      } else {
        n->set("type", net.type);
        n->set("cloud_properties", net.cloud_properties);
      }
      JsonArray::Ptr defaults = new JsonArray;
      defaults->add("dns");
      defaults->add("gateway");
      n->set("default", defaults);
      settings->set(net.name, n);
      Json networks = settings;
      plugin::Metadata meta{{"compiling", "package"}, {"job", "compilation"}};
      try {
        vm->vm = d.create_vm("compilation VM", 0, stemcell, deep_merge(az_properties, comp.cloud_properties), networks,
                             {}, comp.env, meta);
      } catch (...) {
        if (!vm->ip.empty())
          d.db().exec("DELETE FROM ip_addresses WHERE network = ? AND address = ?", {vm->ip_network, vm->ip});
        throw;
      }
      vm->agent = d.agent(vm->vm.agent_id);
      vm->stemcell = &stemcell;
      return vm;
    };
    auto drop_vm = [&](std::unique_ptr<CompileVm>& vm) {
      if (!vm) return;
      try {
        d.delete_vm(vm->vm, "compilation VM");
      } catch (const std::exception& e) {
        ctx.warning(fmt::format("could not delete compilation VM {}: {}", vm->vm.cid, e.what()));
      }
      if (!vm->ip.empty())
        d.db().exec("DELETE FROM ip_addresses WHERE network = ? AND address = ?", {vm->ip_network, vm->ip});
      vm.reset();
    };

    auto compile_one = [&](CompileTask& t, std::unique_ptr<CompileVm>& vm) {
      const std::string desc = t.package->name + "/" + t.package->version;
      int my_index;
      {
        std::lock_guard lock(mutex);
        my_index = ++index;
      }
      d.step("Compiling packages", {}, desc, my_index, total, [&] {
        // Another deploy may be compiling the same package for the same stemcell.
        const std::string lock_name =
            fmt::format("lock:compile:{}:{}/{}", t.package->id, t.stemcell->os, t.stemcell->version);
        Locks locks(d.db());
        while (!locks.acquire(lock_name, ctx.task().id, ctx.task().username, std::chrono::seconds(900))) {
          ctx.check_cancelled();
          std::this_thread::sleep_for(std::chrono::milliseconds(500));
        }
        struct Release {
          Locks& l;
          std::string n;
          std::int64_t id;
          ~Release() { l.release(n, id); }
        } release{locks, lock_name, ctx.task().id};
        auto again = d.db().rows("SELECT build, sha1, blobstore_id FROM compiled_packages WHERE package_id = ? AND "
                                 "stemcell_os = ? AND stemcell_version = ? AND dependency_key = ?",
                                 {t.package->id, t.stemcell->os, t.stemcell->version, t.dependency_key});
        if (!again.empty()) {
          t.version = t.package->version + "." + again[0][0];
          t.sha1 = again[0][1];
          t.blobstore_id = again[0][2];
          return;
        }
        if (!vm) vm = make_vm(*t.stemcell);
        JsonObject::Ptr deps = new JsonObject;
        for (const auto& k : t.deps) {
          const CompileTask& dep = tasks.at(k);
          JsonObject::Ptr o = new JsonObject;
          o->set("name", dep.package->name);
          o->set("version", dep.version);
          o->set("sha1", dep.sha1);
          o->set("blobstore_id", dep.blobstore_id);
          deps->set(dep.package->name, o);
        }
        auto builds = d.db().rows("SELECT COALESCE(MAX(build), 0) FROM compiled_packages WHERE package_id = ? AND "
                                  "stemcell_os = ? AND stemcell_version = ?",
                                  {t.package->id, t.stemcell->os, t.stemcell->version});
        const int build = std::stoi(builds[0][0]) + 1;
        const std::string version = t.package->version + "." + std::to_string(build);
        JsonArray::Ptr args = new JsonArray;
        args->add(t.package->blobstore_id);
        args->add(t.package->sha1);
        args->add(t.package->name);
        args->add(version);
        args->add(deps);
        Json result = vm->agent->run("compile_package", args, std::chrono::hours(2));
        auto r = as_object(as_object(result, "compile_package result")->get("result"), "compile_package result");
        t.sha1 = get_string(r, "sha1", "compile_package result");
        t.blobstore_id = get_string(r, "blobstore_id", "compile_package result");
        t.version = version;
        d.db().exec("INSERT INTO compiled_packages (package_id, stemcell_os, stemcell_version, dependency_key, build, "
                    "sha1, blobstore_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    {t.package->id, t.stemcell->os, t.stemcell->version, t.dependency_key, std::int64_t{build}, t.sha1,
                     t.blobstore_id});
        ctx.debug(fmt::format("compiled {} for {}: {}", desc, t.stemcell->desc(), t.blobstore_id));
      });
    };

    auto worker = [&] {
      std::unique_ptr<CompileVm> vm;  // reused between packages when configured
      for (;;) {
        CompileTask* next = nullptr;
        {
          std::unique_lock lock(mutex);
          changed.wait(lock, [&] {
            if (first_error || pending.empty()) return true;
            for (auto* t : pending) {
              bool ready = true;
              for (const auto& k : t->deps) ready = ready && tasks.at(k).done;
              if (ready) return true;
            }
            return false;
          });
          if (first_error || pending.empty()) break;
          for (auto* t : pending) {
            bool ready = true;
            for (const auto& k : t->deps) ready = ready && tasks.at(k).done;
            if (ready) {
              next = t;
              break;
            }
          }
          pending.erase(next);
          running.insert(next);
        }
        // A reused VM must be of this package's stemcell.
        if (vm && vm->stemcell != next->stemcell) drop_vm(vm);
        try {
          compile_one(*next, vm);
          std::lock_guard lock(mutex);
          next->done = true;
          running.erase(next);
        } catch (...) {
          std::lock_guard lock(mutex);
          if (!first_error) first_error = std::current_exception();
          running.erase(next);
        }
        changed.notify_all();
        if (!comp.reuse_compilation_vms) drop_vm(vm);
      }
      drop_vm(vm);
    };
    const int workers = std::max(1, std::min(comp.workers, total));
    std::vector<std::thread> threads;
    for (int i = 0; i < workers; ++i) threads.emplace_back(worker);
    for (auto& th : threads) th.join();
    if (first_error) std::rethrow_exception(first_error);
  }

  // Every instance's packages: its jobs' packages, compiled for its stemcell.
  for (auto& inst : plan.instances) {
    JsonObject::Ptr packages = new JsonObject;
    for (const auto& j : inst.group->jobs)
      for (const auto& p : plan.releases.at(j.release).templates.at(j.name).spec.packages) {
        const CompileTask& t = tasks.at({j.release, p, inst.group->stemcell});
        JsonObject::Ptr o = new JsonObject;
        o->set("name", t.package->name);
        o->set("version", t.version);
        o->set("sha1", t.sha1);
        o->set("blobstore_id", t.blobstore_id);
        packages->set(p, o);
      }
    inst.packages = packages;
  }
}

}  // namespace bosh::director::deploy
