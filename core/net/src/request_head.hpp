// A request's line and headers, parsed strictly: what cannot be read one way
// only (a Content-Length list, Content-Length beside Transfer-Encoding, a
// folded header) is refused, so no proxy and no server disagree on where a
// request ends.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace bosh::net {

struct RequestHead {
  std::string method, target;
  int minor_version = 1;  // HTTP/1.x
  std::vector<std::pair<std::string, std::string>> headers;
  std::optional<std::uint64_t> content_length;
  bool chunked = false;
  bool keep_alive = true;
  bool expect_continue = false;
};

struct HeadError {
  int status;  // 400, 431, 501, 505
  std::string message;
};

// Where the head ends in `buffer` (the index after its blank line), or
// nullopt when it is not complete yet. Empty lines before the request line
// are skipped, as RFC 9112 asks.
std::optional<std::size_t> find_head_end(std::string_view buffer);

// Parses a complete head (without its final blank line or with it).
// Returns the error instead when the head is malformed.
std::variant<RequestHead, HeadError> parse_request_head(std::string_view text, std::size_t max_headers);

bool iequals(std::string_view a, std::string_view b);

}  // namespace bosh::net
