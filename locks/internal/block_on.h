// The synchronous driver of a word protocol, and the acquisition concept
// both drivers (this one and async_acquire.h's) run.
//
// Every primitive describes one waiter's progress through its word protocol
// as a small "acquisition" object, the same object that async (coroutine)
// waiters drive, so all kinds of waiter follow one protocol:
//
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
// and what it sleeps on, one of:
//   one word:   word(), scope(), bitset()  (the wake bitset it sleeps with)
//   many words: entries()  (WaitAny: one internal::WaitEntry per primitive,
//               holding the values its Arm / OnWake left; `expected` unused)
//
// OnWake is also called once after a timeout: a wake that raced with the
// deadline is taken rather than lost.
#ifndef RINGLOCK_LOCKS_INTERNAL_BLOCK_ON_H_
#define RINGLOCK_LOCKS_INTERNAL_BLOCK_ON_H_

#include <atomic>
#include <concepts>
#include <cstdint>
#include <span>

#include "locks/futex.h"
#include "locks/internal/wait_backend.h"

namespace ringlock::internal {

template <class A>
concept OneWordAcquisition = requires(const A& a) {
  { a.word() } -> std::same_as<const internal::FutexWord&>;
  { a.scope() } -> std::same_as<FutexScope>;
  { a.bitset() } -> std::same_as<uint32_t>;
};

template <class A>
concept ManyWordAcquisition = requires(const A& a) {
  { a.entries() } -> std::convertible_to<std::span<const internal::WaitEntry>>;
};

template <class A>
concept Acquisition = requires(A& a, uint32_t* expected) {
  { a.Arm(expected) } -> std::same_as<bool>;
  { a.OnWake(expected) } -> std::same_as<bool>;
  a.Leave();
} && (OneWordAcquisition<A> || ManyWordAcquisition<A>);

template <Acquisition A>
class LeaverFor final : public WaitLeaver {
 public:
  explicit LeaverFor(A& acq) : acq_(acq) {}
  void Leave() override { acq_.Leave(); }

 private:
  A& acq_;
};

// Registers `acq` again after a backend deregistered it (kLeft).
template <Acquisition A>
bool Rearm(A& acq, uint32_t* expected) {
  if constexpr (requires { acq.Rearm(expected); }) {
    return acq.Rearm(expected);
  } else {
    return acq.Arm(expected);
  }
}

// One sleep of `acq` through `backend`.
template <Acquisition A>
BackendWaitResult SleepOnce(WaitBackend& backend, const A& acq, uint32_t expected,
                            Deadline deadline, WaitLeaver& leaver) {
  if constexpr (ManyWordAcquisition<A>) {
    const std::span<const internal::WaitEntry> entries = acq.entries();
    int index;  // unused: OnWake re-checks every word
    return backend.WaitAny(entries.data(), static_cast<int>(entries.size()), deadline, &index,
                           leaver);
  } else {
    return backend.Wait(acq.word(), expected, deadline, acq.scope(), acq.bitset(), leaver);
  }
}

// Runs `acq` to completion or to `deadline`; true when it succeeded. The one
// loop every blocked thread runs, for every primitive and for WaitAny.
template <Acquisition A>
bool BlockOn(A& acq, Deadline deadline) {
  uint32_t expected = 0;
  if (acq.Arm(&expected)) return true;
  WaitBackend& backend = CurrentWaitBackend();
  LeaverFor<A> leaver(acq);
  for (;;) {
    // Queued wakes leave first; sending them may change the word (a Mutex's
    // nobody-woken step clears W), and then the wait returns at once.
    SendHeldWakes();
    const BackendWaitResult r = SleepOnce(backend, acq, expected, deadline, leaver);
    if (r == BackendWaitResult::kLeft) {
      // Deregistered by the backend: start over as a new waiter.
      if (DeadlinePassed(deadline)) return false;
      if (Rearm(acq, &expected)) return true;
      continue;
    }
    if (acq.OnWake(&expected)) return true;
    if (r == BackendWaitResult::kTimedOut || DeadlinePassed(deadline)) {
      acq.Leave();
      return false;
    }
  }
}

}  // namespace ringlock::internal

#endif  // RINGLOCK_LOCKS_INTERNAL_BLOCK_ON_H_
