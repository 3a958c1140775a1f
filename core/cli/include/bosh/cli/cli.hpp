// The `bosh` command-line program as a library: run_cli is main() without the
// process, so tests drive it with argv and string streams.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace bosh::cli {

// Parses argv (argv[0] is the program name), dispatches through the command
// table and returns the exit code. Never throws.
int run_cli(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err);

}  // namespace bosh::cli
