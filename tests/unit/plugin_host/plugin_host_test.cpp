#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "bosh/common/fs.hpp"
#include "bosh/plugin/testing/null_host.hpp"
#include "bosh/plugin_host/plugin_host.hpp"

using bosh::plugin_host::PluginHost;
namespace fs = std::filesystem;

namespace {
const fs::path kFixtures = fs::path(BOSH_TEST_BINARY_DIR) / "tests/fixtures/plugins";

fs::path fixture(const std::string& name) { return kFixtures / (name + ".so"); }

std::string only_refusal(const PluginHost& host) {
  REQUIRE(host.refusals().size() == 1);
  return host.refusals().front().message();
}

const std::string kApi = std::to_string(BOSH_PLUGIN_API_MAJOR) + "." + std::to_string(BOSH_PLUGIN_API_MINOR);
}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("a good cli plugin loads and its info is recorded") {
    PluginHost host;
    CHECK(host.load_file(fixture("cli_hello")));
    CHECK(host.refusals().empty());
    REQUIRE(host.plugins().size() == 1);
    const auto& r = host.plugins()[0];
    CHECK(r.kind == "cli");
    CHECK(r.name == "hello");
    CHECK(r.version == "1.2.3");
    CHECK(r.description == "Fixture command group");
    CHECK(r.api_major == BOSH_PLUGIN_API_MAJOR);
    CHECK(r.abi_tag == PluginHost::host_abi_tag());
    CHECK(r.compiler.find("gcc") == 0);
    CHECK(r.path == fixture("cli_hello"));
  }

  TEST_CASE("a text file named .so is refused as not a shared object") {
    bosh::TempDir dir;
    fs::path text = dir.path() / "x.so";
    std::ofstream(text) << "I am not a library\n";
    PluginHost host;
    CHECK_FALSE(host.load_file(text));
    CHECK(only_refusal(host) == text.string() + ": not a shared object (no ELF header)");
  }

  TEST_CASE("an ELF library without bosh_plugin_info is not a bosh plugin") {
    PluginHost host;
    CHECK_FALSE(host.load_file(fixture("not_plugin")));
    CHECK(only_refusal(host) ==
          fixture("not_plugin").string() + ": not a bosh plugin (it does not export bosh_plugin_info)");
  }

  TEST_CASE("a missing symbol is reported with the loader's text") {
    PluginHost host;
    CHECK_FALSE(host.load_file(fixture("missing_symbol")));
    std::string msg = only_refusal(host);
    CHECK(msg == fixture("missing_symbol").string() +
                     ": cannot load: undefined symbol: bosh_fixture_symbol_nobody_defines");
  }

  TEST_CASE("another API major is refused naming both versions") {
    PluginHost host;
    CHECK_FALSE(host.load_file(fixture("api_major")));
    CHECK(only_refusal(host) == fixture("api_major").string() +
                                    ": built for plugin API 2.0, this host supports plugin API " + kApi +
                                    " (major versions must match: rebuild it against API " +
                                    std::to_string(BOSH_PLUGIN_API_MAJOR) + ".x)");
  }

  TEST_CASE("a newer API minor is refused") {
    PluginHost host;
    CHECK_FALSE(host.load_file(fixture("api_minor")));
    CHECK(only_refusal(host) == fixture("api_minor").string() + ": built for plugin API " +
                                    std::to_string(BOSH_PLUGIN_API_MAJOR) +
                                    ".99, newer than this host's plugin API " + kApi + " (upgrade bosh)");
  }

  TEST_CASE("an ABI tag mismatch is refused naming both tags") {
    PluginHost host;
    CHECK_FALSE(host.load_file(fixture("abi_tag")));
    std::string msg = only_refusal(host);
    CHECK(msg.find(fixture("abi_tag").string() +
                   ": ABI tag mismatch: plugin \"libc++;cxx11abi=n/a;debug=0;poco=1.11\" (gcc ") == 0);
    CHECK(msg.find("), host \"" + PluginHost::host_abi_tag() + "\"") != std::string::npos);
  }

  TEST_CASE("the host's ABI tag names the stdlib / its dual ABI / debug mode and POCO") {
    CHECK(PluginHost::host_abi_tag() == "libstdc++;cxx11abi=1;debug=0;poco=1.11");
  }

  TEST_CASE("an unknown kind is refused") {
    PluginHost host;
    CHECK_FALSE(host.load_file(fixture("unknown_kind")));
    CHECK(only_refusal(host) ==
          fixture("unknown_kind").string() + ": unknown plugin kind \"gizmo\" (expected cpi, blobstore or cli)");
  }

  TEST_CASE("a plugin without its kind's factory is refused") {
    PluginHost host;
    CHECK_FALSE(host.load_file(fixture("no_factory")));
    CHECK(only_refusal(host) ==
          fixture("no_factory").string() + ": cpi plugin \"nofactory\" does not export bosh_create_cpi");
  }

  TEST_CASE("a duplicate name is refused naming the first file - the first keeps working") {
    PluginHost host;
    CHECK(host.load_file(fixture("cli_hello")));
    CHECK_FALSE(host.load_file(fixture("dup_hello")));
    CHECK(only_refusal(host) == fixture("dup_hello").string() +
                                    ": duplicate cli plugin \"hello\": already loaded from " +
                                    fixture("cli_hello").string());
    CHECK(host.find("cli", "hello")->version == "1.2.3");
  }

  TEST_CASE("a missing file is refused") {
    PluginHost host;
    CHECK_FALSE(host.load_file("/nonexistent/p.so"));
    CHECK(only_refusal(host) == "/nonexistent/p.so: no such file");
  }

  TEST_CASE("a directory load refuses the broken and keeps the good") {
    PluginHost host;
    host.load_directory(kFixtures);
    // cli_hello, cpi_fixture, blobstore_memory, cli_collide load (the CLI, not
    // the host, refuses a group shadowing a built-in); everything else is refused.
    std::vector<std::string> names;
    for (const auto& p : host.plugins()) names.push_back(p.kind + "/" + p.name);
    std::sort(names.begin(), names.end());
    CHECK(names == std::vector<std::string>{"blobstore/memory", "cli/hello", "cli/target", "cpi/fixture",
                                            "cpi/throws"});
    CHECK(host.refusals().size() == 8);
    // The same file reached twice is considered once.
    host.load_file(fixture("cli_hello"));
    CHECK(host.refusals().size() == 8);
  }

  TEST_CASE("plugin directories: BOSH_PLUGIN_PATH / ~/.bosh/plugins then the install's lib/bosh/plugins") {
    ::setenv("BOSH_PLUGIN_PATH", "/a:~/b:", 1);
    auto dirs = bosh::plugin_host::default_plugin_directories();
    ::unsetenv("BOSH_PLUGIN_PATH");
    REQUIRE(dirs.size() == 4);
    CHECK(dirs[0] == "/a");
    CHECK(dirs[1] == bosh::home_dir() / "b");
    CHECK(dirs[2] == bosh::home_dir() / ".bosh/plugins");
    CHECK(dirs[3] == bosh::executable_path().parent_path().parent_path() / "lib/bosh/plugins");
  }

  TEST_CASE("two plugins with the same alias names each resolve to their own code") {
    PluginHost host;
    REQUIRE(host.load_file(fixture("blobstore_memory")));
    REQUIRE(host.load_file(fixture("cpi_fixture")));
    auto blobs = host.create_blobstore("memory", {});
    auto cpi = host.create_cpi("fixture", {});
    std::istringstream in("payload");
    CHECK(blobs->create(in, std::nullopt) == "blob-1");
    auto vm = cpi->create_vm("agent-1", "sc", {}, bosh::plugin::Json(), {}, {});
    CHECK(vm.vm_cid == "vm-agent-1");
    CHECK(cpi->has_vm("vm-agent-1"));
  }

  TEST_CASE("the boundary guard: plugin errors keep their type / others become CloudError") {
    PluginHost host;
    REQUIRE(host.load_file(fixture("cpi_fixture")));
    auto cpi = host.create_cpi("fixture", {});
    try {
      cpi->create_vm("fail-retry", "sc", {}, {}, {}, {});
      FAIL("expected VMCreationFailed");
    } catch (const bosh::plugin::VMCreationFailed& e) {
      CHECK(std::string(e.what()) == "no capacity");
      CHECK(e.ok_to_retry());
      CHECK(std::string(e.type()) == "Bosh::Clouds::VMCreationFailed");
    }
    CHECK_THROWS_AS(cpi->reboot_vm("nope"), bosh::plugin::VMNotFound);
    CHECK_THROWS_AS(cpi->detach_disk("vm", "d"), bosh::plugin::DiskNotAttached);
    CHECK_THROWS_WITH_AS(cpi->delete_vm("boom"), "fixture: kaboom", bosh::plugin::CloudError);
    CHECK_THROWS_WITH_AS(cpi->delete_vm("int"), "fixture: unknown exception", bosh::plugin::CloudError);
    // Optional methods the plugin did not implement.
    CHECK_THROWS_AS(cpi->snapshot_disk("d", {}), bosh::plugin::NotImplemented);
  }

  TEST_CASE("a factory that throws becomes a CloudError naming the plugin") {
    PluginHost host;
    REQUIRE(host.load_file(fixture("factory_throws")));
    CHECK_THROWS_WITH_AS(host.create_cpi("throws", {}), "throws: cannot reach the cloud",
                         bosh::plugin::CloudError);
  }

  TEST_CASE("asking for a plugin that is not loaded names what is") {
    PluginHost host;
    REQUIRE(host.load_file(fixture("cpi_fixture")));
    CHECK_THROWS_WITH(host.create_cpi("aws", {}), "no cpi plugin named \"aws\" (loaded: fixture)");
  }

  TEST_CASE("objects keep their library alive after the host is gone") {
    std::shared_ptr<bosh::plugin::Cpi> cpi;
    {
      PluginHost host;
      REQUIRE(host.load_file(fixture("cpi_fixture")));
      cpi = host.create_cpi("fixture", {});
    }
    // The host (and its reference to the library) is gone; the object works.
    auto vm = cpi->create_vm("late", "sc", {}, {}, {}, {});
    CHECK(vm.vm_cid == "vm-late");
    cpi.reset();
  }

  TEST_CASE("built-in plugins share the registry and block .so plugins of the same name") {
    PluginHost host;
    host.register_builtin_cli("hello", "0.1.0", "built in",
                              [](bosh::plugin::HostServices&) -> std::unique_ptr<bosh::plugin::CommandGroup> {
                                return nullptr;
                              });
    CHECK_FALSE(host.load_file(fixture("cli_hello")));
    CHECK(only_refusal(host) == fixture("cli_hello").string() +
                                    ": duplicate cli plugin \"hello\": already loaded from the built-in plugins");
    CHECK(host.find("cli", "hello")->builtin);
    CHECK_THROWS_WITH_AS(host.create_cli("hello"), "hello: factory returned nothing", bosh::plugin::CloudError);
  }

  TEST_CASE("cli plugin commands run guarded") {
    PluginHost host;
    REQUIRE(host.load_file(fixture("cli_hello")));
    auto group = host.create_cli("hello");
    CHECK(group->name() == "hello");
    auto commands = group->commands();
    REQUIRE(commands.size() == 2);
    group.reset();  // the commands keep the group and library alive
    std::ostringstream out, err;
    bosh::plugin::testing::NullHostServices null_host;
    bosh::plugin::Invocation inv{{"ops"}, {{"shout", {""}}}, false, false, out, err, null_host};
    CHECK(commands[0].run(inv) == 0);
    CHECK(out.str() == "HELLO, ops (from cli_hello)\n");
    CHECK_THROWS_WITH_AS(commands[1].run(inv), "hello: fixture failure", bosh::plugin::CloudError);
  }
}

#include <boost/dll/library_info.hpp>

TEST_SUITE("unit") {
  TEST_CASE("every good in-tree plugin exports exactly its two aliases") {
    const std::vector<std::pair<std::string, std::string>> good = {
        {"cli_hello", "bosh_create_cli"}, {"cpi_fixture", "bosh_create_cpi"},
        {"blobstore_memory", "bosh_create_blobstore"}};
    for (const auto& [file, factory] : good) {
      CAPTURE(file);
      boost::dll::library_info info(fixture(file));
      auto symbols = info.symbols();
      std::sort(symbols.begin(), symbols.end());
      std::vector<std::string> expected = {factory, "bosh_plugin_info"};
      std::sort(expected.begin(), expected.end());
      CHECK(symbols == expected);
    }
  }
}
