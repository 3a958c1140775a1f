#include "guarded_objects.hpp"

#include "guard.hpp"

namespace bosh::plugin_host {

void rethrow_at_boundary(const std::string& plugin_name) {
  try {
    throw;
  } catch (const plugin::Error& e) {
    plugin::error_from_wire(e.type(), e.what(), e.ok_to_retry())->rethrow();
    __builtin_unreachable();  // rethrow() is [[noreturn]]; GCC cannot see through the virtual call
  } catch (const std::exception& e) {
    // (appended, not `a + ": " + b`: GCC 12 warns falsely on that, bug 105651)
    std::string message = plugin_name;
    message.append(": ").append(e.what());
    throw plugin::CloudError(std::move(message));
  } catch (...) {
    std::string message = plugin_name;
    message.append(": unknown exception");
    throw plugin::CloudError(std::move(message));
  }
}

namespace {

// Member order matters: impl_ is destroyed before keepalive_ (the library).
template <typename Interface>
class Guarded {
 public:
  Guarded(std::string name, std::unique_ptr<Interface> impl, std::shared_ptr<Keepalive> keepalive)
      : keepalive_(std::move(keepalive)), name_(std::move(name)), impl_(std::move(impl)) {}
  ~Guarded() {
    try {
      impl_.reset();
    } catch (...) {
    }
  }
 protected:
  template <typename F>
  auto call(F&& f) const -> decltype(f(std::declval<Interface&>())) {
    return guarded(name_, [&] { return f(*impl_); });
  }
  std::shared_ptr<Keepalive> keepalive_;
  std::string name_;
  std::unique_ptr<Interface> impl_;
};

class GuardedCpi final : public plugin::Cpi, Guarded<plugin::Cpi> {
 public:
  using Guarded::Guarded;
  using Json = plugin::Json;
  Json info() override { return call([&](auto& c) { return c.info(); }); }
  std::string create_stemcell(const std::string& image_path, const Json& cp) override {
    return call([&](auto& c) { return c.create_stemcell(image_path, cp); });
  }
  void delete_stemcell(const std::string& cid) override {
    call([&](auto& c) { c.delete_stemcell(cid); });
  }
  plugin::CreateVmResult create_vm(const std::string& agent_id, const std::string& stemcell_cid,
                                   const Json& cp, const Json& networks,
                                   const std::vector<std::string>& disk_cids, const Json& env) override {
    return call([&](auto& c) { return c.create_vm(agent_id, stemcell_cid, cp, networks, disk_cids, env); });
  }
  void delete_vm(const std::string& vm_cid) override { call([&](auto& c) { c.delete_vm(vm_cid); }); }
  bool has_vm(const std::string& vm_cid) override { return call([&](auto& c) { return c.has_vm(vm_cid); }); }
  void reboot_vm(const std::string& vm_cid) override { call([&](auto& c) { c.reboot_vm(vm_cid); }); }
  void set_vm_metadata(const std::string& vm_cid, const plugin::Metadata& m) override {
    call([&](auto& c) { c.set_vm_metadata(vm_cid, m); });
  }
  Json calculate_vm_cloud_properties(const plugin::VmResources& r) override {
    return call([&](auto& c) { return c.calculate_vm_cloud_properties(r); });
  }
  std::string create_disk(std::int64_t size_mb, const Json& cp,
                          const std::optional<std::string>& vm_cid) override {
    return call([&](auto& c) { return c.create_disk(size_mb, cp, vm_cid); });
  }
  void delete_disk(const std::string& disk_cid) override { call([&](auto& c) { c.delete_disk(disk_cid); }); }
  void resize_disk(const std::string& disk_cid, std::int64_t size_mb) override {
    call([&](auto& c) { c.resize_disk(disk_cid, size_mb); });
  }
  std::optional<std::string> update_disk(const std::string& disk_cid, std::int64_t size_mb,
                                         const Json& cp) override {
    return call([&](auto& c) { return c.update_disk(disk_cid, size_mb, cp); });
  }
  bool has_disk(const std::string& disk_cid) override {
    return call([&](auto& c) { return c.has_disk(disk_cid); });
  }
  Json attach_disk(const std::string& vm_cid, const std::string& disk_cid) override {
    return call([&](auto& c) { return c.attach_disk(vm_cid, disk_cid); });
  }
  void detach_disk(const std::string& vm_cid, const std::string& disk_cid) override {
    call([&](auto& c) { c.detach_disk(vm_cid, disk_cid); });
  }
  std::vector<std::string> get_disks(const std::string& vm_cid) override {
    return call([&](auto& c) { return c.get_disks(vm_cid); });
  }
  void set_disk_metadata(const std::string& disk_cid, const plugin::Metadata& m) override {
    call([&](auto& c) { c.set_disk_metadata(disk_cid, m); });
  }
  std::string snapshot_disk(const std::string& disk_cid, const plugin::Metadata& m) override {
    return call([&](auto& c) { return c.snapshot_disk(disk_cid, m); });
  }
  void delete_snapshot(const std::string& snapshot_cid) override {
    call([&](auto& c) { c.delete_snapshot(snapshot_cid); });
  }
  std::string current_vm_id() override { return call([&](auto& c) { return c.current_vm_id(); }); }
};

class GuardedBlobstore final : public plugin::Blobstore, Guarded<plugin::Blobstore> {
 public:
  using Guarded::Guarded;
  std::string create(std::istream& content, const std::optional<std::string>& id) override {
    return call([&](auto& b) { return b.create(content, id); });
  }
  void get(const std::string& id, std::ostream& out) override { call([&](auto& b) { b.get(id, out); }); }
  void delete_blob(const std::string& id) override { call([&](auto& b) { b.delete_blob(id); }); }
  bool exists(const std::string& id) override { return call([&](auto& b) { return b.exists(id); }); }
};

class GuardedCommandGroup final : public plugin::CommandGroup,
                                  Guarded<plugin::CommandGroup>,
                                  public std::enable_shared_from_this<GuardedCommandGroup> {
 public:
  using Guarded::Guarded;
  std::string name() const override { return call([](auto& g) { return g.name(); }); }
  std::string summary() const override { return call([](auto& g) { return g.summary(); }); }
  std::vector<plugin::Command> commands() override {
    auto commands = call([](auto& g) { return g.commands(); });
    // Each run function is plugin code: guard it, and keep the group (and so
    // the library) alive for as long as the function object lives.
    for (auto& command : commands) {
      auto inner = std::move(command.run);
      command.run = [self = shared_from_this(), inner = std::move(inner)](plugin::Invocation& inv) -> int {
        if (!inner) throw plugin::CloudError(self->name_ + ": command has no run function");
        return guarded(self->name_, [&] { return inner(inv); });
      };
    }
    return commands;
  }
};

}  // namespace

std::shared_ptr<plugin::Cpi> guard_cpi(std::string plugin_name, std::unique_ptr<plugin::Cpi> impl,
                                       std::shared_ptr<Keepalive> keepalive) {
  return std::make_shared<GuardedCpi>(std::move(plugin_name), std::move(impl), std::move(keepalive));
}

std::shared_ptr<plugin::Blobstore> guard_blobstore(std::string plugin_name,
                                                   std::unique_ptr<plugin::Blobstore> impl,
                                                   std::shared_ptr<Keepalive> keepalive) {
  return std::make_shared<GuardedBlobstore>(std::move(plugin_name), std::move(impl), std::move(keepalive));
}

std::shared_ptr<plugin::CommandGroup> guard_cli(std::string plugin_name,
                                                std::unique_ptr<plugin::CommandGroup> impl,
                                                std::shared_ptr<Keepalive> keepalive) {
  return std::make_shared<GuardedCommandGroup>(std::move(plugin_name), std::move(impl), std::move(keepalive));
}

}  // namespace bosh::plugin_host
