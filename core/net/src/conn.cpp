#include "conn.hpp"

#include <fcntl.h>
#include <openssl/err.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "bosh/net/http_server.hpp"

namespace bosh::net {

namespace {

std::string openssl_error() {
  const unsigned long e = ERR_get_error();
  if (e == 0) return "unknown TLS error";
  char buffer[256];
  ERR_error_string_n(e, buffer, sizeof buffer);
  return buffer;
}

}  // namespace

TlsContext::TlsContext(const std::string& cert_file, const std::string& key_file) {
  ctx_ = SSL_CTX_new(TLS_server_method());
  if (!ctx_) fail("TLS: cannot make a context: {}", openssl_error());
  SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx_, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_mode(ctx_, SSL_MODE_AUTO_RETRY);
  if (SSL_CTX_use_certificate_chain_file(ctx_, cert_file.c_str()) != 1) {
    const std::string why = openssl_error();
    SSL_CTX_free(ctx_);
    fail("TLS: cannot load the certificate {}: {}", cert_file, why);
  }
  if (SSL_CTX_use_PrivateKey_file(ctx_, key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx_) != 1) {
    const std::string why = openssl_error();
    SSL_CTX_free(ctx_);
    fail("TLS: cannot load the key {}: {}", key_file, why);
  }
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

Conn::Conn(int fd_, SSL* ssl_, std::string peer_) : fd(fd_), ssl(ssl_), peer(std::move(peer_)) {}

Conn::~Conn() {
  if (ssl) SSL_free(ssl);
  if (fd >= 0) ::close(fd);
}

namespace {

Io tls_result(SSL* ssl, int r) {
  switch (SSL_get_error(ssl, r)) {
    case SSL_ERROR_WANT_READ: return Io::want_read;
    case SSL_ERROR_WANT_WRITE: return Io::want_write;
    default: ERR_clear_error(); return Io::closed;
  }
}

}  // namespace

Io Conn::handshake() {
  const int r = SSL_accept(ssl);
  if (r == 1) return Io::done;
  return tls_result(ssl, r);
}

Io Conn::read_available(std::size_t max_total) {
  char buffer[16384];
  while (in.size() < max_total) {
    const std::size_t want = std::min(sizeof buffer, max_total - in.size());
    if (ssl) {
      const int r = SSL_read(ssl, buffer, static_cast<int>(want));
      if (r <= 0) return tls_result(ssl, r);
      in.append(buffer, static_cast<std::size_t>(r));
    } else {
      const ssize_t r = ::recv(fd, buffer, want, 0);
      if (r == 0) return Io::closed;
      if (r < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? Io::want_read : Io::closed;
      in.append(buffer, static_cast<std::size_t>(r));
    }
  }
  return Io::done;
}

void Conn::write_briefly(const std::string& bytes) {
  set_blocking(true, std::chrono::milliseconds(1000));
  try {
    write_all(bytes.data(), bytes.size());
  } catch (const std::exception&) {
  }
}

void Conn::begin_close() {
  if (ssl) {
    set_blocking(true, std::chrono::milliseconds(200));
    SSL_shutdown(ssl);
    ERR_clear_error();
  }
  ::shutdown(fd, SHUT_WR);
  set_blocking(false, std::chrono::milliseconds(0));
  state = State::closing;
}

Io Conn::discard_available() {
  // After close_notify the TLS session is done: what still comes is dropped raw.
  char buffer[16384];
  for (;;) {
    const ssize_t r = ::recv(fd, buffer, sizeof buffer, 0);
    if (r == 0) return Io::closed;
    if (r < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? Io::want_read : Io::closed;
    discarded += static_cast<std::size_t>(r);
    if (discarded > (16u << 20)) return Io::closed;
  }
}

void Conn::set_blocking(bool blocking, std::chrono::milliseconds timeout) {
  const int flags = ::fcntl(fd, F_GETFL, 0);
  ::fcntl(fd, F_SETFL, blocking ? flags & ~O_NONBLOCK : flags | O_NONBLOCK);
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

long Conn::read_some(char* buffer, std::size_t size) {
  if (!in.empty()) {
    const std::size_t n = std::min(size, in.size());
    std::memcpy(buffer, in.data(), n);
    in.erase(0, n);
    return static_cast<long>(n);
  }
  if (ssl) {
    const int r = SSL_read(ssl, buffer, static_cast<int>(std::min<std::size_t>(size, 1 << 20)));
    if (r > 0) return r;
    const int e = SSL_get_error(ssl, r);
    ERR_clear_error();
    if (e == SSL_ERROR_ZERO_RETURN) return 0;
    if (e == SSL_ERROR_WANT_READ || errno == EAGAIN) throw HttpError(408, "the request body stopped arriving");
    throw HttpError(400, "the connection broke while reading the request body");
  }
  for (;;) {
    const ssize_t r = ::recv(fd, buffer, size, 0);
    if (r >= 0) return static_cast<long>(r);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) throw HttpError(408, "the request body stopped arriving");
    throw HttpError(400, "the connection broke while reading the request body");
  }
}

void Conn::write_all(const char* data, std::size_t size) {
  while (size > 0) {
    if (ssl) {
      const int r = SSL_write(ssl, data, static_cast<int>(std::min<std::size_t>(size, 1 << 20)));
      if (r <= 0) {
        ERR_clear_error();
        fail("{}: the client stopped reading the answer", peer);
      }
      data += r;
      size -= static_cast<std::size_t>(r);
    } else {
      const ssize_t r = ::send(fd, data, size, MSG_NOSIGNAL);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) fail("{}: the client stopped reading the answer", peer);
      data += r;
      size -= static_cast<std::size_t>(r);
    }
  }
}

}  // namespace bosh::net
