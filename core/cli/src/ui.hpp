// Output: text for people (tables coloured when stdout is a terminal) or, with
// --json, one JSON document for programs: {"tables": [...], "lines": [...]}.
#pragma once

#include "bosh/common/clock.hpp"

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace bosh::cli {

struct Table {
  std::string content;                   // what the rows are: "plugins"
  std::vector<std::string> keys;         // JSON keys: "kind", "name"
  std::vector<std::string> headers;      // column titles: "Kind", "Name"
  std::vector<std::vector<std::string>> rows;
  std::string empty_text = "(none)";     // shown instead of an empty table
  std::string footer;                    // replaces the "<n> <content>" line when set
};

class Ui {
 public:
  Ui(std::ostream& out, std::ostream& err, bool json, bool color, bool err_is_terminal = false);
  ~Ui();

  bool json() const { return json_; }
  bool color() const { return color_; }

  void line(const std::string& text);   // a line of output
  void table(const Table& table);
  void warn(const std::string& text);   // to stderr, in both modes
  void error(const std::string& text);  // "Error: ..." to stderr
  // Progress of long work, on stderr: a redrawn bar on a terminal, else one
  // plain line per step. Silent in JSON mode unless stderr is a terminal.
  void progress(const std::string& stage, std::size_t done, std::size_t total, const std::string& item);
  // Whether progress redraws a bar in place (stderr is a terminal).
  bool progress_bars() const { return err_tty_; }
  // Prints the JSON document (JSON mode); idempotent.
  void finish();

  std::string bold(const std::string& s) const;
  std::string red(const std::string& s) const;
  std::string green(const std::string& s) const;
  std::string yellow(const std::string& s) const;

 private:
  void end_bar();

  std::ostream& out_;
  std::ostream& err_;
  bool json_;
  bool color_;
  bool err_tty_ = false;
  bool bar_open_ = false;
  bool finished_ = false;
  std::vector<Table> tables_;
  std::vector<std::string> lines_;
};

using bosh::utc_time;  // core/common/clock.hpp

// Display width in terminal columns (UTF-8 aware, ANSI escapes ignored).
std::size_t display_width(const std::string& s);

}  // namespace bosh::cli
