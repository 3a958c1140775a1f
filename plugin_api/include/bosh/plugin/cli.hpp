// A command group for the `bosh` CLI, e.g. `bosh micro ...` or `bosh aws ...`.
//
// The group's commands join the CLI's one command table: they show in
// `bosh help`, `bosh help <group>` and "did you mean", and are parsed by the
// host (Boost.Program_options) from the options they declare here. A group may
// not take the name of a built-in command or group; the host refuses it.
#pragma once

#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bosh/plugin/errors.hpp"
#include "bosh/plugin/host_services.hpp"
#include "bosh/plugin/json.hpp"

namespace bosh::plugin {

struct OptionSpec {
  std::string name;        // long name without dashes: "force"
  char short_name = 0;     // 'f', or 0 for none
  std::string help;
  bool takes_value = false;  // "--name VALUE" vs a flag
  std::string value_name = "VALUE";
};

struct PositionalSpec {
  std::string name;  // shown in usage: "STEMCELL"
  bool required = true;
  bool repeated = false;  // takes the rest of the arguments
};

// What a command gets when it runs.
struct Invocation {
  std::vector<std::string> args;                              // positionals, in order
  std::map<std::string, std::vector<std::string>> options;   // long name -> values ("" for flags)
  bool json = false;              // --json: print machine-readable output
  bool non_interactive = false;   // -n: never prompt
  std::ostream& out;
  std::ostream& err;
  HostServices& host;

  bool has(const std::string& option) const { return options.count(option) != 0; }
  std::string value(const std::string& option, const std::string& fallback = "") const {
    auto it = options.find(option);
    return it == options.end() || it->second.empty() ? fallback : it->second.back();
  }
};

struct Command {
  std::string name;     // words after the group: "deploy" for `bosh micro deploy`
  std::string summary;  // one line for `bosh help`
  std::vector<PositionalSpec> positionals;
  std::vector<OptionSpec> options;
  // Returns the process exit code. Throw UsageError for bad arguments.
  std::function<int(Invocation&)> run;
};

class CommandGroup {
 public:
  virtual ~CommandGroup() = default;
  virtual std::string name() const = 0;     // the first word: "micro"
  virtual std::string summary() const = 0;  // one line for `bosh help`
  virtual std::vector<Command> commands() = 0;
};

// The factory a CLI plugin exports as bosh_create_cli.
using cli_factory_t = std::unique_ptr<CommandGroup>(HostServices& host);

}  // namespace bosh::plugin
