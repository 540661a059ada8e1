// The Watermark protocol (locks/watermark.h, watermark.cc), explored over
// every interleaving of small configurations by the model checker
// (locks/check/README.md): waiters of every kind on targets 1 and 2, one of
// them timed, and an advancer running advance_to(1) then advance_to(2).
// Properties (tests/check/configs.h): no waiter returns before its target
// is reached, none stays asleep once it is (no lost wakeup), and at the end
// every waiter is deregistered, nothing is linked and the lock is free.
#include <cstdint>
#include <string>

#include "gtest/gtest.h"
#include "locks/check/check_gtest.h"
#include "tests/check/configs.h"
#include "tests/check/protocol_checks.h"

namespace ringlock::testing {
namespace {

int64_t CountOf(const check::Result& r, const char* what) {
  auto it = r.counts.find(what);
  return it == r.counts.end() ? 0 : it->second;
}

TEST(WatermarkCheck, WaiterAndTimedWaiterTwoAdvances) {
  const check::Result r = check::ExploreAndPrint(
      WatermarkWaiters({WatermarkWaiter1, WatermarkTimedWaiter2})
          .ToConfig("watermark: waiter@1 + timed@2, advance 1 then 2"),
      ProtocolOptions());
  EXPECT_TRUE(r.passed) << r.Report();
  EXPECT_GT(CountOf(r, "timed waiter gave up"), 0);
  EXPECT_GT(CountOf(r, "timeout"), 0);
}

TEST(WatermarkCheck, WaiterAndTimedCoroutineTwoAdvances) {
  const check::Result r = check::ExploreAndPrint(
      WatermarkWaiters({WatermarkWaiter1, WatermarkTimedCoroutine2})
          .ToConfig("watermark: waiter@1 + timed coroutine@2, advance 1 then 2"),
      ProtocolOptions());
  EXPECT_TRUE(r.passed) << r.Report();
  EXPECT_GT(CountOf(r, "timed waiter gave up"), 0);
  EXPECT_GT(CountOf(r, "late_dispatch"), 0);
}

TEST(WatermarkCheck, CoroutineDestroyedWhileWaiting) {
  const check::Result r = check::ExploreAndPrint(
      WatermarkWaiters({WatermarkWaiter1, WatermarkCancellableCoroutine2})
          .ToConfig("watermark: waiter@1 + coroutine@2 destroyed while waiting, advance 1 then 2"),
      ProtocolOptions());
  EXPECT_TRUE(r.passed) << r.Report();
  EXPECT_GT(CountOf(r, "async_cancel"), 0);
}

TEST(WatermarkCheck, RingBlockingAndTimedWaiter) {
  const check::Result r = check::ExploreAndPrint(
      WatermarkWaiters({WatermarkRingBlockingWaiter1, WatermarkTimedWaiter2})
          .ToConfig("watermark: ring-blocking@1 + timed@2, advance 1 then 2"),
      ProtocolOptions());
  EXPECT_TRUE(r.passed) << r.Report();
  EXPECT_GT(CountOf(r, "timed waiter gave up"), 0);
}

TEST(WatermarkCheck, TwoWaitersSpuriousWakeups) {
  check::Options o = ProtocolOptions();
  o.max_spurious_wakeups = 1;
  const check::Result r = check::ExploreAndPrint(
      WatermarkWaiters({WatermarkWaiter1, WatermarkWaiter2})
          .ToConfig("watermark: waiter@1 + waiter@2, advance 1 then 2, spurious"),
      o);
  EXPECT_TRUE(r.passed) << r.Report();
  EXPECT_GT(CountOf(r, "spurious_wakeup"), 0);
}

}  // namespace
}  // namespace ringlock::testing
