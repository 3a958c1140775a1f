// run_cli: two-pass Program_options parsing and dispatch through the table.
#include <unistd.h>

#include <boost/program_options.hpp>

#include <cstdlib>
#include <iostream>
#include <sstream>

#include "bosh/blobstore/blobstore.hpp"
#include "bosh/blobstore/dav.hpp"
#include "bosh/cli/cli.hpp"
#include "bosh/common/cancel.hpp"
#include "bosh/common/error.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/log.hpp"
#include "command.hpp"

namespace po = boost::program_options;

namespace bosh::cli {

namespace {

// `--version` is global only before the command word ("bosh --version");
// after it, it is the command's own (`bosh create release --version 1.2`).
po::options_description global_options(bool with_version = true) {
  po::options_description desc("Global options");
  if (with_version) desc.add_options()("version", "Show the version and exit");
  desc.add_options()
      ("config,c", po::value<std::string>()->value_name("FILE"), "Config file (default: ~/.bosh_config)")
      ("target,t", po::value<std::string>()->value_name("URL"), "Director to talk to, this time only")
      ("non-interactive,n", "Never prompt; assume the defaults")
      ("json", "Machine-readable output (one JSON document)")
      ("no-color", "Never colour the output")
      ("verbose,v", "Log debug output to stderr")
      ("help,h", "Show help");
  return desc;
}

std::string option_label(const plugin::OptionSpec& o) {
  std::string label = o.short_name ? std::string("-") + o.short_name + ", " : "    ";
  label += "--" + o.name;
  if (o.takes_value) label += " " + o.value_name;
  return label;
}

// Second pass: the command's own options and positionals.
plugin::Invocation parse_command(const CommandSpec& spec, const std::vector<std::string>& tokens,
                                 const GlobalOptions& global, std::ostream& out, std::ostream& err,
                                 plugin::HostServices& host) {
  po::options_description desc;
  for (const auto& o : spec.options) {
    std::string names = o.name + (o.short_name ? std::string(",") + o.short_name : "");
    if (o.takes_value)
      desc.add_options()(names.c_str(), po::value<std::vector<std::string>>()->composing(), o.help.c_str());
    else
      desc.add_options()(names.c_str(), o.help.c_str());
  }
  desc.add_options()("__args", po::value<std::vector<std::string>>());
  po::positional_options_description pos;
  pos.add("__args", -1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(tokens).options(desc).positional(pos).run(), vm);
  } catch (const po::error& e) {
    throw plugin::UsageError(e.what());
  }
  plugin::Invocation inv{{}, {}, global.json, global.non_interactive, out, err, host};
  if (vm.count("__args")) inv.args = vm["__args"].as<std::vector<std::string>>();
  for (const auto& o : spec.options) {
    if (!vm.count(o.name)) continue;
    if (o.takes_value)
      inv.options[o.name] = vm[o.name].as<std::vector<std::string>>();
    else
      inv.options[o.name] = {""};
  }
  std::size_t required = 0, max = 0;
  bool unbounded = false;
  for (const auto& p : spec.positionals) {
    if (p.required) ++required;
    ++max;
    unbounded = unbounded || p.repeated;
  }
  if (inv.args.size() < required) {
    std::string missing;
    for (std::size_t i = inv.args.size(); i < spec.positionals.size(); ++i)
      if (spec.positionals[i].required) missing += (missing.empty() ? "" : ", ") + spec.positionals[i].name;
    throw plugin::UsageError("missing argument " + missing);
  }
  if (!unbounded && inv.args.size() > max)
    throw plugin::UsageError("unexpected argument '" + inv.args[max] + "'");
  return inv;
}

bool stdout_is_terminal(const std::ostream& out) {
  return &out == &std::cout && ::isatty(STDOUT_FILENO) == 1;
}

}  // namespace

void print_command_help(const CommandSpec& command, Ui& ui) {
  ui.line("Usage: bosh " + command.usage());
  ui.line("");
  ui.line(command.summary);
  if (!command.options.empty()) {
    ui.line("");
    ui.line("Options:");
    std::size_t width = 0;
    for (const auto& o : command.options) width = std::max(width, option_label(o).size());
    for (const auto& o : command.options) {
      std::string label = option_label(o);
      ui.line("  " + label + std::string(width - label.size() + 2, ' ') + o.help);
    }
  }
  if (command.origin != "built-in") {
    ui.line("");
    ui.line("From plugin " + command.origin);
  }
}

namespace {
void print_commands(const CommandTable& table, const GroupInfo& group, Ui& ui, std::size_t width) {
  std::string heading = group.name;
  if (!group.builtin) heading += " (plugin: " + group.summary + ")";
  ui.line(ui.bold(heading));
  for (const auto& c : table.commands()) {
    if (c.group != group.name) continue;
    std::string usage = c.usage();
    ui.line("  " + usage + std::string(width > usage.size() ? width - usage.size() + 2 : 2, ' ') + c.summary);
  }
}

std::size_t usage_width(const CommandTable& table) {
  std::size_t width = 0;
  for (const auto& c : table.commands()) width = std::max(width, c.usage().size());
  return std::min<std::size_t>(width, 40);
}
}  // namespace

void print_help(const CommandTable& table, Ui& ui) {
  ui.line("Usage: bosh [GLOBAL OPTIONS] COMMAND [ARGS] [OPTIONS]");
  ui.line("");
  std::ostringstream globals;
  globals << global_options();
  std::istringstream lines(globals.str());
  for (std::string l; std::getline(lines, l);) ui.line(l);
  ui.line("");
  std::size_t width = usage_width(table);
  for (const auto& g : table.groups()) {
    print_commands(table, g, ui, width);
    ui.line("");
  }
  ui.line("Run 'bosh help COMMAND' or 'bosh help GROUP' for details.");
}

void print_group_help(const CommandTable& table, const GroupInfo& group, Ui& ui) {
  if (!group.builtin) {
    ui.line(group.name + ": " + group.summary);
    ui.line("From plugin " + group.origin);
    ui.line("");
  }
  print_commands(table, group, ui, usage_width(table));
}

int run_cli(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  // First pass: global options anywhere; everything else is kept in order.
  GlobalOptions global;
  std::vector<std::string> rest;
  po::variables_map vm;
  try {
    std::vector<std::string> args(argv.begin() + (argv.empty() ? 0 : 1), argv.end());
    const po::options_description desc = global_options(false);  // parsed_options points into it
    auto parsed = po::command_line_parser(args).options(desc).allow_unregistered().run();
    po::store(parsed, vm);
    rest = po::collect_unrecognized(parsed.options, po::include_positional);
  } catch (const po::error& e) {
    err << "Error: " << e.what() << "\nRun 'bosh help' for usage.\n";
    return 1;
  }
  global.json = vm.count("json") != 0;
  global.non_interactive = vm.count("non-interactive") != 0;
  global.verbose = vm.count("verbose") != 0;
  global.color = !vm.count("no-color") && !std::getenv("NO_COLOR") && stdout_is_terminal(out);
  if (vm.count("target")) global.target = vm["target"].as<std::string>();
  if (global.verbose) log::set_level(log::Level::debug);

  Ui ui(out, err, global.json, global.color, &err == &std::cerr && ::isatty(STDERR_FILENO) == 1);
  if (!rest.empty() && rest.front() == "--version") {
    ui.line(fmt::format("version {} (bosh-cpp, plugin API {}.{})", BOSH_VERSION, BOSH_PLUGIN_API_MAJOR,
                        BOSH_PLUGIN_API_MINOR));
    return 0;
  }

  try {
    global.config_path = vm.count("config") ? expand_user(vm["config"].as<std::string>())
                                            : home_dir() / ".bosh_config";
    CliConfig config = CliConfig::load(global.config_path);

    plugin_host::PluginHost plugins("bosh");
    blobstore::register_builtin_providers(plugins);
    plugins.load_all(config.plugin_files());

    CommandTable table;
    register_misc_commands(table);
    register_director_commands(table);
    register_release_commands(table);
    register_director_api_commands(table);
    register_deployment_commands(table);
    register_agent_commands(table);
    for (const auto& record : plugins.plugins()) {
      if (record.kind != "cli") continue;
      const std::string origin = record.builtin ? "built-in" : record.path.string();
      try {
        auto group = plugins.create_cli(record.name);
        if (auto refusal = table.add_plugin_group(*group, group->commands(), origin))
          table.add_refusal({record.path, *refusal});
      } catch (const std::exception& e) {
        table.add_refusal({record.path, e.what()});
      }
    }

    std::size_t n_words = 0;
    while (n_words < rest.size() && !rest[n_words].empty() && rest[n_words][0] != '-') ++n_words;
    std::vector<std::string> words(rest.begin(), rest.begin() + static_cast<long>(n_words));

    if (words.empty()) {
      print_help(table, ui);
      return vm.count("help") || rest.empty() ? 0 : 1;
    }
    std::size_t used = 0;
    const CommandSpec* command = table.match(words, used);
    if (!command) {
      if (const GroupInfo* group = table.find_group(words[0]); group && words.size() == 1) {
        print_group_help(table, *group, ui);
        return 0;
      }
      std::string typed;
      for (const auto& w : words) typed += (typed.empty() ? "" : " ") + w;
      ui.error("unknown command '" + typed + "'");
      auto suggestions = table.suggestions(words);
      if (!suggestions.empty()) {
        err << "\nDid you mean\n";
        for (const auto& s : suggestions) err << "  bosh " << s << '\n';
      }
      std::size_t refused = plugins.refusals().size() + table.refusals().size();
      if (refused)
        err << "\n" << refused << " plugin file" << (refused == 1 ? " was" : "s were")
            << " refused; 'bosh plugins' says why.\n";
      err << "\nRun 'bosh help' for the list of commands.\n";
      return 1;
    }
    if (vm.count("help")) {
      print_command_help(*command, ui);
      return 0;
    }

    std::vector<std::string> tokens(rest.begin() + static_cast<long>(used), rest.end());
    install_cancel_signal_handlers();
    auto services = plugins.make_services("cli");
    Context context{global, config, ui, plugins, table};
    try {
      plugin::Invocation inv = parse_command(*command, tokens, global, out, err, *services);
      int code = command->run(inv, context);
      ui.finish();
      return code;
    } catch (const plugin::UsageError& e) {
      ui.error(std::string("bosh ") + command->name + ": " + e.what());
      err << "Usage: bosh " << command->usage() << "\n";
      return 1;
    }
  } catch (const Cancelled&) {
    ui.error("interrupted; nothing was left half-written");
    return 130;
  } catch (const plugin::Error& e) {
    ui.error(e.what());
  } catch (const bosh::Error& e) {
    ui.error(e.what());
  } catch (const std::exception& e) {
    ui.error(std::string("unexpected: ") + e.what());
  }
  return 1;
}

}  // namespace bosh::cli
