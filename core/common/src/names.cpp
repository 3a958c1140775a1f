#include "bosh/common/names.hpp"

#include <algorithm>

#include "bosh/common/error.hpp"

namespace bosh {

bool is_bosh_name(std::string_view value) {
  if (value.empty() || value.size() > 255 || value == "." || value == "..") return false;
  return std::all_of(value.begin(), value.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.' || c == '+';
  });
}

void check_bosh_name(std::string_view what, std::string_view value) {
  if (is_bosh_name(value)) return;
  if (value.empty()) fail<InputError>("{} must not be empty", what);
  std::string shown;
  for (char c : value.substr(0, 100)) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f)
      shown += fmt::format("\\x{:02x}", u);
    else
      shown += c;
  }
  if (value.size() > 100) shown += "...";
  fail<InputError>("{} '{}' may only have letters, digits, '-', '_', '.' and '+' (at most 255)", what, shown);
}

}  // namespace bosh
