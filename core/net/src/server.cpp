// The reactor (accept, TLS handshakes, request heads, deadlines, closes) and
// the workers (handlers). A connection belongs to exactly one of them at a
// time: the reactor's `waiting` map, the queue, or one worker.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <deque>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include "bosh/common/json.hpp"
#include "bosh/common/log.hpp"
#include "bosh/net/http_server.hpp"
#include "conn.hpp"
#include "exchange.hpp"

namespace bosh::net {

namespace {

constexpr auto kCloseLinger = std::chrono::milliseconds(2000);

std::string peer_name(const sockaddr_storage& addr) {
  char host[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (addr.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&addr);
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    port = ntohs(a->sin6_port);
  }
  return fmt::format("{}:{}", host, port);
}

int listen_on(const std::string& address, int port) {
  addrinfo hints{}, *found = nullptr;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  const std::string service = std::to_string(port);
  if (int e = getaddrinfo(address.c_str(), service.c_str(), &hints, &found); e != 0)
    fail("cannot listen on {}:{}: {}", address, port, gai_strerror(e));
  const int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  const bool ok = fd >= 0 && ::bind(fd, found->ai_addr, found->ai_addrlen) == 0 && ::listen(fd, 1024) == 0;
  const int saved = errno;
  freeaddrinfo(found);
  if (!ok) {
    if (fd >= 0) ::close(fd);
    fail("cannot listen on {}:{}: {}", address, port, std::strerror(saved));
  }
  return fd;
}

}  // namespace

struct Server::Impl {
  ServerConfig config;
  Handler handler;
  std::unique_ptr<TlsContext> tls;
  int listen_fd = -1, epoll_fd = -1, wake_fd = -1, port = 0;
  std::atomic<bool> stopping{false};
  std::atomic<int> open{0};

  // Reactor only.
  std::unordered_map<int, std::unique_ptr<Conn>> waiting;

  std::mutex mutex;  // guards what follows
  std::condition_variable ready;
  std::deque<std::unique_ptr<Conn>> queue;
  std::vector<std::unique_ptr<Conn>> returned;
  std::set<int> working;

  struct Counters {
    std::atomic<std::uint64_t> accepted{0}, requests{0}, busy_503{0}, head_timeouts{0}, evicted{0}, bad_requests{0};
  } counters;

  std::thread reactor;
  std::vector<std::thread> workers;

  // ---- reactor ----

  void watch(Conn& c, std::uint32_t events, bool add) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = c.fd;
    ::epoll_ctl(epoll_fd, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c.fd, &ev);
  }

  void drop(int fd) {
    ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, nullptr);
    if (waiting.erase(fd)) --open;
  }

  // A short answer from the reactor (400, 431, 503), then a lingering close.
  void reject(Conn& c, int status, const std::string& message) {
    if (status == 503)
      ++counters.busy_503;
    else
      ++counters.bad_requests;
    c.write_briefly(plain_answer(status, message));
    c.begin_close();
    c.deadline = Clock::now() + kCloseLinger;
    watch(c, EPOLLIN, false);
  }

  void dispatch(Conn& c, std::size_t head_end) {
    auto parsed = parse_request_head(std::string_view(c.in).substr(0, head_end), config.max_headers);
    c.in.erase(0, head_end);
    if (auto* error = std::get_if<HeadError>(&parsed)) return reject(c, error->status, error->message);
    c.head = std::move(std::get<RequestHead>(parsed));
    {
      std::lock_guard lock(mutex);
      if (queue.size() < static_cast<std::size_t>(config.queue)) {
        const int fd = c.fd;
        ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, nullptr);
        c.state = Conn::State::queued;
        c.queued_at = Clock::now();
        queue.push_back(std::move(waiting.at(fd)));
        waiting.erase(fd);
        ready.notify_one();
        return;
      }
    }
    reject(c, 503, "the server is busy; try again");
  }

  // Moves a waiting connection on as far as it can go without blocking.
  void step(Conn& c) {
    if (c.state == Conn::State::closing) {
      if (c.discard_available() == Io::closed) drop(c.fd);
      return;
    }
    if (c.state == Conn::State::handshake) {
      switch (c.handshake()) {
        case Io::done: c.state = Conn::State::head; break;
        case Io::want_read: return watch(c, EPOLLIN, false);
        case Io::want_write: return watch(c, EPOLLOUT, false);
        case Io::closed: return drop(c.fd);
      }
    }
    const Io io = c.read_available(config.max_head_bytes + 1);
    if (auto end = find_head_end(c.in); end && *end <= config.max_head_bytes) return dispatch(c, *end);
    if (c.in.size() > config.max_head_bytes) return reject(c, 431, "the request head is too large");
    if (io == Io::closed) return drop(c.fd);
    if (c.fresh == false && !c.in.empty()) c.deadline = std::min(c.deadline, Clock::now() + config.head_timeout);
    watch(c, io == Io::want_write ? EPOLLOUT : EPOLLIN, false);
  }

  // Past max_connections: the waiting connection nearest its deadline goes.
  bool evict_one() {
    Conn* victim = nullptr;
    for (auto& [fd, c] : waiting)
      if (!victim || c->deadline < victim->deadline) victim = c.get();
    if (!victim) return false;
    ++counters.evicted;
    drop(victim->fd);
    return true;
  }

  void accept_all() {
    for (;;) {
      sockaddr_storage addr{};
      socklen_t len = sizeof addr;
      const int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE) {
          log::warn(config.name, "out of file descriptors; {} connections open", open.load());
          evict_one();
        }
        return;
      }
      ++counters.accepted;
      if (open.load() >= config.max_connections && !evict_one()) {
        ::close(fd);  // every connection is being served: nothing waiting can make room
        ++counters.evicted;
        continue;
      }
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      SSL* ssl = nullptr;
      if (tls) {
        ssl = SSL_new(tls->get());
        SSL_set_fd(ssl, fd);
        SSL_set_accept_state(ssl);
      }
      auto c = std::make_unique<Conn>(fd, ssl, peer_name(addr));
      c->state = tls ? Conn::State::handshake : Conn::State::head;
      c->deadline = Clock::now() + config.head_timeout;
      ++open;
      watch(*c, EPOLLIN, true);
      waiting.emplace(fd, std::move(c));
    }
  }

  void adopt_returned() {
    std::vector<std::unique_ptr<Conn>> back;
    {
      std::lock_guard lock(mutex);
      back.swap(returned);
    }
    for (auto& c : back) {
      const int fd = c->fd;
      Conn& ref = *c;
      waiting.emplace(fd, std::move(c));
      if (ref.state == Conn::State::closing) {
        ref.deadline = Clock::now() + kCloseLinger;
        watch(ref, EPOLLIN, true);
        continue;
      }
      ref.state = Conn::State::head;
      ref.fresh = false;
      ref.deadline = Clock::now() + config.idle_timeout;
      watch(ref, EPOLLIN, true);
      step(ref);  // a pipelined request, or TLS bytes already decrypted, need no new event
    }
  }

  void expire() {
    const auto now = Clock::now();
    std::vector<int> late;
    for (auto& [fd, c] : waiting)
      if (c->deadline <= now) late.push_back(fd);
    for (int fd : late) {
      Conn& c = *waiting.at(fd);
      if (c.state == Conn::State::handshake || (c.state == Conn::State::head && (c.fresh || !c.in.empty())))
        ++counters.head_timeouts;
      drop(fd);
    }
  }

  int next_timeout_ms() const {
    auto soonest = Clock::now() + std::chrono::seconds(1);
    for (const auto& [fd, c] : waiting) soonest = std::min(soonest, c->deadline);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(soonest - Clock::now()).count();
    return static_cast<int>(std::max<long long>(0, ms) + 1);
  }

  void reactor_loop() {
    epoll_event events[64];
    while (!stopping) {
      const int n = ::epoll_wait(epoll_fd, events, 64, next_timeout_ms());
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == listen_fd) {
          accept_all();
        } else if (fd == wake_fd) {
          std::uint64_t count;
          [[maybe_unused]] auto r = ::read(wake_fd, &count, sizeof count);
          adopt_returned();
        } else if (auto it = waiting.find(fd); it != waiting.end()) {
          step(*it->second);
        }
      }
      expire();
    }
  }

  // ---- workers ----

  void give_back(std::unique_ptr<Conn> c) {
    {
      std::lock_guard lock(mutex);
      working.erase(c->fd);
      returned.push_back(std::move(c));
    }
    const std::uint64_t one = 1;
    [[maybe_unused]] auto r = ::write(wake_fd, &one, sizeof one);
  }

  // Runs the handler; true when the connection can carry another request.
  bool serve(Conn& c) {
    c.set_blocking(true, config.io_timeout);
    ++counters.requests;
    Request::Impl request_impl(c, config);
    Response::Impl response_impl(c, c.head);
    Request request(request_impl);
    Response response(response_impl);
    auto answer_error = [&](int status, const std::string& message) {
      if (response.sent()) {
        response_impl.close = true;  // the answer is cut short: only closing tells the client
        return;
      }
      plugin::JsonObject::Ptr o = new plugin::JsonObject;
      o->set("code", status);
      o->set("description", message);
      response.send(status, to_json(o), "application/json");
    };
    try {
      handler(request, response);
      if (!response.sent()) answer_error(500, "the handler gave no answer");
    } catch (const HttpError& e) {
      answer_error(e.status(), e.what());
    } catch (const std::exception& e) {
      log::error(config.name, "{} {}: {}", c.head.method, c.head.target, e.what());
      answer_error(500, "internal error");
    }
    bool keep = response_impl.finish() && !stopping;
    // What the handler did not read of the body is read and dropped when it
    // is small; a large rest closes the connection instead.
    if (keep && !request_impl.body.complete()) keep = request_impl.body.drain(1 << 20);
    return keep;
  }

  void worker_loop() {
    for (;;) {
      std::unique_ptr<Conn> c;
      {
        std::unique_lock lock(mutex);
        ready.wait(lock, [&] { return stopping || !queue.empty(); });
        if (stopping) return;
        c = std::move(queue.front());
        queue.pop_front();
        working.insert(c->fd);
      }
      c->state = Conn::State::working;
      if (Clock::now() - c->queued_at > config.queue_timeout) {
        ++counters.busy_503;
        c->write_briefly(plain_answer(503, "the server is busy; try again"));
        c->begin_close();
        give_back(std::move(c));
        continue;
      }
      bool keep = false;
      try {
        keep = serve(*c);
      } catch (const std::exception& e) {
        log::debug(config.name, "{}: {}", c->peer, e.what());
      }
      if (keep) {
        c->set_blocking(false, std::chrono::milliseconds(0));
      } else {
        c->begin_close();
      }
      give_back(std::move(c));
    }
  }
};

Server::Server(ServerConfig config, Handler handler) : impl_(std::make_unique<Impl>()) {
  // A client that goes away mid-answer must cost an error, not the process
  // (OpenSSL writes with write(2), which raises SIGPIPE).
  std::signal(SIGPIPE, SIG_IGN);
  impl_->config = std::move(config);
  impl_->handler = std::move(handler);
  if (!impl_->config.tls_cert.empty())
    impl_->tls = std::make_unique<TlsContext>(impl_->config.tls_cert.string(), impl_->config.tls_key.string());
  impl_->listen_fd = listen_on(impl_->config.address, impl_->config.port);
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  ::getsockname(impl_->listen_fd, reinterpret_cast<sockaddr*>(&addr), &len);
  impl_->port = addr.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port)
                                           : ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  impl_->epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  impl_->wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  for (int fd : {impl_->listen_fd, impl_->wake_fd}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    ::epoll_ctl(impl_->epoll_fd, EPOLL_CTL_ADD, fd, &ev);
  }
  impl_->reactor = std::thread([this] { impl_->reactor_loop(); });
  for (int i = 0; i < std::max(1, impl_->config.workers); ++i)
    impl_->workers.emplace_back([this] { impl_->worker_loop(); });
}

Server::~Server() {
  impl_->stopping = true;
  {
    std::lock_guard lock(impl_->mutex);
    // Handlers blocked reading a body see it end now.
    for (int fd : impl_->working) ::shutdown(fd, SHUT_RD);
    impl_->ready.notify_all();
  }
  const std::uint64_t one = 1;
  [[maybe_unused]] auto r = ::write(impl_->wake_fd, &one, sizeof one);
  impl_->reactor.join();
  for (auto& w : impl_->workers) w.join();
  impl_->waiting.clear();
  impl_->queue.clear();
  impl_->returned.clear();
  ::close(impl_->listen_fd);
  ::close(impl_->epoll_fd);
  ::close(impl_->wake_fd);
}

int Server::port() const { return impl_->port; }

Server::Stats Server::stats() const {
  const auto& c = impl_->counters;
  Stats s{c.accepted.load(), c.requests.load(), c.busy_503.load(),
          c.head_timeouts.load(), c.evicted.load(), c.bad_requests.load()};
  std::lock_guard lock(impl_->mutex);
  s.queued = impl_->queue.size();
  return s;
}

}  // namespace bosh::net
