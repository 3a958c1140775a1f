// One table of commands drives dispatch, `bosh help`, `bosh help <group>` and
// "did you mean" (Ninja's tool table). Built-in commands and plugin command
// groups share it.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bosh/plugin/cli.hpp"
#include "bosh/plugin_host/plugin_host.hpp"
#include "config.hpp"
#include "ui.hpp"

namespace bosh::cli {

struct GlobalOptions {
  std::filesystem::path config_path;
  std::optional<std::string> target;  // -t: this invocation only
  bool json = false;
  bool non_interactive = false;
  bool color = false;
  bool verbose = false;
};

class CommandTable;

// What a built-in command gets besides its parsed arguments.
struct Context {
  const GlobalOptions& global;
  CliConfig& config;
  Ui& ui;
  plugin_host::PluginHost& plugins;
  const CommandTable& table;
};

struct CommandSpec {
  std::string group;  // heading in `bosh help`: "Misc", "Director", or a plugin group's name
  std::string name;   // every word: "target", "hello greet"
  std::string summary;
  std::vector<plugin::PositionalSpec> positionals;
  std::vector<plugin::OptionSpec> options;
  std::function<int(plugin::Invocation&, Context&)> run;
  std::string origin = "built-in";  // or the plugin file it came from

  std::vector<std::string> words() const;
  std::string usage() const;  // "target [URL] [NAME]"
};

struct GroupInfo {
  std::string name;     // "Director", "hello"
  std::string summary;
  std::string origin;   // "built-in" or a plugin path
  bool builtin = true;
};

class CommandTable {
 public:
  void add_group(GroupInfo group);
  void add(CommandSpec spec);

  // Adds a plugin's command group: refused (returns the reason) when its name
  // is a built-in group or a built-in command's first word.
  std::optional<std::string> add_plugin_group(const plugin::CommandGroup& group,
                                              std::vector<plugin::Command> commands,
                                              const std::string& origin);

  // Plugin groups the table refused (collisions), for `bosh plugins`.
  void add_refusal(plugin_host::Refusal refusal) { refusals_.push_back(std::move(refusal)); }
  const std::vector<plugin_host::Refusal>& refusals() const { return refusals_; }

  const std::vector<CommandSpec>& commands() const { return commands_; }
  const std::vector<GroupInfo>& groups() const { return groups_; }

  // The command whose words are the longest prefix of `words`; the number of
  // words it used goes to `used`.
  const CommandSpec* match(const std::vector<std::string>& words, std::size_t& used) const;
  const GroupInfo* find_group(const std::string& name) const;
  // Commands close to what was typed (edit distance, or a shared prefix).
  std::vector<std::string> suggestions(const std::vector<std::string>& words) const;

 private:
  std::vector<GroupInfo> groups_;
  std::vector<CommandSpec> commands_;
  std::vector<plugin_host::Refusal> refusals_;
};

// Levenshtein distance, for "did you mean".
std::size_t edit_distance(const std::string& a, const std::string& b);

// Help text, from the table.
void print_help(const CommandTable& table, Ui& ui);
void print_group_help(const CommandTable& table, const GroupInfo& group, Ui& ui);
void print_command_help(const CommandSpec& command, Ui& ui);

// Registers the built-in commands (commands/*.cpp).
void register_misc_commands(CommandTable& table);
void register_director_commands(CommandTable& table);
void register_release_commands(CommandTable& table);
void register_agent_commands(CommandTable& table);
void register_director_api_commands(CommandTable& table);
void register_deployment_commands(CommandTable& table);

// `bosh inspect release NAME/VERSION`: the director's copy (commands/deployments.cpp).
int inspect_remote_release(plugin::Invocation& inv, Context& ctx);

}  // namespace bosh::cli
