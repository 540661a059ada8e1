// The synchronous driver of a word protocol.
//
// Every primitive describes one waiter's progress through its word protocol
// as a small "acquisition" object, the same object that async (coroutine)
// waiters and wait_any drive, so all kinds of waiter follow one protocol:
//
//   const std::atomic<uint32_t>& word() const;  FutexScope scope() const;
//   uint32_t bitset() const;          // wake bitset this waiter sleeps with
//   bool Arm(uint32_t* expected);     // try once; else register as a waiter
//                                     // and return the value to sleep on
//   bool OnWake(uint32_t* expected);  // after any return from a sleep: try as
//                                     // a registered waiter; true = done and
//                                     // deregistered, false = sleep again
//   void Leave();                     // deregister without succeeding; passes
//                                     // on any wake this waiter may have
//                                     // consumed (timeouts, cancellation)
//   bool Rearm(uint32_t* expected);   // optional: register again after a
//                                     // backend ran Leave() (a nested ring
//                                     // wait, see ring_wait_backend.h);
//                                     // true = done. Default: Arm. A CondVar
//                                     // returns true here: its Arm releases
//                                     // the caller's lock, which must happen
//                                     // once per wait.
//
// OnWake is also called once after a timeout: a wake that raced with the
// deadline is taken rather than lost.
#ifndef RINGLOCK_LOCKS_INTERNAL_BLOCK_ON_H_
#define RINGLOCK_LOCKS_INTERNAL_BLOCK_ON_H_

#include <cstdint>

#include "locks/futex.h"
#include "locks/internal/wait_backend.h"

namespace ringlock::internal {

template <class Acquisition>
class LeaverFor final : public WaitLeaver {
 public:
  explicit LeaverFor(Acquisition& acq) : acq_(acq) {}
  void Leave() override { acq_.Leave(); }

 private:
  Acquisition& acq_;
};

// Registers `acq` again after a backend deregistered it (kLeft).
template <class Acquisition>
bool Rearm(Acquisition& acq, uint32_t* expected) {
  if constexpr (requires { acq.Rearm(expected); }) {
    return acq.Rearm(expected);
  } else {
    return acq.Arm(expected);
  }
}

// Runs `acq` to completion or to `deadline`; true when it succeeded.
template <class Acquisition>
bool BlockOn(Acquisition& acq, Deadline deadline) {
  uint32_t expected;
  if (acq.Arm(&expected)) return true;
  WaitBackend& backend = CurrentWaitBackend();
  LeaverFor<Acquisition> leaver(acq);
  for (;;) {
    // Queued wakes leave first; sending them may change the word (a Mutex's
    // nobody-woken step clears W), and then the wait returns at once.
    SendHeldWakes();
    const BackendWaitResult r =
        backend.Wait(acq.word(), expected, deadline, acq.scope(), acq.bitset(), leaver);
    if (r == BackendWaitResult::kLeft) {
      // Deregistered by the backend: start over as a new waiter.
      if (deadline.HasPassed()) return false;
      if (Rearm(acq, &expected)) return true;
      continue;
    }
    if (acq.OnWake(&expected)) return true;
    if (r == BackendWaitResult::kTimedOut || deadline.HasPassed()) {
      acq.Leave();
      return false;
    }
  }
}

}  // namespace ringlock::internal

#endif  // RINGLOCK_LOCKS_INTERNAL_BLOCK_ON_H_
