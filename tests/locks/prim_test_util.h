// Shared by the Latch, Once and Barrier tests: a watchdog that fails a hung
// test with a message, and a way to run a coroutine waiter on a fresh loop of
// the thread's waiter mode.
#ifndef RINGLOCK_TESTS_LOCKS_PRIM_TEST_UTIL_H_
#define RINGLOCK_TESTS_LOCKS_PRIM_TEST_UTIL_H_

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "tests/locks/waiter_modes.h"

namespace ringlock::testing {

// Ends the process with a message (exit 1) if the test runs past `seconds`:
// a lost wakeup fails instead of hanging CI.
class HangWatchdog {
 public:
  explicit HangWatchdog(const char* what, unsigned seconds = 30) {
    what_ = what;
    signal(SIGALRM, [](int) {
      std::fprintf(stderr, "HANG: %s did not finish in time (a lost wakeup?)\n", what_);
      _exit(1);
    });
    alarm(seconds);
  }
  ~HangWatchdog() { alarm(0); }

 private:
  static inline const char* what_ = "";
};

// The loop kind a coroutine waiter uses in `mode` (futex mode: native).
inline LoopKind LoopKindFor(WaiterMode mode) {
  switch (mode) {
    case WaiterMode::kRingFallback:
      return LoopKind::kFallback;
    case WaiterMode::kRingEmulated:
      return LoopKind::kEmulated;
    default:
      return LoopKind::kNative;
  }
}

// Polls `pred` until it holds or `limit` passes; returns pred().
template <class Pred>
bool Eventually(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  while (!pred() && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return pred();
}

}  // namespace ringlock::testing

#endif  // RINGLOCK_TESTS_LOCKS_PRIM_TEST_UTIL_H_
