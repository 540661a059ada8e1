// ringlock/locks/latch.h — Latch: a single-use countdown threads wait for, 4 bytes.
//
// Like std::latch (count_down(n), try_wait, wait, arrive_and_wait, max()),
// plus timed waits std has none of (wait_for / wait_until / wait_until_deadline,
// and wait_async_until / wait_async_for). Waiters sleep in futex(2), in their
// thread's EventLoop (ring-blocking), or as coroutines
// (`co_await latch.wait_async(loop)`), all on the protocol below; a Latch can
// also be one of WaitAny's primitives (`Opened(latch)`). ProcessSharedLatch
// works in MAP_SHARED memory.
//
// Memory ordering (as std::latch): every count_down() happens-before the
// return of each wait() / try_wait() that sees the count at zero.
//
// The word
// --------
//   bits 0-30  C  the count still expected (0..max() = 2^31-1)
//   bit 31     W  waiters: someone is asleep or about to sleep
//
// | state    | meaning                     | transitions                              |
// |----------|-----------------------------|------------------------------------------|
// | C>0, W=0 | counting, nobody waits      | count_down(n): C-n; wait: W=1, sleep     |
// | C>0, W=1 | counting, waiters (maybe)   | count_down(n) reaching 0: word=0, wake all|
// | C=0, W=0 | open: final, never changes  | wait / try_wait: return true             |
//
// Who wakes whom: the count_down that takes C to 0 writes the word to 0 and,
// if W was set, wakes every sleeper (FUTEX_WAKE of INT_MAX). Nothing else
// wakes. A waiter that leaves (timeout, cancelled coroutine) consumed no wake
// of its own and leaves W set: it costs one wake call at the end.
//
// Invariants:
//   INV1  W=1 whenever a waiter sleeps or is about to: it sleeps only on a
//         word with W=1 and C>0 (the futex compare), and W is cleared only
//         by the count_down that opens the latch, which then wakes all.
//   INV2  C only decreases; C=0 is final (the word is 0 from then on).
//
// Misuse: count_down(n) with n > the count left (the count would go below
// zero) or n < 0, and constructing with expected < 0 or > max(): debug builds
// abort ("ringlock::Latch: misuse: count_down() below zero", ...); release
// builds clamp (count_down(n) past the count opens the latch; the expected
// count into [0, max()]). A Latch must outlive its waiters (as every
// primitive: see README.md); destroying one with waiters is not detected (W
// may be stale after a timeout, so the word cannot tell).
#ifndef RINGLOCK_LOCKS_LATCH_H_
#define RINGLOCK_LOCKS_LATCH_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "locks/futex.h"
#include "locks/internal/async_waits.h"
#include "locks/internal/block_on.h"
#include "locks/internal/check.h"
#include "locks/internal/word_access.h"
#include "locks/internal/word.h"

namespace ringlock {

namespace internal {

inline constexpr uint32_t kLatchCountMask = 0x7fffffffu;
inline constexpr uint32_t kLatchWaiters = 1u << 31;

// One waiter's progress through the Latch protocol.
class LatchAcquisition {
 public:
  LatchAcquisition(internal::FutexWord& word, FutexScope scope) : word_(word), scope_(scope) {}

  const internal::FutexWord& word() const { return word_; }
  FutexScope scope() const { return scope_; }
  uint32_t bitset() const { return futex::kMatchAny; }

  bool Arm(uint32_t* expected);
  bool OnWake(uint32_t* expected) { return Arm(expected); }
  void Leave() {}  // no wake is ever spent on one waiter: nothing to pass on

 private:
  internal::FutexWord& word_;
  FutexScope scope_;
};

bool LatchTryWait(const internal::FutexWord& word);
void LatchCountDown(internal::FutexWord& word, uint32_t n, FutexScope scope, const char* name);

}  // namespace internal

template <FutexScope kScope>
class BasicLatch {
 public:
  static constexpr std::ptrdiff_t max() noexcept { return internal::kLatchCountMask; }

  // Precondition (as std::latch): 0 <= expected <= max(). Debug builds abort
  // naming the misuse; release builds clamp into [0, max()].
  constexpr explicit BasicLatch(std::ptrdiff_t expected) noexcept
      : word_(ValidCount(expected)) {}
  BasicLatch(const BasicLatch&) = delete;
  BasicLatch& operator=(const BasicLatch&) = delete;

  // Decrements the count by n (release ordering); the one that reaches zero
  // wakes every waiter. Precondition: 0 <= n <= the count left.
  void count_down(std::ptrdiff_t n = 1) {
    RINGLOCK_MISUSE_IF(n < 0, Name(), "count_down() with a negative count");
    if (n <= 0) return;
    internal::LatchCountDown(word_, n > max() ? internal::kLatchCountMask : static_cast<uint32_t>(n),
                             kScope, Name());
  }

  // True once the count reached zero (acquire ordering). Never waits.
  [[nodiscard]] bool try_wait() const noexcept { return internal::LatchTryWait(word_); }

  void wait() const { (void)wait_until_deadline(Deadline::Never()); }

  void arrive_and_wait(std::ptrdiff_t n = 1) {
    count_down(n);
    wait();
  }

  // Timed waits (not in std::latch): false if the deadline passed first.
  template <class Rep, class Period>
  [[nodiscard]] bool wait_for(const std::chrono::duration<Rep, Period>& d) const {
    return wait_until_deadline(Deadline::AfterDuration(d));
  }
  template <class Clock, class Duration>
  [[nodiscard]] bool wait_until(const std::chrono::time_point<Clock, Duration>& t) const {
    return wait_until_deadline(Deadline::At(t));
  }
  [[nodiscard]] bool wait_until_deadline(Deadline deadline) const {
    if (try_wait() || internal::YieldBeforeSleep([this] { return try_wait(); })) return true;
    internal::LatchAcquisition acq(Word(), kScope);
    return internal::BlockOn(acq, deadline);
  }

  // co_await latch.wait_async(loop) (include locks/async.h): resumes once the
  // count is zero, without blocking the loop. Same protocol as wait(). If the
  // loop is destroyed first the coroutine is not resumed.
  template <class Loop>
  auto wait_async(Loop& loop) const {
    return internal::AsyncFor<Loop>::Untimed(internal::LatchAcquisition(Word(), kScope), loop,
                                             [](const auto&) {});
  }
  // Timed: yields absl::Status: OK, DeadlineExceeded or Cancelled (the loop
  // was destroyed first).
  template <class Loop>
  auto wait_async_until(Loop& loop, Deadline deadline) const {
    return internal::AsyncFor<Loop>::Timed(internal::LatchAcquisition(Word(), kScope), loop,
                                           deadline, Name(), [](const auto&) {});
  }
  template <class Loop, class Rep, class Period>
  auto wait_async_for(Loop& loop, const std::chrono::duration<Rep, Period>& d) const {
    return wait_async_until(loop, Deadline::AfterDuration(d));
  }

  // The futex word, read-only (internal::WordAccess writes it: internals, tests).
  const internal::FutexWord& word() const { return word_; }
  static constexpr FutexScope scope() { return kScope; }
  static constexpr const char* Name() {
    return kScope == FutexScope::kPrivate ? "ringlock::Latch" : "ringlock::ProcessSharedLatch";
  }

 private:
  friend struct internal::WordAccess;  // writable word: internals and tests only
  static constexpr uint32_t ValidCount(std::ptrdiff_t expected) {
    RINGLOCK_MISUSE_IF(expected < 0, Name(), "constructed with a negative count");
    RINGLOCK_MISUSE_IF(expected > max(), Name(), "constructed with a count past max()");
    if (expected < 0) return 0;
    return expected > max() ? internal::kLatchCountMask : static_cast<uint32_t>(expected);
  }
  // Waiting is const (as std::latch::wait) but registers in the word.
  internal::FutexWord& Word() const { return const_cast<internal::FutexWord&>(word_); }

  internal::FutexWord word_;
};

using Latch = BasicLatch<FutexScope::kPrivate>;
using ProcessSharedLatch = BasicLatch<FutexScope::kShared>;

static_assert(sizeof(Latch) == 4);

}  // namespace ringlock

#endif  // RINGLOCK_LOCKS_LATCH_H_
