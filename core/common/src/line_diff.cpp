#include "bosh/common/line_diff.hpp"

#include <cstdint>

namespace bosh {

namespace {
// The LCS table of the middle part costs rows * columns cells.
constexpr std::size_t kMaxCells = 16u << 20;
}  // namespace

std::vector<DiffLine> line_diff(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::size_t prefix = 0;
  while (prefix < a.size() && prefix < b.size() && a[prefix] == b[prefix]) ++prefix;
  std::size_t suffix = 0;
  while (suffix < a.size() - prefix && suffix < b.size() - prefix &&
         a[a.size() - 1 - suffix] == b[b.size() - 1 - suffix])
    ++suffix;
  std::vector<DiffLine> out;
  for (std::size_t i = 0; i < prefix; ++i) out.push_back({a[i], DiffOp::same});

  const std::size_t n = a.size() - prefix - suffix, m = b.size() - prefix - suffix;
  auto A = [&](std::size_t i) -> const std::string& { return a[prefix + i]; };
  auto B = [&](std::size_t j) -> const std::string& { return b[prefix + j]; };
  if (n * m > kMaxCells) {
    for (std::size_t i = 0; i < n; ++i) out.push_back({A(i), DiffOp::removed});
    for (std::size_t j = 0; j < m; ++j) out.push_back({B(j), DiffOp::added});
  } else {
    std::vector<std::uint32_t> lcs((n + 1) * (m + 1), 0);
    auto at = [&](std::size_t i, std::size_t j) -> std::uint32_t& { return lcs[i * (m + 1) + j]; };
    for (std::size_t i = n; i-- > 0;)
      for (std::size_t j = m; j-- > 0;) at(i, j) = A(i) == B(j) ? at(i + 1, j + 1) + 1 : std::max(at(i + 1, j), at(i, j + 1));
    std::size_t i = 0, j = 0;
    std::vector<DiffLine> added;  // a changed run's added lines wait for its removed ones
    auto flush_added = [&] {
      for (auto& l : added) out.push_back(std::move(l));
      added.clear();
    };
    while (i < n || j < m) {
      if (i < n && j < m && A(i) == B(j)) {
        flush_added();
        out.push_back({A(i), DiffOp::same});
        ++i;
        ++j;
      } else if (i < n && (j == m || at(i + 1, j) >= at(i, j + 1))) {
        out.push_back({A(i++), DiffOp::removed});
      } else {
        added.push_back({B(j++), DiffOp::added});
      }
    }
    flush_added();
  }
  for (std::size_t k = a.size() - suffix; k < a.size(); ++k) out.push_back({a[k], DiffOp::same});
  return out;
}

}  // namespace bosh
