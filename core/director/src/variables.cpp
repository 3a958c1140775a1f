#include "variables.hpp"

#include <Poco/JSON/Object.h>

#include <random>

#include "bosh/common/error.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/json.hpp"
#include "bosh/common/subprocess.hpp"

namespace bosh::director {

namespace fs = std::filesystem;
using plugin::Json;
using plugin::JsonObject;

namespace {

void run_tool(const std::vector<std::string>& argv, const std::string& what) {
  auto r = run_process(argv);
  if (r.exit_code != 0) fail("generating {}: {} failed: {}", what, argv[0], r.err.empty() ? r.out : r.err);
}

std::string option(const JsonObject::Ptr& o, const std::string& key, const std::string& fallback = "") {
  return o->has(key) && !o->get(key).isEmpty() ? o->get(key).convert<std::string>() : fallback;
}

Json certificate(const VariableDef& def, const std::map<std::string, Json>& known) {
  auto o = as_object(def.options, "variable " + def.name + " options");
  TempDir dir("bosh-variable");
  const fs::path key = dir.path() / "key.pem", cert = dir.path() / "cert.pem", csr = dir.path() / "req.csr",
                 ext = dir.path() / "ext.cnf";
  const bool is_ca = o->has("is_ca") && o->get("is_ca").convert<bool>();
  const std::string cn = option(o, "common_name", def.name);
  const std::string days = option(o, "duration", "365");
  std::string sans;
  if (o->has("alternative_names") && !o->get("alternative_names").isEmpty())
    for (const auto& n : *o->getArray("alternative_names")) {
      const std::string s = n.convert<std::string>();
      const bool ip = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)) || c == '.'; });
      sans += (sans.empty() ? "" : ",") + std::string(ip ? "IP:" : "DNS:") + s;
    }
  std::string ext_text = is_ca ? "basicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign,cRLSign\n"
                               : "basicConstraints=critical,CA:false\nkeyUsage=critical,digitalSignature,keyEncipherment\n";
  if (o->has("extended_key_usage") && !o->get("extended_key_usage").isEmpty()) {
    std::string usages;
    for (const auto& u : *o->getArray("extended_key_usage")) {
      std::string v = u.convert<std::string>();
      if (v == "server_auth") v = "serverAuth";
      if (v == "client_auth") v = "clientAuth";
      usages += (usages.empty() ? "" : ",") + v;
    }
    ext_text += "extendedKeyUsage=" + usages + "\n";
  }
  if (!sans.empty()) ext_text += "subjectAltName=" + sans + "\n";
  write_file_atomic(ext, ext_text);
  run_tool({"openssl", "genrsa", "-out", key.string(), "2048"}, def.name);
  const std::string ca_name = option(o, "ca");
  JsonObject::Ptr value = new JsonObject;
  {
    auto it = known.find(ca_name);
    if (it == known.end()) fail<InputError>("variable '{}': its ca '{}' is not defined", def.name, ca_name);
    auto ca = as_object(it->second, "variable " + ca_name);
    const fs::path ca_cert = dir.path() / "ca.pem", ca_key = dir.path() / "ca.key";
    write_file_atomic(ca_cert, ca->getValue<std::string>("certificate"));
    write_file_atomic(ca_key, ca->getValue<std::string>("private_key"), fs::perms::owner_read | fs::perms::owner_write);
    run_tool({"openssl", "req", "-new", "-key", key.string(), "-out", csr.string(), "-subj", "/CN=" + cn}, def.name);
    run_tool({"openssl", "x509", "-req", "-in", csr.string(), "-CA", ca_cert.string(), "-CAkey", ca_key.string(),
              "-CAcreateserial", "-out", cert.string(), "-days", days, "-extfile", ext.string()},
             def.name);
    value->set("ca", ca->getValue<std::string>("certificate"));
  }
  value->set("certificate", read_file(cert));
  value->set("private_key", read_file(key));
  return value;
}

}  // namespace

Json generate_variable(const VariableDef& def, const std::map<std::string, Json>& known) {
  if (def.type == "password") {
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    std::random_device rd;
    std::string out;
    for (int i = 0; i < 20; ++i) out += alphabet[rd() % 36];
    return out;
  }
  if (def.type == "certificate") {
    // req -x509 reads its extension section from the config it is given.
    auto o = as_object(def.options, "variable " + def.name + " options");
    if (!o->has("ca") || o->get("ca").isEmpty()) {
      TempDir dir("bosh-variable");
      const fs::path key = dir.path() / "key.pem", cert = dir.path() / "cert.pem", conf = dir.path() / "req.cnf";
      const std::string cn = option(o, "common_name", def.name);
      write_file_atomic(conf, "[req]\ndistinguished_name=dn\n[dn]\n[v3]\nbasicConstraints=critical,CA:true\n"
                              "keyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n");
      run_tool({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key.string(), "-out",
                cert.string(), "-days", option(o, "duration", "365"), "-subj", "/CN=" + cn, "-extensions", "v3",
                "-config", conf.string()},
               def.name);
      JsonObject::Ptr value = new JsonObject;
      value->set("ca", read_file(cert));
      value->set("certificate", read_file(cert));
      value->set("private_key", read_file(key));
      return value;
    }
    return certificate(def, known);
  }
  if (def.type == "rsa" || def.type == "ssh") {
    TempDir dir("bosh-variable");
    const fs::path key = dir.path() / "key.pem";
    JsonObject::Ptr value = new JsonObject;
    if (def.type == "rsa") {
      run_tool({"openssl", "genrsa", "-out", key.string(), "2048"}, def.name);
      run_tool({"openssl", "rsa", "-in", key.string(), "-pubout", "-out", (dir.path() / "pub.pem").string()}, def.name);
      value->set("private_key", read_file(key));
      value->set("public_key", read_file(dir.path() / "pub.pem"));
      return value;
    }
    run_tool({"ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-m", "PEM", "-C", "", "-f", key.string()},
             def.name);
    auto fp = run_process({"ssh-keygen", "-l", "-E", "md5", "-f", key.string() + ".pub"});
    std::string fingerprint = fp.out;
    if (auto p = fingerprint.find("MD5:"); p != std::string::npos) fingerprint = fingerprint.substr(p + 4);
    if (auto sp = fingerprint.find(' '); sp != std::string::npos) fingerprint = fingerprint.substr(0, sp);
    std::string pub = read_file(key.string() + ".pub");
    while (!pub.empty() && (pub.back() == '\n' || pub.back() == ' ')) pub.pop_back();
    value->set("private_key", read_file(key));
    value->set("public_key", pub);
    value->set("public_key_fingerprint", fingerprint);
    return value;
  }
  fail<InputError>("variable '{}': unknown type '{}'", def.name, def.type);
}

std::vector<VariableDef> in_generation_order(const std::vector<VariableDef>& defs) {
  std::vector<VariableDef> out, rest = defs;
  std::set<std::string> placed;
  while (!rest.empty()) {
    bool progressed = false;
    for (auto it = rest.begin(); it != rest.end();) {
      const std::string ca = it->options.type() == typeid(JsonObject::Ptr) && it->options.extract<JsonObject::Ptr>()->has("ca")
                                 ? it->options.extract<JsonObject::Ptr>()->get("ca").convert<std::string>()
                                 : "";
      const bool ready = ca.empty() || placed.count(ca) ||
                         std::none_of(defs.begin(), defs.end(), [&](const VariableDef& d) { return d.name == ca; });
      if (ready) {
        placed.insert(it->name);
        out.push_back(*it);
        it = rest.erase(it);
        progressed = true;
      } else {
        ++it;
      }
    }
    if (!progressed) fail<InputError>("variables: certificate CAs refer to each other in a cycle ({})", rest[0].name);
  }
  return out;
}

}  // namespace bosh::director
