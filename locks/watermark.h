// ringlock/locks/watermark.h — Watermark: wait until a 64-bit position
// reaches a target; advances wake exactly the waiters they satisfy.
//
// A monotonically increasing position (a flushed log sequence number, a
// completed-ticket number). advance_to(pos) raises it; a waiter waits until
// it is at least its own target:
//
//   ringlock::Watermark flushed;                   // position 0
//   flushed.wait_until_reached(my_lsn);            // committer
//   flushed.advance_to(lsn_on_disk);               // log writer
//
// advance_to wakes exactly the waiters whose target it reaches, none other
// (no herd), and all of them in one batched submit when a ring is available
// (a WakeBatch: the thread's EventLoop ring or its wake ring; one futex(2)
// call per waiter without io_uring). Waiters sleep in futex(2), in their
// thread's EventLoop (ring-blocking), or as coroutines
// (`co_await wm.wait_until_reached_async(loop, target)`), all on the
// protocol below.
//
// Memory ordering: an advance_to(p) happens-before every wait that returns
// because of it (and every position() that reads p or later). Spurious
// wakeups never reach callers: a wait returns true only once position() >=
// target. A timed wait that returns false raced the deadline: the position
// may reach the target just after.
//
// How waiters are kept
// --------------------
// Each waiter that must sleep owns a node with its own 32-bit futex word,
// linked into a list ordered by target (ties in arrival order) under a small
// internal lock. The 64-bit position is a plain atomic, never slept on: a
// waiter sleeps on its node's word, so a wake is directed at exactly one
// waiter and the 64-bit value never has to fit a futex word. Nodes come from
// a per-Watermark pool (grown on demand, freed with the Watermark), so a
// wake that reaches a node after its waiter left lands in memory that is
// still the Watermark's (at worst a spurious wake of the node's next user).
//
// Costs (n waiters registered, k released by an advance):
//   wait, target reached       one load; no lock.
//   wait, must sleep           one lock hold: insert scanning from the tail,
//                              O(1) when targets arrive in increasing order
//                              (as LSNs do), O(n) worst case.
//   advance_to                 one CAS; with waiters, one lock hold popping
//                              the k from the head, O(k); the k wakes leave
//                              in one submit or as k futex(2) calls. Past
//                              WakeBatch::kCapacity (128) wakes, each full
//                              batch is sent with the lock released.
//   a woken waiter             one load, one lock-free push of its node.
//   timeout / cancellation     one lock hold, O(1) unlink.
// The internal lock spins briefly, then sleeps in futex(2) on every kind of
// waiter (also on a loop thread or in a coroutine's Arm): it is held only
// for the list operations above, never across a wait.
//
// The words
// ---------
// A node's word (the futex word its waiter sleeps on):
//
// | state      | meaning                                    | transitions                 |
// |------------|--------------------------------------------|-----------------------------|
// | kWaiting 0 | linked, target not reached by any advance  | advance_to (target <= pos): |
// |            | that took the lock since it was linked     | unlink, kReached, wake      |
// |            |                                            | timeout/cancel: unlink      |
// | kReached 1 | unlinked by an advance; its waiter returns | waiter: node back to pool   |
// |            | true (or, timed out, leaves)               |                             |
//
// The internal lock's word: 0 free, 1 held, 2 held with sleepers (the
// textbook futex mutex).
//
// Who wakes whom: advance_to publishes the position first, then, under the
// lock, marks each node whose target it reached kReached and queues one wake
// on that node's word; the wakes leave when advance_to returns. A waiter
// leaving without being released (timeout, destroyed coroutine) only
// unlinks its node: a wake is never shared, so there is nothing to pass on.
//
// Invariants:
//   INV1  Every linked node's word is kWaiting and its waiter registered;
//         the list is ordered by target. Only an advance sets kReached, and
//         only on a node it unlinks in the same lock hold; a leaving waiter
//         unlinks its node only if it is still kWaiting.
//   INV2  A waiter links its node only after seeing, under the lock, a
//         position below its target: every later advance reaching the target
//         takes the lock after it and finds the node (no lost wakeup).
//   INV3  A waiter returns true only after reading its node kReached (or
//         the position >= target): never before its target is reached.
//
// Not process-shared (the list holds pointers). sizeof(Watermark) is not 4:
// the position, the lock word and the list heads.
//
// Misuse (debug builds abort): destroying a Watermark with waiters
// (including a coroutine armed on another thread's loop, or an orphaned
// async wait not yet completed: a use-after-free in release builds).
#ifndef RINGLOCK_LOCKS_WATERMARK_H_
#define RINGLOCK_LOCKS_WATERMARK_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "locks/futex.h"
#include "locks/internal/async_waits.h"
#include "locks/internal/block_on.h"
#include "locks/internal/check.h"
#include "locks/internal/word.h"

namespace ringlock {

class Watermark;

namespace internal {

inline constexpr uint32_t kWatermarkWaiting = 0;
inline constexpr uint32_t kWatermarkReached = 1;

// One sleeping waiter's node (see "How waiters are kept").
struct WatermarkNode {
  internal::FutexWord word{kWatermarkReached};
  uint64_t target = 0;
  WatermarkNode* prev = nullptr;  // list links, under the lock
  WatermarkNode* next = nullptr;  // also the pool's link
};

// One waiter's progress through the Watermark protocol. Copyable: the async
// driver copies it after Arm; only the copy it runs uses the node.
class WatermarkAcquisition {
 public:
  WatermarkAcquisition(Watermark& wm, uint64_t target) : wm_(&wm), target_(target) {}

  const internal::FutexWord& word() const { return node_->word; }
  FutexScope scope() const { return FutexScope::kPrivate; }
  uint32_t bitset() const { return futex::kMatchAny; }

  bool Arm(uint32_t* expected);
  bool OnWake(uint32_t* expected);
  void Leave();

 private:
  Watermark* wm_;
  uint64_t target_;
  WatermarkNode* node_ = nullptr;  // while registered
};

}  // namespace internal

class Watermark {
 public:
  explicit Watermark(uint64_t initial = 0) noexcept : position_(initial) {}
  Watermark(const Watermark&) = delete;
  Watermark& operator=(const Watermark&) = delete;
  ~Watermark();

  // The position now (acquire).
  uint64_t position() const { return position_.load(std::memory_order_acquire); }

  // Raises the position to `pos` (release) and wakes every waiter whose
  // target is now reached; does nothing if `pos` is not above the position.
  // Returns how many waiters it released (for tests and metrics). The wakes
  // leave in one WakeBatch (joining the caller's, if one is open).
  size_t advance_to(uint64_t pos);

  // Returns once position() >= target.
  void wait_until_reached(uint64_t target) {
    (void)wait_until_reached_deadline(target, Deadline::Never());
  }

  template <class Rep, class Period>
  [[nodiscard]] bool wait_until_reached_for(uint64_t target,
                                            const std::chrono::duration<Rep, Period>& d) {
    return wait_until_reached_deadline(target, Deadline::AfterDuration(d));
  }

  template <class Clock, class Duration>
  [[nodiscard]] bool wait_until_reached_until(uint64_t target,
                                              const std::chrono::time_point<Clock, Duration>& t) {
    return wait_until_reached_deadline(target, Deadline::At(t));
  }

  [[nodiscard]] bool wait_until_reached_deadline(uint64_t target, Deadline deadline) {
    internal::WatermarkAcquisition acq(*this, target);
    return internal::BlockOn(acq, deadline);
  }

  // co_await wm.wait_until_reached_async(loop, target) (include
  // locks/async.h): resumes once position() >= target without blocking the
  // loop (IORING_OP_FUTEX_WAIT on the waiter's node word; the loop's
  // futex_waitv(2) helper before Linux 6.7). Same protocol as
  // wait_until_reached(). A coroutine destroyed while waiting unlinks its
  // node when its wait completes; if the loop is destroyed first it is not
  // resumed.
  template <class Loop>
  auto wait_until_reached_async(Loop& loop, uint64_t target) {
    return internal::AsyncFor<Loop>::Untimed(internal::WatermarkAcquisition(*this, target), loop,
                                             [](const auto&) {});
  }
  // Timed: yields absl::Status: OK, DeadlineExceeded or Cancelled (the loop
  // was destroyed first).
  template <class Loop>
  auto wait_until_reached_async_until(Loop& loop, uint64_t target, Deadline deadline) {
    return internal::AsyncFor<Loop>::Timed(internal::WatermarkAcquisition(*this, target), loop,
                                           deadline, Name(), [](const auto&) {});
  }
  template <class Loop, class Rep, class Period>
  auto wait_until_reached_async_for(Loop& loop, uint64_t target,
                                    const std::chrono::duration<Rep, Period>& d) {
    return wait_until_reached_async_until(loop, target, Deadline::AfterDuration(d));
  }

  // Registered waiters: asleep, about to sleep, or released and not yet
  // gone. Racy by nature: for tests and metrics.
  size_t waiters() const { return registered_.load(std::memory_order_relaxed); }

  static constexpr const char* Name() { return "ringlock::Watermark"; }

  // The internal lock's word, read-only (tests and the model checker).
  const internal::FutexWord& lock_word() const { return lock_; }

 private:
  friend class internal::WatermarkAcquisition;

  void Lock();
  void Unlock();
  // Under the lock: a node from the pool (or a new one), counted registered.
  internal::WatermarkNode* TakeNode();
  // Under the lock: links `n` by target, after any equal targets.
  void Link(internal::WatermarkNode* n);
  void Unlink(internal::WatermarkNode* n);
  // Any thread, no lock: gives a node back to the pool.
  void ReturnNode(internal::WatermarkNode* n);

  internal::Atomic64 position_;
  internal::FutexWord lock_{0};
  std::atomic<size_t> registered_{0};
  // Under the lock.
  internal::WatermarkNode* head_ = nullptr;
  internal::WatermarkNode* tail_ = nullptr;
  internal::WatermarkNode* pool_ = nullptr;
  // Nodes given back without the lock (a Treiber push; the lock holder
  // takes them all at once, so there is no ABA).
  std::atomic<internal::WatermarkNode*> returned_{nullptr};
};

}  // namespace ringlock

#endif  // RINGLOCK_LOCKS_WATERMARK_H_
