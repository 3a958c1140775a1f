// One client connection: its socket, its TLS session, and the bytes read
// from it that nobody has consumed yet. The reactor drives it without
// blocking; a worker that owns it reads and writes with timeouts.
#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "request_head.hpp"

namespace bosh::net {

using Clock = std::chrono::steady_clock;

// The server's TLS configuration (certificate chain and key), shared by every
// connection.
class TlsContext {
 public:
  TlsContext(const std::string& cert_file, const std::string& key_file);
  ~TlsContext();
  SSL_CTX* get() const { return ctx_; }

 private:
  SSL_CTX* ctx_;
};

// What a non-blocking step achieved.
enum class Io { done, want_read, want_write, closed };

struct Conn {
  enum class State { handshake, head, queued, working, closing };

  int fd = -1;
  SSL* ssl = nullptr;
  std::string peer;
  State state = State::head;
  bool fresh = true;           // no request seen yet: the head deadline, not the idle one
  std::string in;              // read, not consumed (a request head, then the body's first bytes)
  Clock::time_point deadline;  // of the current waiting state
  Clock::time_point queued_at;
  std::size_t discarded = 0;   // closing: bytes read and dropped so far
  RequestHead head;            // the request being served

  Conn(int fd, SSL* ssl, std::string peer);
  ~Conn();
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  // Non-blocking (reactor).
  Io handshake();
  Io read_available(std::size_t max_total);  // appends to `in` until it would block or `in` reaches max_total
  // Best effort: one short answer, then the connection is for closing.
  void write_briefly(const std::string& bytes);
  void begin_close();  // TLS close_notify + shutdown(SHUT_WR): the peer sees the end, we read what it still sends
  Io discard_available();

  // Blocking with timeouts (worker): -1 with errno EAGAIN on timeout.
  void set_blocking(bool blocking, std::chrono::milliseconds timeout);
  long read_some(char* buffer, std::size_t size);  // 0 at end of stream; throws HttpError on failure
  void write_all(const char* data, std::size_t size);  // throws Error on failure

  bool is_tls() const { return ssl != nullptr; }
};

}  // namespace bosh::net
