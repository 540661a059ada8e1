// ringlock/locks/shared_mutex.h — SharedMutex: a 4-byte, phase-fair reader/writer lock.
//
// ringlock::SharedMutex has std::shared_timed_mutex's interface (lock /
// try_lock / try_lock_for / try_lock_until / unlock, and the same with
// _shared) in one 32-bit futex word; it works with std::unique_lock and
// std::shared_lock. Uncontended lock / unlock and lock_shared / unlock_shared
// are one atomic read-modify-write each and never enter the kernel. Waiters
// sleep in futex(2), in their thread's EventLoop (ring-blocking), or as
// coroutines (`co_await smu.lock_async(loop)`, `lock_shared_async(loop)`),
// all on the protocol below; `Lock(smu)` / `LockShared(smu)` make it one of
// WaitAny's primitives. ProcessSharedSharedMutex works in MAP_SHARED memory.
//
// Policy (phase-fair between readers and writers):
//   * Once a writer waits (WW), arriving readers wait too: a stream of
//     readers cannot starve a writer. The last reader out wakes one writer.
//   * A writer's unlock that finds readers waiting hands the lock to ALL of
//     them in the same atomic step (they become holders: R = Nr) and wakes
//     them together (one FUTEX_WAKE of INT_MAX with the reader bitset); no
//     writer can take the lock before every one of them has unlocked.
//   * Before registering, a blocked lock() / lock_shared() yields its CPU up
//     to 4 times and tries again (internal::YieldBeforeSleep): on a machine
//     with more threads than CPUs the readers a writer waits for, or the
//     writer readers wait for, often want this very CPU. A writer that
//     yields has not set WW yet, so the bounds below start when it
//     registers.
//   Bound: a waiting reader holds the lock at the latest when the writer
//   after the current holders unlocks (one writer critical section). A
//   waiting writer waits for the readers holding when it registered, plus
//   at most one batch of readers that waited (handed the lock by a writer's
//   unlock, or by a writer wake that came before the writer was asleep and
//   found nobody), then competes with other writers: among themselves
//   writers are unfair (a running writer may barge ahead of a woken one),
//   with no bound.
//
// Memory ordering: lock / lock_shared and successful try forms acquire;
// unlock / unlock_shared release (a reader handed the lock acquires the
// writer's release: the hand-off is the writer's release RMW).
//
// The word
// --------
//   bit 0       X   a writer holds the lock
//   bit 1       WW  writers may be waiting (conservative: a woken writer
//                   leaves it set; it is cleared only by a wake that found
//                   no writer asleep, on a free word)
//   bit 2       P   reader phase: flips at each hand-off to waiting readers
//   bits 3-15   Nr  readers registered as waiting (0..8191; one more is
//                   refused: lock_shared_async_for/_until yield
//                   ResourceExhausted, every other wait aborts)
//   bits 16-31  R   readers holding (0..65535; one more aborts, every build)
//
// | state (X,WW,Nr,R)  | meaning                         | transitions                        |
// |--------------------|---------------------------------|------------------------------------|
// | 0,0,0,0            | free (idle: P either value)     | lock: X=1; lock_shared: R+1        |
// | 0,0,0,r>0          | read-held                       | lock_shared: R+1; writer: WW=1, sleep|
// | 1,ww,nr,0          | write-held (R=0 always)         | reader: Nr+1, sleep; writer: WW=1, |
// |                    |                                 | sleep; unlock: X=0 and, if Nr>0,   |
// |                    |                                 | R=Nr, Nr=0, P^=1, wake all readers;|
// |                    |                                 | else if WW: wake one writer        |
// | 0,1,nr,r>0         | read-held, writers wait         | reader: Nr+1, sleep; last unlock:  |
// |                    |                                 | wake one writer                    |
// | 0,1,nr,0           | free, writers wait: a writer is | a writer takes it: X=1 (WW stays); |
// |                    | woken or being woken            | the wake found none: WW=0 and, if  |
// |                    |                                 | Nr>0, hand-off to the readers      |
//
// Who wakes whom: whoever makes the word free with WW set (writer unlock with
// no readers waiting, last reader unlock, a writer that leaves) wakes one
// writer (bitset kWriterBit); if that wake found nobody asleep and the word
// is unchanged, it clears WW and hands the lock to any waiting readers. Hand-
// offs to readers wake every reader (bitset kReaderBit, INT_MAX).
//
// Invariants:
//   INV1  Nr>0 only with X=1 or WW=1: the step that clears X (writer unlock)
//         or WW (a wake that found nobody) hands the lock to the waiting
//         readers in the same atomic step. So no reader sleeps on a lock it
//         could take.
//   INV2  X=1 implies R=0; a hand-off happens only at R=0, so R never exceeds
//         what the word counts (Nr <= 8191 < 65535).
//   INV3  A writer sleeps only on a value with WW=1 and the lock held (X=1 or
//         R>0). WW is cleared only on a free word, so a writer on its way to
//         sleep finds the word changed (EAGAIN), or held again with WW set.
//   INV4  If the word is free with WW=1, a writer is awake and will take the
//         lock or leave (Leave wakes one in its place), or the thread that
//         made it free is about to wake one.
//   INV5  A reader sleeps only on a value with Nr>0 and its own phase P; a
//         hand-off flips P, so a reader never sleeps through its own grant.
//         P is one bit: a granted reader counts in R, and P cannot flip
//         again until R drops to 0, which needs that reader's unlock.
//
// Cancellation: a reader that leaves (timeout, destroyed coroutine) after a
// hand-off already made it a holder unlocks as a reader would (waking a
// writer if it was the last); a writer that leaves wakes another writer if
// the lock is free (the wake it leaves may have been spent on it).
// With the ring fallback (futex_waitv(2), which ignores bitsets) a writer's
// wake can land on a reader, or on the helper's stale wait of a cancelled
// coroutine (counted as woken: WW stays on a free word). A reader that
// arrives at, or wakes to, a free word with WW set sends the writer wake
// again before it sleeps, so such a spent wake delays at most until the
// next reader comes.
//
// Misuse (debug builds abort with a message naming SharedMutex): unlock() of
// a lock no writer holds, unlock_shared() with no reader holding, destroying
// a SharedMutex that is held or has readers waiting (a waiting writer is
// seen only as WW, which may be stale on a free word: not detected). Too many readers (holding or
// waiting) abort in every build (the word would wrap).
#ifndef RINGLOCK_LOCKS_SHARED_MUTEX_H_
#define RINGLOCK_LOCKS_SHARED_MUTEX_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <shared_mutex>

#include "absl/base/optimization.h"
#include "absl/base/thread_annotations.h"
#include "locks/futex.h"
#include "locks/internal/async_waits.h"
#include "locks/internal/check.h"
#include "locks/internal/tsan.h"
#include "locks/internal/word_access.h"
#include "locks/internal/word.h"

namespace ringlock {

namespace internal {

// Word layout (see the table in the file comment).
inline constexpr uint32_t kRwWriter = 1u << 0;
inline constexpr uint32_t kRwWritersWaiting = 1u << 1;
inline constexpr uint32_t kRwPhase = 1u << 2;
inline constexpr uint32_t kRwWaiterOne = 1u << 3;
inline constexpr uint32_t kRwWaiterMask = 0x1fffu << 3;
inline constexpr uint32_t kRwReaderOne = 1u << 16;
inline constexpr uint32_t kRwReaderMask = 0xffffu << 16;
static_assert((kRwWriter | kRwWritersWaiting | kRwPhase | kRwWaiterMask | kRwReaderMask) == ~0u);
// Futex wake bitsets: readers sleep with kRwReaderBit, writers kRwWriterBit.
inline constexpr uint32_t kRwReaderBit = 1u << 0;
inline constexpr uint32_t kRwWriterBit = 1u << 1;

inline bool RwFree(uint32_t w) { return (w & (kRwWriter | kRwReaderMask)) == 0; }

// One writer's progress through the SharedMutex protocol.
class SharedMutexWriterAcquisition {
 public:
  SharedMutexWriterAcquisition(internal::FutexWord& word, FutexScope scope, void* tsan,
                               bool timed = false)
      : word_(word), scope_(scope), tsan_(tsan), timed_(timed) {}
  const internal::FutexWord& word() const { return word_; }
  FutexScope scope() const { return scope_; }
  uint32_t bitset() const { return kRwWriterBit; }
  bool Arm(uint32_t* expected);
  bool OnWake(uint32_t* expected) { return Arm(expected); }
  void Leave();

 private:
  internal::FutexWord& word_;
  FutexScope scope_;
  void* tsan_;
  bool timed_;
};

// One reader's progress through the SharedMutex protocol.
class SharedMutexReaderAcquisition {
 public:
  // `refuse_when_full`: a timed async wait reports a full Nr instead of
  // aborting (refused()).
  SharedMutexReaderAcquisition(internal::FutexWord& word, FutexScope scope, const char* name,
                               void* tsan, bool timed = false, bool refuse_when_full = false)
      : word_(word),
        scope_(scope),
        name_(name),
        tsan_(tsan),
        timed_(timed),
        refuse_when_full_(refuse_when_full) {}
  const internal::FutexWord& word() const { return word_; }
  FutexScope scope() const { return scope_; }
  uint32_t bitset() const { return kRwReaderBit; }
  bool Arm(uint32_t* expected);
  bool OnWake(uint32_t* expected);
  void Leave();
  bool refused() const { return refused_; }

 private:
  internal::FutexWord& word_;
  FutexScope scope_;
  const char* name_;
  void* tsan_;
  bool timed_;
  bool refuse_when_full_;
  bool refused_ = false;
  uint32_t phase_ = 0;  // P when this reader registered
};

// Takes a shared hold if no writer holds or waits; false otherwise.
// X=1 if the lock is free (waiting readers do not stop it); never waits.
bool RwTryLock(internal::FutexWord& word);
bool RwTryLockShared(internal::FutexWord& word, const char* name);
// The slow half of unlock() / unlock_shared(): the word `w` after the
// release is free with WW set: wake one writer, or hand off to the readers.
void RwWakeIfFree(internal::FutexWord& word, uint32_t w, FutexScope scope);
// unlock()'s CAS when the word is not exactly X.
void RwUnlockSlow(internal::FutexWord& word, FutexScope scope);
// unlock_shared() after the fetch_sub.
inline void RwAfterUnlockShared(internal::FutexWord& word, uint32_t w, FutexScope scope) {
  if (RwFree(w) && (w & kRwWritersWaiting)) RwWakeIfFree(word, w, scope);
}

}  // namespace internal

template <FutexScope kScope>
class ABSL_LOCKABLE BasicSharedMutex {
 public:
  static constexpr uint32_t kMaxReaders = internal::kRwReaderMask / internal::kRwReaderOne;
  static constexpr uint32_t kMaxWaitingReaders = internal::kRwWaiterMask / internal::kRwWaiterOne;

  constexpr BasicSharedMutex() noexcept = default;
  BasicSharedMutex(const BasicSharedMutex&) = delete;
  BasicSharedMutex& operator=(const BasicSharedMutex&) = delete;
  ~BasicSharedMutex() {
    // WW alone may be stale (see Cancellation above): not checked.
    RINGLOCK_MISUSE_IF((word_.load(std::memory_order_relaxed) &
                        (internal::kRwWriter | internal::kRwWaiterMask | internal::kRwReaderMask)) != 0,
                       Name(), "destroyed while held or with waiters");
    internal::TsanMutexDestroyed(this);
  }

  // ---- Exclusive ----
  // Idle words are 0 or P (the reader phase): the fast paths keep P.
  void lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() {
    uint32_t w = word_.load(std::memory_order_relaxed);
    if (ABSL_PREDICT_TRUE((w & ~internal::kRwPhase) == 0 &&
                          word_.compare_exchange_weak(w, w | internal::kRwWriter,
                                                      std::memory_order_acquire,
                                                      std::memory_order_relaxed))) {
      internal::TsanMutexAcquired(this);
      return;
    }
    (void)lock_until(Deadline::Never(), false);
  }
  // Takes the lock if no writer or reader holds it (waiting readers do not
  // stop it: its unlock hands the lock to them). Never waits.
  [[nodiscard]] bool try_lock() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) {
    if (internal::RwTryLock(word_)) {
      internal::TsanMutexAcquired(this, internal::kTsanTryLock);
      return true;
    }
    internal::TsanMutexTryLockFailed(this);
    return false;
  }
  // Timed forms: absolute CLOCK_MONOTONIC deadline (other clocks convert by
  // remaining time). True if the lock was taken; a waiter that gives up
  // passes on a wake that may have been spent on it.
  template <class Rep, class Period>
  [[nodiscard]] bool try_lock_for(const std::chrono::duration<Rep, Period>& d)
      ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) {
    return try_lock_until_deadline(Deadline::AfterDuration(d));
  }
  template <class Clock, class Duration>
  [[nodiscard]] bool try_lock_until(const std::chrono::time_point<Clock, Duration>& t)
      ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) {
    return try_lock_until_deadline(Deadline::At(t));
  }
  [[nodiscard]] bool try_lock_until_deadline(Deadline deadline)
      ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) {
    if (try_lock()) return true;
    return lock_until(deadline, true);
  }
  // Releases the exclusive lock (release ordering); hands it to waiting
  // readers if any, else wakes one writer if any may wait.
  void unlock() ABSL_UNLOCK_FUNCTION() {
    RINGLOCK_MISUSE_IF((word_.load(std::memory_order_relaxed) & internal::kRwWriter) == 0, Name(),
                       "unlock() of a shared mutex no writer holds");
    internal::TsanMutexPreUnlock(this, 0);
    uint32_t w = word_.load(std::memory_order_relaxed);
    if ((w & ~internal::kRwPhase) != internal::kRwWriter ||
        !word_.compare_exchange_weak(w, w & ~internal::kRwWriter, std::memory_order_release,
                                     std::memory_order_relaxed)) {
      internal::RwUnlockSlow(word_, kScope);
    }
    internal::TsanMutexPostUnlock(this, 0);
  }

  // ---- Shared ----
  void lock_shared() ABSL_SHARED_LOCK_FUNCTION() {
    uint32_t w = word_.load(std::memory_order_relaxed);
    if (ABSL_PREDICT_TRUE((w & (internal::kRwWriter | internal::kRwWritersWaiting)) == 0 &&
                          (w & internal::kRwReaderMask) != internal::kRwReaderMask &&
                          word_.compare_exchange_weak(w, w + internal::kRwReaderOne,
                                                      std::memory_order_acquire,
                                                      std::memory_order_relaxed))) {
      internal::TsanMutexAcquired(this, internal::kTsanReadLock);
      return;
    }
    (void)lock_shared_until(Deadline::Never(), false);
  }
  // Takes a shared hold if no writer holds the lock or waits for it.
  [[nodiscard]] bool try_lock_shared() ABSL_SHARED_TRYLOCK_FUNCTION(true) {
    if (internal::RwTryLockShared(word_, Name())) {
      internal::TsanMutexAcquired(this, internal::kTsanReadLock | internal::kTsanTryLock);
      return true;
    }
    internal::TsanMutexTryLockFailed(this, internal::kTsanReadLock);
    return false;
  }
  template <class Rep, class Period>
  [[nodiscard]] bool try_lock_shared_for(const std::chrono::duration<Rep, Period>& d)
      ABSL_SHARED_TRYLOCK_FUNCTION(true) {
    return try_lock_shared_until_deadline(Deadline::AfterDuration(d));
  }
  template <class Clock, class Duration>
  [[nodiscard]] bool try_lock_shared_until(const std::chrono::time_point<Clock, Duration>& t)
      ABSL_SHARED_TRYLOCK_FUNCTION(true) {
    return try_lock_shared_until_deadline(Deadline::At(t));
  }
  [[nodiscard]] bool try_lock_shared_until_deadline(Deadline deadline)
      ABSL_SHARED_TRYLOCK_FUNCTION(true) {
    if (try_lock_shared()) return true;
    return lock_shared_until(deadline, true);
  }
  // Releases one shared hold (release ordering); the last reader out wakes
  // one writer if any may wait.
  void unlock_shared() ABSL_UNLOCK_FUNCTION() {
    RINGLOCK_MISUSE_IF((word_.load(std::memory_order_relaxed) & internal::kRwReaderMask) == 0,
                       Name(), "unlock_shared() with no reader holding the lock");
    internal::TsanMutexPreUnlock(this, internal::kTsanReadLock);
    const uint32_t w =
        word_.fetch_sub(internal::kRwReaderOne, std::memory_order_release) - internal::kRwReaderOne;
    internal::RwAfterUnlockShared(word_, w, kScope);
    internal::TsanMutexPostUnlock(this, internal::kTsanReadLock);
  }

  // ---- Async (coroutines on a uring::EventLoop; include locks/async.h) ----
  //   std::unique_lock<SharedMutex> g = co_await smu.lock_async(loop);
  //   std::shared_lock<SharedMutex> r = co_await smu.lock_shared_async(loop);
  // Same protocol as lock() / lock_shared(); as Mutex::lock_async otherwise
  // (destroying the coroutine while it waits cancels the wait and passes on
  // anything spent on it; if the loop is destroyed first, the coroutine is
  // not resumed). Timed forms yield absl::StatusOr<guard>: DeadlineExceeded,
  // Cancelled (loop destroyed first), ResourceExhausted (8191 readers
  // already wait: the word cannot count another; nothing waited).
  template <class Loop>
  auto lock_async(Loop& loop) {
    return internal::AsyncFor<Loop>::Untimed(WriterAcq(false), loop,
                                             [this](const auto&) { return AdoptLock(); });
  }
  template <class Loop>
  auto lock_async_until(Loop& loop, Deadline deadline) {
    return internal::AsyncFor<Loop>::Timed(WriterAcq(true), loop, deadline, Name(),
                                           [this](const auto&) { return AdoptLock(); });
  }
  template <class Loop, class Rep, class Period>
  auto lock_async_for(Loop& loop, const std::chrono::duration<Rep, Period>& d) {
    return lock_async_until(loop, Deadline::AfterDuration(d));
  }
  template <class Loop>
  auto lock_shared_async(Loop& loop) {
    return internal::AsyncFor<Loop>::Untimed(ReaderAcq(false, false), loop,
                                             [this](const auto&) { return AdoptShared(); });
  }
  template <class Loop>
  auto lock_shared_async_until(Loop& loop, Deadline deadline) {
    return internal::AsyncFor<Loop>::Timed(ReaderAcq(true, true), loop, deadline, Name(),
                                           [this](const auto&) { return AdoptShared(); });
  }
  template <class Loop, class Rep, class Period>
  auto lock_shared_async_for(Loop& loop, const std::chrono::duration<Rep, Period>& d) {
    return lock_shared_async_until(loop, Deadline::AfterDuration(d));
  }

  // The futex word, read-only (internal::WordAccess writes it: internals, tests).
  const internal::FutexWord& word() const { return word_; }
  static constexpr FutexScope scope() { return kScope; }
  static constexpr const char* Name() {
    return kScope == FutexScope::kPrivate ? "ringlock::SharedMutex"
                                          : "ringlock::ProcessSharedSharedMutex";
  }

  // The acquisitions (WaitAny's Lock / LockShared, the async forms).
  internal::SharedMutexWriterAcquisition WriterAcq(bool timed) {
    return internal::SharedMutexWriterAcquisition(word_, kScope, this, timed);
  }
  internal::SharedMutexReaderAcquisition ReaderAcq(bool timed, bool refuse_when_full) {
    return internal::SharedMutexReaderAcquisition(word_, kScope, Name(), this, timed,
                                                  refuse_when_full);
  }

 private:
  friend struct internal::WordAccess;  // writable word: internals and tests only
  bool lock_until(Deadline deadline, bool timed);
  bool lock_shared_until(Deadline deadline, bool timed);
  std::unique_lock<BasicSharedMutex> AdoptLock() {
    return std::unique_lock<BasicSharedMutex>(*this, std::adopt_lock);
  }
  std::shared_lock<BasicSharedMutex> AdoptShared() {
    return std::shared_lock<BasicSharedMutex>(*this, std::adopt_lock);
  }

  internal::FutexWord word_{0};
};

using SharedMutex = BasicSharedMutex<FutexScope::kPrivate>;
using ProcessSharedSharedMutex = BasicSharedMutex<FutexScope::kShared>;

static_assert(sizeof(SharedMutex) == 4 && alignof(SharedMutex) == 4);
static_assert(sizeof(ProcessSharedSharedMutex) == 4);

extern template class BasicSharedMutex<FutexScope::kPrivate>;
extern template class BasicSharedMutex<FutexScope::kShared>;

}  // namespace ringlock

#endif  // RINGLOCK_LOCKS_SHARED_MUTEX_H_
