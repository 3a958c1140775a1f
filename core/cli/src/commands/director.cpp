// target, targets: choose and list directors (environments). Until the
// director API lands these only read and write the config file.
#include "bosh/common/error.hpp"
#include "bosh/common/fs.hpp"
#include "../command.hpp"

namespace bosh::cli {

namespace {

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
  if (inv.has("ca-cert")) config.set_ca_cert(url, read_file(inv.value("ca-cert")));
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
