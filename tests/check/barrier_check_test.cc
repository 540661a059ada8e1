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

// Three participants, one of which arrives once and drops out (phase 0
// expects 3 arrivals, phase 1 expects 2): the phase move refills R from the
// lowered E.
struct DropState : BarrierState {
  DropState() : BarrierState(3, 3, 2) {}
};

TEST(BarrierCheck, ThreeParticipantsOneDropsOut) {
  check::Model<DropState> m;
  m.threads = {[](DropState& s) { BarrierDropper(s); },
               [](DropState& s) { BarrierParticipant(s); },
               [](DropState& s) { BarrierCoroutineParticipant(s); }};
  const check::Model<BarrierState> base = BarrierTwoOverTwoPhases();
  m.invariant = [inv = base.invariant](DropState& s) { return inv(s); };
  m.final_check = [](DropState& s) -> std::string {
    if (s.completions != BarrierState::kPhases)
      return "completions: " + std::to_string(s.completions);
    const uint32_t idle = 2 * internal::kBarrierExpectedOne + 2 * internal::kBarrierRemainingOne +
                          BarrierState::kPhases * internal::kBarrierPhaseOne;
    if (s.barrier.word().load() != idle)
      return "barrier word not idle (phase 2, R=E=2, W=0): " + Hex(s.barrier.word().load());
    return "";
  };
  const check::Result r = check::ExploreAndPrint(
      m.ToConfig("barrier of 3, 2 phases: dropper, futex, coroutine"),
      ProtocolOptions());  // bound 2: 136k executions, over a minute
  EXPECT_TRUE(r.passed) << r.Report();
}

}  // namespace
}  // namespace ringlock::testing
