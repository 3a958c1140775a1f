// cpi_local.so through the plugin host, as the director uses it: the CPI
// conformance kit, and VMs that are real process trees whose agents answer on
// a real nats-server.
#include <doctest/doctest.h>

#include <dirent.h>
#include <signal.h>

#include <fstream>
#include <thread>

#include "../../support/eventually.hpp"
#include "../../peers/nats_server.hpp"
#include "bosh/common/archive.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/json.hpp"
#include "bosh/common/subprocess.hpp"
#include "bosh/mbus/agent_client.hpp"
#include "bosh/plugin/testing/cpi_conformance.hpp"
#include "bosh/plugin_host/plugin_host.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using bosh::plugin::Json;

namespace {

const fs::path kBin = fs::path(BOSH_TEST_BINARY_DIR) / "bin";
const fs::path kPlugin = fs::path(BOSH_TEST_BINARY_DIR) / "lib/bosh/plugins/cpi_local.so";

// The local stemcell, built by the real tool; its image is what create_stemcell takes.
struct LocalStemcell {
  bosh::TempDir dir{"bosh-local-stemcell"};
  fs::path tarball = dir.path() / "stemcell.tgz";
  fs::path image = dir.path() / "x/image";
  LocalStemcell() {
    auto r = bosh::run_process({(kBin / "bosh-local-stemcell").string(), "--out", tarball.string(), "--version", "7.1"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    bosh::extract_tgz(tarball, dir.path() / "x");
    REQUIRE(fs::exists(image));
  }
};

// Pids of every process whose command line or executable mentions `needle`.
std::vector<int> processes_mentioning(const std::string& needle) {
  std::vector<int> found;
  DIR* d = opendir("/proc");
  while (dirent* e = d ? readdir(d) : nullptr) {
    int pid = std::atoi(e->d_name);
    if (pid <= 0 || pid == getpid()) continue;
    std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline");
    std::string cmd((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::error_code ec;
    std::string exe = fs::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec).string();
    if (cmd.find(needle) != std::string::npos || exe.find(needle) != std::string::npos) found.push_back(pid);
  }
  if (d) closedir(d);
  return found;
}

using bosh::testing::eventually;
using bosh::testing::process_gone;

struct Cloud {
  bosh::TempDir root{"bosh-cpi-local"};
  bosh::plugin_host::PluginHost host{"bosh-director"};
  std::string mbus;

  explicit Cloud(std::string mbus_url = "nats://nobody:none@127.0.0.1:1") : mbus(std::move(mbus_url)) {
    REQUIRE_MESSAGE(host.load_file(kPlugin), (host.refusals().empty() ? "" : host.refusals()[0].message()));
  }
  Json properties() const {
    return bosh::parse_json(R"({"root": ")" + root.path().string() + R"(", "agent": {"mbus": ")" + mbus +
                                R"(", "blobstore": {"provider": "local", "options": {"blobstore_path": ")" +
                                (root.path() / "blobs").string() +
                                R"("}}}, "agent_args": ["--heartbeat-interval", "1", "--monit-poll", "1"],
                                    "stop_timeout": 5})",
                            "properties");
  }
  std::shared_ptr<bosh::plugin::Cpi> cpi() { return host.create_cpi("local", properties()); }
};

Json manual_network(const std::string& ip) {
  return bosh::parse_json(R"({"default": {"type": "manual", "ip": ")" + ip +
                              R"(", "netmask": "255.255.255.0", "gateway": "127.0.10.1", "dns": ["127.0.0.1"],
                                 "default": ["dns", "gateway"], "cloud_properties": {}}})",
                          "networks");
}

}  // namespace

TEST_SUITE("integration") {
  TEST_CASE("cpi_local: passes the CPI conformance kit") {
    LocalStemcell stemcell;
    Cloud cloud;
    bosh::plugin::testing::CpiConformanceOptions options;
    options.stemcell_image = stemcell.image.string();
    options.networks = manual_network("127.0.10.40");
    bosh::plugin::testing::cpi_conformance([&] { return cloud.cpi(); }, options);
  }

  TEST_CASE("cpi_local: a VM is a process tree whose agent answers on NATS and dies whole with delete_vm") {
    LocalStemcell stemcell;
    bosh::testing::NatsServer nats;
    Cloud cloud(nats.url());
    auto cpi = cloud.cpi();
    const std::string stemcell_cid = cpi->create_stemcell(stemcell.image.string(), bosh::plugin::json_object());
    auto vm = cpi->create_vm("agent-tree", stemcell_cid, bosh::plugin::json_object(), manual_network("127.0.10.41"), {},
                             bosh::parse_json(R"({"bosh": {"group": "kit"}})", "env"));
    // The agent found its settings, connected and answers like any BOSH agent.
    bosh::mbus::NatsConnection director({nats.url()});
    bosh::mbus::AgentClient agent(director, "agent-tree");
    std::string pong;
    for (const auto until = std::chrono::steady_clock::now() + 90s; pong.empty() && std::chrono::steady_clock::now() < until;) {
      try {
        pong = agent.ping(2s);
      } catch (const std::exception&) {
      }
    }
    REQUIRE(pong == "pong");
    auto state = bosh::as_object(agent.get_state(), "state");
    CHECK(state->getObject("networks")->getObject("default")->getValue<std::string>("ip") == "127.0.10.41");
    CHECK(state->getObject("vm")->getValue<std::string>("name") == vm.vm_cid);
    auto settings = bosh::as_object(bosh::load_json_file(cloud.root.path() / "vms" / vm.vm_cid / "bosh/settings.json"),
                                    "settings");
    CHECK(settings->getValue<std::string>("agent_id") == "agent-tree");
    CHECK(settings->getObject("env")->getObject("bosh")->getValue<std::string>("group") == "kit");

    // A job started under the VM's monit belongs to the tree too.
    const fs::path image_dir = cloud.root.path() / "stemcells" / stemcell_cid;
    CHECK_FALSE(processes_mentioning(image_dir.string() + "/bin/bosh-agent").empty());
    CHECK_FALSE(processes_mentioning(image_dir.string() + "/bin/monit").empty());

    cpi->delete_vm(vm.vm_cid);
    CHECK_FALSE(cpi->has_vm(vm.vm_cid));
    CHECK_FALSE(fs::exists(cloud.root.path() / "vms" / vm.vm_cid));
    // Nothing of the VM runs on: no agent, no monit, no init.
    std::vector<int> left;
    eventually([&] {
      left = processes_mentioning(image_dir.string());
      return left.empty();
    });
    CHECK(left.empty());
  }

  TEST_CASE("cpi_local: disks are directories that outlive VMs and follow attach / detach") {
    LocalStemcell stemcell;
    Cloud cloud;
    auto cpi = cloud.cpi();
    const std::string stemcell_cid = cpi->create_stemcell(stemcell.image.string(), bosh::plugin::json_object());
    auto vm1 = cpi->create_vm("agent-d1", stemcell_cid, bosh::plugin::json_object(), manual_network("127.0.10.42"), {},
                              bosh::plugin::json_object());
    const std::string disk = cpi->create_disk(2048, bosh::plugin::json_object(), vm1.vm_cid);
    Json hint = cpi->attach_disk(vm1.vm_cid, disk);
    const fs::path disk_dir = hint.convert<std::string>();
    CHECK(fs::is_directory(disk_dir));
    auto settings = [&](const std::string& vm) {
      return bosh::as_object(bosh::load_json_file(cloud.root.path() / "vms" / vm / "bosh/settings.json"), "settings");
    };
    CHECK(settings(vm1.vm_cid)->getObject("disks")->getObject("persistent")->getValue<std::string>(disk) ==
          disk_dir.string());
    bosh::write_file_atomic(disk_dir / "data.txt", "kept");

    // Attached elsewhere while attached here: refused, naming the VM.
    auto vm2 = cpi->create_vm("agent-d2", stemcell_cid, bosh::plugin::json_object(), manual_network("127.0.10.43"), {},
                              bosh::plugin::json_object());
    CHECK_THROWS_WITH_AS(cpi->attach_disk(vm2.vm_cid, disk),
                         doctest::Contains(("is attached to VM '" + vm1.vm_cid + "'").c_str()), bosh::plugin::CloudError);
    CHECK_THROWS_WITH_AS(cpi->delete_disk(disk), doctest::Contains("detach it first"), bosh::plugin::CloudError);

    cpi->delete_vm(vm1.vm_cid);  // detaches
    CHECK(bosh::read_file(disk_dir / "data.txt") == "kept");
    cpi->attach_disk(vm2.vm_cid, disk);
    CHECK(cpi->get_disks(vm2.vm_cid) == std::vector<std::string>{disk});
    cpi->detach_disk(vm2.vm_cid, disk);
    CHECK(settings(vm2.vm_cid)->getObject("disks")->getObject("persistent")->size() == 0);
    cpi->delete_vm(vm2.vm_cid);
    cpi->delete_disk(disk);
    CHECK_FALSE(fs::exists(disk_dir));
  }

  TEST_CASE("cpi_local: VMs run on without the director and a new CPI finds them and dynamic IPs are distinct") {
    LocalStemcell stemcell;
    Cloud cloud;
    std::string vm_a, vm_b, stemcell_cid;
    Json nets_a, nets_b;
    {
      auto cpi = cloud.cpi();
      stemcell_cid = cpi->create_stemcell(stemcell.image.string(), bosh::plugin::json_object());
      auto dynamic = bosh::parse_json(R"({"dyn": {"type": "dynamic", "cloud_properties": {}}})", "networks");
      auto a = cpi->create_vm("agent-r1", stemcell_cid, bosh::plugin::json_object(), dynamic, {},
                              bosh::plugin::json_object());
      auto b = cpi->create_vm("agent-r2", stemcell_cid, bosh::plugin::json_object(), dynamic, {},
                              bosh::plugin::json_object());
      vm_a = a.vm_cid;
      vm_b = b.vm_cid;
      nets_a = a.networks;
      nets_b = b.networks;
    }
    const std::string ip_a = bosh::as_object(nets_a, "a")->getObject("dyn")->getValue<std::string>("ip");
    const std::string ip_b = bosh::as_object(nets_b, "b")->getObject("dyn")->getValue<std::string>("ip");
    CHECK(ip_a.rfind("127.0.200.", 0) == 0);
    CHECK(ip_a != ip_b);

    // The CPI object (a director) went away; the VMs did not.
    auto cpi = cloud.cpi();
    CHECK(cpi->has_vm(vm_a));
    const int pid = bosh::as_object(bosh::load_json_file(cloud.root.path() / "vms" / (vm_a + ".json")), "vm")
                        ->getValue<int>("pid");
    CHECK(kill(pid, 0) == 0);

    // A VM whose processes died (a crash) still exists, powered off; reboot brings it back.
    kill(pid, SIGKILL);
    REQUIRE_MESSAGE(eventually([&] { return process_gone(pid); }), "the VM's init " << pid << " outlived SIGKILL");
    CHECK(cpi->has_vm(vm_a));
    cpi->reboot_vm(vm_a);
    const int rebooted = bosh::as_object(bosh::load_json_file(cloud.root.path() / "vms" / (vm_a + ".json")), "vm")
                             ->getValue<int>("pid");
    CHECK(rebooted != pid);
    CHECK(kill(rebooted, 0) == 0);
    cpi->delete_vm(vm_a);
    cpi->delete_vm(vm_b);
    CHECK_FALSE(cpi->has_vm(vm_a));
  }

  TEST_CASE("cpi_local: bad properties and a non-stemcell image are refused with the reason") {
    Cloud cloud;
    CHECK_THROWS_WITH(cloud.host.create_cpi("local", bosh::parse_json(R"({"agent": {}})", "p")),
                      doctest::Contains("missing required key 'root'"));
    CHECK_THROWS_WITH(cloud.host.create_cpi("local", bosh::parse_json(R"({"root": "relative/dir"})", "p")),
                      doctest::Contains("'root' must be an absolute path"));
    CHECK_THROWS_WITH(
        cloud.host.create_cpi("local", bosh::parse_json(R"({"root": "/tmp/x", "isolation": "vmware"})", "p")),
        doctest::Contains("'isolation' must be auto, namespace or none, got 'vmware'"));
    auto cpi = cloud.cpi();
    bosh::TempDir junk("bosh-junk-image");
    bosh::write_file_atomic(junk.path() / "tree/readme", "not an agent");
    bosh::create_tgz(junk.path() / "tree", junk.path() / "image");
    CHECK_THROWS_WITH_AS(cpi->create_stemcell((junk.path() / "image").string(), bosh::plugin::json_object()),
                         doctest::Contains("no executable bin/bosh-agent (not a local stemcell)"),
                         bosh::plugin::CloudError);
    CHECK(fs::is_empty(cloud.root.path() / "stemcells"));
  }
}
