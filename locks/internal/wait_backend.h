// How a blocked thread sleeps on a futex word, kept apart from the word
// protocols (the lock algorithms) that decide when to sleep.
//
// A backend is the answer to "this thread must wait until *word changes from
// `expected`, a wake arrives, or the deadline passes". Two exist:
//   * FutexWaitBackend: futex(2) / futex_waitv(2). Any kernel. The default.
//   * the ring-blocking backend (locks/ring_wait_backend.h): the thread runs an
//     io_uring EventLoop, so instead of sleeping in futex(2) it arms a
//     FUTEX_WAIT SQE and keeps dispatching its other completions until that
//     one arrives.
// Async (coroutine) waiters do not block a thread and use no backend: they
// drive the same protocol objects from completions (locks/async.h).
//
// Wakes do not go through the backend: WakeWord() below issues them, through
// the thread's WakeBatch when one is open.
#ifndef RINGLOCK_LOCKS_INTERNAL_WAIT_BACKEND_H_
#define RINGLOCK_LOCKS_INTERNAL_WAIT_BACKEND_H_

#include <atomic>
#include <cstdint>

#include "locks/futex.h"

namespace ringlock::internal {

class WaitBackend {
 public:
  virtual ~WaitBackend() = default;

  // Returns after a wake with an intersecting bitset, a value mismatch, the
  // deadline, or spuriously. Callers always re-check the word.
  virtual FutexWaitResult Wait(const std::atomic<uint32_t>& word, uint32_t expected,
                               Deadline deadline, FutexScope scope, uint32_t bitset) = 0;

  // Returns when any entry is woken or mismatches, or at the deadline.
  virtual futex::WaitvResult WaitAny(const futex::WaitvEntry* entries, int count,
                                     Deadline deadline) = 0;

  virtual const char* name() const = 0;
};

// futex(2) and futex_waitv(2).
class FutexWaitBackend final : public WaitBackend {
 public:
  FutexWaitResult Wait(const std::atomic<uint32_t>& word, uint32_t expected, Deadline deadline,
                       FutexScope scope, uint32_t bitset) override {
    return futex::Wait(word, expected, deadline, scope, bitset);
  }
  futex::WaitvResult WaitAny(const futex::WaitvEntry* entries, int count,
                             Deadline deadline) override {
    return futex::WaitAny(entries, count, deadline);
  }
  const char* name() const override { return "futex"; }

  static FutexWaitBackend& Get();
};

// The backend blocking calls on this thread use: the ring-blocking one while
// the thread owns an EventLoop that can wait on futexes, futex(2) otherwise.
WaitBackend& CurrentWaitBackend();

// Installs `backend` for the calling thread (nullptr restores the default
// choice); returns the previous override. For EventLoop integration and tests.
WaitBackend* SetThreadWaitBackend(WaitBackend* backend);

// Wakes up to `count` waiters on `word` with `bitset`: queued on the
// thread's open WakeBatch if there is one, else at once through futex(2).
void WakeWord(const std::atomic<uint32_t>& word, int count, FutexScope scope,
              uint32_t bitset = futex::kMatchAny);

// True while the calling thread has a WakeBatch open (wakes are deferred).
bool WakeBatchOpen();

}  // namespace ringlock::internal

#endif  // RINGLOCK_LOCKS_INTERNAL_WAIT_BACKEND_H_
