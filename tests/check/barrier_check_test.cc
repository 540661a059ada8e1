// The Barrier protocol (locks/barrier.h, barrier.cc), explored over every
// interleaving of small configurations by the model checker
// (locks/check/README.md): two participants over two phases with a
// completion function (futex + coroutine, futex + ring-blocking). The
// completion runs once per phase, after the phase's last arrival and before
// any wait of the phase returns; nobody is left asleep; every word is a row
// of the state table and moves only as the table says; the word ends idle at
// phase 2.
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

TEST(BarrierCheck, TwoParticipantsTwoPhasesFutexAndCoroutine) {
  const check::Result r = check::ExploreAndPrint(
      BarrierTwoOverTwoPhases().ToConfig("barrier of 2, 2 phases: futex, coroutine"),
      ProtocolOptions(2));
  EXPECT_TRUE(r.passed) << r.Report();
  EXPECT_GT(CountOf(r, "late_dispatch"), 0);
}

TEST(BarrierCheck, TwoParticipantsTwoPhasesFutexAndRingBlocking) {
  const check::Result r = check::ExploreAndPrint(
      BarrierTwoOverTwoPhases(BarrierRingBlockingParticipant)
          .ToConfig("barrier of 2, 2 phases: futex, ring-blocking"),
      ProtocolOptions(2));
  EXPECT_TRUE(r.passed) << r.Report();
}

TEST(BarrierCheck, TwoParticipantsTwoPhasesWithASpuriousWakeup) {
  check::Options o = ProtocolOptions(2);
  o.max_spurious_wakeups = 1;
  const check::Result r = check::ExploreAndPrint(
      BarrierTwoOverTwoPhases(BarrierParticipant).ToConfig("barrier of 2, 2 phases: futex x2, spurious"),
      o);
  EXPECT_TRUE(r.passed) << r.Report();
  EXPECT_GT(CountOf(r, "spurious_wakeup"), 0);
}

}  // namespace
}  // namespace ringlock::testing
