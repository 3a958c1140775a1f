#include "bosh/common/random.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <random>

namespace bosh {

namespace {
std::mt19937_64& rng() {
  static thread_local std::mt19937_64 generator{std::random_device{}()};
  return generator;
}
}  // namespace

std::string random_uuid() {
  std::uint64_t hi = rng()(), lo = rng()();
  return fmt::format("{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}", hi >> 32, (hi >> 16) & 0xffff, hi & 0xfff,
                     ((lo >> 48) & 0x3fff) | 0x8000, lo & 0xffffffffffffULL);
}

std::string random_hex(int digits) {
  digits = std::clamp(digits, 1, 64);
  std::string out;
  while (static_cast<int>(out.size()) < digits) out += fmt::format("{:016x}", rng()());
  return out.substr(0, static_cast<std::size_t>(digits));
}

}  // namespace bosh
