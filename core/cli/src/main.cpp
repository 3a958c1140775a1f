#include <iostream>

#include "bosh/cli/cli.hpp"

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  std::vector<std::string> args(argv, argv + argc);
  int code = bosh::cli::run_cli(args, std::cout, std::cerr);
  std::cout.flush();
  return code;
}
