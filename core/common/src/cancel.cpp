#include "bosh/common/cancel.hpp"

#include <csignal>

#include <atomic>

namespace bosh {

namespace {
std::atomic<bool> g_cancelled{false};
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void on_signal(int signo) {
  if (g_cancelled.exchange(true)) {
    std::signal(signo, SIG_DFL);
    std::raise(signo);
  }
}
}  // namespace

void request_cancel() noexcept { g_cancelled.store(true); }
bool cancel_requested() noexcept { return g_cancelled.load(); }
void reset_cancel() noexcept { g_cancelled.store(false); }

void throw_if_cancelled() {
  if (g_cancelled.load()) throw Cancelled();
}

void install_cancel_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

}  // namespace bosh
