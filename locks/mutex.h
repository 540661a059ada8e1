// ringlock/locks/mutex.h — Mutex: a 4-byte, adaptive, starvation-free lock.
//
// ringlock::Mutex is a drop-in for std::mutex (40 bytes) in one 32-bit futex
// word. Uncontended lock and unlock are one atomic read-modify-write each and
// never enter the kernel. Contended lockers spin briefly, then sleep on the
// word, in one of three ways that all follow the protocol below:
//   * in futex(2) (any thread),
//   * in the thread's io_uring EventLoop, which keeps completing the thread's
//     other I/O while it waits (ring-blocking; see locks/ring_wait_backend.h),
//   * as a coroutine: `co_await mu.lock_async(loop)` (below).
// ProcessSharedMutex is the same lock for MAP_SHARED memory between processes.
//
// Fairness: unfair by default (a running thread may barge ahead of sleeping
// ones: that is what makes it fast), with a starvation bound: a waiter that
// has waited kStarvationAfter (1 ms) becomes *starving*; while any waiter is
// starving nobody else may take the lock, unlock wakes starving waiters only,
// and they take it in the kernel's FIFO order. A waiter therefore gets the lock
// at most one wake after it has waited 1 ms, plus one critical section per
// starving waiter queued before it (at most 255).
//
// Spinning: a contended lock() spins for about 4 us (100 pauses, looking at
// the word with exponential backoff) before it registers and sleeps, and
// takes the lock whenever it sees it free, even while others are parked (the
// newcomer's barge, below): with short critical sections a locker that
// registered behind a parked waiter used to find the word changed when it
// went to sleep, and the unlocker's wake found nobody asleep (bench/README.md,
// "Where the time goes"). It stops at once if a waiter is starving (INV4).
// A waiter of lock() that wakes to find the lock held spins the same way
// before it sleeps again (it keeps W meanwhile, so no unlock sends another
// wake): half the context switches with long critical sections.
// Two callers spin only while nobody is parked, the rule lock() had before:
// a waiter its CondVar woke relocking (a notifier usually still holds the
// mutex, so a woken herd spinning only delays it: the group-commit workload
// lost a third of its throughput at 8 threads), and lock_async (its loop
// waits while it spins); neither spins again when woken. No spinner yields
// the CPU: yielding before sleeping helped the contended workloads further
// (and cut the long section's p99.9 wait five-fold) but cost group commit a
// third to a half however it was rationed (bench/README.md).
//
// Memory ordering: lock() and a successful try_lock() acquire, unlock()
// releases, as std::mutex.
//
// The word
// --------
//   bit 0      L  locked
//   bit 1      W  waking: a registered waiter is awake (woken and not yet back
//                 asleep), or about to find its sleep fails; unlockers need
//                 not wake another
//   bits 2-9   S  number of starving waiters (0..255)
//   bits 10-31 N  number of registered waiters: asleep, or about to sleep, or
//                 woken and not yet gone (0..2^22-1: one more waiter is
//                 refused in every build, never counted: lock_async_until /
//                 lock_async_for yield ResourceExhausted, every other wait
//                 aborts with a message)
//
// | state (L,W,S,N)     | meaning                      | transitions                      |
// |---------------------|------------------------------|----------------------------------|
// | 0,0,0,0             | free                         | lock: L=1 (lock bts)             |
// | 1,0,0,0             | held, nobody waits           | unlock: -> 0,0,0,0, no syscall   |
// | 1,w,s,n>0           | held, n waiters              | unlock: L=0, then if W=0: W=1 and|
// |                     |                              | wake 1 (starving ones if s>0)    |
// | 0,1,s,n>0           | free, a woken waiter runs    | it takes it: L=1,W=0,N-1(,S-1)   |
// | 0,w,0,n>0           | free, waiters asleep         | a newcomer barges: L=1 (bts)     |
// | 0,0,s>0,n           | transient only (INV2)        | whoever made it wakes: W=1       |
// | 1,w,s>0,n           | a newcomer's bts hit S>0     | it unlocks at once (INV4)        |
// | 1,w,s,n or 0,w,s>0,n| a locker gives up spinning   | registers: N+1, W=0 (INV5), then |
// |                     |                              | sleeps on that value             |
//
// Who wakes whom: the unlocker that finds N>0 and W=0 sets W and wakes one
// sleeper (bitset kStarvingBit when S>0, else any). The woken waiter clears W
// in its next CAS: it takes the lock, or goes back to sleep, or leaves. A
// registering waiter clears W too (INV5), so no waiter sleeps on a value with
// W set; if a wake found nobody asleep, the next waiter to arrive clears W.
//
// Invariants:
//   INV1  S <= N, and a waiter counted in S is counted in N.
//   INV2  If L=0 and N>0 then W=1, or the thread that made it so (unlocker,
//         leaving or re-sleeping waiter) is about to set W and wake one.
//   INV3  If W=1 then some waiter counted in N will run OnWake: it was woken,
//         or the CAS that set W changed the word under its not-yet-armed
//         sleep so the kernel returns EAGAIN to it (INV5 makes that hold:
//         the value it arms with has W=0, the word has W=1 until a waiter
//         running OnWake clears it).
//   INV4  While S>0 only starving waiters keep L: a newcomer whose bts finds
//         S>0 unlocks again at once, waking a starving waiter.
//   INV5  A waiter never sleeps on a word value with W=1 (registration and
//         re-sleeping clear it), except a non-starving waiter that found the
//         lock reserved for starving ones and issued the wake itself (at
//         once, never held in a WakeBatch). If that wake found nobody, it
//         clears W and sleeps on the value it then sees if that has no W and
//         still holds it off, else looks again. (Looking again at once spun
//         for as long as a leaving starving waiter stayed preempted: found
//         by the model checker, tests/check.) Without INV5 a W whose wake
//         found nobody let the word return to exactly the value a waiter
//         then slept on (a newcomer barges: ABA), and the next unlock,
//         seeing W, woke nobody: L=0 W=1 N>0 forever (a lost wakeup, found
//         with the futex_waitv(2) fallback, whose helper leaves the kernel's
//         queue while it rebuilds its wait set).
// INV2 + INV3 (with INV5) are the no-lost-wakeup argument: every time the lock is free
// with waiters, one waiter is awake or about to be.
//
// Cancellation: a waiter that leaves (timeout, destroyed coroutine) after a
// wake may have been spent on it clears W and, if the lock is free with
// waiters, wakes one in its place (INV2): a handoff is never lost.
//
// Misuse (debug builds abort with a message): unlock() of an unlocked mutex,
// destroying a locked mutex or one with waiters (including a coroutine armed
// on another thread's loop, or an orphaned async wait not yet completed: a
// use-after-free in release builds), an AsyncMutexLock from a loop's cohort
// unlocked on another thread (its cohort lives on the loop's thread), a
// misaligned word.
// fork(): as std::mutex, only async-signal-safe use in the child; a mutex held
// by another thread at fork() stays held forever in the child.
#ifndef RINGLOCK_LOCKS_MUTEX_H_
#define RINGLOCK_LOCKS_MUTEX_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <utility>

#include "absl/base/optimization.h"
#include "absl/base/thread_annotations.h"
#include "locks/futex.h"
#include "locks/internal/async_waits.h"
#include "locks/internal/check.h"
#include "locks/internal/tsan.h"
#include "locks/internal/word_access.h"
#include "locks/internal/word.h"

namespace ringlock {

template <FutexScope>
class BasicCondVar;

template <FutexScope>
class BasicAsyncMutexLock;

namespace internal {
template <FutexScope>
class MutexAcquisition;
template <FutexScope, class Loop>
class MutexLockAwaiter;
struct MutexCohort;
void EndOwnership(MutexCohort* cohort);

#ifdef RINGLOCK_MUTEX_STATS
// Bench-only counts of the Mutex's slow path (-DRINGLOCK_MUTEX_STATS; compiled
// out otherwise): where contended acquisitions spend their time.
struct MutexStats {
  std::atomic<uint64_t> spins{0};        // SpinToLock calls
  std::atomic<uint64_t> spin_wins{0};    // ... that took the lock
  std::atomic<uint64_t> spin_wins_over_parked{0};  // ... while a waiter was registered
  std::atomic<uint64_t> spin_stopped{0};  // ... that stopped at a starving (or parked) waiter
  std::atomic<uint64_t> registers{0};    // waiters registered (N+1)
  std::atomic<uint64_t> on_wakes{0};     // OnWake runs (woken, or sleep failed)
  std::atomic<uint64_t> reparks{0};      // ... that went back to sleep without the lock
  std::atomic<uint64_t> wake_spin_wins{0};  // ... that found it held, spun, and took it
  std::atomic<uint64_t> wakes{0};        // wakes sent by unlock / leave (W set)
  std::atomic<uint64_t> loop_handoffs{0};      // a loop cohort handed the lock on
  std::atomic<uint64_t> loop_slices_ended{0};  // ... released it, others waiting
  std::atomic<uint64_t> loop_new_representatives{0};  // queue head sent to the word
};
inline MutexStats g_mutex_stats;
#define RINGLOCK_MUTEX_STAT(f) \
  ::ringlock::internal::g_mutex_stats.f.fetch_add(1, std::memory_order_relaxed)
#else
#define RINGLOCK_MUTEX_STAT(f) static_cast<void>(0)
#endif
}  // namespace internal

template <FutexScope kScope>
class ABSL_LOCKABLE BasicMutex {
 public:
  // Word layout (see the table above).
  static constexpr uint32_t kLocked = 1u << 0;
  static constexpr uint32_t kWaking = 1u << 1;
  static constexpr uint32_t kStarvingOne = 1u << 2;
  static constexpr uint32_t kStarvingMask = 0xffu << 2;
  static constexpr uint32_t kWaiterOne = 1u << 10;
  static constexpr uint32_t kWaiterMask = ~0u << 10;
  static constexpr uint32_t kMaxStarving = kStarvingMask / kStarvingOne;
  static_assert((kLocked | kWaking | kStarvingMask | kWaiterMask) == ~0u);
  static_assert(((kLocked | kWaking) & kStarvingMask) == 0 && (kStarvingMask & kWaiterMask) == 0);

  // Futex wake bitsets: every sleeper matches kAnyBit; starving ones also
  // match kStarvingBit, so unlock can wake them selectively.
  static constexpr uint32_t kAnyBit = 1u << 0;
  static constexpr uint32_t kStarvingBit = 1u << 1;

  // Waited this long, a waiter becomes starving (the threshold Go's
  // sync.Mutex uses; a futex round trip on a VM is ~40 us, so this is ~25).
  static constexpr std::chrono::microseconds kStarvationAfter{1000};

  constexpr BasicMutex() noexcept = default;
  BasicMutex(const BasicMutex&) = delete;
  BasicMutex& operator=(const BasicMutex&) = delete;
  ~BasicMutex() {
    RINGLOCK_MISUSE_IF(word_.load(std::memory_order_relaxed) != 0, Name(),
                       "destroyed while locked or with waiters");
    internal::TsanMutexDestroyed(this);
  }

  // Completes when the caller owns the lock. Acquire ordering. Spins briefly
  // (while no waiter starves; see "Spinning" above), then sleeps: in
  // futex(2), or in the thread's EventLoop ring if it has one (dispatching
  // its other work). No spurious returns. Not reentrant: locking a mutex
  // the caller holds deadlocks, as std::mutex.
  void lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { LockSpinningWhile(SpinWhile::kNoneStarving); }

  // Takes the lock if it is free and no waiter is starving; never waits.
  [[nodiscard]] bool try_lock() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) {
    if (!TryLockImpl()) {
      internal::TsanMutexTryLockFailed(this);
      return false;
    }
    internal::TsanMutexAcquired(this, internal::kTsanTryLock);
    return true;
  }

  // Like lock(), but gives up at the deadline (absolute CLOCK_MONOTONIC;
  // other clocks convert by remaining time; durations too long to represent
  // wait forever). Returns true if the lock was taken: a wake that races
  // with the deadline is taken, not lost; a waiter that gives up passes on
  // any wake it consumed.
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
      ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true);

  // Releases the lock (release ordering). Enters the kernel only if a waiter
  // is registered and none is already awake (W), to wake one. Any thread may
  // unlock (no owner is recorded), but TSAN builds expect the locking thread.
  void unlock() ABSL_UNLOCK_FUNCTION() {
    RINGLOCK_MISUSE_IF((word_.load(std::memory_order_relaxed) & kLocked) == 0, Name(),
                       "unlock() of a mutex that is not locked");
    internal::TsanMutexPreUnlock(this, 0);
    // Comparing with kLocked (rather than using the old value) lets the
    // compiler emit `lock sub` + `jne`; the slow path reloads the word.
    if (word_.fetch_sub(kLocked, std::memory_order_release) != kLocked) UnlockSlow();
    internal::TsanMutexPostUnlock(this, 0);
  }

  // ---- Async (coroutines on a uring::EventLoop; include locks/async.h) ----
  //
  //   ringlock::AsyncMutexLock guard = co_await mu.lock_async(loop);
  //
  // Completes when the coroutine owns the lock; the loop keeps running other
  // work meanwhile. Uncontended it costs what lock() costs, and it spins as
  // briefly as lock(), but only while nobody is parked (the whole loop waits
  // while it spins, and the holder may be one of its own coroutines).
  //
  // Contended, the loop's coroutines take turns as a *cohort*
  // (internal/mutex_cohort.h): one of them waits on the word for all of
  // them, with IORING_OP_FUTEX_WAIT (Linux 6.7+; the loop's futex_waitv(2)
  // helper thread before), following the same protocol as lock(); the
  // others queue behind it in FIFO order and never barge past it. The
  // guard's unlock hands the lock to the loop's next queued coroutine
  // without releasing the word while nobody else waits, or for kLoopSlice
  // once someone does (never while a waiter starves); then it releases the
  // word, and the loop waits its turn behind the kernel's sleepers. So
  // threads and every loop get the lock in turn, and a loop's own turn
  // costs no atomic and no syscall per acquisition.
  //
  // The guard is movable, unlocks when destroyed, and must be unlocked on
  // the loop's thread (where the coroutine runs). It converts to
  // std::unique_lock<Mutex> (e.g. for CondVar::wait_async); that lock's
  // unlock is a plain unlock(), and the loop's queued coroutines then take
  // the lock one kernel wake at a time.
  //
  // Destroying the coroutine while it waits cancels the wait; if an
  // unlock's wake or a cohort's handoff was already spent on it, it is
  // passed on. If the loop is destroyed first, the coroutine is not resumed
  // (its owner destroys it).
  template <class Loop>
  auto lock_async(Loop& loop) {
    using Waits [[maybe_unused]] = internal::AsyncFor<Loop>;  // says what to include
    return internal::MutexLockAwaiter<kScope, Loop>(*this, loop);
  }

  // A loop's queued coroutines take the lock from each other for at most
  // this long while others wait on the word (see lock_async). Against ~10 us
  // for the next loop's wake on the machine in bench/README.md.
  static constexpr std::chrono::microseconds kLoopSlice{50};

  // Timed waits do not join the loop's cohort: each one waits on the word
  // itself, so that its deadline is the kernel's.
  // Timed: yields absl::StatusOr<std::unique_lock<...>>, DeadlineExceeded if
  // the deadline passed first, Cancelled if the loop was destroyed first,
  // ResourceExhausted if 2^22-1 waiters are already registered (the word
  // cannot count another; nothing waited). The deadline is a linked
  // IORING_OP_LINK_TIMEOUT on the futex wait.
  template <class Loop>
  auto lock_async_until(Loop& loop, Deadline deadline) {
    return internal::AsyncFor<Loop>::Timed(
        internal::MutexAcquisition<kScope>(*this, /*timed=*/true, /*refuse_when_full=*/true), loop,
        deadline, Name(), [this](const auto&) { return AdoptLock(); });
  }
  template <class Loop, class Rep, class Period>
  auto lock_async_for(Loop& loop, const std::chrono::duration<Rep, Period>& d) {
    return lock_async_until(loop, Deadline::AfterDuration(d));
  }

  // For assertions only: racy by nature.
  bool is_locked() const { return word_.load(std::memory_order_relaxed) & kLocked; }

  // The futex word, read-only (internal::WordAccess writes it: internals, tests).
  const internal::FutexWord& word() const { return word_; }
  static constexpr FutexScope scope() { return kScope; }
  static constexpr const char* Name() {
    return kScope == FutexScope::kPrivate ? "ringlock::Mutex" : "ringlock::ProcessSharedMutex";
  }

 private:
  friend struct internal::WordAccess;  // writable word: internals and tests only
  friend class internal::MutexAcquisition<kScope>;
  template <FutexScope, class>
  friend class internal::MutexLockAwaiter;
  friend class BasicAsyncMutexLock<kScope>;
  template <FutexScope>
  friend class BasicCondVar;

  // lock() for a waiter its condition variable woke (see "Spinning" above).
  void LockAfterWake() ABSL_EXCLUSIVE_LOCK_FUNCTION() { LockSpinningWhile(SpinWhile::kNoneParked); }

  bool TryLockImpl() { return TrySetLockedBit(); }
  std::unique_lock<BasicMutex> AdoptLock() {
    return std::unique_lock<BasicMutex>(*this, std::adopt_lock);
  }

  // The fast path: one `lock bts`. It takes a free lock whatever waiters are
  // registered (N and W stay as they are), so while others sleep the running
  // thread stays on the fast path; a CAS from 0 would send it to the slow
  // path whenever N > 0. If starving waiters exist (INV4), the lock is
  // handed straight back through unlock(), which wakes one of them.
  bool TrySetLockedBit() {
    if (word_.fetch_or(kLocked, std::memory_order_acquire) & kLocked) return false;
    if (ABSL_PREDICT_FALSE(word_.load(std::memory_order_relaxed) & kStarvingMask)) {
      ReleaseToStarving();
      return false;
    }
    return true;
  }

  // Where a bounded spin stops early (see "Spinning" above).
  enum class SpinWhile {
    kNoneStarving,  // lock()
    kNoneParked,    // relocking after a condition variable's wake; coroutines
  };

  // lock()'s body: the inline fast path, then the slow path spinning by `rule`.
  void LockSpinningWhile(SpinWhile rule) ABSL_EXCLUSIVE_LOCK_FUNCTION() {
    if (ABSL_PREDICT_TRUE(TrySetLockedBit())) {
      internal::TsanMutexAcquired(this);
    } else {
      LockSlow(rule);  // annotates where it acquires
    }
  }
  void LockSlow(SpinWhile rule);
  // An AsyncMutexLock's unlock: hands the lock to the next coroutine of the
  // loop's cohort, or releases it (after giving the cohort a
  // representative). `cohort`: the holder's, if it got the lock from its
  // cohort (a handoff, or as its representative; an owned cohort is never
  // dropped), else nullptr.
  void UnlockFromLoop(const void* loop, internal::MutexCohort* cohort)
      ABSL_NO_THREAD_SAFETY_ANALYSIS;
  // The bounded spin; true if it took the lock. Not annotated for TSAN:
  // callers do that.
  bool SpinToLock(SpinWhile rule);
  void UnlockSlow();
  void ReleaseToStarving();

  internal::FutexWord word_{0};
};

using Mutex = BasicMutex<FutexScope::kPrivate>;
using ProcessSharedMutex = BasicMutex<FutexScope::kShared>;

// An RAII lock that clang's -Wthread-safety understands (libstdc++'s
// std::lock_guard carries no annotations):
//   ringlock::Mutex mu;  int n ABSL_GUARDED_BY(mu);
//   { ringlock::MutexLock l(mu); ++n; }
template <FutexScope kScope>
class ABSL_SCOPED_LOCKABLE BasicMutexLock {
 public:
  explicit BasicMutexLock(BasicMutex<kScope>& mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) {
    mu_.lock();
  }
  ~BasicMutexLock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }
  BasicMutexLock(const BasicMutexLock&) = delete;
  BasicMutexLock& operator=(const BasicMutexLock&) = delete;

 private:
  BasicMutex<kScope>& mu_;
};

using MutexLock = BasicMutexLock<FutexScope::kPrivate>;
using ProcessSharedMutexLock = BasicMutexLock<FutexScope::kShared>;

// What co_await mu.lock_async(loop) yields: ownership of the mutex taken by a
// coroutine, like std::unique_lock, whose unlock hands the lock on within the
// loop's cohort (see BasicMutex::lock_async). Unlock it on the loop's thread.
template <FutexScope kScope>
class [[nodiscard]] BasicAsyncMutexLock {
 public:
  using mutex_type = BasicMutex<kScope>;

  BasicAsyncMutexLock() = default;
  BasicAsyncMutexLock(BasicAsyncMutexLock&& other) noexcept
      : mu_(other.mu_),
        loop_(other.loop_),
        owns_(std::exchange(other.owns_, false)),
        cohort_(other.cohort_) {}
  BasicAsyncMutexLock& operator=(BasicAsyncMutexLock&& other) noexcept {
    if (this != &other) {
      if (owns_) unlock();
      mu_ = other.mu_;
      loop_ = other.loop_;
      owns_ = std::exchange(other.owns_, false);
      cohort_ = other.cohort_;
    }
    return *this;
  }
  ~BasicAsyncMutexLock() {
    if (owns_) unlock();
  }

  // Hands the lock to the loop's next queued coroutine, or releases it.
  void unlock() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    RINGLOCK_MISUSE_IF(!owns_, mutex_type::Name(), "AsyncMutexLock::unlock() without the lock");
    owns_ = false;
    mu_->UnlockFromLoop(loop_, cohort_);
  }

  bool owns_lock() const { return owns_; }
  explicit operator bool() const { return owns_; }
  mutex_type* mutex() const { return mu_; }

  // A plain std::unique_lock (its unlock releases the word; see lock_async).
  operator std::unique_lock<mutex_type>() && {  // NOLINT: implicit, for `unique_lock g = co_await`
    if (!owns_) return std::unique_lock<mutex_type>(*mu_, std::defer_lock);
    owns_ = false;
    // Its unlock will not hand on: the cohort gets a representative.
    if (cohort_ != nullptr) internal::EndOwnership(cohort_);
    return std::unique_lock<mutex_type>(*mu_, std::adopt_lock);
  }

 private:
  template <FutexScope, class>
  friend class internal::MutexLockAwaiter;
  BasicAsyncMutexLock(mutex_type& mu, const void* loop, internal::MutexCohort* cohort)
      : mu_(&mu), loop_(loop), owns_(true), cohort_(cohort) {}

  mutex_type* mu_ = nullptr;
  const void* loop_ = nullptr;
  bool owns_ = false;
  internal::MutexCohort* cohort_ = nullptr;  // owned by us: see UnlockFromLoop
};

using AsyncMutexLock = BasicAsyncMutexLock<FutexScope::kPrivate>;
using ProcessSharedAsyncMutexLock = BasicAsyncMutexLock<FutexScope::kShared>;

static_assert(sizeof(Mutex) == 4 && alignof(Mutex) == 4);
static_assert(sizeof(ProcessSharedMutex) == 4);

extern template class BasicMutex<FutexScope::kPrivate>;
extern template class BasicMutex<FutexScope::kShared>;

namespace internal {

// One waiter's progress through the Mutex protocol (see internal/block_on.h
// for the interface every kind of waiter drives).
template <FutexScope kScope>
class MutexAcquisition {
  using M = BasicMutex<kScope>;

 public:
  // `timed`: a try_lock_for / try_lock_until / lock_async_until waiter,
  // annotated for TSAN as a try-lock (see internal/tsan.h).
  // `refuse_when_full`: as SemaphoreAcquisition's (for the timed async wait).
  // `try_before_arm`: false for a cohort's new representative, registered
  // while another coroutine of its loop still holds the lock.
  explicit MutexAcquisition(M& mu, bool timed = false, bool refuse_when_full = false,
                            bool try_before_arm = true)
      : mu_(mu),
        tsan_flags_(timed ? kTsanTryLock : 0),
        refuse_when_full_(refuse_when_full),
        try_before_arm_(try_before_arm) {}

  const internal::FutexWord& word() const { return mu_.word_; }
  FutexScope scope() const { return kScope; }
  uint32_t bitset() const { return starving_ ? M::kAnyBit | M::kStarvingBit : M::kAnyBit; }

  // What lock() tries before it registers: the inline fast path, then the
  // bounded spin. AsyncAcquire runs it before Arm, so lock_async costs what
  // lock() costs when uncontended and spins as lock() does when briefly
  // contended, instead of going to the ring at once.
  bool TryBeforeArm() {
    if (!try_before_arm_) return false;
    if (!mu_.TrySetLockedBit() && !mu_.SpinToLock(M::SpinWhile::kNoneParked)) return false;
    TsanMutexAcquired(&mu_, tsan_flags_);
    return true;
  }
  // A woken waiter that finds the lock held spins as lock() does before it
  // sleeps again (thread lock() only; see "Spinning" above).
  void SpinOnWake() { spin_on_wake_ = true; }
  bool Arm(uint32_t* expected);
  bool OnWake(uint32_t* expected);
  void Leave();
  bool refused() const { return refused_; }

 private:
  M& mu_;
  unsigned tsan_flags_;
  bool refuse_when_full_;
  bool try_before_arm_;
  bool refused_ = false;
  bool spin_on_wake_ = false;
  int64_t registered_at_ns_ = 0;
  bool starving_ = false;
};

// If the word is free with waiters and nobody is waking (INV2), marks W and
// wakes one: a starving waiter if any. Unlockers, leaving and re-sleeping
// waiters all end here.
template <FutexScope kScope>
void WakeOneIfUnattended(internal::FutexWord& word, uint32_t w);

extern template class MutexAcquisition<FutexScope::kPrivate>;
extern template class MutexAcquisition<FutexScope::kShared>;

}  // namespace internal
}  // namespace ringlock

#endif  // RINGLOCK_LOCKS_MUTEX_H_
