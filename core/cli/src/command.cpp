#include "command.hpp"

#include <algorithm>
#include <set>
#include <sstream>

namespace bosh::cli {

std::vector<std::string> CommandSpec::words() const {
  std::vector<std::string> out;
  std::istringstream in(name);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

std::string CommandSpec::usage() const {
  std::string text = name;
  for (const auto& p : positionals) {
    std::string arg = p.name + (p.repeated ? "..." : "");
    text += " " + (p.required ? arg : "[" + arg + "]");
  }
  if (!options.empty()) text += " [OPTIONS]";
  return text;
}

void CommandTable::add_group(GroupInfo group) { groups_.push_back(std::move(group)); }

void CommandTable::add(CommandSpec spec) { commands_.push_back(std::move(spec)); }

std::optional<std::string> CommandTable::add_plugin_group(const plugin::CommandGroup& group,
                                                          std::vector<plugin::Command> commands,
                                                          const std::string& origin) {
  const std::string name = group.name();
  if (name.empty() || name.find(' ') != std::string::npos)
    return "command group name \"" + name + "\" is not a single word";
  for (const auto& g : groups_)
    if (g.name == name)
      return "command group \"" + name + "\" collides with the " + (g.builtin ? "built-in" : "already loaded") +
             " group \"" + g.name + "\"";
  for (const auto& c : commands_)
    if (c.words().front() == name)
      return "command group \"" + name + "\" collides with the " +
             (c.origin == "built-in" ? "built-in" : "already loaded") + " command \"bosh " + c.name + "\"";
  add_group({name, group.summary(), origin, false});
  for (auto& command : commands) {
    CommandSpec spec;
    spec.group = name;
    spec.name = command.name.empty() ? name : name + " " + command.name;
    spec.summary = command.summary;
    spec.positionals = command.positionals;
    spec.options = command.options;
    spec.origin = origin;
    spec.run = [run = std::move(command.run)](plugin::Invocation& inv, Context&) { return run(inv); };
    add(std::move(spec));
  }
  return std::nullopt;
}

const CommandSpec* CommandTable::match(const std::vector<std::string>& words, std::size_t& used) const {
  const CommandSpec* best = nullptr;
  used = 0;
  for (const auto& c : commands_) {
    auto cw = c.words();
    if (cw.size() > words.size() || cw.size() <= used) continue;
    if (std::equal(cw.begin(), cw.end(), words.begin())) {
      best = &c;
      used = cw.size();
    }
  }
  return best;
}

const GroupInfo* CommandTable::find_group(const std::string& name) const {
  for (const auto& g : groups_)
    if (g.name == name) return &g;
  return nullptr;
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::vector<std::string> CommandTable::suggestions(const std::vector<std::string>& words) const {
  std::vector<std::pair<std::size_t, std::string>> scored;
  std::set<std::string> seen;
  for (const auto& c : commands_) {
    auto cw = c.words();
    std::size_t n = std::min(cw.size(), words.size());
    std::string typed, candidate;
    for (std::size_t i = 0; i < n; ++i) {
      typed += (i ? " " : "") + words[i];
      candidate += (i ? " " : "") + cw[i];
    }
    std::size_t d = edit_distance(typed, candidate);
    bool prefix = typed.size() >= 2 && candidate.rfind(typed, 0) == 0;
    std::size_t limit = std::max<std::size_t>(1, typed.size() / 3);
    if ((d <= limit || prefix) && seen.insert(c.name).second) scored.emplace_back(prefix ? 0 : d, c.name);
  }
  std::sort(scored.begin(), scored.end());
  std::vector<std::string> out;
  for (const auto& s : scored) out.push_back(s.second);
  if (out.size() > 5) out.resize(5);
  return out;
}

}  // namespace bosh::cli
