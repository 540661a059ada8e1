// The Mutex protocol (locks/mutex.h, mutex.cc), unchanged, explored over
// every interleaving of small configurations by the model checker
// (locks/check/README.md): the word is a model atomic, futex(2) and the
// ring's FUTEX_WAIT SQEs are the futex model, the clock is virtual (a
// waiter's "waited 1 ms" is a scheduler choice, so the starving transitions
// are explored too).
#include <atomic>
#include <cstdint>
#include <string>

#include "gtest/gtest.h"
#include "locks/check/check_gtest.h"
#include "locks/check/model_loop.h"
#include "locks/internal/wait_backend.h"
#include "locks/mutex.h"
#include "tests/check/protocol_checks.h"

namespace ringlock {
namespace {

using check::Detached;
using check::ModelLoop;
using check::ModelRingBackend;

struct MutexState {
  Mutex mu;
  int inside = 0;     // threads in the critical section (plain: between steps)
  int acquired = 0;   // critical sections completed
  int timed_out = 0;  // timed lockers that gave up
  bool saw_starving = false;
  MutexState() { check::NameWord(&mu.word(), "mu"); }
};

std::atomic<int64_t> g_starving_executions{0};

void CriticalSection(MutexState& s) {
  ++s.inside;
  check::Choose(1, "inside");  // a scheduling point while holding the lock
  --s.inside;
  ++s.acquired;
}

void Locker(MutexState& s) {
  s.mu.lock();
  CriticalSection(s);
  s.mu.unlock();
}

// Gives up at 3 ms of virtual time (a timeout is also a scheduler choice).
void TimedLocker(MutexState& s) {
  if (s.mu.try_lock_until_deadline(Deadline::FromMonotonicNanos(3'000'000))) {
    CriticalSection(s);
    s.mu.unlock();
  } else {
    ++s.timed_out;
  }
}

// A coroutine on this thread's loop: co_await lock_async, through the real
// async driver; the thread dispatches its completions until it is done.
void CoroutineLocker(MutexState& s) {
  ModelLoop loop;
  bool done = false;
  [](MutexState& s, ModelLoop& loop, bool& done) -> Detached {
    std::unique_lock<Mutex> guard = co_await s.mu.lock_async(loop);
    CriticalSection(s);
    guard.unlock();
    done = true;
  }(s, loop, done);
  loop.RunUntil([&] { return done; });
}

// A thread that runs a loop and calls the blocking lock(): it sleeps in the
// ring (an armed FUTEX_WAIT op), as ring-blocking threads do.
void RingBlockingLocker(MutexState& s) {
  ModelLoop loop;
  ModelRingBackend ring(loop);
  internal::SetThreadWaitBackend(&ring);
  Locker(s);
  internal::SetThreadWaitBackend(nullptr);
}

std::string MutexInvariant(MutexState& s) {
  if (s.inside > 1) return "mutual exclusion: " + std::to_string(s.inside) + " threads inside";
  const uint32_t w = s.mu.word().load();
  if ((w & Mutex::kStarvingMask) != 0) s.saw_starving = true;
  std::string row = testing::MutexStateRow(w, /*max_waiters=*/3);
  if (!row.empty()) return row;
  return "";
}

check::Model<MutexState> ThreeLockers(void (*third)(MutexState&)) {
  check::Model<MutexState> m;
  m.threads = {Locker, TimedLocker, third};
  m.invariant = MutexInvariant;
  m.final_check = [](MutexState& s) -> std::string {
    if (s.saw_starving) ++g_starving_executions;
    if (s.mu.word().load() != 0) return "word not idle at the end: " + testing::Hex(s.mu.word().load());
    if (s.acquired + s.timed_out != 3) return "acquisitions + timeouts != 3";
    return "";
  };
  return m;
}

check::Options MutexOptions() {
  check::Options o;
  o.preemption_bound = testing::PreemptionBound(2);
  o.max_spurious_wakeups = 0;
  o.max_clock_advances = 1;  // one jump of 1 ms: a waiter may turn starving
  o.clock_tick_ns = 1'000'000;
  o.max_executions = 2'000'000;
  return o;
}

TEST(MutexCheck, ThreeLockersOneTimedOneCoroutine) {
  g_starving_executions = 0;
  const check::Result r =
      check::ExploreAndPrint(ThreeLockers(CoroutineLocker).ToConfig("mutex: lock, timed, coroutine"),
                             MutexOptions());
  EXPECT_TRUE(r.passed) << r.Report();
  EXPECT_GT(g_starving_executions.load(), 0) << "the starving transitions were never reached";
  EXPECT_GT(r.counts.at("timeout"), 0);
}

TEST(MutexCheck, ThreeLockersOneTimedOneRingBlocking) {
  const check::Result r = check::ExploreAndPrint(
      ThreeLockers(RingBlockingLocker).ToConfig("mutex: lock, timed, ring-blocking"),
      MutexOptions());
  EXPECT_TRUE(r.passed) << r.Report();
}

}  // namespace
}  // namespace ringlock
