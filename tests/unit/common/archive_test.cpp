#include "bosh/common/archive.hpp"

#include <memory>
#include <string>
#include <sys/stat.h>
#include <vector>

#include <archive.h>
#include <archive_entry.h>
#include <doctest/doctest.h>

#include "bosh/common/error.hpp"
#include "test_tmp_dir.hpp"
#include "../../support/craft_tgz.hpp"

namespace fs = std::filesystem;
using bosh::ArchiveEntryType;
using bosh::testing::read_file;
using bosh::testing::TmpDir;
using bosh::testing::write_file;

namespace {

using bosh::testing::Crafted;
using bosh::testing::craft_tgz;

std::string refusal(const fs::path& archive, const fs::path& dest) {
  try {
    bosh::extract_tgz(archive, dest);
  } catch (const bosh::InputError& e) {
    return e.what();
  }
  return "(extracted)";
}

unsigned mode_of(const fs::path& path) {
  struct stat st {};
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

std::vector<std::string> names(const std::vector<bosh::ArchiveEntry>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) out.push_back(e.name);
  return out;
}

std::vector<std::string> tmp_leftovers(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().find(".tmp-") != std::string::npos) out.push_back(e.path().string());
  }
  return out;
}

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("archive: round trip keeps names and modes and symlinks sorted like tar -C dir .") {
    TmpDir tmp("archive");
    fs::path src = tmp / "src";
    write_file(src / "release.MF", "name: r\n");
    write_file(src / "jobs" / "b.tgz", "job b");
    write_file(src / "jobs" / "a.tgz", "job a");
    write_file(src / "packages" / "run.sh", "#!/bin/sh\n");
    fs::create_directories(src / "empty");
    fs::permissions(src / "packages" / "run.sh", fs::perms(0755));
    fs::permissions(src / "jobs" / "a.tgz", fs::perms(0600));
    fs::create_symlink("jobs/a.tgz", src / "link");

    fs::path out = tmp / "release.tgz";
    bosh::create_tgz(src, out);
    auto entries = bosh::list_tgz(out);
    CHECK(names(entries) == std::vector<std::string>{"./", "./empty/", "./jobs/", "./jobs/a.tgz", "./jobs/b.tgz",
                                                     "./link", "./packages/", "./packages/run.sh", "./release.MF"});
    CHECK(entries[1].type == ArchiveEntryType::directory);
    CHECK(entries[3].type == ArchiveEntryType::file);
    CHECK(entries[3].size == 5);
    CHECK(entries[3].mode == 0600);
    CHECK(entries[5].type == ArchiveEntryType::symlink);
    CHECK(entries[5].link_target == "jobs/a.tgz");
    CHECK(entries[7].mode == 0755);
    CHECK(tmp_leftovers(tmp.path()).empty());
    CHECK(mode_of(out) == 0644);

    fs::path dest = tmp / "dest";
    bosh::extract_tgz(out, dest);
    CHECK(read_file(dest / "release.MF") == "name: r\n");
    CHECK(read_file(dest / "jobs" / "b.tgz") == "job b");
    CHECK(mode_of(dest / "packages" / "run.sh") == 0755);
    CHECK(mode_of(dest / "jobs" / "a.tgz") == 0600);
    CHECK(fs::is_directory(dest / "empty"));
    REQUIRE(fs::is_symlink(dest / "link"));
    CHECK(fs::read_symlink(dest / "link") == "jobs/a.tgz");
    CHECK(read_file(dest / "link") == "job a");

    CHECK(bosh::read_tgz_entry(out, "release.MF") == "name: r\n");
    CHECK(bosh::read_tgz_entry(out, "./jobs/a.tgz") == "job a");
    CHECK_THROWS_WITH_AS(bosh::read_tgz_entry(out, "nope"), (out.string() + ": no entry 'nope'").c_str(),
                         bosh::InputError);
    CHECK_THROWS_WITH_AS(bosh::read_tgz_entry(out, "jobs"),
                         (out.string() + ": entry 'jobs' is not a regular file").c_str(), bosh::InputError);
  }

  TEST_CASE("archive: output is deterministic") {
    TmpDir tmp("archive");
    write_file(tmp / "src" / "a", "a");
    write_file(tmp / "src" / "d" / "b", "b");
    bosh::create_tgz(tmp / "src", tmp / "one.tgz");
    bosh::create_tgz(tmp / "src", tmp / "two.tgz");
    CHECK(read_file(tmp / "one.tgz") == read_file(tmp / "two.tgz"));
  }

  TEST_CASE("archive: chosen entries only with directories recursively") {
    TmpDir tmp("archive");
    fs::path src = tmp / "src";
    write_file(src / "release.MF", "m");
    write_file(src / "jobs" / "j.tgz", "j");
    write_file(src / "dev_releases" / "x", "not wanted");
    bosh::create_tgz(src, tmp / "out.tgz", {"release.MF", "./jobs"});
    CHECK(names(bosh::list_tgz(tmp / "out.tgz")) ==
          std::vector<std::string>{"./jobs/", "./jobs/j.tgz", "./release.MF"});

    auto missing = (src / "missing").string();
    CHECK_THROWS_WITH_AS(bosh::create_tgz(src, tmp / "bad.tgz", {"missing"}),
                         (missing + ": cannot read: No such file or directory").c_str(), bosh::IoError);
    CHECK_THROWS_WITH_AS(bosh::create_tgz(src, tmp / "bad.tgz", {"../etc"}),
                         (src.string() + ": entry '../etc' is not a relative path inside the directory").c_str(),
                         bosh::InputError);
    CHECK_FALSE(fs::exists(tmp / "bad.tgz"));
    CHECK(tmp_leftovers(tmp.path()).empty());
  }

  TEST_CASE("archive: a failed write leaves neither the output nor a temp file") {
    TmpDir tmp("archive");
    write_file(tmp / "src" / "a", "a");
    write_file(tmp / "out.tgz", "previous contents");
    // A fifo cannot be archived: the failure comes after "./" and "./a" were written.
    fs::path fifo = tmp / "src" / "z-fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0644) == 0);
    CHECK_THROWS_WITH_AS(bosh::create_tgz(tmp / "src", tmp / "out.tgz"),
                         (fifo.string() + ": cannot archive: not a file, directory or symlink").c_str(),
                         bosh::InputError);
    CHECK(read_file(tmp / "out.tgz") == "previous contents");
    CHECK(tmp_leftovers(tmp.path()).empty());

    auto no_dir = (tmp / "no" / "such" / "dir" / "out.tgz").string();
    CHECK_THROWS_WITH_AS(bosh::create_tgz(tmp / "src", no_dir, {"a"}),
                         (no_dir + ": cannot write: No such file or directory").c_str(), bosh::IoError);
  }

  TEST_CASE("archive: refuses absolute paths") {
    TmpDir tmp("archive");
    craft_tgz(tmp / "evil.tgz", {{"./ok", ArchiveEntryType::file, "x"}, {"/etc/passwd", ArchiveEntryType::file, "x"}});
    CHECK(refusal(tmp / "evil.tgz", tmp / "dest") ==
          (tmp / "evil.tgz").string() + ": entry '/etc/passwd' has an absolute path");
    CHECK_FALSE(fs::exists(tmp / "dest" / "ok"));  // nothing written at all
  }

  TEST_CASE("archive: refuses .. components") {
    TmpDir tmp("archive");
    craft_tgz(tmp / "a.tgz", {{"../x", ArchiveEntryType::file, "x"}});
    CHECK(refusal(tmp / "a.tgz", tmp / "dest") == (tmp / "a.tgz").string() + ": entry '../x' escapes the target directory");
    craft_tgz(tmp / "b.tgz", {{"./a/../../x", ArchiveEntryType::file, "x"}});
    CHECK(refusal(tmp / "b.tgz", tmp / "dest") ==
          (tmp / "b.tgz").string() + ": entry './a/../../x' escapes the target directory");
    CHECK_FALSE(fs::exists(tmp / "x"));
  }

  TEST_CASE("archive: refuses links that point outside") {
    TmpDir tmp("archive");
    auto check = [&](const std::vector<Crafted>& entries, const std::string& expected) {
      craft_tgz(tmp / "l.tgz", entries);
      CHECK(refusal(tmp / "l.tgz", tmp / "dest") == (tmp / "l.tgz").string() + ": " + expected);
    };
    check({{"a", ArchiveEntryType::symlink, "../../x"}},
          "link 'a' -> '../../x' points outside the target directory");
    check({{"d/a", ArchiveEntryType::symlink, "../.."}}, "link 'd/a' -> '../..' points outside the target directory");
    check({{"a", ArchiveEntryType::symlink, "/etc"}}, "link 'a' -> '/etc' points outside the target directory");
    // Lexically inside, but through another link it leaves: x/y/up -> ../../c (= c), then
    // l -> x/y/up/../.. is c/../.. = outside.
    check({{"x/y/up", ArchiveEntryType::symlink, "../../c"}, {"l", ArchiveEntryType::symlink, "x/y/up/../.."}},
          "link 'l' -> 'x/y/up/../..' points outside the target directory");
    check({{"h", ArchiveEntryType::hardlink, "../outside"}},
          "link 'h' -> '../outside' points outside the target directory");
    check({{"h", ArchiveEntryType::hardlink, "/etc/passwd"}},
          "link 'h' -> '/etc/passwd' points outside the target directory");
    check({{"loop1", ArchiveEntryType::symlink, "loop2"}, {"loop2", ArchiveEntryType::symlink, "loop1/x"}},
          "link 'loop1' -> 'loop2' points outside the target directory");
    CHECK(fs::is_empty(tmp / "dest"));
  }

  TEST_CASE("archive: links that stay inside are extracted") {
    TmpDir tmp("archive");
    craft_tgz(tmp / "ok.tgz", {{"./d/", ArchiveEntryType::directory, "", 0755},
                               {"./d/f", ArchiveEntryType::file, "data"},
                               {"./d/up", ArchiveEntryType::symlink, "../d/f"},
                               {"./h", ArchiveEntryType::hardlink, "./d/f"}});
    bosh::extract_tgz(tmp / "ok.tgz", tmp / "dest");
    CHECK(read_file(tmp / "dest" / "d" / "up") == "data");
    CHECK(read_file(tmp / "dest" / "h") == "data");
    CHECK(fs::hard_link_count(tmp / "dest" / "h") == 2);
  }

  TEST_CASE("archive: refuses duplicate entries") {
    TmpDir tmp("archive");
    craft_tgz(tmp / "dup.tgz", {{"x", ArchiveEntryType::file, "1"}, {"./x", ArchiveEntryType::file, "2"}});
    CHECK(refusal(tmp / "dup.tgz", tmp / "dest") == (tmp / "dup.tgz").string() + ": duplicate entry './x'");
    CHECK_FALSE(fs::exists(tmp / "dest" / "x"));
  }

  TEST_CASE("archive: refuses writing through a symlink from the archive or already in dest") {
    TmpDir tmp("archive");
    fs::create_directories(tmp / "outside");
    craft_tgz(tmp / "w.tgz", {{"l", ArchiveEntryType::symlink, "sub"},
                              {"sub/", ArchiveEntryType::directory, ""},
                              {"l/passwd", ArchiveEntryType::file, "x"}});
    CHECK(refusal(tmp / "w.tgz", tmp / "dest") ==
          (tmp / "w.tgz").string() + ": entry 'l/passwd' would be written through the symlink 'l'");

    // A symlink already in dest that leads outside.
    fs::create_directories(tmp / "dest2");
    fs::create_symlink(tmp / "outside", tmp / "dest2" / "l");
    craft_tgz(tmp / "w2.tgz", {{"l/passwd", ArchiveEntryType::file, "x"}});
    auto real = fs::canonical(tmp / "dest2") / "l";
    CHECK(refusal(tmp / "w2.tgz", tmp / "dest2") ==
          (tmp / "w2.tgz").string() + ": entry 'l/passwd' would be written through the existing symlink '" +
              real.string() + "'");
    CHECK(fs::is_empty(tmp / "outside"));

    // A file used as a directory, and a link replacing a directory.
    craft_tgz(tmp / "w3.tgz", {{"f", ArchiveEntryType::file, "x"}, {"f/g", ArchiveEntryType::file, "y"}});
    CHECK(refusal(tmp / "w3.tgz", tmp / "dest") ==
          (tmp / "w3.tgz").string() + ": entry 'f/g' is inside 'f', which is not a directory");
    craft_tgz(tmp / "w4.tgz", {{"d/f", ArchiveEntryType::file, "x"}, {"d", ArchiveEntryType::symlink, "."}});
    CHECK(refusal(tmp / "w4.tgz", tmp / "dest") ==
          (tmp / "w4.tgz").string() + ": entry 'd' would replace a directory holding earlier entries");
  }

  TEST_CASE("archive: refuses devices and fifos") {
    TmpDir tmp("archive");
    craft_tgz(tmp / "dev.tgz", {{"fifo", ArchiveEntryType::other, "", 0644, AE_IFIFO}});
    CHECK(refusal(tmp / "dev.tgz", tmp / "dest") ==
          (tmp / "dev.tgz").string() + ": entry 'fifo' is a fifo; only files, directories and links are allowed");
    craft_tgz(tmp / "chr.tgz", {{"null", ArchiveEntryType::other, "", 0644, AE_IFCHR}});
    CHECK(refusal(tmp / "chr.tgz", tmp / "dest") ==
          (tmp / "chr.tgz").string() +
              ": entry 'null' is a character device; only files, directories and links are allowed");
    CHECK(bosh::list_tgz(tmp / "chr.tgz").at(0).type == ArchiveEntryType::other);
  }

  TEST_CASE("archive: corrupt and truncated and missing archives") {
    TmpDir tmp("archive");
    write_file(tmp / "text.tgz", "this is not an archive at all, just some text\n");
    auto text = (tmp / "text.tgz").string();
    CHECK_THROWS_WITH_AS(bosh::list_tgz(text), (text + ": not a gzip'd tar archive: Unrecognized archive format").c_str(),
                         bosh::InputError);
    CHECK_THROWS_WITH_AS(bosh::extract_tgz(text, tmp / "dest"),
                         (text + ": not a gzip'd tar archive: Unrecognized archive format").c_str(),
                         bosh::InputError);

    write_file(tmp / "src" / "big", std::string(200000, 'z'));
    bosh::create_tgz(tmp / "src", tmp / "good.tgz");
    std::string bytes = read_file(tmp / "good.tgz");
    write_file(tmp / "cut.tgz", bytes.substr(0, bytes.size() / 2));
    try {
      bosh::extract_tgz(tmp / "cut.tgz", tmp / "dest");
      FAIL("truncated archive was extracted");
    } catch (const bosh::InputError& e) {
      CHECK(std::string(e.what()).rfind((tmp / "cut.tgz").string() + ": not a gzip'd tar archive: ", 0) == 0);
    }

    auto missing = (tmp / "missing.tgz").string();
    CHECK_THROWS_WITH_AS(bosh::list_tgz(missing), (missing + ": cannot read: No such file or directory").c_str(),
                         bosh::IoError);
  }
}
