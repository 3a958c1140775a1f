// The local CPI: a cloud on one machine. VMs are process trees started from
// the local stemcell's image (bosh-vm-init + bosh-agent), disks are
// directories, and every address of 127.0.0.0/8 is a VM's IP.
//
// Properties (director.yml `cpi.properties`):
//   root: /var/vcap/store/cpi-local   # stemcells/, vms/, disks/, snapshots/ (required)
//   agent:                              # what every VM's agent is told
//     mbus: nats://nats:PASSWORD@127.0.0.1:4222
//     blobstore: {provider: dav, options: {endpoint: ..., user: ..., password: ...}}
//     ntp: []
//   agent_args: [--heartbeat-interval, "5"]   # extra bosh-agent options
//   isolation: auto                     # auto | namespace | none (see vm_init.cpp)
//   dynamic_range: 127.0.200.0/24       # where dynamic networks get their IPs
//   stop_timeout: 20                    # seconds a VM gets to stop before SIGKILL
//
// Everything is kept in files under root, so a restarted director (or a
// second one) sees the same cloud; VMs run on when the director stops.
#pragma once

#include <chrono>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "bosh/plugin/cpi.hpp"

namespace bosh::cpi_local {

struct LocalCpiConfig {
  std::filesystem::path root;
  plugin::Json agent;  // mbus, blobstore, ntp, env
  std::vector<std::string> agent_args;
  std::string isolation = "auto";
  std::string dynamic_range = "127.0.200.0/24";
  std::chrono::seconds stop_timeout{20};
};

LocalCpiConfig parse_config(const plugin::Json& properties);

class LocalCpi : public plugin::Cpi {
 public:
  LocalCpi(plugin::HostServices& host, LocalCpiConfig config);

  plugin::Json info() override;
  std::string create_stemcell(const std::string& image_path, const plugin::Json& cloud_properties) override;
  void delete_stemcell(const std::string& stemcell_cid) override;
  plugin::CreateVmResult create_vm(const std::string& agent_id, const std::string& stemcell_cid,
                                   const plugin::Json& cloud_properties, const plugin::Json& networks,
                                   const std::vector<std::string>& disk_cids, const plugin::Json& env) override;
  void delete_vm(const std::string& vm_cid) override;
  bool has_vm(const std::string& vm_cid) override;
  void reboot_vm(const std::string& vm_cid) override;
  void set_vm_metadata(const std::string& vm_cid, const plugin::Metadata& metadata) override;
  plugin::Json calculate_vm_cloud_properties(const plugin::VmResources& resources) override;
  std::string create_disk(std::int64_t size_mb, const plugin::Json& cloud_properties,
                          const std::optional<std::string>& vm_cid) override;
  void delete_disk(const std::string& disk_cid) override;
  void resize_disk(const std::string& disk_cid, std::int64_t new_size_mb) override;
  bool has_disk(const std::string& disk_cid) override;
  plugin::Json attach_disk(const std::string& vm_cid, const std::string& disk_cid) override;
  void detach_disk(const std::string& vm_cid, const std::string& disk_cid) override;
  std::vector<std::string> get_disks(const std::string& vm_cid) override;
  void set_disk_metadata(const std::string& disk_cid, const plugin::Metadata& metadata) override;
  std::string snapshot_disk(const std::string& disk_cid, const plugin::Metadata& metadata) override;
  void delete_snapshot(const std::string& snapshot_cid) override;

  // Whether the VM's processes are running (a VM can exist powered off).
  bool vm_running(const std::string& vm_cid);
  std::filesystem::path vm_dir(const std::string& vm_cid) const;

 private:
  std::filesystem::path stemcell_dir(const std::string& cid) const;
  std::filesystem::path vm_file(const std::string& cid) const;
  std::filesystem::path disk_dir(const std::string& cid) const;
  std::filesystem::path disk_file(const std::string& cid) const;
  void start_vm(const std::string& vm_cid);
  void stop_vm(const std::string& vm_cid);
  void write_settings(const std::string& vm_cid, const plugin::Json& vm);
  std::string allocate_dynamic_ip();

  plugin::HostServices& host_;
  LocalCpiConfig config_;
  std::mutex mutex_;  // with an flock on root/.lock: one writer of the state files at a time
};

}  // namespace bosh::cpi_local
