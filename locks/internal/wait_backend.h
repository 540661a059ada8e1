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
// drive the same protocol objects from completions (internal/async_acquire.h).
//
// Wakes: WakeWord() below is the one way a protocol wakes, whatever the
// waiter kinds and whether the thread has a WakeBatch open.
#ifndef RINGLOCK_LOCKS_INTERNAL_WAIT_BACKEND_H_
#define RINGLOCK_LOCKS_INTERNAL_WAIT_BACKEND_H_

#include <atomic>
#include <cstdint>

#include "locks/futex.h"
#include "locks/wake_batch.h"
#include "locks/internal/word.h"

namespace ringlock::internal {

// Deregisters a blocked waiter from its word(s): the waiter protocol's
// Leave() step, which also passes on any wake the waiter consumed.
class WaitLeaver {
 public:
  virtual void Leave() = 0;

 protected:
  ~WaitLeaver() = default;
};

// What a backend's wait ended with, beyond FutexWaitResult: kLeft means the
// backend already ran the waiter's Leave() (see RingWaitBackend: a wait that
// completes while a nested wait runs above it on the same thread cannot act
// on its wake, so it hands the wake on at once). The caller re-arms.
enum class BackendWaitResult : uint8_t { kWoken, kValueChanged, kTimedOut, kLeft };

class WaitBackend {
 public:
  virtual ~WaitBackend() = default;

  // Returns after a wake with an intersecting bitset, a value mismatch, the
  // deadline, spuriously, or kLeft after calling leaver.Leave(). Callers
  // always re-check the word.
  virtual BackendWaitResult Wait(const internal::FutexWord& word, uint32_t expected,
                                 Deadline deadline, FutexScope scope, uint32_t bitset,
                                 WaitLeaver& leaver) = 0;

  // Returns when any entry is woken or mismatches, at the deadline, or
  // kLeft (index -1) after calling leaver.Leave() for all entries.
  virtual BackendWaitResult WaitAny(const internal::WaitEntry* entries, int count,
                                    Deadline deadline, int* index, WaitLeaver& leaver) = 0;

  virtual const char* name() const = 0;
};

// futex(2) and futex_waitv(2).
inline BackendWaitResult ToBackendResult(FutexWaitResult r) {
  switch (r) {
    case FutexWaitResult::kValueChanged:
      return BackendWaitResult::kValueChanged;
    case FutexWaitResult::kTimedOut:
      return BackendWaitResult::kTimedOut;
    default:
      return BackendWaitResult::kWoken;
  }
}

class FutexWaitBackend final : public WaitBackend {
 public:
  BackendWaitResult Wait(const internal::FutexWord& word, uint32_t expected, Deadline deadline,
                         FutexScope scope, uint32_t bitset, WaitLeaver&) override {
    return ToBackendResult(FutexWait(word, expected, deadline, scope, bitset));
  }
  BackendWaitResult WaitAny(const internal::WaitEntry* entries, int count, Deadline deadline,
                            int* index, WaitLeaver&) override {
    const futex::WaitvResult r = FutexWaitAny(entries, count, deadline);
    *index = r.index;
    return ToBackendResult(r.result);
  }
  const char* name() const override { return "futex"; }

  static FutexWaitBackend& Get();
};

// The backend blocking calls on this thread use: a per-thread override
// (ScopedFutexBlocking, tests), else the one the installed chooser returns
// for this thread (the ring layer's: the ring-blocking backend while the
// thread owns an EventLoop that can wait on futexes), else futex(2).
WaitBackend& CurrentWaitBackend();

// Installs `backend` for the calling thread (nullptr restores the default
// choice); returns the previous override. For EventLoop integration and tests.
WaitBackend* SetThreadWaitBackend(WaitBackend* backend);

// The hook through which a layer above the core (//locks:ring) makes itself
// the parker of threads it serves: called by CurrentWaitBackend() on every
// blocking wait; nullptr = futex(2). Installed once, at static
// initialization; the core alone never calls into io_uring.
using ThreadBackendChooser = WaitBackend* (*)();
void InstallThreadBackendChooser(ThreadBackendChooser chooser);

// A protocol's step for a wake of its that woke nobody: called with the
// word and the `token` the waker passed (e.g. the value it wrote).
using NobodyWokenFn = void (*)(internal::FutexWord& word, uint32_t token);

// Wakes up to `count` waiters on `word` whose bitset intersects `bitset`:
// at once through futex(2), or queued on the thread's open WakeBatch (sent
// at the latest when the scope closes or the thread is about to sleep).
// Whenever the wake turns out to have woken nobody, on whichever path it
// took, it runs `if_nobody_woken(word, token)` itself, right after the wake:
// a protocol that must know cannot forget to ask.
void WakeWord(internal::FutexWord& word, int count, FutexScope scope,
              uint32_t bitset = futex::kMatchAny, NobodyWokenFn if_nobody_woken = nullptr,
              uint32_t token = 0);

// True while the calling thread has a WakeBatch open (wakes are deferred).
bool WakeBatchOpen();

// Sends the wakes the calling thread's WakeBatch holds. Every blocking wait
// calls it before it sleeps, and an EventLoop at the end of every dispatch
// step (so also before it blocks, and when a coroutine suspends inside a
// batch): a thread never sleeps while wakes it queued are held back (a wakee
// could be the one that must run for the sleep to end).
void SendHeldWakes();

}  // namespace ringlock::internal

#endif  // RINGLOCK_LOCKS_INTERNAL_WAIT_BACKEND_H_
