// ringlock/locks/event.h — Event: a settable flag threads wait for, 4 bytes.
//
// Two kinds, chosen at construction and fixed for the event's life:
//   * manual-reset (default): set() releases every waiter and the event stays
//     set until reset(); wait() on a set event returns at once.
//   * auto-reset: set() releases exactly one waiter (or, with nobody waiting,
//     the next one to come) and the event resets as that waiter returns.
//     Sets do not accumulate: set() on a set event does nothing (use a
//     Semaphore to count).
// Waiters sleep in futex(2), in their thread's EventLoop (ring-blocking), or
// as coroutines (`co_await ev.wait_async(loop)`), all on the protocol below.
// ProcessSharedEvent works in MAP_SHARED memory.
//
// Memory ordering: set() happens-before every wait() that returns because of
// it. Spurious wakeups never reach callers. A waiter returns only if it sees
// the event set: set() immediately followed by reset() (a "pulse") may leave
// manual-reset waiters asleep. Use an auto-reset event or a CondVar for
// pulses.
//
// The word
// --------
//   bit 0      S  set
//   bit 1      A  auto-reset (constant)
//   bits 2-31  N  registered waiters: asleep, about to, or woken not yet gone
//                 (0..2^30-1; see Limits below)
//
// | state    | meaning                  | transitions                                  |
// |----------|--------------------------|----------------------------------------------|
// | S=0, N=0 | clear, nobody waits      | set: S=1, no syscall                          |
// | S=0, N>0 | clear, N waiters         | set: S=1, wake all (manual) or one (auto)     |
// | S=1      | set                      | manual wait: returns; reset: S=0              |
// |          |                          | auto wait: takes it, S=0 (and N-1 if waiter)  |
//
// Who wakes whom: set() wakes when N>0 at its CAS. An auto-reset waiter that
// leaves without taking the event (timeout, cancelled coroutine) wakes one
// sleeper if the event is set: it may have been the one set() woke.
//
// Invariants:
//   INV1  (auto) S=1 and N>0 only while a woken or about-to-sleep waiter
//         will re-check the word; each set is taken by exactly one waiter.
//   INV2  A waiter sleeps only on a word with S=0 (the futex compare).
//
// Limits: at most 2^30-1 registered waiters (N). One more is refused in every
// build, never counted: wait_async_until / wait_async_for yield
// ResourceExhausted; every other wait aborts with "ringlock::Event: misuse:
// more than 2^30-1 waiters" (ProcessSharedEvent: "ringlock::ProcessSharedEvent").
//
// Misuse (debug builds abort): destroying an event with waiters (including
// a coroutine armed on another thread's loop, or an orphaned async wait not
// yet completed: a use-after-free in release builds).
#ifndef RINGLOCK_LOCKS_EVENT_H_
#define RINGLOCK_LOCKS_EVENT_H_

#include <atomic>
#include <chrono>
#include <cstdint>

#include "locks/futex.h"
#include "locks/internal/async_waits.h"
#include "locks/internal/block_on.h"
#include "locks/internal/check.h"
#include "locks/internal/word_access.h"
#include "locks/internal/word.h"

namespace ringlock {

enum class EventMode : uint8_t { kManualReset, kAutoReset };

namespace internal {

inline constexpr uint32_t kEventSet = 1u << 0;
inline constexpr uint32_t kEventAuto = 1u << 1;
inline constexpr uint32_t kEventWaiterOne = 1u << 2;

// One waiter's progress through the Event protocol.
class EventAcquisition {
 public:
  // `name`: the primitive's Name(), for messages. `refuse_when_full`: as
  // SemaphoreAcquisition's (for the timed async wait).
  EventAcquisition(internal::FutexWord& word, FutexScope scope, const char* name,
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
  // Takes the event if set: for auto-reset clears S. `registered` also
  // deregisters. Returns false (and the current word) if not set.
  bool TryTake(bool registered, uint32_t* w);

  internal::FutexWord& word_;
  FutexScope scope_;
  const char* name_;
  bool refuse_when_full_;
  bool refused_ = false;
};

bool EventTryWait(internal::FutexWord& word);
void EventSet(internal::FutexWord& word, FutexScope scope);

}  // namespace internal

template <FutexScope kScope>
class BasicEvent {
 public:
  constexpr explicit BasicEvent(EventMode mode = EventMode::kManualReset,
                                bool initially_set = false) noexcept
      : word_((mode == EventMode::kAutoReset ? internal::kEventAuto : 0) |
              (initially_set ? internal::kEventSet : 0)) {}
  BasicEvent(const BasicEvent&) = delete;
  BasicEvent& operator=(const BasicEvent&) = delete;
  ~BasicEvent() {
    RINGLOCK_MISUSE_IF(word_.load(std::memory_order_relaxed) >= internal::kEventWaiterOne, Name(),
                       "destroyed with waiters");
  }

  void set() { internal::EventSet(word_, kScope); }
  void reset() { word_.fetch_and(~internal::kEventSet, std::memory_order_relaxed); }

  bool is_set() const { return word_.load(std::memory_order_acquire) & internal::kEventSet; }
  EventMode mode() const {
    return (word_.load(std::memory_order_relaxed) & internal::kEventAuto) ? EventMode::kAutoReset
                                                                          : EventMode::kManualReset;
  }

  // Returns at once if set (taking it if auto-reset), without waiting.
  [[nodiscard]] bool try_wait() { return internal::EventTryWait(word_); }

  void wait() { (void)wait_until_deadline(Deadline::Never()); }

  template <class Rep, class Period>
  [[nodiscard]] bool wait_for(const std::chrono::duration<Rep, Period>& d) {
    return wait_until_deadline(Deadline::AfterDuration(d));
  }

  template <class Clock, class Duration>
  [[nodiscard]] bool wait_until(const std::chrono::time_point<Clock, Duration>& t) {
    return wait_until_deadline(Deadline::At(t));
  }

  [[nodiscard]] bool wait_until_deadline(Deadline deadline) {
    if (try_wait()) return true;
    internal::EventAcquisition acq(word_, kScope, Name());
    return internal::BlockOn(acq, deadline);
  }

  // co_await ev.wait_async(loop) (include locks/async.h): resumes once the event is set (taking it,
  // if auto-reset) without blocking the loop (IORING_OP_FUTEX_WAIT on this
  // word; the loop's futex_waitv(2) helper before Linux 6.7). Same protocol
  // as wait(). A coroutine destroyed while waiting passes on an auto-reset
  // set spent on it; if the loop is destroyed first it is not resumed.
  template <class Loop>
  auto wait_async(Loop& loop) {
    return internal::AsyncFor<Loop>::Untimed(internal::EventAcquisition(word_, kScope, Name()),
                                             loop, [](const auto&) {});
  }
  // Timed: yields absl::Status: OK, DeadlineExceeded, Cancelled, or
  // ResourceExhausted (the waiter count is full; see Limits).
  template <class Loop>
  auto wait_async_until(Loop& loop, Deadline deadline) {
    return internal::AsyncFor<Loop>::Timed(
        internal::EventAcquisition(word_, kScope, Name(), /*refuse_when_full=*/true), loop,
        deadline, Name(), [](const auto&) {});
  }
  template <class Loop, class Rep, class Period>
  auto wait_async_for(Loop& loop, const std::chrono::duration<Rep, Period>& d) {
    return wait_async_until(loop, Deadline::AfterDuration(d));
  }

  // The futex word, read-only (internal::WordAccess writes it: internals, tests).
  const internal::FutexWord& word() const { return word_; }
  static constexpr FutexScope scope() { return kScope; }
  static constexpr const char* Name() {
    return kScope == FutexScope::kPrivate ? "ringlock::Event" : "ringlock::ProcessSharedEvent";
  }

 private:
  friend struct internal::WordAccess;  // writable word: internals and tests only
  internal::FutexWord word_;
};

using Event = BasicEvent<FutexScope::kPrivate>;
using ProcessSharedEvent = BasicEvent<FutexScope::kShared>;

static_assert(sizeof(Event) == 4);

}  // namespace ringlock

#endif  // RINGLOCK_LOCKS_EVENT_H_
