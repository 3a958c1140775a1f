#include "bosh/common/digest.hpp"

#include <doctest/doctest.h>

#include "bosh/common/error.hpp"
#include "test_tmp_dir.hpp"

using bosh::Digest;
using bosh::DigestAlgorithm;

TEST_SUITE("unit") {
  TEST_CASE("digest: known sha1 and sha256 vectors") {
    CHECK(bosh::sha1_hex("abc") == "a9993e364706816aba3e25717850c26c9cd0d89d");
    CHECK(bosh::sha1_hex("") == "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    CHECK(bosh::sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(bosh::sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  }

  TEST_CASE("digest: streaming hasher equals one-shot and resets after hex_final") {
    bosh::Hasher hasher(DigestAlgorithm::sha256);
    hasher.update("a");
    hasher.update(std::string_view("b"));
    hasher.update("c", 1);
    CHECK(hasher.hex_final() == bosh::sha256_hex("abc"));
    hasher.update("abc");
    CHECK(hasher.hex_final() == bosh::sha256_hex("abc"));
    bosh::Hasher moved = std::move(hasher);
    CHECK(moved.hex_final() == bosh::sha256_hex(""));
  }

  TEST_CASE("digest: HMAC-SHA256 RFC 4231 test case 2") {
    CHECK(bosh::hmac_sha256_hex("Jefe", "what do ya want for nothing?") ==
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  }

  TEST_CASE("digest: file digest across several 1 MiB chunks") {
    bosh::testing::TmpDir tmp("digest");
    std::string content(3 * (1 << 20) + 17, 'x');
    for (std::size_t i = 0; i < content.size(); i += 4099) content[i] = static_cast<char>('a' + i % 26);
    bosh::testing::write_file(tmp / "big", content);
    CHECK(bosh::file_digest(tmp / "big", DigestAlgorithm::sha1) == bosh::sha1_hex(content));
    CHECK(bosh::file_digest(tmp / "big", DigestAlgorithm::sha256) == bosh::sha256_hex(content));
  }

  TEST_CASE("digest: missing file is an IoError naming it") {
    bosh::testing::TmpDir tmp("digest");
    auto missing = (tmp / "nope").string();
    CHECK_THROWS_WITH_AS(bosh::file_digest(missing, DigestAlgorithm::sha1),
                         (missing + ": cannot read: No such file or directory").c_str(), bosh::IoError);
  }

  TEST_CASE("digest: Digest parse and to_string") {
    auto sha1 = Digest::parse("A9993E364706816ABA3E25717850C26C9CD0D89D");
    CHECK(sha1.algorithm == DigestAlgorithm::sha1);
    CHECK(sha1.to_string() == "a9993e364706816aba3e25717850c26c9cd0d89d");
    CHECK(Digest::parse("sha1:a9993e364706816aba3e25717850c26c9cd0d89d") == sha1);

    std::string hex256 = bosh::sha256_hex("abc");
    auto sha256 = Digest::parse("sha256:" + hex256);
    CHECK(sha256.algorithm == DigestAlgorithm::sha256);
    CHECK(sha256.hex == hex256);
    CHECK(sha256.to_string() == "sha256:" + hex256);
  }

  TEST_CASE("digest: bad digest strings name the value") {
    CHECK_THROWS_WITH_AS(Digest::parse("abc"), "invalid digest 'abc': expected 40 hex digits for sha1",
                         bosh::InputError);
    CHECK_THROWS_WITH_AS(Digest::parse("sha256:a9993e364706816aba3e25717850c26c9cd0d89d"),
                         "invalid digest 'sha256:a9993e364706816aba3e25717850c26c9cd0d89d': expected 64 hex "
                         "digits for sha256",
                         bosh::InputError);
    CHECK_THROWS_WITH_AS(Digest::parse("md5:xyz"),
                         "invalid digest 'md5:xyz': unknown algorithm 'md5' (expected sha1 or sha256)",
                         bosh::InputError);
    CHECK_THROWS_WITH_AS(Digest::parse("g9993e364706816aba3e25717850c26c9cd0d89d"),
                         "invalid digest 'g9993e364706816aba3e25717850c26c9cd0d89d': expected 40 hex digits "
                         "for sha1",
                         bosh::InputError);
    CHECK_THROWS_AS(Digest::parse(""), bosh::InputError);
  }

  TEST_CASE("digest: multi-digest strings") {
    std::string s1 = bosh::sha1_hex("abc");
    std::string s256 = bosh::sha256_hex("abc");
    auto digests = bosh::parse_multi_digest("sha1:" + s1 + ";sha256:" + s256);
    REQUIRE(digests.size() == 2);
    CHECK(digests[0] == Digest{DigestAlgorithm::sha1, s1});
    CHECK(bosh::strongest_digest(digests) == Digest{DigestAlgorithm::sha256, s256});

    auto single = bosh::parse_multi_digest(s1);
    REQUIRE(single.size() == 1);
    CHECK(bosh::strongest_digest(single).hex == s1);

    CHECK_THROWS_WITH_AS(bosh::parse_multi_digest("sha1:" + s1 + ";sha1:" + s1),
                         ("invalid digest 'sha1:" + s1 + ";sha1:" + s1 + "': sha1 is listed twice").c_str(),
                         bosh::InputError);
    CHECK_THROWS_WITH_AS(bosh::parse_multi_digest(s1 + ";sha256:zz"),
                         ("invalid digest '" + s1 + ";sha256:zz': invalid digest 'sha256:zz': expected 64 hex "
                                                    "digits for sha256")
                             .c_str(),
                         bosh::InputError);
    CHECK_THROWS_WITH_AS(bosh::parse_multi_digest(s1 + ";"),
                         ("invalid digest '" + s1 + ";': empty entry").c_str(), bosh::InputError);
    CHECK_THROWS_AS(bosh::strongest_digest({}), bosh::InputError);
  }

  TEST_CASE("digest: verify_file") {
    bosh::testing::TmpDir tmp("digest");
    bosh::testing::write_file(tmp / "f", "abc");
    CHECK(bosh::verify_file(tmp / "f", Digest::parse(bosh::sha1_hex("abc"))));
    CHECK(bosh::verify_file(tmp / "f", Digest::parse("sha256:" + bosh::sha256_hex("abc"))));
    CHECK_FALSE(bosh::verify_file(tmp / "f", Digest::parse(bosh::sha1_hex("abd"))));
  }
}
