#include "ssh_access.hpp"

#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <Poco/JSON/Object.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "bosh/common/error.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/json.hpp"
#include "bosh/common/log.hpp"

namespace bosh::agent {

namespace fs = std::filesystem;

namespace {

constexpr const char* kLog = "ssh";
constexpr int kFirstUid = 2000;

struct PasswdEntry {
  std::string name;
  int uid = 0;
};

std::vector<std::string> lines_of(const fs::path& file) {
  std::vector<std::string> out;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

void write_lines(const fs::path& file, const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  // In place: the file is bind-mounted over /etc/passwd, and a rename would
  // leave the mount on the old inode.
  std::ofstream out(file, std::ios::trunc);
  out << text;
  if (!out) fail<IoError>("{}: cannot write", file.string());
}

int field_int(const std::string& line, int index) {
  std::stringstream in(line);
  std::string field;
  for (int i = 0; i <= index; ++i)
    if (!std::getline(in, field, ':')) return -1;
  try {
    return std::stoi(field);
  } catch (const std::exception&) {
    return -1;
  }
}

std::string name_of(const std::string& line) { return line.substr(0, line.find(':')); }

bool same_file(const fs::path& a, const fs::path& b) {
  struct stat sa {}, sb {};
  return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

// Waits until something accepts connections at address:port.
bool listening(const std::string& address, int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, address.c_str(), &a.sin_addr);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

SshAccess::SshAccess(Options options) : options_(std::move(options)) {
  if (options_.sshd.empty()) options_.sshd = executable_path().parent_path() / "sshd";
}

SshAccess::~SshAccess() = default;

plugin::Json SshAccess::handle(const Poco::JSON::Array::Ptr& args) {
  if (!args || args->size() < 2) fail<InputError>("ssh: expected [command, params]");
  const std::string command = args->get(0).toString();
  auto params = as_object(args->get(1), "ssh: params");
  std::lock_guard lock(mutex_);
  if (command == "setup")
    return setup(get_string(params, "user", "ssh params"), get_string(params, "public_key", "ssh params"));
  if (command == "cleanup") return cleanup(get_string(params, "user_regex", "ssh params"));
  fail<InputError>("ssh: command '{}' is not setup or cleanup", command);
}

void SshAccess::overlay_etc() {
  const fs::path etc = options_.base_dir / "bosh/etc";
  fs::create_directories(etc);
  for (const char* name : {"passwd", "group"}) {
    const fs::path mine = etc / name, system = fs::path("/etc") / name;
    if (same_file(mine, system)) continue;  // already overlaid
    if (!fs::exists(mine)) fs::copy_file(system, mine);
    fs::permissions(mine, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                              fs::perms::others_read);
    if (::mount(mine.c_str(), system.c_str(), nullptr, MS_BIND, nullptr) != 0)
      fail("ssh: cannot mount the VM's {} over {}: {}", mine.string(), system.string(), std::strerror(errno));
  }
}

std::string SshAccess::host_public_key() const {
  std::string key = read_file(options_.base_dir / "bosh/ssh/ssh_host_ed25519_key.pub");
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) key.pop_back();
  // "type base64 comment": the comment names the host that made it, nothing the CLI needs.
  std::istringstream in(key);
  std::string type, blob;
  in >> type >> blob;
  return type + " " + blob;
}

void SshAccess::start_sshd() {
  if (sshd_ && sshd_->running()) return;
  if (!fs::exists(options_.sshd))
    fail("ssh: this VM's stemcell has no sshd ({}); bosh-local-stemcell --sshd adds one", options_.sshd.string());
  const fs::path dir = options_.base_dir / "bosh/ssh";
  fs::create_directories(dir);
  const fs::path key = dir / "ssh_host_ed25519_key";
  if (!fs::exists(key)) {
    auto r = run_process({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bosh-vm", "-f", key.string()});
    if (r.exit_code != 0) fail("ssh: cannot make the VM's host key: {}", r.err);
  }
  // sshd's privilege separation directory (an empty root-owned directory the
  // system's sshd uses too; making it changes nothing of the host's sshd).
  std::error_code ec;
  fs::create_directories("/run/sshd", ec);
  const std::string config =
      fmt::format("ListenAddress {}:{}\nHostKey {}\nPidFile {}\nAuthorizedKeysFile .ssh/authorized_keys\n"
                  "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nPermitRootLogin no\n"
                  "AllowUsers bosh_*\nStrictModes yes\nPrintMotd no\nSubsystem sftp internal-sftp\n",
                  options_.address, options_.port, key.string(), (dir / "sshd.pid").string());
  write_file_atomic(dir / "sshd_config", config);
  auto check = run_process({options_.sshd.string(), "-t", "-f", (dir / "sshd_config").string()});
  if (check.exit_code != 0) fail("ssh: the VM's sshd configuration is refused: {}", check.err);
  sshd_ = std::make_unique<BackgroundProcess>(
      std::vector<std::string>{options_.sshd.string(), "-D", "-e", "-f", (dir / "sshd_config").string()},
      options_.base_dir / "bosh/log/sshd.log");
  for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
       std::chrono::steady_clock::now() < until;) {
    if (listening(options_.address, options_.port)) return;
    if (!sshd_->running()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  sshd_.reset();
  fail("ssh: the VM's sshd did not start on {}:{} (see bosh/log/sshd.log; is the port taken by the host's sshd?)",
       options_.address, options_.port);
}

plugin::Json SshAccess::setup(const std::string& user, const std::string& public_key) {
  static const std::regex user_pattern("bosh_[A-Za-z0-9_]{1,40}");
  static const std::regex key_pattern("(ssh-(rsa|ed25519|dss)|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]+( [^\\r\\n]*)?\\n?");
  if (!std::regex_match(user, user_pattern)) fail<InputError>("ssh: user '{}' is not bosh_<letters and digits>", user);
  if (!std::regex_match(public_key, key_pattern)) fail<InputError>("ssh: the public key is not one OpenSSH key line");
  if (!options_.private_etc)
    fail("ssh: this agent shares its host's users (the local CPI without namespace isolation); it adds none");
  if (options_.address.empty()) fail("ssh: the VM has no IP address in its settings");
  overlay_etc();
  const fs::path passwd = "/etc/passwd", group = "/etc/group";
  auto users = lines_of(passwd), groups = lines_of(group);
  int uid = -1, next = kFirstUid;
  // New ids above every regular one (nobody's 65534 and the like do not count).
  auto regular = [](int id) { return id < 60000 ? id : -1; };
  for (const auto& l : users) {
    if (name_of(l) == user) uid = field_int(l, 2);
    next = std::max(next, regular(field_int(l, 2)) + 1);
  }
  for (const auto& l : groups) next = std::max(next, regular(field_int(l, 2)) + 1);
  // sshd's privilege separation user, in the VM only.
  if (std::none_of(users.begin(), users.end(), [](const std::string& l) { return name_of(l) == "sshd"; })) {
    users.push_back(fmt::format("sshd:x:{}:65534::/run/sshd:/usr/sbin/nologin", next++));
    write_lines(passwd, users);
  }
  const fs::path home = options_.base_dir / "bosh_ssh" / user;
  // As on BOSH's VMs, ssh users are in group vcap, which may write data/tmp.
  int vcap_gid = -1;
  for (const auto& l : groups)
    if (name_of(l) == "vcap") vcap_gid = field_int(l, 2);
  if (vcap_gid < 0) {
    vcap_gid = next++;
    groups.push_back(fmt::format("vcap:x:{}:", vcap_gid));
  }
  if (uid < 0) {
    uid = next;
    // The password field "x" without a shadow entry: no password works, and
    // the account is not locked, so the key does.
    users.push_back(fmt::format("{}:x:{}:{}::{}:/bin/bash", user, uid, uid, home.string()));
    groups.push_back(fmt::format("{}:x:{}:", user, uid));
    for (auto& l : groups)
      if (name_of(l) == "vcap") l += (l.back() == ':' ? "" : ",") + user;
    write_lines(group, groups);
    write_lines(passwd, users);
  }
  const fs::path data_tmp = options_.base_dir / "data/tmp";
  fs::create_directories(data_tmp);
  if (::chown(data_tmp.c_str(), 0, static_cast<gid_t>(vcap_gid)) == 0)
    fs::permissions(data_tmp, fs::perms::owner_all | fs::perms::group_all);
  fs::create_directories(home / ".ssh");
  {
    std::ofstream keys(home / ".ssh/authorized_keys", std::ios::trunc);
    keys << public_key << (public_key.back() == '\n' ? "" : "\n");
  }
  for (const auto& p : {home, home / ".ssh", home / ".ssh/authorized_keys"})
    if (::chown(p.c_str(), static_cast<uid_t>(uid), static_cast<gid_t>(uid)) != 0)
      fail("ssh: cannot give {} to {}: {}", p.string(), user, std::strerror(errno));
  fs::permissions(home, fs::perms::owner_all);
  fs::permissions(home / ".ssh", fs::perms::owner_all);
  fs::permissions(home / ".ssh/authorized_keys", fs::perms::owner_read | fs::perms::owner_write);
  start_sshd();
  log::info(kLog, "ssh user {} set up", user);
  Poco::JSON::Object::Ptr out = new Poco::JSON::Object;
  out->set("command", "setup");
  out->set("status", "success");
  out->set("ip", options_.address);
  out->set("host_public_key", host_public_key());
  return out;
}

plugin::Json SshAccess::cleanup(const std::string& user_regex) {
  if (user_regex.rfind("^bosh_", 0) != 0) fail<InputError>("ssh: cleanup removes only bosh_ users, not '{}'", user_regex);
  std::regex pattern;
  try {
    pattern = std::regex(user_regex);
  } catch (const std::regex_error&) {
    fail<InputError>("ssh: user_regex '{}' is not a regular expression", user_regex);
  }
  std::set<std::string> removed;
  if (options_.private_etc && same_file(options_.base_dir / "bosh/etc/passwd", "/etc/passwd")) {
    auto users = lines_of("/etc/passwd"), groups = lines_of("/etc/group");
    std::vector<std::string> kept_users, kept_groups;
    for (const auto& l : users) {
      const std::string name = name_of(l);
      if (name.rfind("bosh_", 0) == 0 && std::regex_search(name, pattern)) {
        removed.insert(name);
        run_process({"pkill", "-KILL", "-u", std::to_string(field_int(l, 2))});  // its sessions end with it
      } else {
        kept_users.push_back(l);
      }
    }
    for (auto l : groups) {
      if (removed.count(name_of(l))) continue;
      if (name_of(l) == "vcap") {  // its member list without the users removed
        const std::size_t colon = l.rfind(':');
        std::stringstream members(l.substr(colon + 1));
        std::string kept;
        for (std::string m; std::getline(members, m, ',');)
          if (!m.empty() && !removed.count(m)) kept += (kept.empty() ? "" : ",") + m;
        l = l.substr(0, colon + 1) + kept;
      }
      kept_groups.push_back(l);
    }
    write_lines("/etc/passwd", kept_users);
    write_lines("/etc/group", kept_groups);
    for (const auto& name : removed) {
      std::error_code ec;
      fs::remove_all(options_.base_dir / "bosh_ssh" / name, ec);
    }
    bool any_left = false;
    for (const auto& l : kept_users) any_left = any_left || name_of(l).rfind("bosh_", 0) == 0;
    if (!any_left && sshd_) sshd_.reset();  // the last user is gone: so is its door
  }
  log::info(kLog, "ssh cleanup removed {} user(s)", removed.size());
  Poco::JSON::Object::Ptr out = new Poco::JSON::Object;
  out->set("command", "cleanup");
  out->set("status", "success");
  out->set("ip", options_.address);
  return out;
}

}  // namespace bosh::agent
