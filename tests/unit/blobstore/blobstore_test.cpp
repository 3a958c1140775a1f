#include <doctest/doctest.h>

#include "bosh/plugin/testing/null_host.hpp"

#include <fstream>
#include <sstream>

#include "bosh/blobstore/blobstore.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/json.hpp"
#include "bosh/plugin/testing/blobstore_conformance.hpp"

namespace fs = std::filesystem;

namespace {
bosh::plugin::testing::NullHostServices null_host;

bosh::plugin::Json local_options(const fs::path& dir) {
  return bosh::parse_json("{\"blobstore_path\": \"" + dir.string() + "\"}", "test");
}
}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("the local blobstore passes the blobstore conformance kit") {
    bosh::TempDir dir("bosh-local-blobstore");
    int n = 0;
    bosh::plugin::testing::blobstore_conformance([&] {
      return bosh::blobstore::make_local_blobstore(null_host, local_options(dir.path() / std::to_string(n++)));
    });
  }

  TEST_CASE("the local blobstore refuses ids that would escape its directory") {
    bosh::TempDir dir("bosh-local-blobstore");
    auto store = bosh::blobstore::make_local_blobstore(null_host, local_options(dir.path()));
    std::istringstream in("x");
    CHECK_THROWS_WITH_AS(store->create(in, std::string("../evil")), "invalid blob id '../evil'",
                         bosh::plugin::BlobstoreError);
    CHECK_THROWS_WITH_AS(store->exists(".hidden"), "invalid blob id '.hidden'", bosh::plugin::BlobstoreError);
  }

  TEST_CASE("the local blobstore needs blobstore_path") {
    CHECK_THROWS_WITH_AS(bosh::blobstore::make_local_blobstore(null_host, bosh::parse_json("{}", "opts")),
                         "local blobstore options: missing required key 'blobstore_path'",
                         bosh::plugin::BlobstoreError);
  }

  TEST_CASE("put_file and get_file hash the stream and refuse a mismatch") {
    bosh::TempDir dir("bosh-checked");
    auto store = bosh::blobstore::make_local_blobstore(null_host, local_options(dir.path() / "store"));
    fs::path src = dir.path() / "src.txt";
    std::ofstream(src) << "abc";
    auto stored = bosh::blobstore::put_file(*store, src, bosh::DigestAlgorithm::sha1);
    CHECK(stored.digest.to_string() == "a9993e364706816aba3e25717850c26c9cd0d89d");
    auto stored256 = bosh::blobstore::put_file(*store, src, bosh::DigestAlgorithm::sha256, std::string("abc-256"));
    CHECK(stored256.id == "abc-256");
    CHECK(stored256.digest.to_string() ==
          "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

    fs::path dest = dir.path() / "out.txt";
    bosh::blobstore::get_file(*store, stored.id, dest, stored.digest);
    CHECK(bosh::read_file(dest) == "abc");

    fs::path bad = dir.path() / "bad.txt";
    auto wrong = bosh::Digest::parse("0000000000000000000000000000000000000000");
    CHECK_THROWS_WITH_AS(bosh::blobstore::get_file(*store, stored.id, bad, wrong),
                         ("blob '" + stored.id +
                          "': expected sha1 0000000000000000000000000000000000000000, got "
                          "a9993e364706816aba3e25717850c26c9cd0d89d")
                             .c_str(),
                         bosh::plugin::BlobChecksumMismatch);
    CHECK_FALSE(fs::exists(bad));
    CHECK_FALSE(fs::exists(dir.path() / "bad.txt.download"));
    CHECK_THROWS_AS(bosh::blobstore::get_file(*store, "absent", bad, wrong), bosh::plugin::BlobNotFound);
    CHECK_FALSE(fs::exists(dir.path() / "bad.txt.download"));
  }
}
