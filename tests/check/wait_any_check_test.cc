// WaitAny (locks/wait_any.h, wait_any.cc) over two primitives, explored over
// every interleaving of small configurations by the model checker
// (locks/check/README.md), preemption bound 2. Blocking threads sleep on both words at once
// (futex_waitv in the model); coroutines (WaitAnyAsync) and ring-blocking
// threads arm one FUTEX_WAITV op on the loop (unsubmitted, armed, completed
// and not yet dispatched, or taken out and re-armed by the futex_waitv
// helper: all explored). Exactly one primitive is taken per WaitAny,
// the other registration is left again (its word counts no waiter at the
// end), and wakes spent on a WaitAny for the primitive it did not take are
// passed on (no thread hangs).
#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "locks/check/check_gtest.h"
#include "locks/check/model_loop.h"
#include "locks/event.h"
#include "locks/mutex.h"
#include "locks/semaphore.h"
#include "locks/wait_any.h"
#include "tests/check/configs.h"
#include "tests/check/protocol_checks.h"

namespace ringlock {
namespace {

constexpr int64_t kDeadlineNs = 3'000'000;

int64_t CountOf(const check::Result& r, const char* what) {
  auto it = r.counts.find(what);
  return it == r.counts.end() ? 0 : it->second;
}

// ---- A Mutex and an auto-reset Event ----------------------------------------

struct MutexEventState {
  Mutex mu;
  Event ev{EventMode::kAutoReset};
  int inside = 0;     // threads holding mu (plain: between steps)
  int any_took = -2;  // WaitAny's result (-2: not returned yet)
  int locker_done = 0;
  int sets = 0;
  MutexEventState() {
    check::NameWord(&mu.word(), "mu");
    check::NameWord(&ev.word(), "ev");
  }
};

void Inside(MutexEventState& s) {
  ++s.inside;
  check::Choose(1, "inside");  // a scheduling point while holding mu
  --s.inside;
}

Deadline DeadlineFor(bool timed) {
  return timed ? Deadline::FromMonotonicNanos(kDeadlineNs) : Deadline::Never();
}

void TookFromMutexAndEvent(MutexEventState& s, int i) {
  s.any_took = i;
  if (i == 0) {
    check::Count("WaitAny took the mutex");
    Inside(s);
    s.mu.unlock();
  } else if (i == 1) {
    check::Count("WaitAny took the event");
  } else {
    check::Count("timed WaitAny gave up");
  }
}

// WaitAny({Lock(mu), Take(ev)}): unlocks mu if it took it.
template <bool kTimed>
void AnyOfMutexAndEvent(MutexEventState& s) {
  TookFromMutexAndEvent(s, WaitAny({Lock(s.mu), Take(s.ev)}, DeadlineFor(kTimed)));
}

// The same from a thread that runs a loop: it sleeps in one FUTEX_WAITV op.
template <bool kTimed>
void RingBlockingAnyOfMutexAndEvent(MutexEventState& s) {
  check::RingBlockingScope ring;
  AnyOfMutexAndEvent<kTimed>(s);
}

// The same as a coroutine: co_await WaitAnyAsync on the thread's loop.
template <bool kTimed>
void CoroutineAnyOfMutexAndEvent(MutexEventState& s) {
  check::ModelLoop loop;
  bool done = false;
  [](MutexEventState& s, check::ModelLoop& loop, bool& done) -> check::Detached {
    const std::vector<Waitable> waitables = {Lock(s.mu), Take(s.ev)};
    const absl::StatusOr<int> r = co_await WaitAnyAsync(loop, waitables, DeadlineFor(kTimed));
    TookFromMutexAndEvent(s, r.ok() ? *r : -1);
    done = true;
  }(s, loop, done);
  loop.RunUntil([&] { return done; });
}

// A WaitAnyAsync coroutine the scheduler may destroy while it waits: every
// registration leaves through its primitive's protocol when the orphaned
// op's completion is dispatched (a wake spent on it is passed on).
void CancellableCoroutineAnyOfMutexAndEvent(MutexEventState& s) {
  check::ModelLoop loop;
  bool done = false;
  testing::OwnedCoroutine c = [](MutexEventState& s, check::ModelLoop& loop,
                                 bool& done) -> testing::OwnedCoroutine {
    const std::vector<Waitable> waitables = {Lock(s.mu), Take(s.ev)};
    const absl::StatusOr<int> r = co_await WaitAnyAsync(loop, waitables);
    TookFromMutexAndEvent(s, r.ok() ? *r : -1);
    done = true;
  }(s, loop, done);
  testing::FinishOrDestroy(c, loop, done, [&] { TookFromMutexAndEvent(s, -1); });
}

void Locker(MutexEventState& s) {
  s.mu.lock();
  Inside(s);
  s.mu.unlock();
  ++s.locker_done;
}

void Setter(MutexEventState& s) {
  ++s.sets;
  s.ev.set();
}

template <bool kTimed>
check::Model<MutexEventState> MutexOrEvent(
    void (*any)(MutexEventState&) = AnyOfMutexAndEvent<kTimed>) {
  check::Model<MutexEventState> m;
  m.threads = {any, Locker, Setter};
  m.invariant = [](MutexEventState& s) -> std::string {
    if (s.inside > 1) return "mutual exclusion: " + std::to_string(s.inside) + " threads inside";
    std::string e = testing::MutexStateRow(s.mu.word().load(), /*max_waiters=*/2);
    if (e.empty()) e = testing::EventStateRow(s.ev.word().load(), /*auto_reset=*/true, 1);
    return e;
  };
  m.final_check = [](MutexEventState& s) -> std::string {
    if (s.any_took < (kTimed ? -1 : 0) || s.any_took > 1)
      return "WaitAny returned " + std::to_string(s.any_took);
    if (s.locker_done != 1) return "the locker did not finish";
    if (s.mu.word().load() != 0) return "mutex not idle: " + testing::Hex(s.mu.word().load());
    // Took the event: it is clear again. Took the mutex (or timed out): the
    // set is still pending (auto-reset, nobody took it). No waiter counted.
    const uint32_t want = internal::kEventAuto | (s.any_took == 1 ? 0 : internal::kEventSet);
    if (s.ev.word().load() != want)
      return "event word " + testing::Hex(s.ev.word().load()) + ", want " + testing::Hex(want) +
             " (WaitAny took " + std::to_string(s.any_took) + ")";
    return "";
  };
  return m;
}

TEST(WaitAnyCheck, MutexOrEventWithLockerAndSetter) {
  const check::Result r = check::ExploreAndPrint(
      MutexOrEvent<false>().ToConfig("wait_any: {mutex, auto event} + locker + setter"),
      testing::ProtocolOptions(2));
  EXPECT_TRUE(r.passed) << r.Report();
  EXPECT_GT(CountOf(r, "WaitAny took the mutex"), 0);
  EXPECT_GT(CountOf(r, "WaitAny took the event"), 0);
}

// Spurious futex_waitv wakeups: every registration re-checks and sleeps again.
TEST(WaitAnyCheck, MutexOrEventWithLockerAndSetterSpuriousWakeups) {
  check::Options o = testing::ProtocolOptions(2);
  o.max_spurious_wakeups = 1;
  const check::Result r = check::ExploreAndPrint(
      MutexOrEvent<false>().ToConfig("wait_any: {mutex, auto event} + locker + setter, spurious"), o);
  EXPECT_TRUE(r.passed) << r.Report();
  EXPECT_GT(CountOf(r, "spurious_wakeup"), 0);
}

// Timed: at the deadline nothing is taken and both registrations are left.
TEST(WaitAnyCheck, TimedMutexOrEventWithLockerAndSetter) {
  const check::Result r = check::ExploreAndPrint(
      MutexOrEvent<true>().ToConfig("wait_any: timed {mutex, auto event} + locker + setter"),
      testing::ProtocolOptions(2));
  EXPECT_TRUE(r.passed) << r.Report();
  EXPECT_GT(CountOf(r, "timed WaitAny gave up"), 0);
  EXPECT_GT(CountOf(r, "WaitAny took the mutex"), 0);
  EXPECT_GT(CountOf(r, "WaitAny took the event"), 0);
}

// A coroutine's WaitAnyAsync: one FUTEX_WAITV op, completions dispatched
// late, the futex_waitv helper's re-arm (a wake meanwhile finds nobody).
TEST(WaitAnyCheck, CoroutineMutexOrEventWithLockerAndSetter) {
  check::Options o = testing::ProtocolOptions(2);
  o.max_requeues = 1;
  const check::Result r = check::ExploreAndPrint(
      MutexOrEvent<false>(CoroutineAnyOfMutexAndEvent<false>)
          .ToConfig("wait_any: coroutine {mutex, auto event} + locker + setter"),
      o);
  EXPECT_TRUE(r.passed) << r.Report();
  EXPECT_GT(CountOf(r, "WaitAny took the mutex"), 0);
  EXPECT_GT(CountOf(r, "WaitAny took the event"), 0);
  EXPECT_GT(CountOf(r, "late_dispatch"), 0);
  EXPECT_GT(CountOf(r, "requeue"), 0);
}

TEST(WaitAnyCheck, TimedCoroutineMutexOrEventWithLockerAndSetter) {
  const check::Result r = check::ExploreAndPrint(
      MutexOrEvent<true>(CoroutineAnyOfMutexAndEvent<true>)
          .ToConfig("wait_any: timed coroutine {mutex, auto event} + locker + setter"),
      testing::ProtocolOptions(2));
  EXPECT_TRUE(r.passed) << r.Report();
  EXPECT_GT(CountOf(r, "timed WaitAny gave up"), 0);
  EXPECT_GT(CountOf(r, "async_timeout"), 0);
}

TEST(WaitAnyCheck, CancelledCoroutineMutexOrEventWithLockerAndSetter) {
  const check::Result r = check::ExploreAndPrint(
      MutexOrEvent<true>(CancellableCoroutineAnyOfMutexAndEvent)
          .ToConfig("wait_any: coroutine {mutex, auto event} destroyed while waiting + locker + "
                    "setter"),
      testing::ProtocolOptions(2));
  EXPECT_TRUE(r.passed) << r.Report();
  EXPECT_GT(CountOf(r, "async_cancel"), 0);
  EXPECT_GT(CountOf(r, "WaitAny took the mutex"), 0);
  EXPECT_GT(CountOf(r, "WaitAny took the event"), 0);
}

TEST(WaitAnyCheck, RingBlockingMutexOrEventWithLockerAndSetter) {
  check::Options o = testing::ProtocolOptions(2);
  o.max_requeues = 1;
  const check::Result r = check::ExploreAndPrint(
      MutexOrEvent<false>(RingBlockingAnyOfMutexAndEvent<false>)
          .ToConfig("wait_any: ring-blocking {mutex, auto event} + locker + setter"),
      o);
  EXPECT_TRUE(r.passed) << r.Report();
  EXPECT_GT(CountOf(r, "WaitAny took the mutex"), 0);
  EXPECT_GT(CountOf(r, "WaitAny took the event"), 0);
}

// ---- Two Semaphores, two WaitAny threads ------------------------------------

struct TwoSemState {
  Semaphore a{0}, b{0};
  int took[2] = {-2, -2};  // each WaitAny's result (-2: not returned yet)
  int taken = 0;           // permits WaitAny returned with
  int timed_out = 0;
  TwoSemState() {
    check::NameWord(&a.word(), "a");
    check::NameWord(&b.word(), "b");
  }
};

uint32_t Permits(const Semaphore& s) { return s.word().load() & internal::kSemPermitMask; }
uint32_t Waiters(const Semaphore& s) { return s.word().load() / internal::kSemWaiterOne; }

template <int kIndex, bool kTimed>
void AnyOfTwoSemaphores(TwoSemState& s) {
  // The two threads list the semaphores in opposite orders.
  const int i = kIndex == 0
                    ? WaitAny({Acquire(s.a), Acquire(s.b)},
                              kTimed ? Deadline::FromMonotonicNanos(kDeadlineNs) : Deadline::Never())
                    : WaitAny({Acquire(s.b), Acquire(s.a)},
                              kTimed ? Deadline::FromMonotonicNanos(kDeadlineNs) : Deadline::Never());
  s.took[kIndex] = i;
  if (i == 1) check::Count("WaitAny took its second semaphore");
  if (i >= 0) {
    ++s.taken;
  } else {
    ++s.timed_out;
    check::Count("timed WaitAny gave up");
  }
}

void ReleaseBoth(TwoSemState& s) {
  s.a.release();
  s.b.release();
}

check::Model<TwoSemState> TwoSemaphores(void (*second)(TwoSemState&)) {
  check::Model<TwoSemState> m;
  m.threads = {AnyOfTwoSemaphores<0, false>, second, ReleaseBoth};
  m.invariant = [](TwoSemState& s) -> std::string {
    std::string e = testing::SemaphoreStateRow(s.a.word().load(), 1, 2);
    if (e.empty()) e = testing::SemaphoreStateRow(s.b.word().load(), 1, 2);
    if (e.empty() && Permits(s.a) + Permits(s.b) + s.taken > 2) return "more permits than released";
    return e;
  };
  m.final_check = [](TwoSemState& s) -> std::string {
    if (s.taken + s.timed_out != 2) return "a WaitAny neither took nor timed out";
    for (int k = 0; k < 2; ++k) {
      if (s.took[k] < -1 || s.took[k] > 1) return "WaitAny returned " + std::to_string(s.took[k]);
    }
    // Exactly one permit per WaitAny: the rest are still there.
    if (Permits(s.a) + Permits(s.b) + s.taken != 2)
      return "permits: a " + std::to_string(Permits(s.a)) + " + b " + std::to_string(Permits(s.b)) +
             " + taken " + std::to_string(s.taken) + " != 2";
    if (Waiters(s.a) != 0 || Waiters(s.b) != 0)
      return "a registration was not left: a " + testing::Hex(s.a.word().load()) + ", b " +
             testing::Hex(s.b.word().load());
    return "";
  };
  return m;
}

TEST(WaitAnyCheck, TwoSemaphoresTwoWaitAnyThreads) {
  const check::Result r = check::ExploreAndPrint(
      TwoSemaphores(AnyOfTwoSemaphores<1, false>).ToConfig("wait_any: {a, b} x2 + release a, b"),
      testing::ProtocolOptions(2));
  EXPECT_TRUE(r.passed) << r.Report();
  EXPECT_GT(CountOf(r, "WaitAny took its second semaphore"), 0);
}

TEST(WaitAnyCheck, TwoSemaphoresOneWaitAnyTimed) {
  const check::Result r = check::ExploreAndPrint(
      TwoSemaphores(AnyOfTwoSemaphores<1, true>)
          .ToConfig("wait_any: {a, b} + timed {b, a} + release a, b"),
      testing::ProtocolOptions(2));
  EXPECT_TRUE(r.passed) << r.Report();
  EXPECT_GT(CountOf(r, "timed WaitAny gave up"), 0);
  EXPECT_GT(CountOf(r, "timeout"), 0);
}

}  // namespace
}  // namespace ringlock
