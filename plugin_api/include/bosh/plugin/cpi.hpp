// The cloud provider interface: BOSH's CPI API v2, method for method, with the
// same names and argument order as the external CPI protocol
// (docs-bosh cpi-api-v2-method/*). Cloud properties, networks, env and disk
// hints are Json values exactly as they appear on that protocol.
//
// Errors: throw the types in errors.hpp (VMNotFound, DiskNotFound,
// VMCreationFailed{ok_to_retry}, NotImplemented, ...). Optional methods have
// default bodies that throw NotImplemented.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bosh/plugin/errors.hpp"
#include "bosh/plugin/host_services.hpp"
#include "bosh/plugin/json.hpp"

namespace bosh::plugin {

// create_vm's v2 result: the VM's cid and the networks as the cloud made them.
struct CreateVmResult {
  std::string vm_cid;
  Json networks;
};

// calculate_vm_cloud_properties' argument.
struct VmResources {
  int cpu = 1;
  std::int64_t ram_mb = 1024;
  std::int64_t ephemeral_disk_size_mb = 1024;
};

using Metadata = std::map<std::string, std::string>;

class Cpi {
 public:
  virtual ~Cpi() = default;

  // {"api_version": 2, "stemcell_formats": [...]}
  virtual Json info() = 0;

  // Stemcells
  virtual std::string create_stemcell(const std::string& image_path, const Json& cloud_properties) = 0;
  virtual void delete_stemcell(const std::string& stemcell_cid) = 0;

  // VMs
  virtual CreateVmResult create_vm(const std::string& agent_id, const std::string& stemcell_cid,
                                   const Json& cloud_properties, const Json& networks,
                                   const std::vector<std::string>& disk_cids, const Json& env) = 0;
  // Must succeed when the VM is already gone.
  virtual void delete_vm(const std::string& vm_cid) = 0;
  virtual bool has_vm(const std::string& vm_cid) = 0;
  virtual void reboot_vm(const std::string& vm_cid) = 0;
  virtual void set_vm_metadata(const std::string& vm_cid, const Metadata& metadata) = 0;
  virtual Json calculate_vm_cloud_properties(const VmResources& resources) {
    throw NotImplemented("calculate_vm_cloud_properties is not implemented by this CPI");
  }

  // Disks
  virtual std::string create_disk(std::int64_t size_mb, const Json& cloud_properties,
                                  const std::optional<std::string>& vm_cid) = 0;
  virtual void delete_disk(const std::string& disk_cid) = 0;
  virtual void resize_disk(const std::string& disk_cid, std::int64_t new_size_mb) {
    throw NotImplemented("resize_disk is not implemented by this CPI");
  }
  // Returns the new disk cid, or nothing when the disk kept its cid.
  virtual std::optional<std::string> update_disk(const std::string& disk_cid, std::int64_t new_size_mb,
                                                 const Json& cloud_properties) {
    throw NotImplemented("update_disk is not implemented by this CPI");
  }
  virtual bool has_disk(const std::string& disk_cid) = 0;
  // v2: returns the disk hint (a device path string or an object).
  virtual Json attach_disk(const std::string& vm_cid, const std::string& disk_cid) = 0;
  virtual void detach_disk(const std::string& vm_cid, const std::string& disk_cid) = 0;
  virtual std::vector<std::string> get_disks(const std::string& vm_cid) = 0;
  virtual void set_disk_metadata(const std::string& disk_cid, const Metadata& metadata) {
    throw NotImplemented("set_disk_metadata is not implemented by this CPI");
  }

  // Snapshots
  virtual std::string snapshot_disk(const std::string& disk_cid, const Metadata& metadata) {
    throw NotImplemented("snapshot_disk is not implemented by this CPI");
  }
  virtual void delete_snapshot(const std::string& snapshot_cid) {
    throw NotImplemented("delete_snapshot is not implemented by this CPI");
  }

  // v1 / micro: the cid of the VM this CPI runs on.
  virtual std::string current_vm_id() {
    throw NotImplemented("current_vm_id is not implemented by this CPI");
  }
};

// The factory a CPI plugin exports as bosh_create_cpi. `config` is the CPI's
// properties (director.yml cloud.properties or a CPI config's properties).
using cpi_factory_t = std::unique_ptr<Cpi>(HostServices& host, const Json& config);

}  // namespace bosh::plugin
