// ringlock/locks/barrier.h — Barrier: std::barrier in one futex word.
//
// Like std::barrier<CompletionFunction>: arrive(n) returns an arrival_token,
// wait(std::move(token)) waits for the end of that token's phase,
// arrive_and_wait(), arrive_and_drop(), max(); the completion function runs
// once per phase, on the thread (or coroutine) whose arrival completed the
// phase, before anyone of that phase is released. Timed waits std has none
// of: wait_for / wait_until / wait_until_deadline on a token (the token
// stays valid after a timeout), and wait_async_until / wait_async_for.
// Waiters sleep in futex(2), in their thread's EventLoop (ring-blocking), or
// as coroutines (`co_await b.wait_async(loop, std::move(token))`,
// `co_await b.arrive_and_wait_async(loop)`), all on the protocol below.
//
// ProcessSharedBarrier<F> works in MAP_SHARED memory. Its completion
// function must be a stateless (empty) class: it is run by whichever process
// completes the phase, and state or pointers held in the shared object would
// mean something in one address space only.
//
// Memory ordering (as std::barrier): each arrival happens-before the
// completion function of its phase, which happens-before the return of every
// wait of that phase.
//
// The word
// --------
//   bit 0       W  waiters: someone of the current phase is asleep or about to
//   bits 1-3    P  the phase, mod 8 (a token holds the P it arrived in)
//   bits 4-17   R  arrivals still expected in this phase (0..max() = 16383)
//   bits 18-31  E  the expected count of the next phases (arrive_and_drop
//                  decrements it)
//
// | state | meaning                          | transitions                                 |
// |-------|----------------------------------|---------------------------------------------|
// | R>0   | phase P open                     | arrive(n): R-n; arrive_and_drop: R-1, E-1;  |
// |       |                                  | wait(token of P): W=1, sleep                |
// | R=0   | phase P complete, completion runs| (only the last arriver acts) then:          |
// |       |                                  | P+1, R=E, W=0; wake all if W was 1          |
//
// A token of phase p waits while P == p: its wait returns once P moves on.
// No arrival belongs to phase P+1 before the completer moves P (every
// participant of P has arrived), so the completer's step is the only writer
// at R=0 apart from waiters setting W.
//
// Who wakes whom: the completer, after running the completion function,
// moves the phase and wakes every sleeper if W was set. Nothing else wakes; a
// waiter that leaves (timeout, cancelled coroutine) spent no wake of its own.
//
// Invariants:
//   INV1  W=1 whenever a waiter sleeps or is about to: it sleeps only on a
//         word with W=1 and its own phase, and W is cleared only by the
//         phase move, which then wakes all.
//   INV2  R <= E + (drops still to count): R never exceeds the expected count
//         of the phase; P moves only after the completion function returned.
//   INV3  A waiter of phase p is released only by a word whose P != p: never
//         by arrivals, never before the completion ran. P has 8 values, so a
//         token more than 7 phases old would wait again (std allows waiting
//         only in the token's phase or the next one).
//
// Misuse (debug builds abort naming the primitive): arrive(n) or
// arrive_and_drop() past the arrivals the phase still expects ("arrive()
// past the expected count"), arrive(n) with n < 1, constructing with a count
// < 0 or > max(). Release builds clamp (an arrival past the count completes
// the phase). A Barrier must outlive its waiters; destroying one with
// waiters is not detected (W may be stale after a timeout).
#ifndef RINGLOCK_LOCKS_BARRIER_H_
#define RINGLOCK_LOCKS_BARRIER_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
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

inline constexpr uint32_t kBarrierWaiters = 1u << 0;
inline constexpr uint32_t kBarrierPhaseOne = 1u << 1;
inline constexpr uint32_t kBarrierPhaseMask = 7u << 1;
inline constexpr uint32_t kBarrierRemainingOne = 1u << 4;
inline constexpr uint32_t kBarrierExpectedOne = 1u << 18;
inline constexpr uint32_t kBarrierMax = 0x3fffu;

constexpr uint32_t BarrierPhase(uint32_t w) { return (w & kBarrierPhaseMask) / kBarrierPhaseOne; }
constexpr uint32_t BarrierRemaining(uint32_t w) { return (w / kBarrierRemainingOne) & kBarrierMax; }
constexpr uint32_t BarrierExpected(uint32_t w) { return w / kBarrierExpectedOne; }

// The default completion function: nothing.
struct NoCompletion {
  void operator()() noexcept {}
};

// One waiter of phase `phase`: done once the word's phase differs.
class BarrierAcquisition {
 public:
  BarrierAcquisition(internal::FutexWord& word, FutexScope scope, uint32_t phase)
      : word_(word), scope_(scope), phase_(phase) {}

  const internal::FutexWord& word() const { return word_; }
  FutexScope scope() const { return scope_; }
  uint32_t bitset() const { return futex::kMatchAny; }

  bool Arm(uint32_t* expected);
  bool OnWake(uint32_t* expected) { return Arm(expected); }
  void Leave() {}  // wakes are wake-all: none was spent on this waiter alone

 private:
  internal::FutexWord& word_;
  FutexScope scope_;
  uint32_t phase_;
};

// Counts `n` arrivals (`drop`: also one fewer expected from the next phase
// on). Returns the word before them; the caller completes the phase if R
// reached 0 (BarrierRemaining(before) == n).
uint32_t BarrierArrive(internal::FutexWord& word, uint32_t n, bool drop, const char* name);
// The completer's step: runs the completion function (`run(completion)`),
// then moves to the next phase (R=E, W=0) and wakes the phase's waiters.
void BarrierComplete(internal::FutexWord& word, FutexScope scope, void (*run)(void*),
                     void* completion);

}  // namespace internal

template <FutexScope kScope, class CompletionFunction = internal::NoCompletion>
class BasicBarrier {
  static_assert(std::is_nothrow_invocable_v<CompletionFunction&>,
                "a barrier's completion function must be noexcept-invocable with no arguments "
                "(as std::barrier's)");
  static_assert(kScope == FutexScope::kPrivate || std::is_empty_v<CompletionFunction>,
                "ProcessSharedBarrier: the completion function must be stateless (an empty "
                "class): it runs in whichever process completes the phase");

 public:
  // The phase an arrival belongs to; wait() on it. Move-only (as std's).
  class [[nodiscard]] arrival_token {
   public:
    arrival_token(arrival_token&&) noexcept = default;
    arrival_token& operator=(arrival_token&&) noexcept = default;

   private:
    friend class BasicBarrier;
    explicit arrival_token(uint32_t phase) : phase_(phase) {}
    uint32_t phase_;
  };

  static constexpr std::ptrdiff_t max() noexcept { return internal::kBarrierMax; }

  // Precondition (as std::barrier): 0 <= expected <= max(). Debug builds
  // abort naming the misuse; release builds clamp into [0, max()].
  constexpr explicit BasicBarrier(std::ptrdiff_t expected,
                                  CompletionFunction f = CompletionFunction()) noexcept(
      std::is_nothrow_move_constructible_v<CompletionFunction>)
      : word_(ValidCount(expected) * (internal::kBarrierRemainingOne +
                                      internal::kBarrierExpectedOne)),
        completion_(std::move(f)) {}
  BasicBarrier(const BasicBarrier&) = delete;
  BasicBarrier& operator=(const BasicBarrier&) = delete;

  // Counts n arrivals in the current phase; the one completing it runs the
  // completion function and releases the phase's waiters before returning.
  arrival_token arrive(std::ptrdiff_t n = 1) {
    RINGLOCK_MISUSE_IF(n < 1, Name(), "arrive() with a count below 1");
    const uint32_t count =
        n < 1 ? 1 : (n > max() ? internal::kBarrierMax : static_cast<uint32_t>(n));
    const uint32_t before = internal::BarrierArrive(word_, count, /*drop=*/false, Name());
    Complete(before, count);
    return arrival_token(internal::BarrierPhase(before));
  }

  // Blocks until the token's phase completed (returns at once if it has).
  void wait(arrival_token&& arrival) const {
    (void)wait_until_deadline(arrival, Deadline::Never());
  }

  void arrive_and_wait() { wait(arrive()); }

  // One fewer expected from the next phase on, and one arrival in this one.
  void arrive_and_drop() {
    const uint32_t before = internal::BarrierArrive(word_, 1, /*drop=*/true, Name());
    Complete(before, 1);
  }

  // Timed waits (not in std::barrier): false if the deadline passed first;
  // the token stays valid for another wait.
  template <class Rep, class Period>
  [[nodiscard]] bool wait_for(const arrival_token& arrival,
                              const std::chrono::duration<Rep, Period>& d) const {
    return wait_until_deadline(arrival, Deadline::AfterDuration(d));
  }
  template <class Clock, class Duration>
  [[nodiscard]] bool wait_until(const arrival_token& arrival,
                                const std::chrono::time_point<Clock, Duration>& t) const {
    return wait_until_deadline(arrival, Deadline::At(t));
  }
  [[nodiscard]] bool wait_until_deadline(const arrival_token& arrival, Deadline deadline) const {
    auto passed = [&] {
      return internal::BarrierPhase(word_.load(std::memory_order_acquire)) != arrival.phase_;
    };
    if (passed() || internal::YieldBeforeSleep(passed)) return true;
    internal::BarrierAcquisition acq(Word(), kScope, arrival.phase_);
    return internal::BlockOn(acq, deadline);
  }

  // co_await b.wait_async(loop, std::move(token)) (include locks/async.h):
  // resumes once the token's phase completed, without blocking the loop. If
  // the loop is destroyed first the coroutine is not resumed.
  template <class Loop>
  auto wait_async(Loop& loop, arrival_token&& arrival) const {
    return internal::AsyncFor<Loop>::Untimed(
        internal::BarrierAcquisition(Word(), kScope, arrival.phase_), loop, [](const auto&) {});
  }
  // arrive() now (running the completion here if this arrival completes the
  // phase), then wait for the phase without blocking the loop.
  template <class Loop>
  auto arrive_and_wait_async(Loop& loop) {
    return wait_async(loop, arrive());
  }
  // Timed: yields absl::Status: OK, DeadlineExceeded or Cancelled (the loop
  // was destroyed first). The token stays valid after a timeout.
  template <class Loop>
  auto wait_async_until(Loop& loop, const arrival_token& arrival, Deadline deadline) const {
    return internal::AsyncFor<Loop>::Timed(
        internal::BarrierAcquisition(Word(), kScope, arrival.phase_), loop, deadline, Name(),
        [](const auto&) {});
  }
  template <class Loop, class Rep, class Period>
  auto wait_async_for(Loop& loop, const arrival_token& arrival,
                      const std::chrono::duration<Rep, Period>& d) const {
    return wait_async_until(loop, arrival, Deadline::AfterDuration(d));
  }

  // The futex word, read-only (internal::WordAccess writes it: internals, tests).
  const internal::FutexWord& word() const { return word_; }
  static constexpr FutexScope scope() { return kScope; }
  static constexpr const char* Name() {
    return kScope == FutexScope::kPrivate ? "ringlock::Barrier" : "ringlock::ProcessSharedBarrier";
  }

 private:
  friend struct internal::WordAccess;  // writable word: internals and tests only
  static constexpr uint32_t ValidCount(std::ptrdiff_t expected) {
    RINGLOCK_MISUSE_IF(expected < 0, Name(), "constructed with a negative count");
    RINGLOCK_MISUSE_IF(expected > max(), Name(), "constructed with a count past max()");
    if (expected < 0) return 0;
    return expected > max() ? internal::kBarrierMax : static_cast<uint32_t>(expected);
  }
  // The arrival that took R to 0 completes the phase.
  void Complete(uint32_t before, uint32_t count) {
    if (internal::BarrierRemaining(before) > count) return;
    internal::BarrierComplete(
        word_, kScope, [](void* f) { (*static_cast<CompletionFunction*>(f))(); }, &completion_);
  }
  // Waiting is const (as std::barrier::wait) but registers in the word.
  internal::FutexWord& Word() const { return const_cast<internal::FutexWord&>(word_); }

  internal::FutexWord word_;
  [[no_unique_address]] CompletionFunction completion_;
};

template <class CompletionFunction = internal::NoCompletion>
using Barrier = BasicBarrier<FutexScope::kPrivate, CompletionFunction>;
template <class CompletionFunction = internal::NoCompletion>
using ProcessSharedBarrier = BasicBarrier<FutexScope::kShared, CompletionFunction>;

static_assert(sizeof(Barrier<>) == 4);

}  // namespace ringlock

#endif  // RINGLOCK_LOCKS_BARRIER_H_
