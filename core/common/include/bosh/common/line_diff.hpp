// A line diff (longest common subsequence) that stays bounded: common
// leading and trailing lines are matched first, and when what is left is
// too large to compare line by line, it is shown as removed, then added.
#pragma once

#include <string>
#include <vector>

namespace bosh {

enum class DiffOp { same, removed, added };

struct DiffLine {
  std::string text;
  DiffOp op;
};

// Where a run of lines changed, its removed lines come before its added ones.
std::vector<DiffLine> line_diff(const std::vector<std::string>& before, const std::vector<std::string>& after);

}  // namespace bosh
