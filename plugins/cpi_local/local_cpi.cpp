#include "local_cpi.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "bosh/common/clock.hpp"
#include "bosh/common/archive.hpp"
#include "bosh/common/error.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/json.hpp"
#include "bosh/common/random.hpp"
#include "bosh/common/subprocess.hpp"

extern char** environ;

namespace bosh::cpi_local {

namespace fs = std::filesystem;
using plugin::Json;
using plugin::JsonArray;
using plugin::JsonObject;

namespace {


// A cid names a file under root: nothing that could climb out of it.
void check_cid(const std::string& cid, const char* what) {
  if (cid.empty() || cid.size() > 128 || cid[0] == '.' || cid.find('/') != std::string::npos ||
      cid.find('\0') != std::string::npos)
    throw plugin::CloudError(fmt::format("invalid {} cid '{}'", what, cid));
}

JsonObject::Ptr load_object(const fs::path& file) {
  return as_object(load_json_file(file), file.string());
}

void save(const fs::path& file, const JsonObject::Ptr& object) {
  write_file_atomic(file, to_json(Json(object), true) + "\n");
}

JsonObject::Ptr object_or_empty(JsonObject::Ptr o, const std::string& key) {
  if (o->has(key) && o->get(key).type() == typeid(JsonObject::Ptr)) return o->getObject(key);
  JsonObject::Ptr fresh = new JsonObject;
  o->set(key, fresh);
  return fresh;
}

std::vector<std::string> strings_of(const JsonObject::Ptr& o, const std::string& key) {
  std::vector<std::string> out;
  if (!o->has(key) || o->get(key).isEmpty()) return out;
  auto a = as_array(o->get(key), key);
  for (const auto& v : *a) out.push_back(v.convert<std::string>());
  return out;
}

void set_strings(JsonObject::Ptr o, const std::string& key, const std::vector<std::string>& values) {
  JsonArray::Ptr a = new JsonArray;
  for (const auto& v : values) a->add(v);
  o->set(key, a);
}

// The process's start time (clock ticks since boot, /proc/<pid>/stat field
// 22), so a recycled pid is not taken for the VM; 0 when it is gone or a zombie.
std::uint64_t start_time_of(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  std::vector<std::string> fields;
  while (rest >> field) fields.push_back(field);
  // fields[0] is the state (field 3); the start time is field 22.
  if (fields.size() < 20 || fields[0] == "Z" || fields[0] == "X") return 0;
  return std::stoull(fields[19]);
}

// Starts argv as a daemon: its own session, stdin /dev/null, output appended
// to `log`, no descriptor of ours. fork() in a threaded host: between fork and
// exec only async-signal-safe calls.
void spawn_detached(const std::vector<std::string>& argv, const std::vector<std::string>& env, const fs::path& log) {
  std::vector<char*> args, envp;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  const std::string log_path = log.string();
  pid_t pid = fork();
  if (pid < 0) throw plugin::VMCreationFailed(fmt::format("fork: {}", std::strerror(errno)), true);
  if (pid == 0) {
    setsid();
    if (fork() != 0) _exit(0);
    int in = open("/dev/null", O_RDONLY);
    int out = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0640);
    if (in < 0 || out < 0) _exit(126);
    dup2(in, 0);
    dup2(out, 1);
    dup2(out, 2);
    for (int fd = 3; fd < 1024; ++fd) close(fd);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execve(args[0], args.data(), envp.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

// The state lock: threads of this process and other processes on root.
class StateLock {
 public:
  StateLock(std::mutex& mutex, const fs::path& root) : guard_(mutex) {
    fd_ = ::open((root / ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0 || flock(fd_, LOCK_EX) != 0)
      throw plugin::CloudError(fmt::format("{}: cannot lock: {}", (root / ".lock").string(), std::strerror(errno)));
  }
  ~StateLock() {
    flock(fd_, LOCK_UN);
    ::close(fd_);
  }

 private:
  std::lock_guard<std::mutex> guard_;
  int fd_ = -1;
};

std::uint32_t parse_ipv4(const std::string& text) {
  unsigned a, b, c, d;
  char tail;
  if (std::sscanf(text.c_str(), "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) != 4 || a > 255 || b > 255 || c > 255 ||
      d > 255)
    throw plugin::CloudError(fmt::format("'{}' is not an IPv4 address", text));
  return (a << 24) | (b << 16) | (c << 8) | d;
}

std::string format_ipv4(std::uint32_t ip) {
  return fmt::format("{}.{}.{}.{}", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
}

}  // namespace

LocalCpiConfig parse_config(const Json& properties) {
  const std::string what = "local CPI properties";
  auto o = as_object(properties, what);
  LocalCpiConfig c;
  c.root = get_string(o, "root", what);
  if (!c.root.is_absolute()) throw plugin::CloudError(what + ": 'root' must be an absolute path");
  c.agent = o->has("agent") ? Json(as_object(o->get("agent"), what + " agent")) : plugin::json_object();
  for (const auto& a : strings_of(o, "agent_args")) c.agent_args.push_back(a);
  if (auto v = find_string(o, "isolation", what)) c.isolation = *v;
  if (c.isolation != "auto" && c.isolation != "namespace" && c.isolation != "none")
    throw plugin::CloudError(what + ": 'isolation' must be auto, namespace or none, got '" + c.isolation + "'");
  if (auto v = find_string(o, "dynamic_range", what)) c.dynamic_range = *v;
  if (o->has("stop_timeout")) c.stop_timeout = std::chrono::seconds(o->getValue<int>("stop_timeout"));
  return c;
}

LocalCpi::LocalCpi(plugin::HostServices& host, LocalCpiConfig config) : host_(host), config_(std::move(config)) {
  for (const char* sub : {"stemcells", "vms", "disks", "snapshots"}) fs::create_directories(config_.root / sub);
}

fs::path LocalCpi::stemcell_dir(const std::string& cid) const { return config_.root / "stemcells" / cid; }
fs::path LocalCpi::vm_dir(const std::string& cid) const { return config_.root / "vms" / cid; }
fs::path LocalCpi::vm_file(const std::string& cid) const { return config_.root / "vms" / (cid + ".json"); }
fs::path LocalCpi::disk_dir(const std::string& cid) const { return config_.root / "disks" / cid; }
fs::path LocalCpi::disk_file(const std::string& cid) const { return config_.root / "disks" / (cid + ".json"); }

Json LocalCpi::info() {
  return parse_json(R"({"api_version": 2, "stemcell_formats": ["local-tgz"]})", "info");
}

// ---- stemcells --------------------------------------------------------------

std::string LocalCpi::create_stemcell(const std::string& image_path, const Json& cloud_properties) {
  const std::string cid = "stemcell-" + random_uuid();
  const fs::path staging = config_.root / "stemcells" / ("." + cid);
  try {
    extract_tgz(image_path, staging);
  } catch (const std::exception& e) {
    std::error_code ec;
    fs::remove_all(staging, ec);
    throw plugin::CloudError(fmt::format("stemcell image {}: {}", image_path, e.what()));
  }
  for (const char* needed : {"bin/bosh-agent", "bin/bosh-vm-init"}) {
    if (access((staging / needed).c_str(), X_OK) != 0) {
      std::error_code ec;
      fs::remove_all(staging, ec);
      throw plugin::CloudError(fmt::format("stemcell image {}: no executable {} (not a local stemcell)", image_path,
                                           needed));
    }
  }
  fs::rename(staging, stemcell_dir(cid));
  host_.log(plugin::LogLevel::info, "created stemcell " + cid);
  return cid;
}

void LocalCpi::delete_stemcell(const std::string& stemcell_cid) {
  check_cid(stemcell_cid, "stemcell");
  std::error_code ec;
  fs::remove_all(stemcell_dir(stemcell_cid), ec);
}

// ---- VMs --------------------------------------------------------------------

std::string LocalCpi::allocate_dynamic_ip() {
  const auto slash = config_.dynamic_range.find('/');
  const std::uint32_t base = parse_ipv4(config_.dynamic_range.substr(0, slash));
  const int bits = slash == std::string::npos ? 24 : std::stoi(config_.dynamic_range.substr(slash + 1));
  const std::uint32_t size = bits >= 32 ? 1 : (1u << (32 - bits));
  std::set<std::string> used;
  for (const auto& entry : fs::directory_iterator(config_.root / "vms")) {
    if (entry.path().extension() != ".json") continue;
    try {
      auto vm = load_object(entry.path());
      for (const auto& ip : strings_of(vm, "dynamic_ips")) used.insert(ip);
    } catch (const std::exception&) {
    }
  }
  for (std::uint32_t i = 2; i + 1 < size; ++i) {
    std::string ip = format_ipv4(base + i);
    if (!used.count(ip)) return ip;
  }
  throw plugin::VMCreationFailed("no free address left in dynamic_range " + config_.dynamic_range, false);
}

void LocalCpi::write_settings(const std::string& vm_cid, const Json& vm_json) {
  auto vm = as_object(vm_json, "vm");
  JsonObject::Ptr agent = config_.agent.type() == typeid(JsonObject::Ptr) ? config_.agent.extract<JsonObject::Ptr>()
                                                                           : JsonObject::Ptr(new JsonObject);
  JsonObject::Ptr s = new JsonObject;
  s->set("agent_id", vm->getValue<std::string>("agent_id"));
  JsonObject::Ptr vm_name = new JsonObject;
  vm_name->set("name", vm_cid);
  s->set("vm", vm_name);
  s->set("mbus", agent->has("mbus") ? agent->get("mbus") : Json(""));
  s->set("blobstore", agent->has("blobstore") ? agent->get("blobstore") : plugin::json_object());
  s->set("ntp", agent->has("ntp") ? agent->get("ntp") : plugin::json_array());
  s->set("networks", vm->get("networks"));
  JsonObject::Ptr disks = new JsonObject, persistent = new JsonObject;
  disks->set("system", "");
  disks->set("ephemeral", Json());
  for (const auto& cid : strings_of(vm, "disks")) persistent->set(cid, disk_dir(cid).string());
  disks->set("persistent", persistent);
  s->set("disks", disks);
  // The manifest's env, with the CPI config's agent env underneath.
  JsonObject::Ptr env = new JsonObject;
  if (agent->has("env") && agent->get("env").type() == typeid(JsonObject::Ptr))
    for (const auto& [k, v] : *agent->getObject("env")) env->set(k, v);
  if (vm->has("env") && vm->get("env").type() == typeid(JsonObject::Ptr))
    for (const auto& [k, v] : *vm->getObject("env")) env->set(k, v);
  s->set("env", env);
  write_file_atomic(vm_dir(vm_cid) / "bosh/settings.json", to_json(Json(s), true) + "\n",
                    fs::perms::owner_read | fs::perms::owner_write);
}

plugin::CreateVmResult LocalCpi::create_vm(const std::string& agent_id, const std::string& stemcell_cid,
                                           const Json& cloud_properties, const Json& networks,
                                           const std::vector<std::string>& disk_cids, const Json& env) {
  check_cid(stemcell_cid, "stemcell");
  if (!fs::is_directory(stemcell_dir(stemcell_cid)))
    throw plugin::VMCreationFailed("stemcell '" + stemcell_cid + "' not found", false);
  const std::string cid = "vm-" + random_uuid();
  JsonObject::Ptr nets = new JsonObject;
  JsonObject::Ptr vm = new JsonObject;
  {
    StateLock lock(mutex_, config_.root);
    std::vector<std::string> dynamic_ips;
    if (!networks.isEmpty()) {
      for (const auto& [name, value] : *as_object(networks, "networks")) {
        // A deep copy, so the caller's value is not changed.
        JsonObject::Ptr net = as_object(parse_json(to_json(value), "network"), "networks." + name);
        if (find_string(net, "type", "networks." + name).value_or("manual") == "dynamic") {
          std::string ip = allocate_dynamic_ip();
          net->set("ip", ip);
          net->set("netmask", "255.255.255.0");
          dynamic_ips.push_back(ip);
        } else if (!find_string(net, "ip", "networks." + name)) {
          throw plugin::VMCreationFailed("network '" + name + "' has no ip", false);
        }
        nets->set(name, net);
      }
    }
    vm->set("agent_id", agent_id);
    vm->set("stemcell", stemcell_cid);
    vm->set("cloud_properties", cloud_properties.isEmpty() ? plugin::json_object() : cloud_properties);
    vm->set("networks", nets);
    vm->set("env", env.isEmpty() ? plugin::json_object() : env);
    vm->set("disks", plugin::json_array());
    set_strings(vm, "dynamic_ips", dynamic_ips);
    vm->set("metadata", plugin::json_object());
    vm->set("created_at", now_seconds());
    fs::create_directories(vm_dir(cid) / "bosh");
    save(vm_file(cid), vm);
    write_settings(cid, vm);
  }
  try {
    start_vm(cid);
  } catch (const std::exception& e) {
    delete_vm(cid);
    throw plugin::VMCreationFailed(fmt::format("VM {} did not start: {}", cid, e.what()), true);
  }
  host_.log(plugin::LogLevel::info, fmt::format("created VM {} for agent {}", cid, agent_id));
  return {cid, Json(nets)};
}

void LocalCpi::start_vm(const std::string& vm_cid) {
  auto vm = load_object(vm_file(vm_cid));
  const fs::path image = stemcell_dir(vm->getValue<std::string>("stemcell"));
  const fs::path pid_file = config_.root / "vms" / (vm_cid + ".pid");
  std::error_code ec;
  fs::remove(pid_file, ec);
  std::vector<std::string> argv = {(image / "bin/bosh-vm-init").string(), "--vm-dir", vm_dir(vm_cid).string(),
                                   "--pid-file", pid_file.string(), "--isolation", config_.isolation, "--",
                                   (image / "bin/bosh-agent").string()};
  for (const auto& a : config_.agent_args) argv.push_back(a);
  // The VM's environment: ours, with the image's bin/ (its monit) first on PATH.
  std::vector<std::string> env;
  std::string path = "/usr/sbin:/usr/bin:/sbin:/bin";
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    if (kv.rfind("PATH=", 0) == 0)
      path = kv.substr(5);
    else
      env.push_back(kv);
  }
  env.push_back("PATH=" + (image / "bin").string() + ":" + path);
  spawn_detached(argv, env, config_.root / "vms" / (vm_cid + ".console.log"));
  // The init reports the pid to signal; wait for it.
  for (int i = 0; i < 100 && !fs::exists(pid_file, ec); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (!fs::exists(pid_file, ec)) {
    std::string console;
    try {
      console = read_file(config_.root / "vms" / (vm_cid + ".console.log"));
    } catch (const std::exception&) {
    }
    if (console.size() > 2000) console = console.substr(console.size() - 2000);
    throw plugin::CloudError("bosh-vm-init wrote no pid file within 5 s; console: " + console);
  }
  const int pid = std::stoi(read_file(pid_file));
  StateLock lock(mutex_, config_.root);
  vm = load_object(vm_file(vm_cid));
  vm->set("pid", pid);
  vm->set("start_time", std::to_string(start_time_of(pid)));
  save(vm_file(vm_cid), vm);
}

bool LocalCpi::vm_running(const std::string& vm_cid) {
  check_cid(vm_cid, "VM");
  std::error_code ec;
  if (!fs::exists(vm_file(vm_cid), ec)) return false;
  auto vm = load_object(vm_file(vm_cid));
  if (!vm->has("pid")) return false;
  const int pid = vm->getValue<int>("pid");
  const std::uint64_t started = start_time_of(pid);
  return started != 0 && std::to_string(started) == vm->getValue<std::string>("start_time");
}

void LocalCpi::stop_vm(const std::string& vm_cid) {
  if (!vm_running(vm_cid)) return;
  const int pid = load_object(vm_file(vm_cid))->getValue<int>("pid");
  kill(pid, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + config_.stop_timeout;
  while (vm_running(vm_cid) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (vm_running(vm_cid)) {
    host_.log(plugin::LogLevel::warn, fmt::format("VM {} did not stop in {} s: killing it", vm_cid,
                                                  config_.stop_timeout.count()));
    kill(-pid, SIGKILL);  // without isolation: the init's process group
    kill(pid, SIGKILL);   // with isolation: the whole PID namespace
    for (int i = 0; i < 100 && vm_running(vm_cid); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (vm_running(vm_cid)) throw plugin::CloudError(fmt::format("VM {} (pid {}) does not stop", vm_cid, pid));
}

void LocalCpi::delete_vm(const std::string& vm_cid) {
  check_cid(vm_cid, "VM");
  std::error_code ec;
  if (!fs::exists(vm_file(vm_cid), ec)) {
    fs::remove_all(vm_dir(vm_cid), ec);
    return;  // already gone: success
  }
  stop_vm(vm_cid);
  StateLock lock(mutex_, config_.root);
  auto vm = load_object(vm_file(vm_cid));
  for (const auto& cid : strings_of(vm, "disks")) {
    if (!fs::exists(disk_file(cid), ec)) continue;
    auto disk = load_object(disk_file(cid));
    disk->set("vm", Json());
    save(disk_file(cid), disk);
  }
  // The VM's tree; a directory disk is a symlink in it, never followed.
  fs::remove_all(vm_dir(vm_cid), ec);
  if (ec) throw plugin::CloudError(fmt::format("deleting {}: {}", vm_dir(vm_cid).string(), ec.message()));
  for (const char* suffix : {".pid", ".console.log"}) fs::remove(config_.root / "vms" / (vm_cid + suffix), ec);
  fs::remove(vm_file(vm_cid), ec);
  host_.log(plugin::LogLevel::info, "deleted VM " + vm_cid);
}

bool LocalCpi::has_vm(const std::string& vm_cid) {
  check_cid(vm_cid, "VM");
  std::error_code ec;
  return fs::exists(vm_file(vm_cid), ec);
}

void LocalCpi::reboot_vm(const std::string& vm_cid) {
  if (!has_vm(vm_cid)) throw plugin::VMNotFound("VM '" + vm_cid + "' not found");
  stop_vm(vm_cid);
  start_vm(vm_cid);
}

void LocalCpi::set_vm_metadata(const std::string& vm_cid, const plugin::Metadata& metadata) {
  if (!has_vm(vm_cid)) throw plugin::VMNotFound("VM '" + vm_cid + "' not found");
  StateLock lock(mutex_, config_.root);
  auto vm = load_object(vm_file(vm_cid));
  auto meta = object_or_empty(vm, "metadata");
  for (const auto& [k, v] : metadata) meta->set(k, v);
  save(vm_file(vm_cid), vm);
}

Json LocalCpi::calculate_vm_cloud_properties(const plugin::VmResources& r) {
  JsonObject::Ptr o = new JsonObject;
  o->set("cpu", r.cpu);
  o->set("ram", r.ram_mb);
  o->set("ephemeral_disk_size", r.ephemeral_disk_size_mb);
  return o;
}

// ---- disks ------------------------------------------------------------------

std::string LocalCpi::create_disk(std::int64_t size_mb, const Json& cloud_properties,
                                  const std::optional<std::string>& vm_cid) {
  if (size_mb <= 0) throw plugin::CloudError(fmt::format("disk size must be positive, got {} MB", size_mb));
  const std::string cid = "disk-" + random_uuid();
  StateLock lock(mutex_, config_.root);
  fs::create_directories(disk_dir(cid));
  JsonObject::Ptr disk = new JsonObject;
  disk->set("size_mb", size_mb);
  disk->set("cloud_properties", cloud_properties.isEmpty() ? plugin::json_object() : cloud_properties);
  disk->set("vm", Json());
  disk->set("metadata", plugin::json_object());
  disk->set("created_at", now_seconds());
  save(disk_file(cid), disk);
  return cid;
}

void LocalCpi::delete_disk(const std::string& disk_cid) {
  check_cid(disk_cid, "disk");
  StateLock lock(mutex_, config_.root);
  std::error_code ec;
  if (!fs::exists(disk_file(disk_cid), ec)) throw plugin::DiskNotFound("disk '" + disk_cid + "' not found", false);
  auto disk = load_object(disk_file(disk_cid));
  if (!disk->get("vm").isEmpty())
    throw plugin::CloudError(fmt::format("disk '{}' is attached to VM '{}'; detach it first", disk_cid,
                                         disk->getValue<std::string>("vm")));
  fs::remove_all(disk_dir(disk_cid), ec);
  fs::remove(disk_file(disk_cid), ec);
}

void LocalCpi::resize_disk(const std::string& disk_cid, std::int64_t new_size_mb) {
  check_cid(disk_cid, "disk");
  StateLock lock(mutex_, config_.root);
  std::error_code ec;
  if (!fs::exists(disk_file(disk_cid), ec)) throw plugin::DiskNotFound("disk '" + disk_cid + "' not found", false);
  auto disk = load_object(disk_file(disk_cid));
  if (new_size_mb < disk->getValue<std::int64_t>("size_mb"))
    throw plugin::NotSupported(fmt::format("disk '{}' cannot shrink from {} to {} MB", disk_cid,
                                           disk->getValue<std::int64_t>("size_mb"), new_size_mb));
  disk->set("size_mb", new_size_mb);  // a directory has no size to change
  save(disk_file(disk_cid), disk);
}

bool LocalCpi::has_disk(const std::string& disk_cid) {
  check_cid(disk_cid, "disk");
  std::error_code ec;
  return fs::exists(disk_file(disk_cid), ec);
}

Json LocalCpi::attach_disk(const std::string& vm_cid, const std::string& disk_cid) {
  check_cid(vm_cid, "VM");
  check_cid(disk_cid, "disk");
  StateLock lock(mutex_, config_.root);
  std::error_code ec;
  if (!fs::exists(vm_file(vm_cid), ec)) throw plugin::VMNotFound("VM '" + vm_cid + "' not found");
  if (!fs::exists(disk_file(disk_cid), ec)) throw plugin::DiskNotFound("disk '" + disk_cid + "' not found", false);
  auto disk = load_object(disk_file(disk_cid));
  auto vm = load_object(vm_file(vm_cid));
  if (!disk->get("vm").isEmpty() && disk->getValue<std::string>("vm") != vm_cid)
    throw plugin::CloudError(fmt::format("disk '{}' is attached to VM '{}'", disk_cid,
                                         disk->getValue<std::string>("vm")));
  auto disks = strings_of(vm, "disks");
  if (std::find(disks.begin(), disks.end(), disk_cid) == disks.end()) disks.push_back(disk_cid);
  set_strings(vm, "disks", disks);
  disk->set("vm", vm_cid);
  save(disk_file(disk_cid), disk);
  save(vm_file(vm_cid), vm);
  write_settings(vm_cid, vm);  // the agent also finds the disk in its settings
  return disk_dir(disk_cid).string();
}

void LocalCpi::detach_disk(const std::string& vm_cid, const std::string& disk_cid) {
  check_cid(vm_cid, "VM");
  check_cid(disk_cid, "disk");
  StateLock lock(mutex_, config_.root);
  std::error_code ec;
  if (!fs::exists(vm_file(vm_cid), ec)) throw plugin::VMNotFound("VM '" + vm_cid + "' not found");
  auto vm = load_object(vm_file(vm_cid));
  auto disks = strings_of(vm, "disks");
  auto it = std::find(disks.begin(), disks.end(), disk_cid);
  if (it == disks.end())
    throw plugin::DiskNotAttached(fmt::format("disk '{}' is not attached to VM '{}'", disk_cid, vm_cid), false);
  disks.erase(it);
  set_strings(vm, "disks", disks);
  save(vm_file(vm_cid), vm);
  write_settings(vm_cid, vm);
  if (fs::exists(disk_file(disk_cid), ec)) {
    auto disk = load_object(disk_file(disk_cid));
    disk->set("vm", Json());
    save(disk_file(disk_cid), disk);
  }
}

std::vector<std::string> LocalCpi::get_disks(const std::string& vm_cid) {
  if (!has_vm(vm_cid)) throw plugin::VMNotFound("VM '" + vm_cid + "' not found");
  return strings_of(load_object(vm_file(vm_cid)), "disks");
}

void LocalCpi::set_disk_metadata(const std::string& disk_cid, const plugin::Metadata& metadata) {
  check_cid(disk_cid, "disk");
  StateLock lock(mutex_, config_.root);
  std::error_code ec;
  if (!fs::exists(disk_file(disk_cid), ec)) throw plugin::DiskNotFound("disk '" + disk_cid + "' not found", false);
  auto disk = load_object(disk_file(disk_cid));
  auto meta = object_or_empty(disk, "metadata");
  for (const auto& [k, v] : metadata) meta->set(k, v);
  save(disk_file(disk_cid), disk);
}

std::string LocalCpi::snapshot_disk(const std::string& disk_cid, const plugin::Metadata& metadata) {
  if (!has_disk(disk_cid)) throw plugin::DiskNotFound("disk '" + disk_cid + "' not found", false);
  const std::string cid = "snapshot-" + random_uuid();
  const fs::path dest = config_.root / "snapshots" / cid;
  auto r = run_process({"cp", "-a", disk_dir(disk_cid).string(), dest.string()});
  if (r.exit_code != 0) throw plugin::CloudError(fmt::format("snapshot of disk '{}': {}", disk_cid, r.err));
  JsonObject::Ptr snap = new JsonObject, meta = new JsonObject;
  for (const auto& [k, v] : metadata) meta->set(k, v);
  snap->set("disk", disk_cid);
  snap->set("metadata", meta);
  snap->set("created_at", now_seconds());
  save(config_.root / "snapshots" / (cid + ".json"), snap);
  return cid;
}

void LocalCpi::delete_snapshot(const std::string& snapshot_cid) {
  check_cid(snapshot_cid, "snapshot");
  std::error_code ec;
  fs::remove_all(config_.root / "snapshots" / snapshot_cid, ec);
  fs::remove(config_.root / "snapshots" / (snapshot_cid + ".json"), ec);
}

}  // namespace bosh::cpi_local
