// Errors raised by core code. A bosh::Error's message is meant for the user:
// it names the file, field or line at fault. The CLI prints it and exits 1.
#pragma once

#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace bosh {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Input the user gave us is wrong (file, field, value).
class InputError : public Error {
 public:
  using Error::Error;
};

// A file could not be read or written.
class IoError : public Error {
 public:
  using Error::Error;
};

template <typename E = Error, typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw E(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace bosh
