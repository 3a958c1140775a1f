#include "bosh/agent/agent.hpp"

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>

#include "bosh/agent/settings.hpp"
#include "bosh/common/error.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/json.hpp"
#include "bosh/common/log.hpp"
#include "bosh/mbus/envelope.hpp"
#include "bosh/mbus/nats.hpp"
#include "alerts.hpp"
#include "https_mbus.hpp"
#include "installer.hpp"
#include "ssh_access.hpp"
#include "bosh/blobstore/blobstore.hpp"
#include "bosh/blobstore/dav.hpp"
#include "bosh/common/archive.hpp"
#include "bosh/common/digest.hpp"
#include "bosh/common/subprocess.hpp"
#include "bosh/plugin_host/plugin_host.hpp"
#include "bosh/common/glob.hpp"

#include <Poco/Base64Decoder.h>
#include <Poco/URI.h>

#include <fstream>
#include <set>
#include <sstream>
#include <thread>
#include "monit.hpp"
#include "ssh_access.hpp"
#include "tasks.hpp"
#include "vitals.hpp"

namespace bosh::agent {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kLog = "agent";

using Handler = std::function<plugin::Json(const Poco::JSON::Array::Ptr& args)>;

// The cancel flag of the long-running task this thread is running, if any:
// scripts and packaging started for it are stopped when it is cancelled.
thread_local const std::atomic<bool>* t_task_cancel = nullptr;

std::string arg_string(const Poco::JSON::Array::Ptr& args, std::size_t i, const std::string& method) {
  if (!args || args->size() <= i) fail<InputError>("{}: missing argument {}", method, i + 1);
  auto v = args->get(static_cast<unsigned>(i));
  if (!v.isString()) fail<InputError>("{}: argument {} must be a string", method, i + 1);
  return v.toString();
}

std::string base64_decode(const std::string& text) {
  std::istringstream in(text);
  Poco::Base64Decoder decoder(in);
  std::string out((std::istreambuf_iterator<char>(decoder)), std::istreambuf_iterator<char>());
  return out;
}

}  // namespace

struct Agent::Impl {
  AgentOptions options;
  Settings settings;
  VitalsSampler vitals;
  TaskManager tasks;
  std::map<std::string, Handler> sync_handlers;
  std::map<std::string, Handler> async_handlers;
  std::mutex mutex;
  std::condition_variable stop_cv;
  bool stopping = false;
  std::unique_ptr<mbus::NatsConnection> nats;
  std::unique_ptr<Monit> monit;
  std::unique_ptr<SmtpReceiver> smtp;
  std::unique_ptr<plugin_host::PluginHost> plugins;
  std::shared_ptr<plugin::Blobstore> blobstore_;
  std::mutex apply_mutex;  // one apply or compile at a time touches data/
  std::unique_ptr<SshAccess> ssh;

  explicit Impl(AgentOptions o) : options(std::move(o)), vitals(options.base_dir) {
    if (options.settings_file.empty()) options.settings_file = options.base_dir / "bosh/settings.json";
    settings = load_settings();
    for (const char* dir : {"bosh", "data", "data/packages", "data/jobs", "data/sys/log", "data/sys/run", "jobs",
                            "packages", "store", "monit/job", "sys"})
      fs::create_directories(options.base_dir / dir);
    register_handlers();
  }

  fs::path spec_path() const { return options.base_dir / "bosh/spec.json"; }

  Settings load_settings() {
    if (!options.settings_source) return load_settings_file(options.settings_file);
    fs::create_directories(options.base_dir / "bosh");
    return fetch_settings(*options.settings_source, options.settings_file);
  }

  plugin::Json current_spec() {
    std::error_code ec;
    if (!fs::exists(spec_path(), ec)) return plugin::json_object();
    return load_json_file(spec_path());
  }

  fs::path stopped_marker() const { return options.base_dir / "monit/stopped"; }

  std::vector<MonitService> services() { return monit ? monit->status() : std::vector<MonitService>{}; }

  std::string job_state() {
    std::error_code ec;
    if (fs::exists(stopped_marker(), ec)) return "stopped";
    try {
      return job_state_of(services());
    } catch (const std::exception& e) {
      log::warn(kLog, "job state unknown: {}", e.what());
      return "unknown";
    }
  }

  plugin::Json processes() {
    Poco::JSON::Array::Ptr list = new Poco::JSON::Array;
    std::vector<MonitService> all;
    try {
      all = services();
    } catch (const std::exception&) {
    }
    for (const auto& s : all) {
      Poco::JSON::Object::Ptr p = new Poco::JSON::Object;
      p->set("name", s.name);
      p->set("state", job_state_of({s}));
      Poco::JSON::Object::Ptr uptime = new Poco::JSON::Object, mem = new Poco::JSON::Object,
                              cpu = new Poco::JSON::Object;
      uptime->set("secs", s.uptime);
      mem->set("kb", s.memory_kb);
      mem->set("percent", s.memory_percent);
      cpu->set("total", s.cpu_percent);
      p->set("uptime", uptime);
      p->set("mem", mem);
      p->set("cpu", cpu);
      list->add(p);
    }
    return list;
  }

  // The address other hosts reach this VM at: the default network's IP
  // (the first network's when none says default).
  std::string primary_ip() {
    std::string first;
    if (settings.networks.type() != typeid(Poco::JSON::Object::Ptr)) return first;
    for (const auto& [name, net] : *settings.networks.extract<Poco::JSON::Object::Ptr>()) {
      if (net.type() != typeid(Poco::JSON::Object::Ptr)) continue;
      auto o = net.extract<Poco::JSON::Object::Ptr>();
      auto ip = find_string(o, "ip", "networks." + name).value_or("");
      if (ip.empty()) continue;
      if (first.empty()) first = ip;
      if (o->has("default") && o->get("default").type() == typeid(Poco::JSON::Array::Ptr))
        for (const auto& d : *o->getArray("default"))
          if (d.toString() == "gateway") return ip;
    }
    return first;
  }

  std::string ips() {
    std::string out;
    if (settings.networks.type() == typeid(Poco::JSON::Object::Ptr)) {
      auto nets = settings.networks.extract<Poco::JSON::Object::Ptr>();
      for (const auto& [name, net] : *nets)
        if (net.type() == typeid(Poco::JSON::Object::Ptr))
          if (auto ip = find_string(net.extract<Poco::JSON::Object::Ptr>(), "ip", "networks." + name))
            out += (out.empty() ? "" : ", ") + *ip;
    }
    return out;
  }

  void on_monit_mail(const std::string& mail) {
    auto alert = parse_monit_mail(mail, ips());
    if (!alert) return;
    if (!nats) {
      log::warn(kLog, "alert (no bus to send it on): {}", alert->title);
      return;
    }
    Poco::JSON::Object::Ptr a = new Poco::JSON::Object;
    a->set("id", alert->id);
    a->set("severity", alert->severity);
    a->set("title", alert->title);
    a->set("summary", alert->summary);
    a->set("created_at", alert->created_at);
    nats->publish("hm.agent.alert." + settings.agent_id, to_json(plugin::Json(a)));
    log::info(kLog, "alert: {}", alert->title);
  }

  plugin::Json get_state(bool full) {
    auto spec = as_object(current_spec(), spec_path().string());
    Poco::JSON::Object::Ptr state = new Poco::JSON::Object(*spec);
    state->set("agent_id", settings.agent_id);
    Poco::JSON::Object::Ptr vm = new Poco::JSON::Object;
    vm->set("name", settings.vm_name);
    state->set("vm", vm);
    state->set("job_state", job_state());
    state->set("processes", processes());
    if (!state->has("networks")) state->set("networks", settings.networks);
    if (full) state->set("vitals", vitals.sample());
    return state;
  }

  plugin::Json heartbeat() {
    auto spec = as_object(current_spec(), spec_path().string());
    Poco::JSON::Object::Ptr hb = new Poco::JSON::Object;
    auto job = spec->has("job") && !spec->get("job").isEmpty() ? spec->getObject("job") : nullptr;
    hb->set("deployment", spec->has("deployment") ? spec->get("deployment") : plugin::Json());
    hb->set("job", job && job->has("name") ? job->get("name") : plugin::Json());
    hb->set("index", spec->has("index") ? spec->get("index") : plugin::Json());
    hb->set("job_state", job_state());
    hb->set("node_id", spec->has("id") ? spec->get("id") : plugin::Json());
    std::size_t n = 0;
    try {
      n = services().size();
    } catch (const std::exception&) {
    }
    hb->set("number_of_processes", static_cast<int>(n));
    hb->set("vitals", vitals.sample());
    return hb;
  }

  plugin::Blobstore& blobstore() {
    std::lock_guard lock(mutex);
    if (!blobstore_) {
      if (settings.blobstore_provider.empty())
        fail("{}: no blobstore in the settings", options.settings_file.string());
      plugins = std::make_unique<plugin_host::PluginHost>("bosh-agent");
      blobstore::register_builtin_providers(*plugins);
      plugins->load_all();
      blobstore_ = plugins->create_blobstore(settings.blobstore_provider, settings.blobstore_options);
    }
    return *blobstore_;
  }

  plugin::Json apply(const Poco::JSON::Array::Ptr& args) {
    if (!args || args->size() < 1) fail<InputError>("apply: missing argument 1 (the apply spec)");
    auto spec = as_object(args->get(0), "apply spec");
    std::lock_guard lock(apply_mutex);
    Installer installer(options.base_dir, blobstore());
    // Every blob is fetched and checked before anything installed changes.
    std::vector<BlobRef> packages;
    if (spec->has("packages") && !spec->get("packages").isEmpty())
      for (const auto& [key, value] : *as_object(spec->get("packages"), "apply spec: packages"))
        packages.push_back(blob_ref(value, "package '" + key + "'"));
    for (const auto& p : packages) installer.fetch(p);
    std::vector<std::string> job_names;
    std::optional<std::filesystem::path> rendered;
    std::string hash = find_string(spec, "configuration_hash", "apply spec").value_or("");
    if (spec->has("job") && !spec->get("job").isEmpty()) {
      auto job = as_object(spec->get("job"), "apply spec: job");
      if (job->has("templates"))
        for (const auto& t : *as_array(job->get("templates"), "apply spec: job.templates")) {
          auto name = get_string(as_object(t, "apply spec: job template"), "name", "apply spec: job template");
          check_path_component(name, "job");
          job_names.push_back(name);
        }
    }
    if (!job_names.empty()) {
      if (!spec->has("rendered_templates_archive"))
        fail<InputError>("apply spec: jobs without a rendered_templates_archive");
      if (hash.empty()) fail<InputError>("apply spec: jobs without a configuration_hash");
      auto archive_obj = as_object(spec->get("rendered_templates_archive"), "apply spec: rendered_templates_archive");
      Poco::JSON::Object::Ptr named = new Poco::JSON::Object(*archive_obj);
      named->set("name", "rendered-templates");
      named->set("version", hash);
      rendered = installer.fetch(blob_ref(named, "rendered_templates_archive"));
    }
    for (const auto& p : packages) installer.install_package(p);
    if (rendered) installer.install_jobs(*rendered, job_names, hash);
    write_file_atomic(spec_path(), to_json(plugin::Json(spec), true));
    if (monit) {
      monit->reload();
      // Jobs run only once `start` says so.
      for (const auto& s : monit->status()) monit->action(s.name, "unmonitor");
    }
    return std::string("applied");
  }

  plugin::Json compile_package(const Poco::JSON::Array::Ptr& args) {
    if (!args || args->size() < 5)
      fail<InputError>("compile_package: expected blobstore_id, sha1, name, version, dependencies");
    Poco::JSON::Object::Ptr src = new Poco::JSON::Object;
    src->set("blobstore_id", args->get(0));
    src->set("sha1", args->get(1));
    src->set("name", args->get(2));
    src->set("version", args->get(3));
    BlobRef source = blob_ref(src, "compile_package");
    std::lock_guard lock(apply_mutex);
    Installer installer(options.base_dir, blobstore());
    if (!args->get(4).isEmpty())
      for (const auto& [key, value] : *as_object(args->get(4), "compile_package: dependencies"))
        installer.install_package(blob_ref(value, "dependency '" + key + "'"));
    const fs::path blob = installer.fetch(source);
    const fs::path compile_dir = options.base_dir / "data/compile" / source.name;
    const fs::path install_dir = options.base_dir / "data/compile-install" / source.name;
    for (const auto& d : {compile_dir, install_dir}) {
      fs::remove_all(d);
      fs::create_directories(d);
    }
    extract_tgz(blob, compile_dir);
    const fs::path target = options.base_dir / "packages" / source.name;
    replace_symlink(install_dir, target);
    ProcessOptions po;
    po.cwd = compile_dir;
    po.env_overrides = {{"BOSH_COMPILE_TARGET", compile_dir.string()},
                        {"BOSH_INSTALL_TARGET", target.string()},
                        {"BOSH_PACKAGE_NAME", source.name},
                        {"BOSH_PACKAGE_VERSION", source.version}};
    po.cancel = t_task_cancel;
    auto r = run_process({"bash", "-x", (compile_dir / "packaging").string()}, po);
    if (r.cancelled) fail("compile_package {}/{} was cancelled", source.name, source.version);
    if (r.exit_code != 0) {
      std::string output = r.out + r.err;
      std::size_t cut = output.size();
      for (int lines = 0; cut > 0 && lines < 21; --cut)
        if (output[cut - 1] == '\n') ++lines;
      fail("compile_package {}/{}: packaging exited with {}:\n{}", source.name, source.version, r.exit_code,
           output.substr(cut));
    }
    const DigestAlgorithm algorithm = strongest_digest(parse_multi_digest(source.sha1)).algorithm;
    TempDir out("bosh-compiled");
    const fs::path tgz = out.path() / "compiled.tgz";
    create_tgz(install_dir, tgz);
    auto stored = blobstore::put_file(blobstore(), tgz, algorithm);
    Poco::JSON::Object::Ptr result = new Poco::JSON::Object, value = new Poco::JSON::Object;
    result->set("blobstore_id", stored.id);
    result->set("sha1", stored.digest.to_string());
    value->set("result", result);
    return value;
  }

  // ---- lifecycle scripts ---------------------------------------------------

  std::vector<std::string> installed_jobs() {
    std::vector<std::string> out;
    auto spec = as_object(current_spec(), spec_path().string());
    if (!spec->has("job") || spec->get("job").isEmpty()) return out;
    auto job = spec->getObject("job");
    if (job->has("templates"))
      for (const auto& t : *as_array(job->get("templates"), "spec.json job.templates")) {
        std::string name = get_string(as_object(t, "job template"), "name", "job template");
        check_path_component(name, "job");
        out.push_back(name);
      }
    return out;
  }

  ProcessResult run_job_script(const std::string& job, const std::string& script, std::vector<std::string> argv_tail,
                               std::map<std::string, std::string> env) {
    const fs::path path = options.base_dir / "jobs" / job / "bin" / script;
    std::vector<std::string> argv{path.string()};
    argv.insert(argv.end(), argv_tail.begin(), argv_tail.end());
    ProcessOptions po;
    po.env_overrides = std::move(env);
    po.cwd = options.base_dir / "jobs" / job;
    po.cancel = t_task_cancel;
    auto r = run_process(argv, po);
    if (r.cancelled) fail("{} of job '{}' was cancelled", script, job);
    return r;
  }

  // drain ["update"|"shutdown"|"status", new_spec?]: seconds to wait; negative: ask again with "status".
  plugin::Json drain(const Poco::JSON::Array::Ptr& args) {
    std::string type = arg_string(args, 0, "drain");
    if (type != "update" && type != "shutdown" && type != "status")
      fail<InputError>("drain: type '{}' is not update, shutdown or status", type);
    auto current = as_object(current_spec(), spec_path().string());
    std::string hash_state = "hash_unchanged";
    std::vector<std::string> changed_packages;
    if (type == "update" && args->size() > 1 && !args->get(1).isEmpty()) {
      auto next = as_object(args->get(1), "drain: new spec");
      if (find_string(next, "configuration_hash", "new spec") != find_string(current, "configuration_hash", "spec"))
        hash_state = "hash_changed";
      if (next->has("packages") && !next->get("packages").isEmpty())
        for (const auto& [name, pkg] : *next->getObject("packages")) {
          auto old = current->has("packages") ? current->getObject("packages") : nullptr;
          std::string new_version = find_string(as_object(pkg, "package"), "version", "package").value_or("");
          std::string old_version;
          if (old && old->has(name))
            old_version = find_string(as_object(old->get(name), "package"), "version", "package").value_or("");
          if (new_version != old_version) changed_packages.push_back(name);
        }
    }
    if (type == "shutdown" && nats) nats->publish("hm.agent.shutdown." + settings.agent_id, "{}");
    long long result = 0;
    bool dynamic = false;
    for (const auto& job : installed_jobs()) {
      std::error_code ec;
      if (!fs::exists(options.base_dir / "jobs" / job / "bin/drain", ec)) continue;
      std::vector<std::string> tail{type == "status" ? "job_check_status" : (type == "shutdown" ? "job_shutdown" : "job_changed"),
                                    hash_state};
      tail.insert(tail.end(), changed_packages.begin(), changed_packages.end());
      auto r = run_job_script(job, "drain", tail, {{"BOSH_JOB_STATE", to_json(plugin::Json(current))},
                                                   {"BOSH_JOB_NEXT_STATE", args->size() > 1 ? to_json(args->get(1)) : "{}"}});
      if (r.exit_code != 0)
        fail("drain script of job '{}' failed (exit {}): {}", job, r.exit_code, r.err.empty() ? r.out : r.err);
      long long value = 0;
      try {
        value = std::stoll(r.out);
      } catch (const std::exception&) {
        fail("drain script of job '{}' printed '{}', not an integer", job, r.out);
      }
      if (value < 0) dynamic = true;
      result = std::max(result, value < 0 ? -value : value);
    }
    return plugin::Json(static_cast<long long>(dynamic ? -result : result));
  }

  // run_script [name, {env}]: every job's bin/<name>, in parallel-safe order.
  plugin::Json run_script(const Poco::JSON::Array::Ptr& args) {
    std::string name = arg_string(args, 0, "run_script");
    static const std::set<std::string> allowed = {"pre-start", "post-start", "post-deploy", "pre-stop", "post-stop"};
    if (!allowed.count(name)) fail<InputError>("run_script: '{}' is not a lifecycle script", name);
    std::map<std::string, std::string> env;
    if (args->size() > 1 && !args->get(1).isEmpty()) {
      auto opts = as_object(args->get(1), "run_script: options");
      if (opts->has("env") && !opts->get("env").isEmpty())
        for (const auto& [k, v] : *as_object(opts->get("env"), "run_script: options.env")) env[k] = v.toString();
    }
    Poco::JSON::Object::Ptr results = new Poco::JSON::Object;
    std::vector<std::string> failed;
    for (const auto& job : installed_jobs()) {
      std::error_code ec;
      if (!fs::exists(options.base_dir / "jobs" / job / "bin" / name, ec)) continue;
      auto r = run_job_script(job, name, {}, env);
      fs::create_directories(options.base_dir / "sys/log" / job);
      std::ofstream(options.base_dir / "sys/log" / job / (name + ".stdout.log"), std::ios::app) << r.out;
      std::ofstream(options.base_dir / "sys/log" / job / (name + ".stderr.log"), std::ios::app) << r.err;
      results->set(job, r.exit_code == 0 ? "executed" : "failed");
      if (r.exit_code != 0) failed.push_back(fmt::format("{} (exit {})", job, r.exit_code));
    }
    if (!failed.empty()) {
      std::string list;
      for (const auto& f : failed) list += (list.empty() ? "" : ", ") + f;
      fail("{} of {} {} scripts failed. Failed jobs: {}", failed.size(), results->size(), name, list);
    }
    return results;
  }

  // run_errand [name?]: the job's bin/run; its exit code and output.
  plugin::Json run_errand(const Poco::JSON::Array::Ptr& args) {
    std::string job;
    if (args && args->size() > 0 && !args->get(0).isEmpty()) {
      job = args->get(0).toString();
      check_path_component(job, "errand");
    } else {
      for (const auto& j : installed_jobs())
        if (std::error_code ec; fs::exists(options.base_dir / "jobs" / j / "bin/run", ec)) {
          job = j;
          break;
        }
    }
    std::error_code ec;
    if (job.empty() || !fs::exists(options.base_dir / "jobs" / job / "bin/run", ec))
      fail("run_errand: no errand job (a job with bin/run) is installed");
    auto r = run_job_script(job, "run", {}, {});
    Poco::JSON::Object::Ptr out = new Poco::JSON::Object;
    out->set("exit_code", r.exit_code);
    out->set("stdout", r.out);
    out->set("stderr", r.err);
    return out;
  }

  // fetch_logs [TYPES, [filters]]: a tarball of the logs in the blobstore.
  // TYPES is job, agent or system, or several joined by ',' (each then under
  // its own folder in the tarball). Symlinks are not followed: a job cannot
  // hand out files outside its log folder.
  plugin::Json fetch_logs(const Poco::JSON::Array::Ptr& args) {
    const std::string types = args && args->size() > 0 ? args->get(0).toString() : "job";
    std::vector<std::pair<std::string, fs::path>> roots;
    std::stringstream list(types);
    for (std::string type; std::getline(list, type, ',');) {
      if (type == "job") roots.emplace_back(type, options.base_dir / "sys/log");
      else if (type == "agent") roots.emplace_back(type, options.base_dir / "bosh/log");
      else if (type == "system") roots.emplace_back(type, options.system_log_dir);
      else fail<InputError>("fetch_logs: log type '{}' is not job, agent or system", type);
    }
    if (roots.empty()) fail<InputError>("fetch_logs: no log type given");
    std::vector<std::string> filters;
    if (args && args->size() > 1 && !args->get(1).isEmpty())
      for (const auto& f : *as_array(args->get(1), "fetch_logs: filters")) filters.push_back(f.toString());
    if (filters.empty()) filters.push_back("**/*");
    std::vector<TarInput> inputs;
    std::set<std::string> seen;
    for (const auto& [type, root] : roots) {
      std::error_code ec;
      fs::create_directories(root, ec);
      if (!fs::is_directory(root, ec)) continue;
      for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
           it.increment(ec)) {
        if (it->is_symlink(ec) || !it->is_regular_file(ec)) continue;
        const std::string rel = it->path().lexically_relative(root).generic_string();
        bool match = false;
        for (const auto& f : filters) match = match || glob_match(f, rel);
        const std::string name = roots.size() == 1 ? rel : type + "/" + rel;
        if (match && seen.insert(name).second) inputs.push_back({name, it->path()});
      }
    }
    TempDir tmp("bosh-logs");
    create_tgz_from(inputs, tmp.path() / "logs.tgz");
    auto stored = blobstore::put_file(blobstore(), tmp.path() / "logs.tgz", DigestAlgorithm::sha1);
    Poco::JSON::Object::Ptr out = new Poco::JSON::Object;
    out->set("blobstore_id", stored.id);
    out->set("sha1", stored.digest.to_string());
    return out;
  }

  // ---- persistent disks (local: a directory symlinked at store/) ------------

  fs::path disks_state() const { return options.base_dir / "bosh/disks.json"; }
  fs::path hints_state() const { return options.base_dir / "bosh/persistent_disk_hints.json"; }

  Poco::JSON::Object::Ptr load_object(const fs::path& path) {
    std::error_code ec;
    if (!fs::exists(path, ec)) return new Poco::JSON::Object;
    return as_object(load_json_file(path), path.string());
  }

  std::string disk_path(const std::string& cid) {
    auto from = [&](const plugin::Json& hint) -> std::string {
      if (hint.isString()) return hint.toString();
      if (hint.type() == typeid(Poco::JSON::Object::Ptr))
        return find_string(hint.extract<Poco::JSON::Object::Ptr>(), "path", "disk hint").value_or("");
      return "";
    };
    auto hints = load_object(hints_state());
    if (hints->has(cid)) return from(hints->get(cid));
    if (settings.disks.type() == typeid(Poco::JSON::Object::Ptr)) {
      auto disks = settings.disks.extract<Poco::JSON::Object::Ptr>();
      if (disks->has("persistent") && !disks->get("persistent").isEmpty()) {
        auto persistent = as_object(disks->get("persistent"), "settings disks.persistent");
        if (persistent->has(cid)) return from(persistent->get(cid));
      }
    }
    fail("disk '{}' is not attached to this VM (no hint in the settings)", cid);
  }

  static bool is_block_device(const fs::path& p) {
    std::error_code ec;
    return fs::is_block_file(p, ec);
  }

  static void run_or_fail(const std::vector<std::string>& argv, const std::string& what) {
    auto r = run_process(argv);
    if (r.exit_code != 0) fail("{}: {} failed: {}", what, argv.front(), r.err.empty() ? r.out : r.err);
  }

  // A directory disk (local CPI) is symlinked at the mount point; a block
  // device (a real VM) gets an ext4 filesystem if it has none and is mounted.
  void mount_at(const std::string& cid, const fs::path& mount_point) {
    const fs::path device = disk_path(cid);
    std::error_code ec;
    if (is_block_device(device)) {
      const std::string what = "mounting disk '" + cid + "' (" + device.string() + ")";
      if (fs::is_symlink(mount_point, ec)) fail("{}: {} has a directory disk mounted", what, mount_point.string());
      fs::create_directories(mount_point);
      auto type = run_process({"blkid", "-o", "value", "-s", "TYPE", device.string()});
      if (type.out.find_first_not_of(" \n") == std::string::npos) run_or_fail({"mkfs.ext4", "-q", "-F", device.string()}, what);
      run_or_fail({"mount", device.string(), mount_point.string()}, what);
      return;
    }
    if (!fs::is_directory(device, ec)) fail("disk '{}': {} is neither a block device nor a directory", cid, device.string());
    if (fs::is_symlink(mount_point, ec)) {
      if (fs::read_symlink(mount_point) == device) return;  // already mounted
      fail("{} already has a disk mounted", mount_point.string());
    }
    if (fs::exists(mount_point, ec)) {
      if (!fs::is_empty(mount_point, ec)) fail("{} is not empty; not mounting disk '{}' over it", mount_point.string(), cid);
      fs::remove(mount_point);
    }
    replace_symlink(device, mount_point);
  }

  void unmount_at(const fs::path& mount_point) {
    std::error_code ec;
    if (fs::is_symlink(mount_point, ec)) {
      fs::remove(mount_point);
    } else {
      auto r = run_process({"mountpoint", "-q", mount_point.string()});
      if (r.exit_code == 0) run_or_fail({"umount", mount_point.string()}, "unmounting " + mount_point.string());
    }
    fs::create_directories(mount_point);
  }

  // At store/, or (as BOSH's agent does) at store_migration_target when
  // another disk holds store/: the director is about to migrate_disk.
  plugin::Json mount_disk(const Poco::JSON::Array::Ptr& args) {
    std::string cid = arg_string(args, 0, "mount_disk");
    check_path_component(cid, "disk cid");
    auto disks = load_object(disks_state());
    fs::path mount_point = options.base_dir / "store";
    for (const auto& [other, where] : *disks)
      if (other != cid && where.convert<std::string>() == mount_point.string())
        mount_point = options.base_dir / "store_migration_target";
    mount_at(cid, mount_point);
    disks->set(cid, mount_point.string());
    write_file_atomic(disks_state(), to_json(plugin::Json(disks)));
    return plugin::json_object();
  }

  plugin::Json unmount_disk(const Poco::JSON::Array::Ptr& args) {
    std::string cid = arg_string(args, 0, "unmount_disk");
    auto disks = load_object(disks_state());
    if (!disks->has(cid)) {
      Poco::JSON::Object::Ptr m = new Poco::JSON::Object;
      m->set("message", "Partition of " + cid + " is not mounted");
      return m;
    }
    unmount_at(disks->getValue<std::string>(cid));
    disks->remove(cid);
    write_file_atomic(disks_state(), to_json(plugin::Json(disks)));
    Poco::JSON::Object::Ptr m = new Poco::JSON::Object;
    m->set("message", "Unmounted partition of " + cid);
    return m;
  }

  // Copies the old disk's contents (modes, times, links: `cp -a`) onto the
  // new one, mounted at store_migration_target, then mounts the new one at store/.
  plugin::Json migrate_disk(const Poco::JSON::Array::Ptr& args) {
    std::string old_cid = arg_string(args, 0, "migrate_disk"), new_cid = arg_string(args, 1, "migrate_disk");
    check_path_component(old_cid, "disk cid");
    check_path_component(new_cid, "disk cid");
    auto disks = load_object(disks_state());
    const fs::path store = options.base_dir / "store", target = options.base_dir / "store_migration_target";
    const bool old_mounted = disks->has(old_cid);
    if (!old_mounted) mount_at(old_cid, store);
    mount_at(new_cid, target);
    const fs::path target_dir = fs::is_symlink(target) ? fs::read_symlink(target) : target;
    auto r = run_process({"cp", "-a", (store / ".").string(), target_dir.string()});
    if (r.exit_code != 0) {
      unmount_at(target);
      fail("migrate_disk {} -> {}: {}", old_cid, new_cid, r.err);
    }
    unmount_at(target);
    fs::remove(target);
    unmount_at(store);
    mount_at(new_cid, store);
    disks->remove(old_cid);
    disks->set(new_cid, store.string());
    write_file_atomic(disks_state(), to_json(plugin::Json(disks)));
    return plugin::json_object();
  }

  void register_handlers() {
    async_handlers["drain"] = [this](const Poco::JSON::Array::Ptr& args) { return drain(args); };
    async_handlers["run_script"] = [this](const Poco::JSON::Array::Ptr& args) { return run_script(args); };
    async_handlers["run_errand"] = [this](const Poco::JSON::Array::Ptr& args) { return run_errand(args); };
    async_handlers["fetch_logs"] = [this](const Poco::JSON::Array::Ptr& args) { return fetch_logs(args); };
    async_handlers["mount_disk"] = [this](const Poco::JSON::Array::Ptr& args) { return mount_disk(args); };
    async_handlers["unmount_disk"] = [this](const Poco::JSON::Array::Ptr& args) { return unmount_disk(args); };
    async_handlers["migrate_disk"] = [this](const Poco::JSON::Array::Ptr& args) { return migrate_disk(args); };
    sync_handlers["ssh"] = [this](const Poco::JSON::Array::Ptr& args) {
      if (!ssh) ssh = std::make_unique<SshAccess>(SshAccess::Options{options.base_dir, options.private_etc, primary_ip()});
      return ssh->handle(args);
    };
    sync_handlers["list_disk"] = [this](const auto&) {
      Poco::JSON::Array::Ptr list = new Poco::JSON::Array;
      const auto range6 = load_object(disks_state());
      for (const auto& [cid, _] : *range6) list->add(cid);
      return plugin::Json(list);
    };
    async_handlers["add_persistent_disk"] = [this](const Poco::JSON::Array::Ptr& args) {
      std::string cid = arg_string(args, 0, "add_persistent_disk");
      if (args->size() < 2) fail<InputError>("add_persistent_disk: missing argument 2 (the disk hint)");
      auto hints = load_object(hints_state());
      hints->set(cid, args->get(1));
      write_file_atomic(hints_state(), to_json(plugin::Json(hints)));
      return plugin::json_object();
    };
    async_handlers["remove_persistent_disk"] = [this](const Poco::JSON::Array::Ptr& args) {
      std::string cid = arg_string(args, 0, "remove_persistent_disk");
      auto hints = load_object(hints_state());
      hints->remove(cid);
      write_file_atomic(hints_state(), to_json(plugin::Json(hints)));
      return plugin::json_object();
    };
    async_handlers["prepare"] = [this](const Poco::JSON::Array::Ptr& args) {
      if (!args || args->size() < 1) fail<InputError>("prepare: missing argument 1 (the apply spec)");
      auto spec = as_object(args->get(0), "apply spec");
      Installer installer(options.base_dir, blobstore());
      if (spec->has("packages") && !spec->get("packages").isEmpty())
        for (const auto& [key, value] : *as_object(spec->get("packages"), "apply spec: packages"))
          installer.fetch(blob_ref(value, "package '" + key + "'"));
      return plugin::Json(std::string("prepared"));
    };
    async_handlers["upload_blob"] = [this](const Poco::JSON::Array::Ptr& args) {
      if (!args || args->size() < 1) fail<InputError>("upload_blob: missing argument 1");
      auto req = as_object(args->get(0), "upload_blob: argument 1");
      std::string id = get_string(req, "blob_id", "upload_blob"), checksum = get_string(req, "checksum", "upload_blob");
      check_path_component(id, "blob_id");
      std::string payload = base64_decode(get_string(req, "payload", "upload_blob"));
      Digest want = strongest_digest(parse_multi_digest(checksum));
      std::string got = digest_hex(want.algorithm, payload);
      if (got != want.hex) fail("upload_blob {}: payload has {} {}, expected {}", id, to_string(want.algorithm), got, want.hex);
      std::istringstream in(payload);
      if (blobstore().exists(id)) blobstore().delete_blob(id);
      blobstore().create(in, id);
      return plugin::Json(std::string("blob uploaded"));
    };
    sync_handlers["sync_dns"] = [this](const Poco::JSON::Array::Ptr& args) {
      Poco::JSON::Object::Ptr ref = new Poco::JSON::Object;
      ref->set("blobstore_id", arg_string(args, 0, "sync_dns"));
      ref->set("sha1", arg_string(args, 1, "sync_dns"));
      ref->set("name", "dns-records");
      ref->set("version", args->size() > 2 ? args->get(2).toString() : "0");
      Installer installer(options.base_dir, blobstore());
      fs::path blob = installer.fetch(blob_ref(ref, "sync_dns"));
      write_file_atomic(options.base_dir / "instance/dns/records.json", read_file(blob));
      return plugin::Json(std::string("synced"));
    };
    sync_handlers["shutdown"] = [this](const auto&) {
      std::thread([this] {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let the reply go out first
        stop();
      }).detach();
      return plugin::Json(std::string("shutdown"));
    };
    async_handlers["apply"] = [this](const Poco::JSON::Array::Ptr& args) { return apply(args); };
    async_handlers["compile_package"] = [this](const Poco::JSON::Array::Ptr& args) { return compile_package(args); };
    sync_handlers["ping"] = [](const auto&) { return plugin::Json(std::string("pong")); };
    sync_handlers["info"] = [](const auto&) {
      Poco::JSON::Object::Ptr o = new Poco::JSON::Object;
      o->set("api_version", 1);
      return plugin::Json(o);
    };
    sync_handlers["get_state"] = [this](const Poco::JSON::Array::Ptr& args) {
      bool full = args && args->size() > 0 && args->get(0).toString() == "full";
      return get_state(full);
    };
    sync_handlers["get_task"] = [this](const Poco::JSON::Array::Ptr& args) {
      return tasks.get(arg_string(args, 0, "get_task"));
    };
    sync_handlers["cancel_task"] = [this](const Poco::JSON::Array::Ptr& args) {
      return plugin::Json(tasks.cancel(arg_string(args, 0, "cancel_task")));
    };
    sync_handlers["start"] = [this](const auto&) {
      if (!monit) fail("start: monit is not running on this agent");
      std::error_code ec;
      fs::remove(stopped_marker(), ec);
      monit->start_all();
      return plugin::Json(std::string("started"));
    };
    async_handlers["stop"] = [this](const auto&) {
      if (!monit) fail("stop: monit is not running on this agent");
      write_file_atomic(stopped_marker(), "");
      monit->stop_all();
      return plugin::Json(std::string("stopped"));
    };
    async_handlers["update_settings"] = [this](const Poco::JSON::Array::Ptr& args) {
      if (!args || args->size() < 1) fail<InputError>("update_settings: missing argument 1");
      auto update = as_object(args->get(0), "update_settings: argument 1");
      write_file_atomic(options.base_dir / "bosh/update_settings.json", to_json(plugin::Json(update), true),
                        fs::perms::owner_read | fs::perms::owner_write);
      Settings fresh = load_settings();  // re-read from the source, as BOSH's agent does
      std::lock_guard lock(mutex);
      settings = std::move(fresh);
      return plugin::Json(std::string("ok"));
    };
  }

  std::string handle(const std::string& text) {
    mbus::Request request;
    try {
      request = mbus::decode_request(text);
    } catch (const std::exception& e) {
      return mbus::encode_exception(e.what());
    }
    return handle_request(request);
  }

  std::string handle_request(const mbus::Request& request) {
    try {
      Poco::JSON::Array::Ptr args = request.arguments.extract<Poco::JSON::Array::Ptr>();
      if (auto it = sync_handlers.find(request.method); it != sync_handlers.end())
        return mbus::encode_value(it->second(args));
      if (auto it = async_handlers.find(request.method); it != async_handlers.end()) {
        Handler handler = it->second;
        std::string id = tasks.start(request.method, [handler, args](const std::atomic<bool>& cancelled) {
          t_task_cancel = &cancelled;
          struct Reset {
            ~Reset() { t_task_cancel = nullptr; }
          } reset;
          return handler(args);
        });
        return mbus::encode_value(mbus::task_running(id));
      }
      return mbus::encode_exception("unknown message " + request.method);
    } catch (const std::exception& e) {
      return mbus::encode_exception(e.what());
    }
  }

  mbus::NatsOptions nats_options() {
    mbus::NatsOptions o;
    o.url = settings.mbus;
    o.name = "bosh-agent " + settings.agent_id;
    if (settings.mbus_cert) {
      const fs::path dir = options.base_dir / "bosh/mbus";
      const auto secret = fs::perms::owner_read | fs::perms::owner_write;
      if (!settings.mbus_cert->ca.empty()) {
        write_file_atomic(dir / "ca.pem", settings.mbus_cert->ca, secret);
        o.ca_file = dir / "ca.pem";
      }
      if (!settings.mbus_cert->certificate.empty()) {
        write_file_atomic(dir / "certificate.pem", settings.mbus_cert->certificate, secret);
        write_file_atomic(dir / "private_key.pem", settings.mbus_cert->private_key, secret);
        o.cert_file = dir / "certificate.pem";
        o.key_file = dir / "private_key.pem";
      }
    }
    return o;
  }

  void start_monit() {
    if (!options.run_monit) return;
    smtp = std::make_unique<SmtpReceiver>(options.alert_port, [this](const std::string& mail) { on_monit_mail(mail); });
    monit = std::make_unique<Monit>(Monit::Config{options.base_dir, options.monit_port, smtp->port(), options.monit_poll});
    monit->start_daemon();
  }

  void stop_monit() {
    if (monit) monit->stop_daemon();
    smtp.reset();
  }

  // Bootstrap: no NATS; the director (or `bosh micro`) comes to us over HTTPS.
  void run_https() {
    const fs::path dir = options.base_dir / "bosh/mbus";
    const auto secret = fs::perms::owner_read | fs::perms::owner_write;
    HttpsMbus::Config config;
    config.url = settings.mbus;
    config.cert_file = dir / "https.pem";
    config.key_file = dir / "https.key";
    if (settings.mbus_cert && !settings.mbus_cert->certificate.empty()) {
      write_file_atomic(config.cert_file, settings.mbus_cert->certificate, secret);
      write_file_atomic(config.key_file, settings.mbus_cert->private_key, secret);
    } else {
      make_self_signed_certificate(config.cert_file, config.key_file, Poco::URI(settings.mbus).getHost());
    }
    config.handle = [this](const std::string& text) { return handle(text); };
    config.blobstore = [this]() -> plugin::Blobstore& { return blobstore(); };
    HttpsMbus server(config);
    start_monit();
    log::info(kLog, "agent {} serving HTTPS on port {}", settings.agent_id, server.port());
    std::unique_lock lock(mutex);
    stop_cv.wait(lock, [this] { return stopping; });
    lock.unlock();
    stop_monit();
  }

  void run() {
    if (settings.mbus.rfind("https://", 0) == 0) return run_https();
    if (settings.mbus.rfind("nats://", 0) != 0 && settings.mbus.rfind("tls://", 0) != 0)
      fail<InputError>("{}: mbus '{}' is neither a nats:// (tls://) nor an https:// URL",
                       options.settings_file.string(), log::redact_url(settings.mbus));
    // The bus may be down, or refuse us (credentials, CA): say why, wait, try again.
    std::chrono::milliseconds wait{250};
    while (!nats) {
      try {
        nats = std::make_unique<mbus::NatsConnection>(nats_options());
      } catch (const mbus::MbusError& e) {
        log::error(kLog, "{} (retrying in {} ms)", e.what(), wait.count());
        std::unique_lock lock(mutex);
        if (stop_cv.wait_for(lock, wait, [this] { return stopping; })) return;
        wait = std::min<std::chrono::milliseconds>(wait * 2, std::chrono::seconds(30));
      }
    }
    const std::string id = settings.agent_id;
    start_monit();
    auto sub = nats->subscribe("agent." + id, [this](const mbus::Message& m) {
      std::string reply_to, reply;
      try {
        mbus::Request request = mbus::decode_request(m.data);
        reply_to = request.reply_to;
        if (!reply_to.empty()) reply = handle_request(request);
      } catch (const std::exception& e) {
        // Malformed: tell the sender what is wrong, if it said where to.
        reply_to = mbus::peek_reply_to(m.data).value_or("");
        reply = mbus::encode_exception(e.what());
      }
      if (reply_to.empty()) {  // BOSH drops messages without a reply_to
        log::warn(kLog, "dropping a message without reply_to on {}", m.subject);
        return;
      }
      nats->publish(reply_to, reply);
    });
    log::info(kLog, "agent {} serving on agent.{}", id, id);
    std::unique_lock lock(mutex);
    while (!stopping) {
      lock.unlock();
      try {
        nats->publish("hm.agent.heartbeat." + id, to_json(heartbeat()));
      } catch (const std::exception& e) {
        log::warn(kLog, "heartbeat not sent: {}", e.what());
      }
      lock.lock();
      stop_cv.wait_for(lock, options.heartbeat_interval, [this] { return stopping; });
    }
    lock.unlock();
    sub.reset();
    stop_monit();
    nats.reset();
  }

  void stop() {
    std::lock_guard lock(mutex);
    stopping = true;
    stop_cv.notify_all();
  }
};

Agent::Agent(AgentOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Agent::~Agent() = default;
void Agent::run() { impl_->run(); }
void Agent::stop() { impl_->stop(); }
std::string Agent::handle(const std::string& message) { return impl_->handle(message); }
const std::string& Agent::agent_id() const { return impl_->settings.agent_id; }

}  // namespace bosh::agent
