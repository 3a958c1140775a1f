#include <doctest/doctest.h>

#include <set>
#include <vector>

#include "bosh/plugin/errors.hpp"

using namespace bosh::plugin;

TEST_SUITE("unit") {
  TEST_CASE("every error type round-trips through its wire name") {
    std::vector<std::unique_ptr<Error>> all;
    all.push_back(std::make_unique<CpiError>("m"));
    all.push_back(std::make_unique<NotImplemented>("m"));
    all.push_back(std::make_unique<NotSupported>("m"));
    all.push_back(std::make_unique<CloudError>("m"));
    all.push_back(std::make_unique<VMNotFound>("m"));
    all.push_back(std::make_unique<NetworkNotFound>("m"));
    all.push_back(std::make_unique<RetriableCloudError>("m"));
    all.push_back(std::make_unique<NoDiskSpace>("m"));
    all.push_back(std::make_unique<DiskNotAttached>("m"));
    all.push_back(std::make_unique<DiskNotFound>("m"));
    all.push_back(std::make_unique<VMCreationFailed>("m"));
    all.push_back(std::make_unique<InvalidCall>("m"));
    all.push_back(std::make_unique<UnknownError>("m"));
    all.push_back(std::make_unique<BlobstoreError>("m"));
    all.push_back(std::make_unique<BlobNotFound>("m"));
    all.push_back(std::make_unique<BlobChecksumMismatch>("m"));
    all.push_back(std::make_unique<UsageError>("m"));
    std::set<std::string> wire_names;
    for (const auto& e : all) {
      auto back = error_from_wire(e->type(), e->what(), e->ok_to_retry());
      CHECK(std::string(back->type()) == e->type());
      CHECK(std::string(back->what()) == "m");
      CHECK(back->ok_to_retry() == e->ok_to_retry());
      wire_names.insert(e->type());
    }
    CHECK(wire_names.size() == all.size());
  }

  TEST_CASE("wire names and retry defaults are BOSH's") {
    CHECK(std::string(VMNotFound("x").type()) == "Bosh::Clouds::VMNotFound");
    CHECK(std::string(VMCreationFailed("x").type()) == "Bosh::Clouds::VMCreationFailed");
    CHECK(VMCreationFailed("x").ok_to_retry());
    CHECK(NoDiskSpace("x").ok_to_retry());
    CHECK(DiskNotFound("x").ok_to_retry());
    CHECK(DiskNotAttached("x").ok_to_retry());
    CHECK_FALSE(VMNotFound("x").ok_to_retry());
    CHECK_FALSE(CloudError("x").ok_to_retry());
    CHECK_FALSE(VMCreationFailed("x", false).ok_to_retry());
  }

  TEST_CASE("the hierarchy lets callers catch by family") {
    CHECK_THROWS_AS(throw VMNotFound("x"), CloudError);
    CHECK_THROWS_AS(throw DiskNotFound("x"), RetriableCloudError);
    CHECK_THROWS_AS(throw NotImplemented("x"), CpiError);
    CHECK_THROWS_AS(error_from_wire("Bosh::Clouds::NoDiskSpace", "full", true)->rethrow(), NoDiskSpace);
  }

  TEST_CASE("director compatibility mapping") {
    CHECK(std::string(error_from_wire("Bosh::Clouds::Whatever", "m", false)->type()) == "Unknown");
    CHECK(std::string(error_from_wire("InvalidCall", "Method is not known, got: 'foo'", false)->type()) ==
          "Bosh::Clouds::NotImplemented");
    CHECK(std::string(error_from_wire("Bosh::Clouds::CloudError", "Invalid Method: foo", false)->type()) ==
          "Bosh::Clouds::NotImplemented");
    CHECK(std::string(error_from_wire("InvalidCall", "Arguments are not provided", false)->type()) ==
          "InvalidCall");
  }
}
