// target, targets: choose and list directors (environments). A director
// whose certificate the system does not trust is shown (subject, SHA-256
// fingerprint) and its certificate kept for that URL once the user agrees:
// trust on first use, as ssh does; or give --ca-cert.
#include <Poco/URI.h>

#include <iostream>

#include "bosh/common/error.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/http.hpp"
#include "bosh/common/subprocess.hpp"
#include "../command.hpp"

namespace bosh::cli {

namespace {

// The director's certificate chain as PEM, from a TLS handshake; "" when it
// cannot be reached.
std::string fetch_certificate(const std::string& url) {
  Poco::URI uri(url);
  ProcessOptions options;
  options.timeout = std::chrono::seconds(10);  // stdin is empty: s_client ends after the handshake
  auto r = run_process({"openssl", "s_client", "-connect", uri.getHost() + ":" + std::to_string(uri.getPort()),
                        "-servername", uri.getHost(), "-showcerts"},
                       options);
  std::string pem;
  for (std::size_t at = r.out.find("-----BEGIN CERTIFICATE-----"); at != std::string::npos;
       at = r.out.find("-----BEGIN CERTIFICATE-----", at + 1)) {
    const std::size_t end = r.out.find("-----END CERTIFICATE-----", at);
    if (end == std::string::npos) break;
    pem += r.out.substr(at, end + 25 - at) + "\n";
  }
  return pem;
}

std::string describe_certificate(const std::string& pem) {
  TempDir dir("bosh-target");
  write_file_atomic(dir.path() / "cert.pem", pem);
  auto r = run_process({"openssl", "x509", "-in", (dir.path() / "cert.pem").string(), "-noout", "-subject", "-enddate",
                        "-fingerprint", "-sha256"});
  return r.out;
}

enum class Trust { trusted, untrusted, unreachable };

// Whether the director answers over TLS with the given trust (empty: the system's).
Trust check_trust(const std::string& url, const std::string& ca_pem) {
  plugin::HttpRequest req;
  req.url = url + "/info";
  if (!ca_pem.empty()) req.ca_cert_pem = ca_pem;
  req.timeout = std::chrono::seconds(5);
  try {
    http_request(req);
    return Trust::trusted;
  } catch (const bosh::Error& e) {
    const std::string what = e.what();
    for (const char* tls : {"certificate", "SSL", "TLS", "verif"})
      if (what.find(tls) != std::string::npos) return Trust::untrusted;
    return Trust::unreachable;
  }
}

int run_target(plugin::Invocation& inv, Context& ctx) {
  CliConfig& config = ctx.config;
  if (inv.args.empty()) {
    auto target = config.target();
    if (!target) fail("no target set; run 'bosh target URL [NAME]'");
    auto name = config.target_name();
    if (ctx.ui.json())
      ctx.ui.table({"target", {"name", "url"}, {"Name", "URL"}, {{name.value_or(""), *target}}});
    else
      ctx.ui.line("Current target is " + *target + (name ? " (" + *name + ")" : ""));
    return 0;
  }
  const std::string& first = inv.args[0];
  auto aliases = config.target_aliases();
  std::string url;
  std::optional<std::string> name;
  if (inv.args.size() == 1 && aliases.count(first)) {
    url = aliases[first];  // switch to a named environment
    name = first;
  } else {
    url = normalize_director_url(first);
    if (inv.args.size() == 2) {
      name = inv.args[1];
      if (name->empty() || name->find_first_of(" \t/:") != std::string::npos)
        throw plugin::UsageError("target name '" + *name + "' may not contain spaces, '/' or ':'");
      config.set_target_alias(*name, url);
    } else {
      for (const auto& [n, u] : aliases)
        if (u == url) name = n;
    }
  }
  if (inv.has("ca-cert")) {
    config.set_ca_cert(url, read_file(inv.value("ca-cert")));
  } else if (url.rfind("https://", 0) == 0 && config.ca_cert(url).empty()) {
    const Trust trust = check_trust(url, "");
    const std::string pem = trust == Trust::untrusted ? fetch_certificate(url) : "";
    if (trust == Trust::trusted) {
      // signed by a CA this system trusts
    } else if (pem.empty()) {
      ctx.ui.warn("cannot reach " + url + " to check its certificate; give --ca-cert FILE if it is not trusted");
    } else if (check_trust(url, pem) != Trust::trusted) {
      ctx.ui.warn(url + " answers with a certificate that is not valid for this address even when trusted; "
                  "requests will fail until you give --ca-cert FILE");
    } else {
      ctx.ui.warn("the director's certificate is not signed by a CA this system trusts:\n" + describe_certificate(pem));
      if (ctx.global.non_interactive)
        fail("{}: not trusting an unknown certificate with -n; give --ca-cert FILE (the director's CA)", url);
      std::cerr << "Trust this certificate for " << url << "? (type 'yes' to continue): ";
      std::string answer;
      std::getline(std::cin, answer);
      if (answer != "yes") fail("{}: certificate not trusted; target not changed", url);
      config.set_ca_cert(url, pem);
    }
  }
  config.set_target(url, name);
  config.save();
  ctx.ui.line("Target set to " + url + (name ? " (" + *name + ")" : ""));
  return 0;
}

int run_targets(plugin::Invocation&, Context& ctx) {
  auto aliases = ctx.config.target_aliases();
  auto current = ctx.config.target();
  Table table;
  table.content = "targets";
  table.keys = {"name", "url", "current"};
  table.headers = {"Name", "URL", "Current"};
  table.empty_text = "No targets; add one with 'bosh target URL NAME'.";
  bool current_listed = false;
  for (const auto& [name, url] : aliases) {
    bool is_current = current && *current == url && ctx.config.target_name().value_or(name) == name;
    current_listed = current_listed || is_current;
    table.rows.push_back({name, url, is_current ? "*" : ""});
  }
  if (current && !current_listed) table.rows.push_back({"", *current, "*"});
  ctx.ui.table(table);
  return 0;
}

}  // namespace

void register_director_commands(CommandTable& table) {
  table.add_group({"Director", "", "built-in", true});
  table.add({"Director", "target", "Show the current director, or choose one (by URL, or by a NAME given before)",
             {{"URL|NAME", false, false}, {"NAME", false, false}},
             {{"ca-cert", 0, "The CA certificate (PEM file) the director's certificate is checked with", true, "FILE"}},
             run_target});
  table.add({"Director", "targets", "List the named directors in the config file", {}, {}, run_targets});
}

}  // namespace bosh::cli
