// ringlock/locks/condvar.h — CondVar: a 4-byte condition variable.
//
// Works with ringlock::Mutex (directly or through std::unique_lock) and with
// any BasicLockable, like std::condition_variable_any: wait / wait(pred) /
// wait_for / wait_until, notify_one / notify_all. notify_*() with nobody
// waiting makes no syscall. Waiters sleep in futex(2), in their thread's
// EventLoop (ring-blocking), or as coroutines (`co_await cv.wait_async(...)`,
// wait_async below), all on the protocol below. ProcessSharedCondVar works with
// a ProcessSharedMutex in MAP_SHARED memory.
//
// Semantics as std::condition_variable: wait() atomically releases the lock
// and sleeps; it returns with the lock held, after a notify or spuriously (use
// the predicate forms). A notify reaches the threads that were waiting when
// it was called, never a later one. A timed wait that races with a notify
// reports std::cv_status::no_timeout: the notify is not lost on it.
//
// notify_all: one FUTEX_WAKE for all sleepers. Woken waiters then relock the
// mutex through its normal slow path: the first takes it, each other one
// registers as a mutex waiter and sleeps, and the mutex wakes them one at a
// time (its W bit keeps at most one woken waiter running). That bounds the
// stampede to one extra sleep per waiter. Requeueing sleepers straight onto
// the mutex word (FUTEX_CMP_REQUEUE) would save that sleep, but needs the
// mutex's address in the condvar (no room in 4 bytes) and has no io_uring
// equivalent, so async waiters could not follow it.
//
// The word
// --------
//   bit 0      W  waiters may be asleep on the word
//   bits 1-31  Q  notify sequence number (wraps)
//
// | state | meaning                        | transitions                                  |
// |-------|--------------------------------|----------------------------------------------|
// | W=0   | no waiter is owed a notify     | notify: nothing, no syscall; wait: W=1, sleep|
// | W=1   | waiters may be registered or   | notify_one: Q+1, wake 1; when it woke nobody |
// |       | asleep                         |   and the word is unchanged: Q+1 again, W=0, |
// |       |                                |   then wake all                              |
// |       |                                | notify_all: Q+1, W=0, wake all               |
//
// Who wakes whom: a notifier that sees W=1 bumps Q and wakes. A waiter returns
// when Q differs from the value it saw when it registered (before releasing
// the lock), or when W is clear; a waiter about to sleep when the word changes
// gets EAGAIN from the kernel, so it cannot miss a notify.
//
// Invariants:
//   INV1  A waiter sleeps only on a word with W=1 and Q equal to its own seq.
//   INV2  W is cleared only together with a bump of Q, by a notify that then
//         wakes every sleeper: every waiter registered before the clear sees
//         Q changed and returns, so W=0 means no registered waiter is owed a
//         later notify. (notify_one clears W only when its wake found nobody
//         and the word is still the one it wrote; clearing without the second
//         bump stranded a waiter that registered between the first bump and
//         the clear: regression tests BoundedQueueNotifyAfterUnlockLosesNothing
//         and NotifyOneClearingWDoesNotStrandALateSleeper.)
//   Q has 31 bits: a waiter could only be confused by exactly 2^31 notifies
//   between registering and sleeping.
// A waiter that leaves after Q changed (timeout, cancelled coroutine) may have
// absorbed a notify_one: it sends a notify_one of its own in its place.
//
// Misuse (debug builds abort): destroying a condvar with sleepers (checked
// with one futex wake in the destructor when W=1, debug builds only),
// including a coroutine or ring-blocked waiter armed on another thread's loop,
// or an orphaned async wait not yet completed: a use-after-free in release
// builds (the loop or the kernel completes the wait on freed memory).
#ifndef RINGLOCK_LOCKS_CONDVAR_H_
#define RINGLOCK_LOCKS_CONDVAR_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "locks/futex.h"
#include "locks/internal/async_waits.h"
#include "locks/internal/block_on.h"
#include "locks/internal/check.h"
#include "locks/internal/word_access.h"
#include "locks/mutex.h"
#include "locks/internal/word.h"
#include "uring/task.h"

namespace ringlock {

namespace internal {

inline constexpr uint32_t kCondWaiters = 1u << 0;
inline constexpr uint32_t kCondSeqOne = 1u << 1;

// One waiter's progress through the CondVar protocol. Arm releases the lock
// (through `unlock`) after registering, so no notify can fall in between.
class CondVarAcquisition {
 public:
  using UnlockFn = void (*)(void*);
  CondVarAcquisition(internal::FutexWord& word, FutexScope scope, UnlockFn unlock, void* lock)
      : word_(word), scope_(scope), unlock_(unlock), lock_(lock) {}

  const internal::FutexWord& word() const { return word_; }
  FutexScope scope() const { return scope_; }
  uint32_t bitset() const { return futex::kMatchAny; }

  bool Arm(uint32_t* expected);
  bool OnWake(uint32_t* expected);
  void Leave();
  // After a nested ring wait made the backend run Leave() (which forwarded
  // any notify this waiter had absorbed): the wait returns as a spurious
  // wakeup. Arming again would release the caller's lock a second time.
  bool Rearm(uint32_t*) { return true; }

 private:
  internal::FutexWord& word_;
  FutexScope scope_;
  UnlockFn unlock_;
  void* lock_;
  uint32_t seq_ = 0;
};

void CondVarNotify(internal::FutexWord& word, FutexScope scope, bool all);
// Debug only: wakes every sleeper; true if there was one.
bool CondVarHasSleepers(internal::FutexWord& word, FutexScope scope);

}  // namespace internal

template <FutexScope kScope>
class BasicCondVar {
 public:
  using MutexType = BasicMutex<kScope>;

  constexpr BasicCondVar() noexcept = default;
  BasicCondVar(const BasicCondVar&) = delete;
  BasicCondVar& operator=(const BasicCondVar&) = delete;
  ~BasicCondVar() {
    if constexpr (internal::kDebugChecks) {
      // W alone may be stale; a wake that finds a sleeper is proof.
      if (word_.load(std::memory_order_relaxed) & internal::kCondWaiters) {
        RINGLOCK_MISUSE_IF(internal::CondVarHasSleepers(word_, kScope), Name(),
                           "destroyed with waiters");
      }
    }
  }

  void notify_one() noexcept { internal::CondVarNotify(word_, kScope, false); }
  void notify_all() noexcept { internal::CondVarNotify(word_, kScope, true); }

  // abseil style: `mu` is held on entry and on return.
  void wait(MutexType& mu) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { WaitImpl(mu, Deadline::Never()); }

  // Any BasicLockable: std::unique_lock<Mutex>, std::unique_lock<std::mutex>, ...
  template <class Lock>
  void wait(Lock& lock) {
    WaitImpl(lock, Deadline::Never());
  }

  template <class Lock, class Predicate>
  void wait(Lock& lock, Predicate pred) {
    while (!pred()) wait(lock);
  }

  template <class Lock, class Rep, class Period>
  std::cv_status wait_for(Lock& lock, const std::chrono::duration<Rep, Period>& d) {
    return WaitImpl(lock, Deadline::AfterDuration(d)) ? std::cv_status::no_timeout
                                                      : std::cv_status::timeout;
  }

  template <class Lock, class Rep, class Period, class Predicate>
  bool wait_for(Lock& lock, const std::chrono::duration<Rep, Period>& d, Predicate pred) {
    return wait_until_deadline(lock, Deadline::AfterDuration(d), std::move(pred));
  }

  template <class Lock, class Clock, class Duration>
  std::cv_status wait_until(Lock& lock, const std::chrono::time_point<Clock, Duration>& t) {
    return WaitImpl(lock, Deadline::At(t)) ? std::cv_status::no_timeout : std::cv_status::timeout;
  }

  template <class Lock, class Clock, class Duration, class Predicate>
  bool wait_until(Lock& lock, const std::chrono::time_point<Clock, Duration>& t, Predicate pred) {
    return wait_until_deadline(lock, Deadline::At(t), std::move(pred));
  }

  // Returns pred(): false only if the deadline passed with pred() false.
  template <class Lock, class Predicate>
  bool wait_until_deadline(Lock& lock, Deadline deadline, Predicate pred) {
    while (!pred()) {
      if (!WaitImpl(lock, deadline)) return pred();
    }
    return true;
  }

  // ---- Async (coroutines on a uring::EventLoop; include locks/async.h) ----
  //
  //   std::unique_lock<Mutex> lock = co_await mu.lock_async(loop);
  //   while (!ready) co_await cv.wait_async(lock, loop);
  //
  // Releases the lock, waits for a notify with IORING_OP_FUTEX_WAIT on this
  // word (the loop's futex_waitv(2) helper before Linux 6.7), then retakes
  // the lock with lock_async; the loop keeps running other work throughout.
  // Same protocol as wait(); spurious returns possible, as wait(). A
  // coroutine destroyed while waiting passes on a notify_one spent on it.
  template <class Loop>
  uring::Task<void> wait_async(std::unique_lock<MutexType>& lock, Loop& loop) {
    co_await WaitForNotify(lock, loop, Deadline::Never());
    lock = co_await lock.mutex()->lock_async(loop);
  }

  // Timed: std::cv_status::no_timeout (notified, or spuriously) or
  // std::cv_status::timeout (the deadline passed first), with the lock held
  // again; or a Cancelled status if the loop was destroyed first, and then
  // the lock is not held (lock.owns_lock() is false): there is no loop left
  // to retake it on.
  template <class Loop>
  uring::Task<absl::StatusOr<std::cv_status>> wait_async_until(std::unique_lock<MutexType>& lock,
                                                               Loop& loop, Deadline deadline) {
    const AsyncWaitStatus status = co_await WaitForNotify(lock, loop, deadline);
    if (status == AsyncWaitStatus::kCancelled)
      co_return internal::AsyncFor<Loop>::Error(status, Name());
    lock = co_await lock.mutex()->lock_async(loop);
    co_return status == AsyncWaitStatus::kAcquired ? std::cv_status::no_timeout
                                                   : std::cv_status::timeout;
  }
  template <class Loop, class Rep, class Period>
  uring::Task<absl::StatusOr<std::cv_status>> wait_async_for(
      std::unique_lock<MutexType>& lock, Loop& loop, const std::chrono::duration<Rep, Period>& d) {
    return wait_async_until(lock, loop, Deadline::AfterDuration(d));
  }

  // The futex word, read-only (internal::WordAccess writes it: internals, tests).
  const internal::FutexWord& word() const { return word_; }
  static constexpr FutexScope scope() { return kScope; }
  static constexpr const char* Name() {
    return kScope == FutexScope::kPrivate ? "ringlock::CondVar" : "ringlock::ProcessSharedCondVar";
  }

 private:
  friend struct internal::WordAccess;  // writable word: internals and tests only
  template <class Loop>
  auto WaitForNotify(std::unique_lock<MutexType>& lock, Loop& loop, Deadline deadline) {
    return internal::AsyncFor<Loop>::Raw(
        internal::CondVarAcquisition(
            word_, kScope, [](void* l) { static_cast<std::unique_lock<MutexType>*>(l)->unlock(); },
            &lock),
        loop, deadline, /*resume_on_cancel=*/deadline != Deadline::Never());
  }

  // True if woken (or spuriously), false on timeout. The lock is held again
  // on return either way. (Released and retaken inside: the callers carry
  // the lock contract for clang's analysis.)
  template <class Lock>
  bool WaitImpl(Lock& lock, Deadline deadline) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    internal::CondVarAcquisition acq(
        word_, kScope,
        [](void* l) ABSL_NO_THREAD_SAFETY_ANALYSIS { static_cast<Lock*>(l)->unlock(); }, &lock);
    const bool woken = internal::BlockOn(acq, deadline);
    Relock(lock);
    return woken;
  }

  // Relocking after a wait: a ringlock Mutex spins then only while nobody is
  // parked on it (mutex.h, "Spinning"); any other lock just locks.
  template <class Lock>
  static void Relock(Lock& lock) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    lock.lock();
  }
  static void Relock(MutexType& mu) ABSL_NO_THREAD_SAFETY_ANALYSIS { mu.LockAfterWake(); }
  static void Relock(std::unique_lock<MutexType>& lock) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    MutexType* mu = lock.release();  // released by the wait, still associated
    mu->LockAfterWake();
    lock = std::unique_lock<MutexType>(*mu, std::adopt_lock);
  }

  internal::FutexWord word_{0};
};

using CondVar = BasicCondVar<FutexScope::kPrivate>;
using ProcessSharedCondVar = BasicCondVar<FutexScope::kShared>;

static_assert(sizeof(CondVar) == 4);

}  // namespace ringlock

#endif  // RINGLOCK_LOCKS_CONDVAR_H_
