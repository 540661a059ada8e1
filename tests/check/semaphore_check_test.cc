// The Semaphore protocol (locks/semaphore.h, semaphore.cc), explored over
// every interleaving of small configurations by the model checker
// (locks/check/README.md): three waiters on an empty semaphore, one timed
// (virtual deadline), and a releaser that adds the permits with release(n).
// Permits are conserved and within [0, max] in every state.
#include <cstdint>
#include <string>

#include "gtest/gtest.h"
#include "locks/check/check_gtest.h"
#include "locks/check/model_loop.h"
#include "locks/internal/wait_backend.h"
#include "locks/semaphore.h"
#include "tests/check/protocol_checks.h"

namespace ringlock {
namespace {

using check::Detached;
using check::ModelLoop;
using check::RingBlockingScope;

constexpr uint32_t kMax = 4;
constexpr int kWaiters = 3;
constexpr int64_t kDeadlineNs = 3'000'000;

struct SemState {
  CountingSemaphore<kMax> sem{0};
  // Plain counters, updated between steps: each lags the word by at most the
  // operation in flight, which the invariant allows for.
  int taken = 0;         // permits the waiters returned with
  int timed_out = 0;     // timed waiters that gave up
  int in_acquire = 0;    // waiters inside an acquire call (may hold an uncounted permit)
  int released = 0;      // permits whose release() returned
  int in_release = 0;    // permits of the release() call in flight
  SemState() { check::NameWord(&sem.word(), "sem"); }
};

uint32_t Permits(const SemState& s) { return s.sem.word().load() & internal::kSemPermitMask; }
uint32_t Waiters(const SemState& s) { return s.sem.word().load() / internal::kSemWaiterOne; }

void Acquirer(SemState& s) {
  ++s.in_acquire;
  s.sem.acquire();
  --s.in_acquire;
  ++s.taken;
}

void TimedAcquirer(SemState& s) {
  ++s.in_acquire;
  const bool ok = s.sem.try_acquire_until_deadline(Deadline::FromMonotonicNanos(kDeadlineNs));
  --s.in_acquire;
  if (ok) {
    ++s.taken;
  } else {
    ++s.timed_out;
    check::Count("timed waiter gave up");
  }
}

void CoroutineAcquirer(SemState& s) {
  ModelLoop loop;
  bool finished = false;
  ++s.in_acquire;
  [](SemState& s, ModelLoop& loop, bool& finished) -> Detached {
    co_await s.sem.acquire_async(loop);
    --s.in_acquire;
    ++s.taken;
    finished = true;
  }(s, loop, finished);
  loop.RunUntil([&] { return finished; });
}

void RingBlockingAcquirer(SemState& s) {
  RingBlockingScope ring;
  Acquirer(s);
}

void Release(SemState& s, int n) {
  s.in_release = n;
  s.sem.release(n);
  s.in_release = 0;
  s.released += n;
}

// release(2) then release(1): every waiter can be served, so none may hang.
void Releaser(SemState& s) {
  Release(s, 2);
  Release(s, 1);
}

std::string SemInvariant(SemState& s) {
  const uint32_t w = s.sem.word().load();
  std::string e = testing::SemaphoreStateRow(w, kMax, kWaiters);
  if (!e.empty()) return e;
  // Conservation: available + taken == initial (0) + released, up to the
  // counters' lag: a waiter may hold a permit it has not counted yet, a
  // release() may have added permits it has not counted yet.
  const int held = static_cast<int>(w & internal::kSemPermitMask) + s.taken;
  if (held > s.released + s.in_release || held < s.released - s.in_acquire) {
    return "permits not conserved: available " + std::to_string(w & internal::kSemPermitMask) +
           " + taken " + std::to_string(s.taken) + " vs released " + std::to_string(s.released) +
           " (in flight: release " + std::to_string(s.in_release) + ", acquirers " +
           std::to_string(s.in_acquire) + ")";
  }
  return "";
}

check::Model<SemState> ThreeWaiters(void (*first)(SemState&)) {
  check::Model<SemState> m;
  m.threads = {first, Acquirer, TimedAcquirer, Releaser};
  m.invariant = SemInvariant;
  m.final_check = [](SemState& s) -> std::string {
    if (s.taken + s.timed_out != kWaiters) return "a waiter neither took a permit nor timed out";
    if (static_cast<int>(Permits(s)) + s.taken != s.released)
      return "permits not conserved at the end: available " + std::to_string(Permits(s)) +
             " + taken " + std::to_string(s.taken) + " != released " + std::to_string(s.released);
    if (Permits(s) != static_cast<uint32_t>(s.timed_out)) return "a permit left with a waiter waiting";
    if (Waiters(s) != 0) return "waiters still counted: " + testing::Hex(s.sem.word().load());
    return "";
  };
  return m;
}

int64_t CountOf(const check::Result& r, const char* what) {
  auto it = r.counts.find(what);
  return it == r.counts.end() ? 0 : it->second;
}

TEST(SemaphoreCheck, ReleaseNThreeWaitersOneTimed) {
  const check::Result r = check::ExploreAndPrint(
      ThreeWaiters(Acquirer).ToConfig("semaphore: 3 waiters (1 timed), release(2) + release(1)"),
      testing::ProtocolOptions());
  EXPECT_TRUE(r.passed) << r.Report();
  EXPECT_GT(CountOf(r, "timed waiter gave up"), 0);
  EXPECT_GT(CountOf(r, "timeout"), 0);
}

// A coroutine or ring-blocking waiter among three waiters is ~950k
// executions at bound 1 (minutes): those run with two waiters, the async one
// and the timed one, and one release(2).
void ReleaserOfTwo(SemState& s) { Release(s, 2); }

check::Model<SemState> TwoWaiters(void (*first)(SemState&)) {
  check::Model<SemState> m = ThreeWaiters(first);
  m.threads = {first, TimedAcquirer, ReleaserOfTwo};
  m.final_check = [](SemState& s) -> std::string {
    if (s.taken + s.timed_out != 2) return "a waiter neither took a permit nor timed out";
    if (static_cast<int>(Permits(s)) + s.taken != s.released)
      return "permits not conserved at the end: available " + std::to_string(Permits(s)) +
             " + taken " + std::to_string(s.taken) + " != released " + std::to_string(s.released);
    if (Waiters(s) != 0) return "waiters still counted: " + testing::Hex(s.sem.word().load());
    return "";
  };
  return m;
}

TEST(SemaphoreCheck, ReleaseNCoroutineAndTimedWaiter) {
  const check::Result r = check::ExploreAndPrint(
      TwoWaiters(CoroutineAcquirer).ToConfig("semaphore: coroutine + timed waiter, release(2)"),
      testing::ProtocolOptions());
  EXPECT_TRUE(r.passed) << r.Report();
  EXPECT_GT(CountOf(r, "timed waiter gave up"), 0);
  EXPECT_GT(CountOf(r, "late_dispatch"), 0);
}

TEST(SemaphoreCheck, ReleaseNRingBlockingAndTimedWaiter) {
  const check::Result r = check::ExploreAndPrint(
      TwoWaiters(RingBlockingAcquirer).ToConfig("semaphore: ring-blocking + timed waiter, release(2)"),
      testing::ProtocolOptions());
  EXPECT_TRUE(r.passed) << r.Report();
  EXPECT_GT(CountOf(r, "timed waiter gave up"), 0);
}

// Spurious futex wakeups on (two waiters: with three it is minutes): a
// woken waiter that finds no permit sleeps again.
TEST(SemaphoreCheck, ReleaseNWaiterAndTimedWaiterSpuriousWakeups) {
  check::Options o = testing::ProtocolOptions();
  o.max_spurious_wakeups = 1;
  const check::Result r = check::ExploreAndPrint(
      TwoWaiters(Acquirer).ToConfig("semaphore: waiter + timed waiter, release(2), spurious"), o);
  EXPECT_TRUE(r.passed) << r.Report();
  EXPECT_GT(CountOf(r, "spurious_wakeup"), 0);
  EXPECT_GT(CountOf(r, "timed waiter gave up"), 0);
}

}  // namespace
}  // namespace ringlock
