// The blobstore conformance kit: the behaviour every blobstore provider owes
// its callers, as doctest subcases. Use it from a doctest test case:
//
//   TEST_CASE("my blobstore conforms") {
//     bosh::plugin::testing::blobstore_conformance([] { return make_my_blobstore(); });
//   }
//
// `make` returns a fresh, empty provider (unique_ptr or shared_ptr) each call.
#pragma once

#include <doctest/doctest.h>

#include <set>
#include <sstream>
#include <stdexcept>
#include <string>

#include "bosh/plugin/blobstore.hpp"

namespace bosh::plugin::testing {

namespace detail {
// A source that fails after `good` bytes, like a dropped upload.
class FailingBuf : public std::streambuf {
 public:
  explicit FailingBuf(std::size_t good) : left_(good) {}

 protected:
  int_type underflow() override {
    if (left_ == 0) throw std::runtime_error("source failed");
    --left_;
    ch_ = 'x';
    setg(&ch_, &ch_, &ch_ + 1);
    return traits_type::to_int_type(ch_);
  }

 private:
  std::size_t left_;
  char ch_ = 0;
};

inline std::string read_blob(Blobstore& store, const std::string& id) {
  std::ostringstream out;
  store.get(id, out);
  return out.str();
}
}  // namespace detail

template <typename Make>
void blobstore_conformance(Make make) {
  auto store = make();
  REQUIRE(store);

  SUBCASE("create without an id picks fresh ids and get returns the same bytes") {
    std::string binary("\0\1\2 bosh \xff\n", 11);
    std::istringstream a(binary), b("second");
    std::string id_a = store->create(a, std::nullopt);
    std::string id_b = store->create(b, std::nullopt);
    CHECK(id_a != id_b);
    CHECK(detail::read_blob(*store, id_a) == binary);
    CHECK(detail::read_blob(*store, id_b) == "second");
    CHECK(store->exists(id_a));
  }

  SUBCASE("create with an id stores under it and refuses to overwrite") {
    std::istringstream a("one"), b("two");
    CHECK(store->create(a, std::string("fixed-id")) == "fixed-id");
    CHECK_THROWS_AS(store->create(b, std::string("fixed-id")), BlobstoreError);
    CHECK(detail::read_blob(*store, "fixed-id") == "one");
  }

  SUBCASE("empty and large blobs") {
    std::istringstream empty("");
    std::string id = store->create(empty, std::nullopt);
    CHECK(detail::read_blob(*store, id).empty());
    std::string big(3 * 1024 * 1024 + 7, 'b');
    std::istringstream large(big);
    std::string big_id = store->create(large, std::nullopt);
    CHECK(detail::read_blob(*store, big_id) == big);
  }

  SUBCASE("missing blobs: exists is false, get and delete throw BlobNotFound") {
    CHECK_FALSE(store->exists("no-such-blob"));
    std::ostringstream out;
    CHECK_THROWS_AS(store->get("no-such-blob", out), BlobNotFound);
    CHECK_THROWS_AS(store->delete_blob("no-such-blob"), BlobNotFound);
  }

  SUBCASE("delete removes the blob") {
    std::istringstream in("gone soon");
    std::string id = store->create(in, std::nullopt);
    store->delete_blob(id);
    CHECK_FALSE(store->exists(id));
    std::ostringstream out;
    CHECK_THROWS_AS(store->get(id, out), BlobNotFound);
  }

  SUBCASE("a failed upload leaves no blob behind") {
    detail::FailingBuf buf(100000);
    std::istream source(&buf);
    source.exceptions(std::ios::badbit);
    CHECK_THROWS(store->create(source, std::string("half-blob")));
    CHECK_FALSE(store->exists("half-blob"));
  }
}

}  // namespace bosh::plugin::testing
