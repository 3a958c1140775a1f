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
#include "installer.hpp"
#include "bosh/blobstore/blobstore.hpp"
#include "bosh/common/archive.hpp"
#include "bosh/common/digest.hpp"
#include "bosh/common/subprocess.hpp"
#include "bosh/plugin_host/plugin_host.hpp"
#include "monit.hpp"
#include "tasks.hpp"
#include "vitals.hpp"

namespace bosh::agent {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kLog = "agent";

using Handler = std::function<plugin::Json(const Poco::JSON::Array::Ptr& args)>;

std::string arg_string(const Poco::JSON::Array::Ptr& args, std::size_t i, const std::string& method) {
  if (!args || args->size() <= i) fail<InputError>("{}: missing argument {}", method, i + 1);
  auto v = args->get(static_cast<unsigned>(i));
  if (!v.isString()) fail<InputError>("{}: argument {} must be a string", method, i + 1);
  return v.toString();
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

  explicit Impl(AgentOptions o) : options(std::move(o)), vitals(options.base_dir) {
    if (options.settings_file.empty()) options.settings_file = options.base_dir / "bosh/settings.json";
    settings = load_settings_file(options.settings_file);
    for (const char* dir : {"bosh", "data", "data/packages", "data/jobs", "data/sys/log", "data/sys/run", "jobs",
                            "packages", "store", "monit/job", "sys"})
      fs::create_directories(options.base_dir / dir);
    register_handlers();
  }

  fs::path spec_path() const { return options.base_dir / "bosh/spec.json"; }

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
    if (!alert || !nats) return;
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
      plugins->register_builtin_blobstore("local", blobstore::kLocalVersion, "Blobs as files in a local directory",
                                          blobstore::make_local_blobstore);
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
    auto r = run_process({"bash", "-x", (compile_dir / "packaging").string()}, po);
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

  void register_handlers() {
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
      Settings fresh = load_settings_file(options.settings_file);  // re-read, as BOSH's agent does
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
    try {
      Poco::JSON::Array::Ptr args = request.arguments.extract<Poco::JSON::Array::Ptr>();
      if (auto it = sync_handlers.find(request.method); it != sync_handlers.end())
        return mbus::encode_value(it->second(args));
      if (auto it = async_handlers.find(request.method); it != async_handlers.end()) {
        Handler handler = it->second;
        std::string id = tasks.start(request.method, [handler, args](const std::atomic<bool>&) { return handler(args); });
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
    o.retry_initial_connect = true;  // the bus may come up after us; keep trying
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

  void run() {
    if (settings.mbus.rfind("nats://", 0) != 0 && settings.mbus.rfind("tls://", 0) != 0)
      fail<InputError>("{}: mbus '{}' is not a nats:// URL (the HTTPS mbus is not served yet)",
                       options.settings_file.string(), log::redact_url(settings.mbus));
    nats = std::make_unique<mbus::NatsConnection>(nats_options());
    const std::string id = settings.agent_id;
    if (options.run_monit) {
      smtp = std::make_unique<SmtpReceiver>(options.alert_port, [this](const std::string& mail) { on_monit_mail(mail); });
      monit = std::make_unique<Monit>(Monit::Config{options.base_dir, options.monit_port, smtp->port(), options.monit_poll});
      monit->start_daemon();
    }
    auto sub = nats->subscribe("agent." + id, [this](const mbus::Message& m) {
      auto reply_to = mbus::peek_reply_to(m.data);
      if (!reply_to) {  // BOSH drops messages without a reply_to
        log::warn(kLog, "dropping a message without reply_to on {}", m.subject);
        return;
      }
      nats->publish(*reply_to, handle(m.data));
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
    if (monit) monit->stop_daemon();
    smtp.reset();
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
