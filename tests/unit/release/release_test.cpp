#include <doctest/doctest.h>

#include "bosh/plugin/testing/null_host.hpp"

#include <fstream>

#include "bosh/blobstore/blobstore.hpp"
#include "../../support/craft_tgz.hpp"
#include "bosh/common/archive.hpp"
#include "bosh/common/cancel.hpp"
#include "bosh/common/error.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/json.hpp"
#include "bosh/common/subprocess.hpp"
#include "bosh/common/yaml.hpp"
#include "bosh/release/create.hpp"
#include "bosh/common/glob.hpp"
#include "bosh/release/index.hpp"
#include "bosh/release/release_dir.hpp"
#include "bosh/release/tarball.hpp"
#include "bosh/release/version.hpp"

namespace fs = std::filesystem;
using namespace bosh::release;
using bosh::recursive_glob;

namespace {

void write(const fs::path& p, const std::string& content, fs::perms mode = fs::perms(0644)) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << content;
  fs::permissions(p, mode);
}

// A small release: package "lib" (src/lib/lib.c + blob), package "app"
// depending on it, job "web" with a template and properties.
struct SampleRelease {
  bosh::TempDir tmp{"bosh-release-test"};
  fs::path dir = tmp.path() / "sample";
  SampleRelease() {
    write(dir / "config/final.yml", "---\nname: sample\nblobstore:\n  provider: local\n  options:\n    blobstore_path: " +
                                        (tmp.path() / "blobstore").string() + "\n");
    write(dir / "packages/lib/spec", "---\nname: lib\nfiles:\n- lib/**/*\n- vendor/lib.tgz\n");
    write(dir / "packages/lib/packaging", "cp -a lib ${BOSH_INSTALL_TARGET}\n");
    write(dir / "src/lib/lib.c", "int lib() { return 1; }\n");
    write(dir / "src/lib/include/lib.h", "int lib();\n");
    write(dir / "blobs/vendor/lib.tgz", "pretend tarball\n");
    write(dir / "config/blobs.yml", "vendor/lib.tgz:\n  size: 16\n  sha: " + bosh::sha1_hex("pretend tarball\n") + "\n");
    write(dir / "packages/app/spec", "---\nname: app\ndependencies: [lib]\nfiles: [app/*.sh]\n");
    write(dir / "packages/app/packaging", "cp app/*.sh ${BOSH_INSTALL_TARGET}\n");
    write(dir / "src/app/run.sh", "#!/bin/sh\necho app\n", fs::perms(0755));
    write(dir / "jobs/web/spec",
          "---\nname: web\ntemplates:\n  ctl.erb: bin/ctl\nconsumes:\n- {name: db, type: db, optional: true}\n"
          "packages: [app]\nproperties:\n  web.port:\n    description: Port\n    default: 8080\n");
    write(dir / "jobs/web/monit", "check process web\n");
    write(dir / "jobs/web/templates/ctl.erb", "#!/bin/sh\nexec app --port <%= p('web.port') %>\n", fs::perms(0755));
    write(dir / "LICENSE", "MIT\n");
  }
  fs::path cache = tmp.path() / "cache";  // the build cache (~/.bosh/cache)
  CreatedRelease create(CreateOptions options = {}, bosh::plugin::Blobstore* store = nullptr) {
    options.dir = dir;
    options.force = true;  // not a git repository anyway
    options.cache_dir = cache;
    return create_release(options, blobstore_access(store, dir));
  }
};

const BuiltItem& item(const std::vector<BuiltItem>& items, const std::string& name) {
  for (const auto& i : items)
    if (i.name == name) return i;
  FAIL("no item " << name);
  throw;
}

bosh::plugin::testing::NullHostServices null_host;

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("globs: star / question / classes / alternatives and double star") {
    bosh::TempDir t("bosh-glob");
    for (const char* f : {"a/x.c", "a/y.h", "a/b/z.c", "a/b/c/w.c", "a/.hidden", "top.txt"})
      write(t.path() / f, "x");
    auto rels = [&](const std::string& pattern) {
      std::vector<std::string> out;
      for (const auto& p : recursive_glob(t.path(), pattern)) out.push_back(p.lexically_relative(t.path()).string());
      return out;
    };
    CHECK(rels("a/*.c") == std::vector<std::string>{"a/x.c"});
    CHECK(rels("a/**/*.c") == std::vector<std::string>{"a/b/c/w.c", "a/b/z.c", "a/x.c"});
    CHECK(rels("a/?.{c,h}") == std::vector<std::string>{"a/x.c", "a/y.h"});
    CHECK(rels("a/[xy].*") == std::vector<std::string>{"a/x.c", "a/y.h"});
    CHECK(rels("a/.h*") == std::vector<std::string>{"a/.hidden"});
    CHECK(rels("a/*") == std::vector<std::string>{"a/.hidden", "a/b", "a/x.c", "a/y.h"});
    CHECK(rels("nothing/*").empty());
    CHECK(rels("top.txt") == std::vector<std::string>{"top.txt"});
  }

  TEST_CASE("fingerprint chunks: modes / symlinks and dependency names") {
    bosh::TempDir t("bosh-fp");
    write(t.path() / "a", "A", fs::perms(0644));
    write(t.path() / "b", "B", fs::perms(0755));
    fs::create_symlink("a", t.path() / "l");
    using bosh::DigestAlgorithm;
    auto sha1 = [](const std::string& s) { return bosh::sha1_hex(s); };
    // Expected strings built by hand from the algorithm's definition.
    std::string expected = "v2" + std::string("a") + sha1("A") + "100644" + "b" + sha1("B") + "100755" + "l" +
                           sha1("a") + "symlink" + "x,y";
    CHECK(fingerprint({{t.path() / "b", "b"}, {t.path() / "l", "l"}, {t.path() / "a", "a"}}, {"y", "x"},
                      DigestAlgorithm::sha1, false) == sha1(expected));
    // Followed symlinks hash the target's content; the mode comes from the link itself.
    std::string followed = "v2" + std::string("l") + sha1("A") + "100755";
    CHECK(fingerprint({{t.path() / "l", "l"}}, {}, DigestAlgorithm::sha1, true) == sha1(followed));
    // sha256: per-file digests are prefixed, the result is bare hex; no mode when excluded.
    std::string s256 = "v2" + std::string("a") + "sha256:" + bosh::sha256_hex("A");
    CHECK(fingerprint({{t.path() / "a", "a", false, true}}, {}, DigestAlgorithm::sha256, false) ==
          bosh::sha256_hex(s256));
  }

  TEST_CASE("spec files: unknown keys are ignored with a warning and wrong types name the file and line") {
    bosh::release::Warnings warnings;
    auto parsed = parse_job_spec("name: web\ntemplats: {}\nproperties:\n  a: {description: x, secret: true}\n",
                               "jobs/web/spec", &warnings);
    CHECK(parsed.name == "web");
    CHECK(parsed.properties.count("a") == 1);
    REQUIRE(warnings.size() == 2);
    CHECK(warnings[0] == "jobs/web/spec:2:1: unknown key 'templats' in a job spec ignored");
    CHECK(warnings[1] == "jobs/web/spec:4:23: unknown key 'secret' in property 'a' ignored");
    CHECK_NOTHROW(parse_package_spec("name: lib\nfiles: [a]\nstemcell: x\n", "packages/lib/spec"));
    CHECK_THROWS_WITH_AS(parse_job_spec("name: web\npackages: app\n", "jobs/web/spec"),
                         "jobs/web/spec:2:11: 'packages' must be a list, got string", bosh::InputError);
    CHECK_THROWS_WITH_AS(parse_package_spec("name: lib\nfiles:\n- [a]\n", "packages/lib/spec"),
                         "packages/lib/spec:3:3: each of 'files' must be a string, got list", bosh::InputError);
    CHECK_THROWS_WITH_AS(parse_package_spec("files: []\n", "packages/lib/spec"),
                         "packages/lib/spec: 'name' is required", bosh::InputError);
    CHECK_THROWS_WITH_AS(parse_job_spec("name: web\ntemplates:\n  a.erb: [x]\n", "s"),
                         "s:3:10: template 'a.erb' must map to a destination path, got list", bosh::InputError);
    auto spec = parse_job_spec(
        "name: web\ntemplates: {a.erb: bin/a}\nprovides:\n- name: http\n  type: http\n  properties: [port]\n", "s");
    CHECK(spec.templates.at("a.erb") == "bin/a");
    CHECK(spec.provides.at(0).properties == std::vector<std::string>{"port"});
  }

  TEST_CASE("dependency cycles are named") {
    std::vector<PackageSpec> specs = {{"a", {"b"}, {}, {}}, {"b", {"c"}, {}, {}}, {"c", {"a"}, {}, {}}};
    CHECK_THROWS_WITH_AS(dependency_order(specs), "packages have a dependency cycle: a -> b -> c -> a",
                         bosh::InputError);
    CHECK_THROWS_WITH_AS(dependency_order({{"a", {"zz"}, {}, {}}}),
                         "package 'a' depends on 'zz', which is not a package of this release", bosh::InputError);
    CHECK(dependency_order({{"app", {"lib"}, {}, {}}, {"lib", {}, {}, {}}}) == std::vector<std::string>{"lib", "app"});
  }

  TEST_CASE("versions order and increment as BOSH's") {
    CHECK(Version::parse("1") < Version::parse("1+dev.1"));
    CHECK(Version::parse("1+dev.2") < Version::parse("1+dev.10"));
    CHECK(Version::parse("1+dev.10") < Version::parse("2"));
    CHECK(Version::parse("2-rc.1") < Version::parse("2"));
    CHECK(Version::parse("1.9") < Version::parse("1.10"));
    CHECK(Version::parse("0+dev.3").next_dev().str() == "0+dev.4");
    CHECK(Version::parse("4").next_dev().str() == "4+dev.1");
    CHECK(Version::parse("4").next_final().str() == "5");
    CHECK(Version::parse("1.2").next_final().str() == "1.3");
    CHECK(Version::parse("1+dev.3").release_part().str() == "1");
    CHECK_THROWS_WITH_AS(Version::parse("1..2"), "invalid version '1..2'", bosh::InputError);
    // The Go CLI's go-semi-semantic rules.
    CHECK(Version::parse("1.0") == Version::parse("1"));
    CHECK(Version::parse("1.0.0+dev.1") == Version::parse("1+dev.1"));
    CHECK(Version::parse("1.01") > Version::parse("1.9"));  // "01" is a string, strings after numbers
    CHECK(Version::parse("2-rc-1.x+dev-a.3").next_dev().str() == "2-rc-1.x+dev-a.4");
    CHECK(Version::parse("3.1+dev.1").next_dev().str() == "3.1+dev.2");
    CHECK(Version::parse("2-rc.1").next_final().str() == "3");
    CHECK_THROWS_WITH_AS(Version::parse("1+dev.foo").next_dev(),
                         "cannot increment version '1+dev.foo': its last component 'foo' is not a number",
                         bosh::InputError);
    CHECK(Version::try_parse("1-2+3-4"));  // '-' inside pre- and post-release components
  }

  TEST_CASE("next versions are the Go CLI's: the newer of the last dev and final one") {
    struct Case {
      std::vector<std::string> devs, finals;
      bool final;
      std::string expected;
    };
    std::vector<Case> cases = {
        {{}, {}, false, "0+dev.1"},          {{"0+dev.3"}, {}, false, "0+dev.4"},
        {{"0+dev.3"}, {"1"}, false, "1+dev.1"}, {{"1+dev.2"}, {"1"}, false, "1+dev.3"},
        {{"5+dev.2"}, {}, false, "5+dev.3"}, {{"3.1+dev.1"}, {"3"}, false, "3.1+dev.2"},
        {{"7"}, {"3"}, false, "7+dev.1"},    {{}, {}, true, "1"},
        {{"9+dev.1"}, {"3"}, true, "4"},     {{}, {"1.2"}, true, "1.3"},
    };
    for (const auto& c : cases) {
      SampleRelease r;
      auto seed = [&](const char* kind, const std::vector<std::string>& versions) {
        ReleaseIndex index = ReleaseIndex::load(r.dir / kind / "sample/index.yml");
        for (const auto& v : versions) index.add(v);
        index.save();
      };
      seed("dev_releases", c.devs);
      seed("releases", c.finals);
      CreateOptions o;
      o.final = c.final;
      bosh::TempDir blobs("bosh-final-blobs");
      auto store = bosh::blobstore::make_local_blobstore(
          null_host, bosh::parse_json("{\"blobstore_path\": \"" + blobs.path().string() + "\"}", "t"));
      CAPTURE(c.expected);
      CHECK(r.create(o, store.get()).version == c.expected);
    }
    ReleaseIndex index = ReleaseIndex::load(fs::path("/nonexistent/index.yml"));
    index.add("1");
    CHECK_THROWS_WITH_AS(index.add("1"), "/nonexistent/index.yml: release version '1' already exists",
                         bosh::InputError);
  }

  TEST_CASE("dev releases: versions count up and unchanged jobs and packages are reused") {
    SampleRelease r;
    auto first = r.create();
    CHECK(first.name == "sample");
    CHECK(first.version == "0+dev.1");
    CHECK(first.commit_hash == "non-git");
    REQUIRE(first.packages.size() == 2);
    CHECK(item(first.packages, "lib").origin == "new");
    CHECK(item(first.packages, "app").dependencies == std::vector<std::string>{"lib"});
    CHECK(item(first.jobs, "web").dependencies == std::vector<std::string>{"app"});
    REQUIRE(first.license);
    // Archives live in the build cache under their digest, as the Go CLI keeps them.
    CHECK(item(first.packages, "lib").archive == r.cache / item(first.packages, "lib").sha1);
    CHECK(fs::exists(r.cache / item(first.packages, "lib").sha1));
    CHECK_FALSE(fs::exists(r.dir / ".dev_builds/packages/lib" / (item(first.packages, "lib").fingerprint + ".tgz")));
    CHECK(fs::exists(r.dir / "dev_releases/sample/sample-0+dev.1.yml"));

    auto second = r.create();
    CHECK(second.version == "0+dev.2");
    for (const auto& p : second.packages) CHECK(p.origin == "dev");
    CHECK(item(second.jobs, "web").origin == "dev");

    // Change one source file: only that package gets a new version.
    write(r.dir / "src/app/run.sh", "#!/bin/sh\necho app v2\n", fs::perms(0755));
    auto third = r.create();
    CHECK(third.version == "0+dev.3");
    CHECK(item(third.packages, "app").origin == "new");
    CHECK(item(third.packages, "app").fingerprint != item(first.packages, "app").fingerprint);
    CHECK(item(third.packages, "lib").origin == "dev");
    CHECK(item(third.packages, "lib").fingerprint == item(first.packages, "lib").fingerprint);
    CHECK(item(third.jobs, "web").fingerprint == item(first.jobs, "web").fingerprint);

    // A mode change counts (git keeps the x bit).
    fs::permissions(r.dir / "src/lib/lib.c", fs::perms(0755));
    CHECK(r.create().packages.front().fingerprint != item(first.packages, "lib").fingerprint);

    auto index = BuildIndex::load(r.dir / ".dev_builds/packages/lib/index.yml");
    auto entry = index.find(item(first.packages, "lib").fingerprint);
    REQUIRE(entry);
    CHECK(entry->version == item(first.packages, "lib").fingerprint);
    CHECK(entry->sha1 == item(first.packages, "lib").sha1);
    const std::string text = bosh::read_file(r.dir / ".dev_builds/packages/lib/index.yml");
    CHECK(text.find("format-version: \"2\"") != std::string::npos);
    // Entries as the Go CLI writes them: version, then sha1.
    CHECK(text.find("version: " + entry->version) < text.find("sha1: " + entry->sha1));
  }

  TEST_CASE("builds an older CLI left in .dev_builds are read and moved into the cache") {
    SampleRelease r;
    auto first = r.create();
    const auto& lib = item(first.packages, "lib");
    fs::path legacy = r.dir / ".dev_builds/packages/lib" / (lib.fingerprint + ".tgz");
    fs::rename(lib.archive, legacy);
    auto second = r.create();
    CHECK(item(second.packages, "lib").origin == "dev");
    CHECK(fs::exists(r.cache / lib.sha1));
    // A corrupt cache entry is never used: the package is built again.
    write(r.cache / lib.sha1, "corrupt");
    fs::remove(legacy);
    auto third = r.create();
    CHECK(item(third.packages, "lib").origin == "new");
    CHECK(bosh::verify_file(item(third.packages, "lib").archive, bosh::Digest::parse(item(third.packages, "lib").sha1)));
  }

  TEST_CASE("package archives hold packaging and the matched files with normalised modes") {
    SampleRelease r;
    auto created = r.create();
    auto entries = bosh::list_tgz(item(created.packages, "lib").archive);
    std::map<std::string, unsigned> modes;
    for (const auto& e : entries) modes[e.name] = e.mode;
    CHECK(modes.count("./packaging"));
    CHECK(modes.count("./lib/lib.c"));
    CHECK(modes.count("./lib/include/lib.h"));
    CHECK(modes.count("./vendor/lib.tgz"));
    CHECK_FALSE(modes.count("./spec"));
    auto app = bosh::list_tgz(item(created.packages, "app").archive);
    for (const auto& e : app)
      if (e.name == "./app/run.sh") CHECK(e.mode == 0755);
    CHECK(bosh::read_tgz_entry(item(created.jobs, "web").archive, "job.MF") == bosh::read_file(r.dir / "jobs/web/spec"));
    CHECK(bosh::read_tgz_entry(item(created.jobs, "web").archive, "templates/ctl.erb").find("p('web.port')") !=
          std::string::npos);
  }

  TEST_CASE("sha256 by default as the Go CLI 7 and sha1 on request") {
    SampleRelease r;
    auto created = r.create();
    const auto& lib = item(created.packages, "lib");
    CHECK(lib.fingerprint.size() == 64);
    CHECK(lib.sha1.rfind("sha256:", 0) == 0);
    CHECK(bosh::verify_file(lib.archive, bosh::Digest::parse(lib.sha1)));
    CreateOptions o;
    o.algorithm = bosh::DigestAlgorithm::sha1;
    auto old = r.create(o);
    CHECK(item(old.packages, "lib").fingerprint.size() == 40);
    CHECK(item(old.packages, "lib").sha1.size() == 40);
    CHECK(old.version == "0+dev.2");
  }

  TEST_CASE("pre_packaging runs in the staging copy and is not shipped") {
    SampleRelease r;
    write(r.dir / "packages/lib/pre_packaging", "echo generated > ${BUILD_DIR}/lib/generated.txt\n");
    auto created = r.create();
    CHECK(bosh::read_tgz_entry(item(created.packages, "lib").archive, "lib/generated.txt") == "generated\n");
    CHECK_THROWS(bosh::read_tgz_entry(item(created.packages, "lib").archive, "pre_packaging"));
  }

  TEST_CASE("a failing pre_packaging leaves no index / manifest or release index behind") {
    SampleRelease r;
    write(r.dir / "packages/lib/pre_packaging", "exit 3\n");
    CHECK_THROWS_WITH_AS(r.create(), doctest::Contains("package 'lib': pre_packaging failed (exit 3)"), bosh::Error);
    CHECK_FALSE(fs::exists(r.dir / "dev_releases"));
    CHECK_FALSE(fs::exists(r.dir / ".dev_builds/packages/lib/index.yml"));
  }

  TEST_CASE("files patterns that match nothing / missing blobs and bad names are refused by name") {
    SampleRelease r;
    write(r.dir / "packages/app/spec", "---\nname: app\nfiles: [nope/*.sh]\n");
    CHECK_THROWS_WITH_AS(r.create(),
                         "packages/app/spec: files pattern 'nope/*.sh' of package 'app' matches no file in src/ or "
                         "blobs/",
                         bosh::InputError);
    SampleRelease r2;
    fs::remove(r2.dir / "blobs/vendor/lib.tgz");
    CHECK_THROWS_WITH_AS(r2.create(),
                         "blob 'vendor/lib.tgz' in config/blobs.yml is missing from blobs/ and was never uploaded (no "
                         "object_id)",
                         bosh::InputError);
    SampleRelease r3;
    write(r3.dir / "jobs/web/spec", "---\nname: other\n");
    CHECK_THROWS_WITH_AS(r3.create(), "jobs/web/spec: Job directory 'web' does not match job name 'other' in spec",
                         bosh::InputError);
    SampleRelease r4;
    write(r4.dir / "packages/lib/spec", "---\nname: lib\ndependencies: [app]\nfiles: [lib/*.c]\n");
    CHECK_THROWS_WITH_AS(r4.create(), "packages have a dependency cycle: app -> lib -> app", bosh::InputError);
  }

  TEST_CASE("final releases upload to the release blobstore and reuse dev builds") {
    SampleRelease r;
    auto dev = r.create();
    auto store = bosh::blobstore::make_local_blobstore(
        null_host, bosh::parse_json("{\"blobstore_path\": \"" + (r.tmp.path() / "blobstore").string() + "\"}", "t"));
    CreateOptions o;
    o.final = true;
    CHECK_THROWS_WITH_AS(r.create(o, nullptr),
                         doctest::Contains("config/final.yml: no release blobstore is configured (blobstore.provider), "
                                           "but package 'lib' ("),
                         bosh::InputError);
    auto final_release = r.create(o, store.get());
    CHECK(final_release.version == "1");
    const auto& lib = item(final_release.packages, "lib");
    CHECK(lib.fingerprint == item(dev.packages, "lib").fingerprint);
    CHECK(lib.sha1 == item(dev.packages, "lib").sha1);  // the dev build, copied
    auto entry = BuildIndex::load(r.dir / ".final_builds/packages/lib/index.yml").find(lib.fingerprint);
    REQUIRE(entry);
    CHECK(store->exists(entry->blobstore_id));
    CHECK(fs::exists(r.dir / "releases/sample/sample-1.yml"));
    CHECK(ReleaseIndex::load(r.dir / "releases/sample/index.yml").contains("1"));

    // The next dev release counts from the final one; dev builds come first (as in the Go CLI).
    auto next_dev = r.create();
    CHECK(next_dev.version == "1+dev.1");
    CHECK(item(next_dev.packages, "lib").origin == "dev");

    // Final builds missing locally come back from the blobstore, into the cache.
    fs::remove_all(r.dir / ".dev_builds");
    fs::remove(lib.archive);
    CHECK(item(r.create({}, store.get()).packages, "lib").origin == "final");
    CHECK(bosh::verify_file(r.cache / lib.sha1, bosh::Digest::parse(lib.sha1)));
    const std::string final_index = bosh::read_file(r.dir / ".final_builds/packages/lib/index.yml");
    CHECK(final_index.find("version: ") < final_index.find("blobstore_id: "));
    CHECK(final_index.find("blobstore_id: ") < final_index.find("sha1: "));

    CreateOptions again;
    again.final = true;
    again.version = "1";
    CHECK_THROWS_WITH_AS(r.create(again, store.get()), "release version '1' of 'sample' already exists",
                         bosh::InputError);
  }

  TEST_CASE("the release blobstore is made only when something needs it") {
    SampleRelease r;
    int asked = 0;
    std::string why;
    BlobstoreAccess unavailable = [&](const std::string& w) -> bosh::plugin::Blobstore& {
      ++asked;
      why = w;
      bosh::fail<bosh::InputError>("provider 's3' is not available");
    };
    CreateOptions o;
    o.dir = r.dir;
    o.force = true;
    o.cache_dir = r.cache;
    CHECK(create_release(o, unavailable).version == "0+dev.1");
    CHECK(asked == 0);
    // A blob missing locally but uploaded: the blobstore is needed, and the error says for what.
    fs::remove(r.dir / "blobs/vendor/lib.tgz");
    write(r.dir / "config/blobs.yml",
          "vendor/lib.tgz:\n  size: 16\n  object_id: abc-123\n  sha: " + bosh::sha1_hex("pretend tarball\n") + "\n");
    CHECK_THROWS_WITH_AS(create_release(o, unavailable), "provider 's3' is not available", bosh::InputError);
    CHECK(asked == 1);
    CHECK(why == "blob 'vendor/lib.tgz' (object id abc-123)");
  }

  TEST_CASE("create release downloads listed blobs that blobs/ lacks") {
    SampleRelease r;
    bosh::TempDir blobs("bosh-blobs");
    auto store = bosh::blobstore::make_local_blobstore(
        null_host, bosh::parse_json("{\"blobstore_path\": \"" + blobs.path().string() + "\"}", "t"));
    auto stored = bosh::blobstore::put_file(*store, r.dir / "blobs/vendor/lib.tgz", bosh::DigestAlgorithm::sha256);
    write(r.dir / "config/blobs.yml",
          "vendor/lib.tgz:\n  size: 16\n  object_id: " + stored.id + "\n  sha: " + stored.digest.to_string() + "\n");
    auto first = r.create();
    write(r.dir / "blobs/vendor/lib.tgz", "corrupted locally");
    auto second = r.create({}, store.get());
    CHECK(bosh::read_file(r.dir / "blobs/vendor/lib.tgz") == "pretend tarball\n");
    CHECK(item(second.packages, "lib").fingerprint == item(first.packages, "lib").fingerprint);
    // Untracked files in blobs/ are left out, with a warning.
    write(r.dir / "blobs/vendor/stray.tgz", "not listed");
    write(r.dir / "packages/lib/spec", "---\nname: lib\nfiles:\n- lib/**/*\n- vendor/*.tgz\n");
    auto third = r.create();
    CHECK(item(third.packages, "lib").fingerprint == item(first.packages, "lib").fingerprint);
    REQUIRE(third.warnings.size() == 1);
    CHECK(third.warnings[0] == "blobs/vendor/stray.tgz is not in config/blobs.yml: left out of package 'lib'");
  }

  TEST_CASE("vendored packages come from the build indexes and are never built") {
    SampleRelease r;
    bosh::TempDir blobs("bosh-final-blobs");
    auto store = bosh::blobstore::make_local_blobstore(
        null_host, bosh::parse_json("{\"blobstore_path\": \"" + blobs.path().string() + "\"}", "t"));
    CreateOptions o;
    o.final = true;
    auto made = r.create(o, store.get());
    const auto lib = item(made.packages, "lib");
    // Vendor it: the folder holds only a spec.lock (and may be named differently).
    fs::remove_all(r.dir / "packages/lib");
    write(r.dir / "packages/lib-vendored/spec.lock", "name: lib\nfingerprint: " + lib.fingerprint + "\nextra: 1\n");
    fs::remove_all(r.cache);
    fs::remove_all(r.dir / ".dev_builds");
    auto vendored = r.create({}, store.get());
    CHECK(item(vendored.packages, "lib").origin == "final");
    CHECK(item(vendored.packages, "lib").sha1 == lib.sha1);
    CHECK(item(vendored.packages, "app").fingerprint == item(made.packages, "app").fingerprint);
    REQUIRE(vendored.warnings.size() == 1);
    CHECK(vendored.warnings[0].find("unknown key 'extra' in a spec.lock ignored") != std::string::npos);
    write(r.dir / "packages/lib-vendored/spec.lock", "name: lib\nfingerprint: 0123abc\n");
    CHECK_THROWS_WITH_AS(r.create({}, store.get()),
                         doctest::Contains("packages/lib-vendored/spec.lock: vendored package 'lib' (0123abc) is in "
                                           "neither .dev_builds nor .final_builds"),
                         bosh::InputError);
  }

  TEST_CASE("config/final.yml with both name and final_name is refused unless --name") {
    SampleRelease r;
    write(r.dir / "config/final.yml", "---\nname: sample\nfinal_name: other\n");
    CHECK_THROWS_WITH_AS(r.create(),
                         ("Expected 'name' or 'final_name' but not both in config '" +
                          (r.dir / "config/final.yml").string() + "'")
                             .c_str(),
                         bosh::InputError);
    CreateOptions o;
    o.name = "given";
    CHECK(r.create(o).name == "given");
    write(r.dir / "config/final.yml", "---\nfinal_name: classic\n");
    CHECK(r.create().name == "classic");
  }

  TEST_CASE("git: an empty repository is 'empty' and a dirty one needs --force") {
    SampleRelease r;
    REQUIRE(bosh::run_process({"git", "init", "-q", r.dir.string()}).exit_code == 0);
    CreateOptions o;
    o.dir = r.dir;
    o.cache_dir = r.cache;
    CHECK_THROWS_WITH_AS(create_release(o, blobstore_access(nullptr, r.dir)),
                         doctest::Contains("release directory has uncommitted changes"), bosh::InputError);
    o.force = true;
    auto created = create_release(o, blobstore_access(nullptr, r.dir));
    CHECK(created.commit_hash == "empty");
    CHECK(created.uncommitted_changes);
  }

  TEST_CASE("release tarballs: written / inspected / verified and re-created from a manifest") {
    SampleRelease r;
    CreateOptions o;
    o.with_tarball = true;
    auto created = r.create(o);
    REQUIRE(created.tarball);
    CHECK(*created.tarball == r.dir / "dev_releases/sample/sample-0+dev.1.tgz");
    auto m = verify_release_tarball(*created.tarball);
    CHECK(m.name == "sample");
    CHECK(m.version == "0+dev.1");
    CHECK(m.jobs.size() == 1);
    CHECK(m.packages.size() == 2);
    REQUIRE(m.license);
    auto inspected = read_release_tarball_manifest(*created.tarball);
    CHECK(inspected.packages.at(0).sha1 == created.packages.at(0).sha1);

    fs::path again = r.tmp.path() / "again.tgz";
    CHECK(create_tarball_from_manifest(r.dir, created.manifest, again, blobstore_access(nullptr, r.dir), {}, r.cache) ==
          again);
    CHECK(verify_release_tarball(again).version == "0+dev.1");
    // The license files at the top level too, as the Go CLI writes them.
    CHECK(bosh::read_tgz_entry(again, "LICENSE") == "MIT\n");
  }

  TEST_CASE("verify release refuses wrong digests / unlisted and missing archives") {
    SampleRelease r;
    CreateOptions o;
    o.with_tarball = true;
    o.algorithm = bosh::DigestAlgorithm::sha1;
    auto created = r.create(o);
    bosh::TempDir t("bosh-verify");
    bosh::extract_tgz(*created.tarball, t.path());
    auto repack = [&](const std::string& name) {
      fs::path out = r.tmp.path() / (name + ".tgz");
      bosh::create_tgz(t.path(), out);
      return out;
    };
    // A package archive whose bytes changed.
    write(t.path() / "packages/lib.tgz", "tampered");
    auto bad = repack("tampered");
    const auto lib_index = std::find_if(created.packages.begin(), created.packages.end(),
                                        [](const auto& p) { return p.name == "lib"; }) - created.packages.begin();
    CHECK_THROWS_WITH_AS(verify_release_tarball(bad),
                         (bad.string() + ": release.MF: packages[" + std::to_string(lib_index) +
                          "].sha1: packages/lib.tgz has sha1 " + bosh::sha1_hex("tampered") + " but release.MF says " +
                          item(created.packages, "lib").sha1)
                             .c_str(),
                         bosh::InputError);
    fs::remove(bad);
    // An archive release.MF does not list.
    fs::copy_file(item(created.packages, "lib").archive, t.path() / "packages/lib.tgz",
                  fs::copy_options::overwrite_existing);
    write(t.path() / "packages/extra.tgz", "x");
    auto extra = repack("extra");
    CHECK_THROWS_WITH_AS(verify_release_tarball(extra), (extra.string() + ": packages/extra.tgz is not listed in release.MF").c_str(),
                         bosh::InputError);
    fs::remove(extra);
    fs::remove(t.path() / "packages/extra.tgz");
    fs::remove(t.path() / "jobs/web.tgz");
    auto missing = repack("missing");
    CHECK_THROWS_WITH_AS(verify_release_tarball(missing),
                         (missing.string() + ": release.MF: jobs[0] (web) has no jobs/web.tgz in the tarball").c_str(),
                         bosh::InputError);
    fs::remove(missing);
    // A release.MF that is not one.
    fs::path odd = r.tmp.path() / "odd.tgz";
    bosh::create_tgz_from({{"release.MF", r.dir / "jobs/web/spec", std::nullopt, false}}, odd);
    CHECK_THROWS_WITH_AS(verify_release_tarball(odd), (odd.string() + ":release.MF: 'version' is required").c_str(),
                         bosh::InputError);
  }

  TEST_CASE("an interrupted create release leaves no temp file / manifest or half index") {
    SampleRelease r;
    CreateOptions o;
    o.dir = r.dir;
    o.force = true;
    o.jobs = 1;
    o.with_tarball = true;
    int builds = 0;
    auto interrupt_after_first_build = [&](const std::string& stage, std::size_t, std::size_t, const std::string&) {
      if (stage == "Building" && ++builds == 1) bosh::request_cancel();
    };
    o.cache_dir = r.cache;
    CHECK_THROWS_AS(create_release(o, blobstore_access(nullptr, r.dir), interrupt_after_first_build), bosh::Cancelled);
    bosh::reset_cancel();
    CHECK(builds == 1);
    CHECK_FALSE(fs::exists(r.dir / "dev_releases"));
    for (const auto& e : fs::recursive_directory_iterator(r.tmp.path()))
      CHECK_MESSAGE(e.path().filename().string().find(".tmp") == std::string::npos, e.path());
    // The one finished build was recorded and is reused by the next run.
    auto created = create_release(o, blobstore_access(nullptr, r.dir));
    int reused = 0;
    for (const auto& p : created.packages) reused += p.origin == "dev";
    CHECK(reused == 1);
    CHECK(created.version == "0+dev.1");
  }

  TEST_CASE("verify release refuses unsafe entries by name") {
    using bosh::testing::Crafted;
    bosh::TempDir t("bosh-unsafe");
    const std::string mf = "name: x\nversion: '1'\n";
    struct Case {
      std::vector<Crafted> entries;
      std::string refusal;
    };
    std::vector<Case> cases = {
        {{{"./release.MF", bosh::ArchiveEntryType::file, mf}, {"../evil", bosh::ArchiveEntryType::file, "x"}},
         "entry '../evil' escapes the target directory"},
        {{{"./release.MF", bosh::ArchiveEntryType::file, mf}, {"/etc/evil", bosh::ArchiveEntryType::file, "x"}},
         "entry '/etc/evil' has an absolute path"},
        {{{"./release.MF", bosh::ArchiveEntryType::file, mf},
          {"./jobs", bosh::ArchiveEntryType::symlink, "../../outside"}},
         "link './jobs' -> '../../outside' points outside the target directory"},
        {{{"./release.MF", bosh::ArchiveEntryType::file, mf}, {"./release.MF", bosh::ArchiveEntryType::file, mf}},
         "duplicate entry './release.MF'"},
    };
    int n = 0;
    for (const auto& c : cases) {
      fs::path tgz = t.path() / ("case" + std::to_string(n++) + ".tgz");
      bosh::testing::craft_tgz(tgz, c.entries);
      CAPTURE(c.refusal);
      CHECK_THROWS_WITH_AS(verify_release_tarball(tgz), (tgz.string() + ": " + c.refusal).c_str(), bosh::InputError);
    }
  }
}
