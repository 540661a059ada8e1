// ringlock/locks/once.h — Once: std::call_once in one futex word, 4 bytes.
//
//   ringlock::Once once;
//   once.call_once([] { Init(); });            // or ringlock::call_once(once, f, args...)
//   co_await once.call_once_async(loop, [] { Init(); });   // include locks/async.h
//
// As std::call_once with a std::once_flag: the first caller runs the
// callable; concurrent callers wait until it returns; once it has returned,
// every call returns at once (acquire: the callable's writes are visible).
// If the callable throws, the exception reaches the caller that ran it, the
// Once is not done, and one of the waiting callers (or the next caller) runs
// its own callable next. Waiting callers sleep in futex(2), in their
// thread's EventLoop (ring-blocking), or as coroutines (call_once_async: the
// callable then runs on the coroutine's thread, inside co_await, and its
// exception comes out of the co_await).
//
// No timed forms (std has none: a caller that gave up could not know whether
// the callable ran), no WaitAny (a caller that wins must run the callable
// right away), and no process-shared variant: the callable's effect lives in
// one process, and a process that dies while running it would leave the
// word running forever.
//
// The word
// --------
//   bit 0  R  running: a caller is running its callable
//   bit 1  W  waiters: some caller is asleep or about to sleep
//   bit 2  D  done (final: the word is exactly D from then on)
//
// | state     | meaning                    | transitions                               |
// |-----------|----------------------------|-------------------------------------------|
// | 0         | not run (or the last threw)| call: CAS 0 -> R, run the callable        |
// | R         | running, nobody waits      | call: W=1, sleep; returns: D; throws: 0   |
// | R|W       | running, waiters (maybe)   | returns: D, wake all; throws: 0, wake all |
// | D         | done, final                | call: returns at once                     |
//
// Who wakes whom: the runner, when its callable returns or throws, if W was
// set: it wakes every sleeper. After a throw they all re-check; one takes R
// and runs, the others sleep again (setting W again). A waiter that leaves
// (a cancelled coroutine) consumed no wake of its own: nothing to pass on.
//
// Invariants:
//   INV1  W=1 whenever a caller sleeps or is about to: it sleeps only on
//         R|W, and W is cleared only by the runner's exchange, which then
//         wakes all.
//   INV2  At most one caller runs at a time (R is taken by CAS from 0 only),
//         and none after D, which is final: the callable returns once.
//
// Misuse: calling call_once on the same Once from inside its callable
// deadlocks, as with std::call_once. Debug builds abort on destroying a Once
// whose callable is running ("ringlock::Once: misuse: destroyed while
// call_once runs").
#ifndef RINGLOCK_LOCKS_ONCE_H_
#define RINGLOCK_LOCKS_ONCE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <type_traits>
#include <utility>

#include "locks/futex.h"
#include "locks/internal/async_waits.h"
#include "locks/internal/block_on.h"
#include "locks/internal/check.h"
#include "locks/internal/word_access.h"
#include "locks/internal/word.h"

namespace ringlock {

namespace internal {

inline constexpr uint32_t kOnceRunning = 1u << 0;
inline constexpr uint32_t kOnceWaiters = 1u << 1;
inline constexpr uint32_t kOnceDone = 1u << 2;

// One caller's progress: done when the Once is done (won() false) or when
// this caller took R and must run its callable (won() true).
class OnceAcquisition {
 public:
  explicit OnceAcquisition(internal::FutexWord& word) : word_(word) {}

  const internal::FutexWord& word() const { return word_; }
  FutexScope scope() const { return FutexScope::kPrivate; }
  uint32_t bitset() const { return futex::kMatchAny; }

  bool Arm(uint32_t* expected);
  bool OnWake(uint32_t* expected) { return Arm(expected); }
  void Leave() {}  // wakes are wake-all: none was spent on this caller alone
  bool won() const { return won_; }

 private:
  internal::FutexWord& word_;
  bool won_ = false;
};

// The winner's exits: the callable returned (D), or threw (back to 0).
void OnceFinish(internal::FutexWord& word);
void OnceAbandon(internal::FutexWord& word);

// Runs `f` as the winner: D if it returns, 0 (and rethrow) if it throws.
template <class F>
void OnceRunWon(internal::FutexWord& word, F&& f) {
  try {
    std::forward<F>(f)();
  } catch (...) {
    OnceAbandon(word);
    throw;
  }
  OnceFinish(word);
}

}  // namespace internal

class Once {
 public:
  constexpr Once() noexcept : word_(0) {}
  Once(const Once&) = delete;
  Once& operator=(const Once&) = delete;
  ~Once() {
    RINGLOCK_MISUSE_IF(word_.load(std::memory_order_relaxed) & internal::kOnceRunning, Name(),
                       "destroyed while call_once runs");
  }

  // Runs std::invoke(f, args...) unless a call already returned; waits while
  // another caller runs. Rethrows the callable's exception (not done then).
  template <class F, class... Args>
  void call_once(F&& f, Args&&... args) {
    if (done()) return;
    internal::OnceAcquisition acq(word_);
    (void)internal::BlockOn(acq, Deadline::Never());
    if (!acq.won()) return;
    internal::OnceRunWon(word_, [&] { std::invoke(std::forward<F>(f), std::forward<Args>(args)...); });
  }

  // co_await once.call_once_async(loop, f) (include locks/async.h): as
  // call_once(f), waiting without blocking the loop; `f` (moved in, called
  // with no arguments) runs inside the co_await if this caller wins, and its
  // exception comes out of the co_await. If the loop is destroyed first the
  // coroutine is not resumed.
  template <class Loop, class F>
  auto call_once_async(Loop& loop, F f) {
    return internal::AsyncFor<Loop>::Untimed(
        internal::OnceAcquisition(word_), loop,
        [word = &word_, run = Callable<F>{std::move(f)}](const auto& in) {
          if (in.acquisition().won()) internal::OnceRunWon(*word, run.f);
        });
  }

  // True once a callable has returned (acquire ordering).
  [[nodiscard]] bool done() const noexcept {
    return word_.load(std::memory_order_acquire) == internal::kOnceDone;
  }

  // The futex word, read-only (internal::WordAccess writes it: internals, tests).
  const internal::FutexWord& word() const { return word_; }
  static constexpr FutexScope scope() { return FutexScope::kPrivate; }
  static constexpr const char* Name() { return "ringlock::Once"; }

 private:
  friend struct internal::WordAccess;  // writable word: internals and tests only
  template <class F>
  struct Callable {
    mutable F f;  // called from the awaiter's const result mapping
  };

  internal::FutexWord word_;
};

// std::call_once's spelling.
template <class F, class... Args>
void call_once(Once& once, F&& f, Args&&... args) {
  once.call_once(std::forward<F>(f), std::forward<Args>(args)...);
}

static_assert(sizeof(Once) == 4);

}  // namespace ringlock

#endif  // RINGLOCK_LOCKS_ONCE_H_
