// The one HTTP/1.1 server every program uses (director API, bosh-blobstore,
// the agent's HTTPS mbus; later the registry and the monitor).
//
// Built so that no client can starve the others:
//  - one reactor thread completes TLS handshakes and reads request heads
//    without blocking; a connection gets `head_timeout` for handshake, request
//    line and headers together (a byte a second does not hold it open), and
//    `idle_timeout` between requests on a kept-alive connection;
//  - only a complete request head reaches a worker; when every worker is
//    busy and `queue` requests already wait, the next one is answered 503 at
//    once (never a reset);
//  - past `max_connections`, the connection nearest its deadline that has
//    not sent a full request yet is closed to make room;
//  - a body is read with `io_timeout` per read and at least `min_body_rate`
//    bytes a second on average after the first `io_timeout`;
//  - a bad Content-Length (not a number, a list, too large for the route),
//    Content-Length with Transfer-Encoding, an unknown transfer coding, a
//    head over `max_head_bytes`: 400/413/501/431 before any body is read.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <istream>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bosh/common/error.hpp"

namespace bosh::net {

struct ServerConfig {
  std::string address = "127.0.0.1";
  int port = 0;  // 0: a free port (see Server::port)
  std::filesystem::path tls_cert, tls_key;  // both empty: plain HTTP
  std::string name = "http";                // for log lines
  int workers = 16;                         // requests handled at once
  int queue = 256;                          // complete requests waiting for a worker
  int max_connections = 1024;               // open connections, any state
  std::chrono::milliseconds head_timeout{10000};
  std::chrono::milliseconds idle_timeout{30000};
  std::chrono::milliseconds io_timeout{30000};
  std::chrono::milliseconds queue_timeout{30000};  // a request waiting longer for a worker gets 503
  std::uint64_t min_body_rate = 1024;              // bytes/s, averaged, after the first io_timeout
  std::size_t max_head_bytes = 64 * 1024;
  std::size_t max_headers = 100;
};

// Thrown by a handler (or by Request::body when the client misbehaves) to
// answer `status` with `message`; the server answers it if nothing was sent.
class HttpError : public Error {
 public:
  HttpError(int status, std::string message) : Error(std::move(message)), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

class Request {
 public:
  const std::string& method() const { return method_; }
  // The request target as sent ("/deployments/a%2Fb?x=1"): path() is its
  // part before '?', still percent-encoded; query() the decoded parameters.
  const std::string& target() const { return target_; }
  const std::string& path() const { return path_; }
  const std::map<std::string, std::string>& query() const { return query_; }
  // A header's value (names compare without case), or `fallback`.
  std::string header(std::string_view name, std::string fallback = "") const;
  bool has_header(std::string_view name) const;
  const std::vector<std::pair<std::string, std::string>>& headers() const { return headers_; }
  // Basic credentials, when the request carries well-formed ones.
  std::optional<std::pair<std::string, std::string>> basic_credentials() const;
  const std::string& peer() const { return peer_; }  // "127.0.0.1:53422"

  // Bytes the body declares (Content-Length), nullopt when chunked or none.
  std::optional<std::uint64_t> content_length() const { return content_length_; }
  bool has_body() const { return chunked_ || (content_length_ && *content_length_ > 0); }
  // 413 now (before reading) when the declared length is over `max_bytes`;
  // later, when more arrives. Limits only tighten.
  void limit_body(std::uint64_t max_bytes);
  // The body as a stream. A read that breaks the deadlines, a short or
  // malformed body, or going past limit_body() sets badbit and remembers why
  // (body_error()); read_body throws it as an HttpError.
  std::istream& body();
  // The whole body, refused with 413 past `max_bytes` (or a tighter limit_body).
  std::string read_body(std::uint64_t max_bytes);
  // Why the body stream failed, or empty.
  std::string body_error() const;
  int body_error_status() const;

  struct Impl;
  explicit Request(Impl& impl);

 private:
  Impl& impl_;
  std::string method_, target_, path_, peer_;
  std::map<std::string, std::string> query_;
  std::vector<std::pair<std::string, std::string>> headers_;
  std::optional<std::uint64_t> content_length_;
  bool chunked_ = false;
  friend struct RequestAccess;
};

class Response {
 public:
  void set(std::string name, std::string value);  // before anything is sent
  // A whole answer with Content-Length.
  void send(int status, std::string_view body, std::string_view content_type = "");
  // Headers now; then the body through the stream. With a length the stream
  // must carry exactly that many bytes; without, it is sent chunked.
  std::ostream& begin(int status, std::optional<std::uint64_t> length, std::string_view content_type = "");
  bool sent() const;
  // The connection closes after this answer.
  void close_after();

  struct Impl;
  explicit Response(Impl& impl) : impl_(impl) {}

 private:
  Impl& impl_;
};

using Handler = std::function<void(Request&, Response&)>;

class Server {
 public:
  // Listens at once (Error naming the address when it cannot); serves until
  // destroyed. The handler runs on worker threads, several at a time.
  Server(ServerConfig config, Handler handler);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  int port() const;

  struct Stats {
    std::uint64_t accepted = 0, requests = 0, busy_503 = 0, head_timeouts = 0, evicted = 0, bad_requests = 0;
    std::size_t queued = 0;  // requests waiting for a worker now
  };
  Stats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The reason phrase of a status ("Not Found").
std::string_view reason_phrase(int status);

// "%2F" → "/", and '+' → ' ' when `plus_is_space` (query strings).
std::string percent_decode(std::string_view text, bool plus_is_space = false);

}  // namespace bosh::net
