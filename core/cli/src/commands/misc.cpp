// help, version, plugins
#include "bosh/common/error.hpp"
#include "bosh/plugin/plugin.hpp"
#include "../command.hpp"

namespace bosh::cli {

namespace {

int run_help(plugin::Invocation& inv, Context& ctx) {
  if (inv.args.empty()) {
    print_help(ctx.table, ctx.ui);
    return 0;
  }
  std::size_t used = 0;
  const CommandSpec* command = ctx.table.match(inv.args, used);
  if (command && used == inv.args.size()) {
    print_command_help(*command, ctx.ui);
    return 0;
  }
  for (const auto& g : ctx.table.groups()) {
    // Group headings match case-insensitively: `bosh help director`.
    std::string a = inv.args[0], b = g.name;
    for (auto& ch : a) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    for (auto& ch : b) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (inv.args.size() == 1 && a == b) {
      print_group_help(ctx.table, g, ctx.ui);
      return 0;
    }
  }
  std::string typed;
  for (const auto& w : inv.args) typed += (typed.empty() ? "" : " ") + w;
  std::string message = "no command or group '" + typed + "'";
  auto suggestions = ctx.table.suggestions(inv.args);
  if (!suggestions.empty()) message += "; did you mean 'bosh help " + suggestions.front() + "'?";
  throw plugin::UsageError(message);
}

int run_version(plugin::Invocation&, Context& ctx) {
  ctx.ui.line(fmt::format("version {} (bosh-cpp, plugin API {}.{})", BOSH_VERSION, BOSH_PLUGIN_API_MAJOR,
                          BOSH_PLUGIN_API_MINOR));
  return 0;
}

int run_plugins(plugin::Invocation&, Context& ctx) {
  Table loaded;
  loaded.content = "plugins";
  loaded.keys = {"kind", "name", "version", "api", "path"};
  loaded.headers = {"Kind", "Name", "Version", "API", "Path"};
  loaded.empty_text = "No plugins found.";
  auto refused_by_cli = [&](const plugin_host::PluginRecord& p) {
    for (const auto& r : ctx.table.refusals())
      if (!p.builtin && r.path == p.path) return true;
    return false;
  };
  for (const auto& p : ctx.plugins.plugins())
    if (!refused_by_cli(p))
      loaded.rows.push_back({p.kind, p.name, p.version, fmt::format("{}.{}", p.api_major, p.api_minor),
                           p.builtin ? "(built-in)" : p.path.string()});
  ctx.ui.table(loaded);

  Table refused;
  refused.content = "refused";
  refused.keys = {"path", "reason"};
  refused.headers = {"Refused file", "Reason"};
  refused.empty_text = "No plugin files refused.";
  for (const auto& r : ctx.plugins.refusals()) refused.rows.push_back({r.path.string(), r.reason});
  for (const auto& r : ctx.table.refusals()) refused.rows.push_back({r.path.string(), r.reason});
  ctx.ui.line("");
  ctx.ui.table(refused);

  ctx.ui.line("");
  ctx.ui.line(fmt::format("Host plugin API {}.{}, ABI {}", BOSH_PLUGIN_API_MAJOR, BOSH_PLUGIN_API_MINOR,
                          plugin_host::PluginHost::host_abi_tag()));
  std::string dirs;
  for (const auto& d : plugin_host::default_plugin_directories()) dirs += (dirs.empty() ? "" : ", ") + d.string();
  ctx.ui.line("Searched: " + dirs);
  return 0;
}

}  // namespace

void register_misc_commands(CommandTable& table) {
  table.add_group({"Misc", "", "built-in", true});
  table.add({"Misc", "help", "Show help for all commands, a group or one command",
             {{"COMMAND|GROUP", false, true}}, {}, run_help});
  table.add({"Misc", "version", "Show the version", {}, {}, run_version});
  table.add({"Misc", "plugins", "List the plugins found (kind, name, version, API, path) and the files refused",
             {}, {}, run_plugins});
}

}  // namespace bosh::cli
