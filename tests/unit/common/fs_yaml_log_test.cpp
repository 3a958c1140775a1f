#include <doctest/doctest.h>

#include <sys/stat.h>

#include <fstream>

#include "bosh/common/error.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/log.hpp"
#include "bosh/common/yaml.hpp"
#include "test_tmp_dir.hpp"

namespace fs = std::filesystem;

TEST_SUITE("unit") {
  TEST_CASE("write_file_atomic replaces the whole file and sets the mode") {
    bosh::testing::TmpDir dir("fs");
    fs::path f = dir / "sub/config.yml";
    bosh::write_file_atomic(f, "one\n");
    CHECK(bosh::read_file(f) == "one\n");
    bosh::write_file_atomic(f, "two\n", fs::perms::owner_read | fs::perms::owner_write);
    CHECK(bosh::read_file(f) == "two\n");
    CHECK((fs::status(f).permissions() & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write));
    // No temp file is left beside it.
    int entries = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(f.parent_path())) ++entries;
    CHECK(entries == 1);
  }

  TEST_CASE("write_file_atomic into an unwritable place fails naming the file and keeps the old one") {
    bosh::testing::TmpDir dir("fs");
    fs::path blocker = dir / "file";
    bosh::write_file_atomic(blocker, "x");
    // A directory path below a regular file cannot be created.
    CHECK_THROWS_AS(bosh::write_file_atomic(blocker / "y.yml", "z"), bosh::IoError);
    CHECK(bosh::read_file(blocker) == "x");
  }

  TEST_CASE("read_file of a missing file names it") {
    CHECK_THROWS_WITH_AS(bosh::read_file("/nonexistent/f"), "/nonexistent/f: cannot read: No such file or directory",
                         bosh::IoError);
  }

  TEST_CASE("TempDir removes itself and its contents") {
    fs::path p;
    {
      bosh::TempDir t("tmp-test");
      p = t.path();
      std::ofstream(p / "a") << "x";
      CHECK(fs::is_directory(p));
    }
    CHECK_FALSE(fs::exists(p));
  }

  TEST_CASE("expand_user") {
    CHECK(bosh::expand_user("~/x/y") == bosh::home_dir() / "x/y");
    CHECK(bosh::expand_user("~") == bosh::home_dir());
    CHECK(bosh::expand_user("/abs/~") == fs::path("/abs/~"));
  }

  TEST_CASE("YAML syntax errors name origin and 1-based line and column") {
    CHECK_THROWS_WITH_AS(bosh::parse_yaml("a: 1\nb: [1, 2\n", "m.yml"),
                         "m.yml:3:1: end of sequence flow not found", bosh::InputError);
    CHECK_THROWS_WITH_AS(bosh::parse_yaml("a: 1\n  b: 2\n", "m.yml"), "m.yml:2:4: illegal map value",
                         bosh::InputError);
  }

  TEST_CASE("YAML typed fields report where the wrong type is") {
    auto root = bosh::parse_yaml("name: x\njobs:\n  a: 1\nlist: [1]\n", "spec");
    CHECK(bosh::yaml_string(root, "name", "spec") == "x");
    CHECK(bosh::yaml_string(root, "missing", "spec", "dflt") == "dflt");
    CHECK(bosh::yaml_map(root, "jobs", "spec")["a"].as<int>() == 1);
    CHECK(bosh::yaml_list(root, "list", "spec").size() == 1);
    CHECK_FALSE(bosh::yaml_list(root, "absent", "spec"));
    CHECK_THROWS_WITH_AS(bosh::yaml_string(root, "jobs", "spec"), "spec:3:3: 'jobs' must be a string, got map",
                         bosh::InputError);
    CHECK_THROWS_WITH_AS(bosh::yaml_list(root, "name", "spec"), "spec:1:7: 'name' must be a list, got string",
                         bosh::InputError);
  }

  TEST_CASE("to_yaml round-trips") {
    auto root = bosh::parse_yaml("b: [1, 2]\na: {x: y}\n", "t");
    auto back = bosh::parse_yaml(bosh::to_yaml(root), "t2");
    CHECK(back["a"]["x"].as<std::string>() == "y");
    CHECK(back["b"][1].as<int>() == 2);
    CHECK(bosh::to_yaml(root).back() == '\n');
  }

  TEST_CASE("logging honours the level and the sink") {
    std::vector<std::string> seen;
    bosh::log::set_sink([&](bosh::log::Level l, std::string_view c, std::string_view m) {
      seen.push_back(std::string(bosh::log::level_name(l)) + " " + std::string(c) + ": " + std::string(m));
    });
    bosh::log::set_level(bosh::log::Level::info);
    bosh::log::debug("t", "hidden {}", 1);
    bosh::log::info("t", "shown {}", 2);
    bosh::log::error("t", "bad {}", 3);
    bosh::log::set_sink(nullptr);
    bosh::log::set_level(bosh::log::Level::warn);
    CHECK(seen == std::vector<std::string>{"INFO t: shown 2", "ERROR t: bad 3"});
    CHECK(bosh::log::parse_level("debug") == bosh::log::Level::debug);
    CHECK_THROWS_WITH_AS(bosh::log::parse_level("loud"),
                         "unknown log level 'loud' (expected debug, info, warn, error or none)", bosh::InputError);
  }

  TEST_CASE("redaction keeps secrets out of log lines") {
    CHECK(bosh::log::redact("user admin pw s3cret! again s3cret!", {"s3cret!", ""}) ==
          "user admin pw <redacted> again <redacted>");
    CHECK(bosh::log::redact_url("nats://nats:p4ss@10.0.0.6:4222") == "nats://nats:<redacted>@10.0.0.6:4222");
    CHECK(bosh::log::redact_url("https://10.0.0.6:25555") == "https://10.0.0.6:25555");
  }
}

#include "bosh/common/glob.hpp"

TEST_SUITE("unit") {
  TEST_CASE("glob_match: components / double star and alternatives") {
    CHECK(bosh::glob_match("**/*", "web/web.stdout.log"));
    CHECK(bosh::glob_match("**/*", "top.log"));
    CHECK(bosh::glob_match("web/*.log", "web/a.log"));
    CHECK_FALSE(bosh::glob_match("web/*.log", "web/sub/a.log"));
    CHECK(bosh::glob_match("web/**/*.log", "web/sub/deeper/a.log"));
    CHECK(bosh::glob_match("{web,db}/*.log", "db/x.log"));
    CHECK_FALSE(bosh::glob_match("*.log", "a.txt"));
  }
}

#include "bosh/common/json.hpp"

TEST_SUITE("unit") {
  TEST_CASE("yaml_to_json keeps maps / lists and scalars as strings") {
    auto j = bosh::yaml_to_json(bosh::parse_yaml("a: {b: [1, x]}\nc: ~\n", "t"));
    CHECK(bosh::to_json(j) == "{\"a\":{\"b\":[\"1\",\"x\"]},\"c\":null}");
  }
}
