// The agent's `ssh` action (bosh ssh / scp): ["setup", {user, public_key}]
// makes a login user that only this VM knows and an sshd on the VM's address
// that lets it in with that key; ["cleanup", {user_regex}] takes them away
// again (the sshd stops with the last user).
//
// Users live only in the VM: the agent keeps its own copy of /etc/passwd and
// /etc/group under <base>/bosh/etc and, in the VM's private mount namespace,
// mounts them over the system's. The host's users and its sshd are never
// touched; an agent that shares its host's files (private_etc false: the
// local CPI without namespaces) refuses to add users at all.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include <Poco/JSON/Array.h>

#include "bosh/common/subprocess.hpp"
#include "bosh/plugin/json.hpp"

namespace bosh::agent {

class SshAccess {
 public:
  struct Options {
    std::filesystem::path base_dir;
    bool private_etc = false;             // the VM has its own mount namespace: /etc may be overlaid
    std::string address;                  // the VM's IP, where its sshd listens
    int port = 22;
    std::filesystem::path sshd;           // default: the stemcell's, beside the agent (bin/sshd)
  };
  explicit SshAccess(Options options);
  ~SshAccess();

  // The action: returns {command, status: "success", ip, host_public_key}.
  plugin::Json handle(const Poco::JSON::Array::Ptr& args);

 private:
  plugin::Json setup(const std::string& user, const std::string& public_key);
  plugin::Json cleanup(const std::string& user_regex);
  void overlay_etc();
  void start_sshd();
  std::string host_public_key() const;

  Options options_;
  std::mutex mutex_;
  std::unique_ptr<BackgroundProcess> sshd_;
};

}  // namespace bosh::agent
