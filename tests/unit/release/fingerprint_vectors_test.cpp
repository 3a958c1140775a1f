// Fingerprints recomputed from real public release files must equal what the
// BOSH CLI recorded in those releases' .final_builds/*/index.yml
// (tests/fixtures/fingerprints/vectors.yml says where each came from).
#include <doctest/doctest.h>

#include "bosh/common/yaml.hpp"
#include "bosh/release/release_dir.hpp"

namespace fs = std::filesystem;
using bosh::DigestAlgorithm;

namespace {
const fs::path kVectors = fs::path(BOSH_TEST_SOURCE_DIR) / "tests/fixtures/fingerprints";
}

TEST_SUITE("unit") {
  TEST_CASE("fingerprints match those recorded by public releases") {
    YAML::Node vectors = bosh::load_yaml_file(kVectors / "vectors.yml");
    REQUIRE(vectors.size() >= 8);
    int jobs = 0, packages = 0, licenses = 0, sha256 = 0;
    for (const auto& v : vectors) {
      const std::string kind = v["kind"].as<std::string>(), name = v["name"].as<std::string>();
      const fs::path dir = kVectors / v["dir"].as<std::string>();
      const auto algorithm = v["algorithm"].as<std::string>() == "sha256" ? DigestAlgorithm::sha256
                                                                            : DigestAlgorithm::sha1;
      CAPTURE(kind);
      CAPTURE(name);
      CAPTURE(v["source"].as<std::string>());
      std::string computed;
      if (kind == "job") {
        // dir is <release>/jobs/<job>
        computed = bosh::release::read_job_dir(dir.parent_path().parent_path(), dir, algorithm).fingerprint;
        ++jobs;
      } else if (kind == "package") {
        computed = bosh::release::read_package_dir(dir.parent_path().parent_path(), dir, algorithm).fingerprint;
        ++packages;
      } else {
        computed = bosh::release::read_license_dir(dir, algorithm)->fingerprint;
        ++licenses;
      }
      sha256 += algorithm == DigestAlgorithm::sha256;
      CHECK(computed == v["fingerprint"].as<std::string>());
    }
    CHECK(jobs >= 6);
    CHECK(packages >= 1);
    CHECK(licenses >= 1);
    CHECK(sha256 >= 2);
  }
}
