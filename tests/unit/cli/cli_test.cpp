#include <doctest/doctest.h>

#include <Poco/JSON/Parser.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "../../../core/cli/src/command.hpp"
#include "../../../core/cli/src/config.hpp"
#include "bosh/cli/cli.hpp"
#include "bosh/common/fs.hpp"

namespace fs = std::filesystem;

namespace {
const fs::path kFixtures = fs::path(BOSH_TEST_BINARY_DIR) / "tests/fixtures/plugins";

// A clean environment: own HOME (so ~/.bosh_config and ~/.bosh/plugins are
// empty), an optional BOSH_PLUGIN_PATH.
struct Env {
  bosh::TempDir home{"bosh-cli-home"};
  explicit Env(const std::string& plugin_path = "") {
    ::setenv("HOME", home.path().c_str(), 1);
    if (plugin_path.empty())
      ::unsetenv("BOSH_PLUGIN_PATH");
    else
      ::setenv("BOSH_PLUGIN_PATH", plugin_path.c_str(), 1);
  }
  ~Env() { ::unsetenv("BOSH_PLUGIN_PATH"); }
  fs::path config() const { return home.path() / ".bosh_config"; }
};

struct Run {
  int code;
  std::string out;
  std::string err;
};

Run run_bosh(std::vector<std::string> args) {
  args.insert(args.begin(), "bosh");
  std::ostringstream out, err;
  int code = bosh::cli::run_cli(args, out, err);
  return {code, out.str(), err.str()};
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}
}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("help lists every built-in command by group") {
    Env env;
    auto r = run_bosh({"help"});
    CHECK(r.code == 0);
    CHECK(contains(r.out, "Misc\n"));
    CHECK(contains(r.out, "Director\n"));
    CHECK(contains(r.out, "  target [URL|NAME] [NAME]"));
    CHECK(contains(r.out, "  plugins "));
    CHECK(contains(r.out, "--non-interactive"));
    CHECK(run_bosh({}).out == r.out);
  }

  TEST_CASE("help for one command and for a group") {
    Env env;
    auto r = run_bosh({"help", "target"});
    CHECK(r.code == 0);
    CHECK(r.out.rfind("Usage: bosh target [URL|NAME] [NAME] [OPTIONS]\n", 0) == 0);
    auto g = run_bosh({"help", "director"});
    CHECK(g.code == 0);
    CHECK(contains(g.out, "  targets "));
    CHECK_FALSE(contains(g.out, "  plugins "));
    CHECK(run_bosh({"target", "--help"}).out == r.out);
    auto bad = run_bosh({"help", "targts"});
    CHECK(bad.code == 1);
    CHECK(contains(bad.err, "no command or group 'targts'; did you mean 'bosh help targets'?"));
  }

  TEST_CASE("an unknown command suggests the closest ones and fails") {
    Env env;
    auto r = run_bosh({"targt"});
    CHECK(r.code == 1);
    CHECK(contains(r.err, "Error: unknown command 'targt'"));
    CHECK(contains(r.err, "Did you mean\n  bosh target\n"));
    auto far = run_bosh({"frobnicate"});
    CHECK(far.code == 1);
    CHECK_FALSE(contains(far.err, "Did you mean"));
  }

  TEST_CASE("--version and version") {
    Env env;
    auto r = run_bosh({"--version"});
    CHECK(r.code == 0);
    CHECK(r.out == std::string("version ") + BOSH_VERSION + " (bosh-cpp, plugin API 1.0)\n");
    CHECK(run_bosh({"version"}).out == r.out);
  }

  TEST_CASE("unknown options and extra arguments are usage errors naming the command") {
    Env env;
    auto r = run_bosh({"targets", "--frob"});
    CHECK(r.code == 1);
    CHECK(contains(r.err, "Error: bosh targets: unrecognised option '--frob'"));
    CHECK(contains(r.err, "Usage: bosh targets"));
    auto extra = run_bosh({"targets", "x"});
    CHECK(extra.code == 1);
    CHECK(contains(extra.err, "bosh targets: unexpected argument 'x'"));
  }

  TEST_CASE("target and targets switch environments through the config file") {
    Env env;
    auto none = run_bosh({"target"});
    CHECK(none.code == 1);
    CHECK(contains(none.err, "no target set"));

    CHECK(run_bosh({"target", "10.0.0.5", "dev"}).out == "Target set to https://10.0.0.5:25555 (dev)\n");
    CHECK(run_bosh({"target", "https://bosh.example.com:8443", "prod"}).code == 0);
    CHECK(run_bosh({"target"}).out == "Current target is https://bosh.example.com:8443 (prod)\n");
    CHECK(run_bosh({"target", "dev"}).out == "Target set to https://10.0.0.5:25555 (dev)\n");
    auto list = run_bosh({"targets"});
    CHECK(list.out ==
          "Name  URL                            Current\n"
          "dev   https://10.0.0.5:25555         *\n"
          "prod  https://bosh.example.com:8443\n"
          "\n2 targets\n");

    // The file is the classic CLI's, private to its owner.
    auto perms = fs::status(env.config()).permissions();
    CHECK((perms & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write));
    std::string text = bosh::read_file(env.config());
    CHECK(contains(text, "target: https://10.0.0.5:25555\n"));
    CHECK(contains(text, "target_name: dev\n"));
    CHECK(contains(text, "    prod: https://bosh.example.com:8443\n"));

    // -c uses another file.
    fs::path other = env.home.path() / "other.yml";
    CHECK(run_bosh({"-c", other.string(), "target", "127.0.0.1:25556"}).code == 0);
    CHECK(run_bosh({"--config", other.string(), "target"}).out == "Current target is https://127.0.0.1:25556\n");
    CHECK(run_bosh({"target"}).out == "Current target is https://10.0.0.5:25555 (dev)\n");
  }

  TEST_CASE("unknown keys in the config file survive a save") {
    Env env;
    std::ofstream(env.config()) << "deployment:\n  https://10.0.0.5:25555: /tmp/m.yml\nauth: {}\n";
    CHECK(run_bosh({"target", "10.0.0.6"}).code == 0);
    std::string text = bosh::read_file(env.config());
    CHECK(contains(text, "https://10.0.0.5:25555: /tmp/m.yml"));
    CHECK(contains(text, "target: https://10.0.0.6:25555"));
  }

  TEST_CASE("a malformed config names the file / line and column - nothing is written") {
    Env env;
    std::ofstream(env.config()) << "target: [unclosed\n";
    auto r = run_bosh({"target", "10.0.0.5"});
    CHECK(r.code == 1);
    CHECK(contains(r.err, "Error: " + env.config().string() + ":2:1: "));
    CHECK(bosh::read_file(env.config()) == "target: [unclosed\n");

    std::ofstream(env.config()) << "aliases:\n  target: [a, b]\n";
    auto typed = run_bosh({"targets"});
    CHECK(typed.code == 1);
    CHECK(contains(typed.err, env.config().string() + ":2:11: 'target' must be a map, got list"));
  }

  TEST_CASE("a bad director URL is refused") {
    Env env;
    auto r = run_bosh({"target", "ftp://x"});
    CHECK(r.code == 1);
    CHECK(contains(r.err, "'ftp://x' is not a director URL: scheme must be https (or http)"));
    CHECK_FALSE(fs::exists(env.config()));
  }

  TEST_CASE("--json prints one document with the tables") {
    Env env;
    run_bosh({"target", "10.0.0.5", "dev"});
    auto r = run_bosh({"targets", "--json"});
    CHECK(r.code == 0);
    Poco::JSON::Parser parser;
    auto doc = parser.parse(r.out).extract<Poco::JSON::Object::Ptr>();
    auto tables = doc->getArray("tables");
    REQUIRE(tables->size() == 1);
    auto table = tables->getObject(0);
    CHECK(table->getValue<std::string>("content") == "targets");
    auto row = table->getArray("rows")->getObject(0);
    CHECK(row->getValue<std::string>("name") == "dev");
    CHECK(row->getValue<std::string>("url") == "https://10.0.0.5:25555");
    CHECK(row->getValue<std::string>("current") == "*");
  }

  TEST_CASE("plugin command groups join the table - collisions and broken files are refused by name") {
    Env env(kFixtures.string());
    auto greet = run_bosh({"hello", "greet", "ops", "--shout"});
    CHECK(greet.code == 0);
    CHECK(greet.out == "HELLO, ops (from cli_hello)\n");
    CHECK(contains(run_bosh({"help"}).out, "  hello greet [WHO] [OPTIONS]"));
    auto group = run_bosh({"hello"});
    CHECK(group.code == 0);
    CHECK(contains(group.out, "From plugin " + (kFixtures / "cli_hello.so").string()));

    // A plugin error is reported, not a crash.
    auto fail = run_bosh({"hello", "fail"});
    CHECK(fail.code == 1);
    CHECK(contains(fail.err, "Error: hello: fixture failure"));

    // The colliding group cannot shadow `bosh target`.
    CHECK(run_bosh({"target", "hijack"}).code == 0);  // `hijack` is a URL for the built-in
    CHECK(run_bosh({"target"}).out == "Current target is https://hijack:25555\n");

    auto list = run_bosh({"plugins"});
    CHECK(list.code == 0);
    CHECK(contains(list.out, "cli        hello    1.2.3    1.0  " + (kFixtures / "cli_hello.so").string()));
    CHECK(contains(list.out, (kFixtures / "cli_collide.so").string() +
                                 "     command group \"target\" collides with the built-in command \"bosh target\""));
    CHECK(contains(list.out, (kFixtures / "api_major.so").string() +
                                 "       built for plugin API 2.0, this host supports plugin API 1.0"));
    CHECK_FALSE(contains(list.out, "cli        target"));
  }

  TEST_CASE("a text file named x.so in ~/.bosh/plugins is refused and the CLI still works") {
    Env env;
    fs::create_directories(env.home.path() / ".bosh/plugins");
    std::ofstream(env.home.path() / ".bosh/plugins/x.so") << "not a library\n";
    CHECK(run_bosh({"help"}).code == 0);
    auto list = run_bosh({"plugins", "--json"});
    CHECK(list.code == 0);
    Poco::JSON::Parser parser;
    auto doc = parser.parse(list.out).extract<Poco::JSON::Object::Ptr>();
    auto refused = doc->getArray("tables")->getObject(1)->getArray("rows")->getObject(0);
    CHECK(refused->getValue<std::string>("path") == (env.home.path() / ".bosh/plugins/x.so").string());
    CHECK(refused->getValue<std::string>("reason") == "not a shared object (no ELF header)");
    auto unknown = run_bosh({"nope"});
    CHECK(contains(unknown.err, "1 plugin file was refused; 'bosh plugins' says why."));
  }

  TEST_CASE("the config file's plugins: list names extra plugin files") {
    Env env;
    std::ofstream(env.config()) << "plugins:\n  - " << (kFixtures / "cli_hello.so").string() << "\n";
    CHECK(run_bosh({"hello", "greet"}).out == "hello, world (from cli_hello)\n");
  }

  TEST_CASE("director URLs are normalised as the classic CLI does") {
    using bosh::cli::normalize_director_url;
    CHECK(normalize_director_url("10.0.0.5") == "https://10.0.0.5:25555");
    CHECK(normalize_director_url("bosh.example.com:8443") == "https://bosh.example.com:8443");
    CHECK(normalize_director_url("https://bosh.example.com/") == "https://bosh.example.com:25555");
    CHECK(normalize_director_url("http://127.0.0.1:80") == "http://127.0.0.1:80");
    CHECK(normalize_director_url("[::1]") == "https://[::1]:25555");
    CHECK_THROWS_WITH(normalize_director_url(""), "director URL is empty");
  }

  TEST_CASE("edit distance") {
    CHECK(bosh::cli::edit_distance("target", "targt") == 1);
    CHECK(bosh::cli::edit_distance("", "abc") == 3);
    CHECK(bosh::cli::edit_distance("plugins", "plugins") == 0);
  }
}

TEST_SUITE("unit") {
  TEST_CASE("a manifest that is a YAML alias bomb is refused by the CLI with its line and at once") {
    Env env;
    std::ofstream(env.config()) << "target: https://127.0.0.1:9\n";
    std::string bomb = "name: bombed\nproperties:\n  a0: &a0 \"lol\"\n";
    for (int i = 1; i <= 9; ++i) {
      bomb += "  a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
      for (int j = 0; j < 10; ++j) bomb += std::string(j ? ", " : "") + "*a" + std::to_string(i - 1);
      bomb += "]\n";
    }
    const fs::path file = env.home.path() / "bomb.yml";
    std::ofstream(file) << bomb;
    auto r = run_bosh({"deployment", file.string()});
    CHECK(r.code == 1);
    CHECK(contains(r.err, file.string() + ":10:"));
    CHECK(contains(r.err, "expands to more than 2000000 nodes"));
  }
}
