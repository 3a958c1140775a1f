// Process-wide cancellation (Ctrl-C): long work polls it between steps and
// stops by throwing Cancelled, so temp files are removed by the unwinding
// and nothing is left half-written under a real name.
#pragma once

#include "bosh/common/error.hpp"

namespace bosh {

class Cancelled : public Error {
 public:
  Cancelled() : Error("interrupted") {}
};

void request_cancel() noexcept;  // async-signal-safe
bool cancel_requested() noexcept;
void reset_cancel() noexcept;
// Throws Cancelled once a cancel was requested.
void throw_if_cancelled();

// SIGINT and SIGTERM request a cancel; a second one kills the process as usual.
void install_cancel_signal_handlers();

}  // namespace bosh
