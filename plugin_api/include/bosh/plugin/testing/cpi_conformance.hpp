// The CPI conformance kit: what every CPI owes the director, as doctest
// subcases. A third-party CPI author runs the same kit against their plugin:
//
//   TEST_CASE("my CPI conforms") {
//     bosh::plugin::testing::CpiConformanceOptions options;
//     options.stemcell_image = "/path/to/an/image/my/cloud/accepts";
//     options.networks = ...;  // what create_vm gets, in the director's shape
//     bosh::plugin::testing::cpi_conformance([] { return make_my_cpi(); }, options);
//   }
//
// `make` returns a CPI (unique_ptr or shared_ptr) on the same cloud each call.
// The kit creates and deletes its own stemcell, VMs and disks; optional
// methods must either work or throw NotImplemented (or NotSupported).
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "bosh/plugin/cpi.hpp"

namespace bosh::plugin::testing {

struct CpiConformanceOptions {
  std::string stemcell_image;     // a file create_stemcell accepts
  Json stemcell_cloud_properties = json_object();
  Json vm_cloud_properties = json_object();
  Json networks = json_object();  // {"default": {"type": "manual", "ip": ..., ...}}
  Json disk_cloud_properties = json_object();
  std::int64_t disk_size_mb = 1024;
  std::string unknown_cid = "conformance-no-such-cid";
};

namespace detail {
inline bool contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}
// An optional method: it works, or says it is not there.
template <typename F>
void optional_method(const char* name, F call) {
  INFO("optional method " << name);
  try {
    call();
  } catch (const NotImplemented&) {
  } catch (const NotSupported&) {
  }
}
}  // namespace detail

template <typename Make>
void cpi_conformance(Make make, const CpiConformanceOptions& o) {
  auto cpi = make();
  REQUIRE(cpi);
  const std::string unknown = o.unknown_cid;

  SUBCASE("info names API version 2 and the stemcell formats") {
    Json info = cpi->info();
    REQUIRE(info.type() == typeid(JsonObject::Ptr));
    auto object = info.extract<JsonObject::Ptr>();
    CHECK(object->getValue<int>("api_version") == 2);
    REQUIRE(object->has("stemcell_formats"));
    CHECK(object->getArray("stemcell_formats")->size() > 0);
  }

  SUBCASE("unknown VMs: has_vm is false, delete_vm succeeds, reboot and metadata raise VMNotFound") {
    CHECK_FALSE(cpi->has_vm(unknown));
    CHECK_NOTHROW(cpi->delete_vm(unknown));
    CHECK_THROWS_AS(cpi->reboot_vm(unknown), VMNotFound);
    CHECK_THROWS_AS(cpi->set_vm_metadata(unknown, {{"director", "conformance"}}), VMNotFound);
    CHECK_THROWS_AS(cpi->get_disks(unknown), VMNotFound);
  }

  SUBCASE("unknown disks: has_disk is false, attach raises DiskNotFound, delete raises DiskNotFound or succeeds") {
    CHECK_FALSE(cpi->has_disk(unknown));
    try {
      cpi->delete_disk(unknown);
    } catch (const DiskNotFound&) {
    }
  }

  SUBCASE("a stemcell, a VM and a disk through their whole lives") {
    REQUIRE_FALSE(o.stemcell_image.empty());
    const std::string stemcell = cpi->create_stemcell(o.stemcell_image, o.stemcell_cloud_properties);
    REQUIRE_FALSE(stemcell.empty());

    CreateVmResult vm = cpi->create_vm("conformance-agent", stemcell, o.vm_cloud_properties, o.networks, {},
                                       json_object());
    REQUIRE_FALSE(vm.vm_cid.empty());
    CHECK(cpi->has_vm(vm.vm_cid));
    CHECK_NOTHROW(cpi->set_vm_metadata(vm.vm_cid, {{"director", "conformance"}, {"deployment", "kit"}}));
    CHECK(cpi->get_disks(vm.vm_cid).empty());

    // A second CPI object on the same cloud sees the same VM (the director
    // makes a CPI per task and restarts).
    CHECK(make()->has_vm(vm.vm_cid));

    const std::string disk = cpi->create_disk(o.disk_size_mb, o.disk_cloud_properties, vm.vm_cid);
    REQUIRE_FALSE(disk.empty());
    CHECK(cpi->has_disk(disk));
    CHECK_THROWS_AS(cpi->detach_disk(vm.vm_cid, disk), DiskNotAttached);
    CHECK_THROWS_AS(cpi->attach_disk(unknown, disk), VMNotFound);
    CHECK_THROWS_AS(cpi->attach_disk(vm.vm_cid, unknown), DiskNotFound);

    Json hint = cpi->attach_disk(vm.vm_cid, disk);
    CHECK_FALSE(hint.isEmpty());
    CHECK(detail::contains(cpi->get_disks(vm.vm_cid), disk));
    detail::optional_method("set_disk_metadata", [&] { cpi->set_disk_metadata(disk, {{"deployment", "kit"}}); });
    detail::optional_method("snapshot_disk / delete_snapshot", [&] {
      std::string snapshot = cpi->snapshot_disk(disk, {{"deployment", "kit"}});
      CHECK_FALSE(snapshot.empty());
      cpi->delete_snapshot(snapshot);
    });
    CHECK_NOTHROW(cpi->reboot_vm(vm.vm_cid));
    CHECK(cpi->has_vm(vm.vm_cid));
    CHECK(detail::contains(cpi->get_disks(vm.vm_cid), disk));

    cpi->detach_disk(vm.vm_cid, disk);
    CHECK_FALSE(detail::contains(cpi->get_disks(vm.vm_cid), disk));
    detail::optional_method("resize_disk", [&] { cpi->resize_disk(disk, o.disk_size_mb * 2); });
    detail::optional_method("update_disk", [&] { cpi->update_disk(disk, o.disk_size_mb * 2, o.disk_cloud_properties); });

    cpi->delete_vm(vm.vm_cid);
    CHECK_FALSE(cpi->has_vm(vm.vm_cid));
    CHECK_NOTHROW(cpi->delete_vm(vm.vm_cid));  // gone already: still fine
    CHECK(cpi->has_disk(disk));                // disks outlive their VMs

    cpi->delete_disk(disk);
    CHECK_FALSE(cpi->has_disk(disk));
    cpi->delete_stemcell(stemcell);
  }

  SUBCASE("create_vm on an unknown stemcell fails as a cloud error") {
    CHECK_THROWS_AS(cpi->create_vm("conformance-agent", unknown, o.vm_cloud_properties, o.networks, {},
                                   json_object()),
                    CloudError);
  }

  SUBCASE("the other optional methods work or say they are not implemented") {
    detail::optional_method("calculate_vm_cloud_properties",
                            [&] { cpi->calculate_vm_cloud_properties(VmResources{2, 2048, 4096}); });
    detail::optional_method("current_vm_id", [&] { cpi->current_vm_id(); });
  }
}

}  // namespace bosh::plugin::testing
