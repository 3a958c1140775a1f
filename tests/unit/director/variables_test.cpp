// Variables the director generates: what each type holds, and that a
// certificate really is signed by its CA (checked with openssl itself).
#include <doctest/doctest.h>

#include "bosh/common/error.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/json.hpp"
#include "bosh/common/subprocess.hpp"
#include "variables.hpp"

using bosh::director::generate_variable;
using bosh::director::in_generation_order;
using bosh::director::VariableDef;
using bosh::plugin::Json;

namespace {
VariableDef def(const std::string& name, const std::string& type, const std::string& options = "{}") {
  return {name, type, bosh::parse_json(options, "options")};
}
std::string field(const Json& v, const std::string& key) {
  return bosh::as_object(v, "variable")->getValue<std::string>(key);
}
}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("variables: passwords are 20 random lowercase letters and digits") {
    const std::string a = generate_variable(def("a", "password"), {}).convert<std::string>();
    const std::string b = generate_variable(def("b", "password"), {}).convert<std::string>();
    CHECK(a.size() == 20);
    CHECK(a.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789") == std::string::npos);
    CHECK(a != b);
  }

  TEST_CASE("variables: a certificate is signed by its CA and carries its names") {
    std::map<std::string, Json> known;
    const auto ca_def = def("ca", "certificate", R"({"is_ca": true, "common_name": "test-ca"})");
    const auto leaf_def =
        def("tls", "certificate", R"({"ca": "ca", "common_name": "kv.local", "alternative_names": ["kv.local", "127.0.10.31"], "extended_key_usage": ["server_auth"]})");
    // Given in the wrong order, the CA is still made first.
    auto order = in_generation_order({leaf_def, ca_def});
    REQUIRE(order.size() == 2);
    CHECK(order[0].name == "ca");
    for (const auto& d : order) known[d.name] = generate_variable(d, known);
    bosh::TempDir dir("bosh-variables-test");
    bosh::write_file_atomic(dir.path() / "ca.pem", field(known["ca"], "certificate"));
    bosh::write_file_atomic(dir.path() / "leaf.pem", field(known["tls"], "certificate"));
    CHECK(field(known["tls"], "ca") == field(known["ca"], "certificate"));
    auto verify = bosh::run_process({"openssl", "verify", "-CAfile", (dir.path() / "ca.pem").string(),
                                     (dir.path() / "leaf.pem").string()});
    CHECK_MESSAGE(verify.exit_code == 0, (verify.out + verify.err));
    auto text = bosh::run_process({"openssl", "x509", "-in", (dir.path() / "leaf.pem").string(), "-noout", "-text"});
    CHECK(text.out.find("CN = kv.local") != std::string::npos);
    CHECK(text.out.find("DNS:kv.local") != std::string::npos);
    CHECK(text.out.find("IP Address:127.0.10.31") != std::string::npos);
    CHECK(text.out.find("TLS Web Server Authentication") != std::string::npos);
    CHECK(field(known["tls"], "private_key").find("PRIVATE KEY") != std::string::npos);
  }

  TEST_CASE("variables: rsa and ssh keys and the errors for unknown CAs and cycles") {
    auto rsa = generate_variable(def("r", "rsa"), {});
    CHECK(field(rsa, "private_key").find("PRIVATE KEY") != std::string::npos);
    CHECK(field(rsa, "public_key").find("BEGIN PUBLIC KEY") != std::string::npos);
    auto ssh = generate_variable(def("s", "ssh"), {});
    CHECK(field(ssh, "public_key").rfind("ssh-rsa ", 0) == 0);
    CHECK(field(ssh, "public_key_fingerprint").size() == 47);  // md5, 16 bytes as aa:bb:...
    CHECK_THROWS_WITH_AS(generate_variable(def("t", "certificate", R"({"ca": "missing"})"), {}),
                         "variable 't': its ca 'missing' is not defined", bosh::InputError);
    CHECK_THROWS_WITH_AS(in_generation_order({def("a", "certificate", R"({"ca": "b"})"),
                                              def("b", "certificate", R"({"ca": "a"})")}),
                         doctest::Contains("refer to each other in a cycle"), bosh::InputError);
  }
}
