// The Latch protocol (locks/latch.h, latch.cc), explored over every
// interleaving of small configurations by the model checker
// (locks/check/README.md): a latch of 2 with three waiters of different kinds
// (futex, coroutine, ring-blocking or timed). Nobody returns before the count
// reaches zero, nobody is left asleep, every word is a row of the state table
// and C only goes down; at the end the word is 0.
#include <cstdint>
#include <string>

#include "gtest/gtest.h"
#include "locks/check/check_gtest.h"
#include "tests/check/configs.h"

namespace ringlock::testing {
namespace {

int64_t CountOf(const check::Result& r, const char* what) {
  auto it = r.counts.find(what);
  return it == r.counts.end() ? 0 : it->second;
}

TEST(LatchCheck, LatchOfTwoFutexCoroutineAndRingBlockingWaiters) {
  const check::Result r = check::ExploreAndPrint(
      LatchOfTwoThreeWaiters().ToConfig("latch of 2: arrive_and_wait, coroutine, ring-blocking"),
      ProtocolOptions());
  EXPECT_TRUE(r.passed) << r.Report();
  EXPECT_GT(CountOf(r, "late_dispatch"), 0);
}

TEST(LatchCheck, LatchOfTwoWithATimedWaiter) {
  const check::Result r = check::ExploreAndPrint(
      LatchOfTwoThreeWaiters(LatchTimedWaiter).ToConfig("latch of 2: arrive_and_wait, coroutine, timed"),
      ProtocolOptions());
  EXPECT_TRUE(r.passed) << r.Report();
  EXPECT_GT(CountOf(r, "timed waiter gave up"), 0);
}

// A spurious return from a sleep re-checks and sleeps again.
TEST(LatchCheck, LatchOfTwoWithASpuriousWakeup) {
  check::Options o = ProtocolOptions();
  o.max_spurious_wakeups = 1;
  const check::Result r = check::ExploreAndPrint(
      LatchOfTwoThreeWaiters(LatchWaiter).ToConfig("latch of 2: arrive_and_wait, coroutine, waiter; spurious"),
      o);
  EXPECT_TRUE(r.passed) << r.Report();
  EXPECT_GT(CountOf(r, "spurious_wakeup"), 0);
}

}  // namespace
}  // namespace ringlock::testing
