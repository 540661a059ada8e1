// ringlock/locks/semaphore.h — CountingSemaphore: permits in one futex word.
//
// Like std::counting_semaphore<kMax> (which libstdc++ makes 4 bytes too, but
// without timed waits that survive EINTR, process sharing or io_uring
// waiters): acquire / try_acquire / try_acquire_for / try_acquire_until /
// release(n). Waiters sleep in futex(2), in their thread's EventLoop
// (ring-blocking) or as coroutines (`co_await sem.acquire_async(loop)`), all
// on the protocol below. ProcessSharedSemaphore works in MAP_SHARED memory.
//
// Fairness: none (a thread calling acquire() may take a permit a woken waiter
// was about to take); no waiter starves while permits keep being released to
// it, as each release(n) wakes up to n sleepers in the kernel's FIFO order.
// A blocking acquire() that finds no permit yields its CPU up to 4 times
// (sched_yield, looking again after each) before it registers and sleeps, as
// libstdc++'s std::counting_semaphore does: with more runnable threads than
// CPUs the releaser is often waiting for that CPU (a bounded queue on 2 CPUs:
// 0.22-0.25x std::counting_semaphore without, ~1x with). Coroutines never
// yield (that would stall their loop).
// Memory ordering: release() happens-before the acquire() that takes one of
// its permits.
//
// The word
// --------
//   bits 0-15   P  permits available (0..kMax, kMax <= 65535)
//   bits 16-31  N  registered waiters: asleep, about to sleep, or woken and
//                  not yet gone (0..65535; see Limits below)
//
// | state   | meaning                 | transitions                               |
// |---------|-------------------------|-------------------------------------------|
// | P>0     | permits free            | acquire: P-1 (CAS)                        |
// | P=0,N=0 | empty, nobody waits     | acquire: N+1, sleep while word unchanged  |
// | P=0,N>0 | empty, N waiters        | release(n): P+n, wake min(n,N) sleepers   |
// | P>0,N>0 | transient: woken waiters| a waiter takes: P-1,N-1; or re-sleeps at |
// |         | are about to take       | P=0                                       |
//
// Who wakes whom: release(n) wakes min(n, N) sleepers right after adding its
// permits. A waiter leaving without a permit (timeout, cancelled coroutine)
// wakes one sleeper if permits are left (it may have been the one woken).
//
// Invariants:
//   INV1  Each permit added by release() comes with a wake for a sleeper that
//         was registered at that moment, or there was none: either someone
//         takes it, or a waiter that will re-check the word is awake.
//   INV2  A waiter sleeps only on a word with P=0 (the futex compare enforces
//         it: a release in between makes its sleep return EAGAIN).
//
// Limits: at most 65535 registered waiters (N). One more is refused in every
// build, never counted (N would wrap to 0 and release() would wake nobody):
// acquire_async_until / acquire_async_for yield ResourceExhausted; every
// other wait (acquire, try_acquire_for/until, acquire_async, WaitAny) aborts
// with "ringlock::Semaphore: misuse: more than 65535 waiters".
//
// Misuse: release() past max() (or a negative n, which converts to one past
// it) aborts in every build, before writing the word ("release() past
// max()"): the permits would carry into the waiter count. Debug builds also
// abort on constructing with desired < 0 or > max() (release builds clamp it
// into [0, max()]) and on destroying a semaphore with waiters (including a
// coroutine armed on another thread's loop, or an orphaned async wait not
// yet completed: a use-after-free in release builds).
#ifndef RINGLOCK_LOCKS_SEMAPHORE_H_
#define RINGLOCK_LOCKS_SEMAPHORE_H_

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

inline constexpr uint32_t kSemPermitMask = 0xffffu;
inline constexpr uint32_t kSemWaiterOne = 1u << 16;
inline constexpr uint32_t kSemMaxWaiters = 0xffffu;

// One waiter's progress through the Semaphore protocol.
class SemaphoreAcquisition {
 public:
  // `refuse_when_full`: when kSemMaxWaiters are registered, Arm registers
  // nothing and refused() turns true (for waits that can report it);
  // otherwise Arm aborts with a message, in every build.
  SemaphoreAcquisition(internal::FutexWord& word, FutexScope scope, const char* name,
                       bool refuse_when_full = false)
      : word_(word), scope_(scope), name_(name), refuse_when_full_(refuse_when_full) {}

  const internal::FutexWord& word() const { return word_; }
  FutexScope scope() const { return scope_; }
  uint32_t bitset() const { return futex::kMatchAny; }

  bool Arm(uint32_t* expected);
  bool OnWake(uint32_t* expected);
  void Leave();
  bool refused() const { return refused_; }

 private:
  internal::FutexWord& word_;
  FutexScope scope_;
  const char* name_;
  bool refuse_when_full_;
  bool refused_ = false;
};

bool SemaphoreTryAcquire(internal::FutexWord& word);
bool SemaphoreYieldAcquire(internal::FutexWord& word);  // see YieldBeforeSleep (internal/word.h)
void SemaphoreRelease(internal::FutexWord& word, uint32_t n, uint32_t max, FutexScope scope,
                      const char* name);

}  // namespace internal

template <uint32_t kMax, FutexScope kScope>
class BasicSemaphore {
  static_assert(kMax >= 1 && kMax <= internal::kSemPermitMask,
                "a ringlock semaphore holds at most 65535 permits");

 public:
  static constexpr uint32_t max() noexcept { return kMax; }

  // Precondition (as std::counting_semaphore): 0 <= desired <= max(). Debug
  // builds abort naming the misuse; release builds clamp into [0, max()]
  // (a larger value would spill into the waiter count: phantom waiters).
  constexpr explicit BasicSemaphore(std::ptrdiff_t desired) noexcept
      : word_(ValidPermits(desired)) {}
  BasicSemaphore(const BasicSemaphore&) = delete;
  BasicSemaphore& operator=(const BasicSemaphore&) = delete;
  ~BasicSemaphore() {
    RINGLOCK_MISUSE_IF(word_.load(std::memory_order_relaxed) >= internal::kSemWaiterOne, Name(),
                       "destroyed with waiters");
  }

  void acquire() { (void)try_acquire_until_deadline(Deadline::Never()); }

  [[nodiscard]] bool try_acquire() noexcept { return internal::SemaphoreTryAcquire(word_); }

  template <class Rep, class Period>
  [[nodiscard]] bool try_acquire_for(const std::chrono::duration<Rep, Period>& d) {
    return try_acquire_until_deadline(Deadline::AfterDuration(d));
  }

  template <class Clock, class Duration>
  [[nodiscard]] bool try_acquire_until(const std::chrono::time_point<Clock, Duration>& t) {
    return try_acquire_until_deadline(Deadline::At(t));
  }

  [[nodiscard]] bool try_acquire_until_deadline(Deadline deadline) {
    if (try_acquire() || internal::SemaphoreYieldAcquire(word_)) return true;
    internal::SemaphoreAcquisition acq(word_, kScope, Name());
    return internal::BlockOn(acq, deadline);
  }

  // co_await sem.acquire_async(loop) (include locks/async.h): takes a permit without blocking the
  // loop (IORING_OP_FUTEX_WAIT on this word; the loop's futex_waitv(2)
  // helper before Linux 6.7). Same protocol as acquire(). A coroutine
  // destroyed while waiting passes on a permit's wake spent on it; if the
  // loop is destroyed first the coroutine is not resumed.
  template <class Loop>
  auto acquire_async(Loop& loop) {
    return internal::AsyncFor<Loop>::Untimed(internal::SemaphoreAcquisition(word_, kScope, Name()),
                                             loop, [](const auto&) {});
  }
  // Timed: yields absl::Status: OK (permit taken), DeadlineExceeded,
  // Cancelled (loop destroyed), or ResourceExhausted (65535 waiters are
  // already registered: the word cannot count another; nothing waited).
  template <class Loop>
  auto acquire_async_until(Loop& loop, Deadline deadline) {
    return internal::AsyncFor<Loop>::Timed(
        internal::SemaphoreAcquisition(word_, kScope, Name(), /*refuse_when_full=*/true), loop,
        deadline, Name(), [](const auto&) {});
  }
  template <class Loop, class Rep, class Period>
  auto acquire_async_for(Loop& loop, const std::chrono::duration<Rep, Period>& d) {
    return acquire_async_until(loop, Deadline::AfterDuration(d));
  }

  // Adds n permits (release ordering) and wakes up to n sleepers. Past
  // max() aborts in every build, leaving the word as it was.
  void release(uint32_t n = 1) { internal::SemaphoreRelease(word_, n, kMax, kScope, Name()); }

  // Racy by nature: for tests and metrics.
  uint32_t available() const {
    return word_.load(std::memory_order_relaxed) & internal::kSemPermitMask;
  }

  // The futex word, read-only (internal::WordAccess writes it: internals, tests).
  const internal::FutexWord& word() const { return word_; }
  static constexpr FutexScope scope() { return kScope; }
  static constexpr const char* Name() {
    return kScope == FutexScope::kPrivate ? "ringlock::Semaphore"
                                          : "ringlock::ProcessSharedSemaphore";
  }

 private:
  friend struct internal::WordAccess;  // writable word: internals and tests only
  static constexpr uint32_t ValidPermits(std::ptrdiff_t desired) {
    RINGLOCK_MISUSE_IF(desired < 0, Name(), "constructed with a negative number of permits");
    RINGLOCK_MISUSE_IF(desired > std::ptrdiff_t{kMax}, Name(),
                       "constructed with more permits than max()");
    if (desired < 0) return 0;
    return desired > std::ptrdiff_t{kMax} ? kMax : static_cast<uint32_t>(desired);
  }

  internal::FutexWord word_;
};

template <uint32_t kMax = internal::kSemPermitMask>
using CountingSemaphore = BasicSemaphore<kMax, FutexScope::kPrivate>;
using Semaphore = CountingSemaphore<>;
using BinarySemaphore = CountingSemaphore<1>;
template <uint32_t kMax = internal::kSemPermitMask>
using ProcessSharedSemaphore = BasicSemaphore<kMax, FutexScope::kShared>;

static_assert(sizeof(Semaphore) == 4);

}  // namespace ringlock

#endif  // RINGLOCK_LOCKS_SEMAPHORE_H_
