// ringlock/locks/wait_any.h — take whichever of several primitives is ready first.
//
//   ringlock::Mutex a, b;  ringlock::Event stop;
//   int i = ringlock::WaitAny({ringlock::Lock(a), ringlock::Lock(b), ringlock::Take(stop)});
//   // i == 0: `a` is now locked by us; 1: `b`; 2: `stop` was set (and, if
//   // auto-reset, consumed). Exactly one primitive is taken.
//
// Up to kWaitAnyMax (128, the kernel's limit) Mutexes, SharedMutexes (Lock,
// LockShared), Semaphores, Events and Latches (Opened(latch)), private or
// process-shared, mixed. The thread
// sleeps on all their words at once with futex_waitv(2) (Linux 5.16+), or, on a thread that runs an
// EventLoop, with one IORING_OP_FUTEX_WAITV (Linux 6.7+) while the loop keeps
// dispatching its other completions. Coroutines use WaitAnyAsync
// (below).
//
// Completes when: one primitive was taken (returns its index), or the
// deadline passed (returns -1; nothing taken). When several are ready the
// lowest index wins. Each primitive is waited on through its own word
// protocol (the same Arm / OnWake / Leave steps a single waiter takes), so a
// wake spent on this waiter for a primitive it did not take is passed on.
// Memory ordering: as the primitive's own acquire operation.
#ifndef RINGLOCK_LOCKS_WAIT_ANY_H_
#define RINGLOCK_LOCKS_WAIT_ANY_H_

#include <cstdint>
#include <initializer_list>
#include <variant>
#include <vector>

#include "absl/types/span.h"
#include "locks/event.h"
#include "locks/futex.h"
#include "locks/internal/async_waits.h"
#include "locks/latch.h"
#include "locks/mutex.h"
#include "locks/semaphore.h"
#include "locks/shared_mutex.h"

namespace ringlock {

inline constexpr int kWaitAnyMax = futex::kWaitvMax;

// One primitive to wait for: its waiter protocol object. The set of kinds is
// closed, so a variant dispatches without virtual calls or allocation.
using Waitable = std::variant<internal::MutexAcquisition<FutexScope::kPrivate>,
                              internal::MutexAcquisition<FutexScope::kShared>,
                              internal::SemaphoreAcquisition, internal::EventAcquisition,
                              internal::LatchAcquisition,
                              internal::SharedMutexWriterAcquisition,
                              internal::SharedMutexReaderAcquisition>;

// Lock the mutex.
template <FutexScope kScope>
Waitable Lock(BasicMutex<kScope>& mu) {
  return Waitable(std::in_place_type<internal::MutexAcquisition<kScope>>, mu);
}
// Lock the shared mutex exclusively / take a shared hold (the same protocol
// as lock() / lock_shared(); release with unlock() / unlock_shared()).
template <FutexScope kScope>
Waitable Lock(BasicSharedMutex<kScope>& smu) {
  return Waitable(smu.WriterAcq(false));
}
template <FutexScope kScope>
Waitable LockShared(BasicSharedMutex<kScope>& smu) {
  return Waitable(smu.ReaderAcq(false, false));
}
// Take one permit.
template <uint32_t kMax, FutexScope kScope>
Waitable Acquire(BasicSemaphore<kMax, kScope>& sem) {
  return Waitable(std::in_place_type<internal::SemaphoreAcquisition>, internal::WordAccess::Of(sem),
                  kScope, sem.Name());
}
// Wait for the event to be set (consuming it if auto-reset).
template <FutexScope kScope>
Waitable Take(BasicEvent<kScope>& ev) {
  return Waitable(std::in_place_type<internal::EventAcquisition>, internal::WordAccess::Of(ev),
                  kScope, ev.Name());
}

// Wait for the latch's count to reach zero (nothing is taken: an open latch
// stays open).
template <FutexScope kScope>
Waitable Opened(BasicLatch<kScope>& latch) {
  return Waitable(std::in_place_type<internal::LatchAcquisition>, internal::WordAccess::Of(latch),
                  kScope);
}

// Returns the index of the primitive taken, or -1 at the deadline.
int WaitAny(absl::Span<const Waitable> waitables, Deadline deadline = Deadline::Never());
inline int WaitAny(std::initializer_list<Waitable> waitables,
                   Deadline deadline = Deadline::Never()) {
  return WaitAny(absl::MakeConstSpan(waitables.begin(), waitables.size()), deadline);
}

namespace internal {

// WaitAny's acquisition: every primitive's own acquisition, armed in order,
// as one waiter that sleeps on all their words at once. Run by the same
// drivers as a single primitive (BlockOn, AsyncAcquire).
class WaitAnyAcquisition {
 public:
  explicit WaitAnyAcquisition(absl::Span<const Waitable> waitables);

  // Arms every primitive in order; true if one was taken at once (every
  // other registration left again). `expected` is unused: see entries().
  bool Arm(uint32_t* expected);
  // Every registered primitive re-checks, lowest index first: any return
  // from a sleep may mean any word moved.
  bool OnWake(uint32_t* expected);
  void Leave();
  std::span<const internal::WaitEntry> entries() const { return entries_; }

  // The index of the primitive taken, once Arm or OnWake returned true.
  int taken() const { return taken_; }

 private:
  void LeaveAllBut(int armed, int keep);

  std::vector<Waitable> waitables_;  // copies: their waits mutate them
  std::vector<internal::WaitEntry> entries_;
  int taken_ = -1;
};

}  // namespace internal

// co_await WaitAnyAsync(loop, {Lock(a), Take(ev)}, deadline) (include
// locks/async.h): the coroutine form. One IORING_OP_FUTEX_WAITV on all words
// (the loop's futex_waitv(2) helper before Linux 6.7) with a linked timeout
// for the deadline. Yields absl::StatusOr<int>: the index taken,
// DeadlineExceeded at the deadline, or Cancelled if the loop was destroyed
// first (nothing taken in either case). Destroying the coroutine while it
// waits cancels the wait; every primitive leaves through its protocol (wakes
// spent on it are passed on).
// GCC 12 miscompiles a braced list inside a co_await expression ("array used
// as initializer"): build a std::vector<Waitable> first and pass that.
template <class Loop>
auto WaitAnyAsync(Loop& loop, absl::Span<const Waitable> waitables,
                  Deadline deadline = Deadline::Never()) {
  return internal::AsyncFor<Loop>::Timed(
      internal::WaitAnyAcquisition(waitables), loop, deadline, "ringlock::WaitAnyAsync",
      [](const auto& awaiter) { return awaiter.acquisition().taken(); });
}
template <class Loop>
auto WaitAnyAsync(Loop& loop, std::initializer_list<Waitable> waitables,
                  Deadline deadline = Deadline::Never()) {
  return WaitAnyAsync(loop, absl::MakeConstSpan(waitables.begin(), waitables.size()), deadline);
}

}  // namespace ringlock

#endif  // RINGLOCK_LOCKS_WAIT_ANY_H_
