// The checker must be able to fail: each build of this test links the core
// with one fixed bug put back (tests/check/mutate.py, MUTANT below) and
// asserts that a configuration that passes on the real code now fails, with
// a readable interleaving trace.
#include <cctype>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "locks/check/check_gtest.h"
#include "tests/check/configs.h"

#ifndef MUTANT_NAME
#error "build through tests/check/BUILD.bazel: MUTANT_NAME names the bug put back"
#endif
#define RINGLOCK_STR2(x) #x
#define RINGLOCK_STR(x) RINGLOCK_STR2(x)
#define MUTANT RINGLOCK_STR(MUTANT_NAME)

namespace ringlock::testing {
namespace {

// Messages name words by address too; a replay allocates them afresh.
std::string WithoutAddresses(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    out += s[i];
    if (s[i] == '@' && s.compare(i + 1, 2, "0x") == 0) {
      i += 2;
      while (i + 1 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1]))) ++i;
    }
  }
  return out;
}

struct Case {
  check::Config config;
  check::Options options;
};

std::vector<Case> CasesFor(const std::string& mutant) {
  if (mutant.rfind("mutex_cohort_", 0) == 0) {
    return {{MutexCohortAndAThread().ToConfig("mutex: lock, loop cohort of four coroutines"),
             MutexOptions()}};
  }
  if (mutant.rfind("mutex_", 0) == 0) {
    return {{MutexHolderBargesBack().ToConfig("mutex: holder unlocks and barges back, two lockers"),
             MutexBargeOptions()},
            {MutexThreeLockers(CancellableCoroutineLocker, Locker)
                 .ToConfig("mutex: lock, lock, coroutine destroyed while waiting"),
             MutexOptions()},
            {MutexThreeLockers(Locker).ToConfig("mutex: lock, timed, lock"), MutexOptions()},
            {MutexThreeLockers(CancellableCoroutineLocker)
                 .ToConfig("mutex: lock, timed, coroutine destroyed while waiting"),
             MutexOptions()},
            {MutexThreeLockers(CoroutineLocker).ToConfig("mutex: lock, timed, coroutine"),
             MutexOptions()}};
  }
  if (mutant.rfind("condvar_", 0) == 0) {
    return {{CondVarTwoConsumers().ToConfig("condvar: 2 consumers, notify_one after unlock"),
             CondVarOptions()}};
  }
  if (mutant.rfind("latch_", 0) == 0) {
    return {{LatchOfTwoThreeWaiters().ToConfig("latch of 2: arrive_and_wait, coroutine, ring-blocking"),
             ProtocolOptions()}};
  }
  if (mutant.rfind("once_", 0) == 0) {
    return {{OnceThreeCallersOneThrows().ToConfig("once: throwing caller, caller, coroutine"),
             ProtocolOptions()}};
  }
  if (mutant.rfind("barrier_", 0) == 0) {
    return {{BarrierTwoOverTwoPhases().ToConfig("barrier of 2, 2 phases: futex, coroutine"),
             ProtocolOptions()}};
  }
  if (mutant.rfind("watermark_", 0) == 0) {
    return {{WatermarkWaiters({WatermarkWaiter1, WatermarkTimedWaiter2})
                 .ToConfig("watermark: waiter@1 + timed@2, advance 1 then 2"),
             ProtocolOptions()},
            {WatermarkWaiters({WatermarkWaiter1, WatermarkTimedCoroutine2})
                 .ToConfig("watermark: waiter@1 + timed coroutine@2, advance 1 then 2"),
             ProtocolOptions()}};
  }
  if (mutant.rfind("shared_mutex_", 0) == 0) {
    return {{SharedMutexThreads({RwWriter, RwReader, RwReader})
                 .ToConfig("smu: writer, reader, reader"),
             ProtocolOptions(2)},
            {SharedMutexThreads({RwWriter, RwCancellableCoroutineReader, RwWriter})
                 .ToConfig("smu: writer, coroutine reader destroyed while waiting, writer"),
             ProtocolOptions(2)}};
  }
  return {{BatchedUnlockThenSleep().ToConfig("wake batch: unlock a in a batch, then sleep on b"),
           CondVarOptions()}};
}

TEST(MutantTest, TheCheckerRejectsTheBugPutBack) {
  const std::string mutant = MUTANT;
  bool caught = false;
  for (const Case& c : CasesFor(mutant)) {
    const check::Result r = check::ExploreAndPrint(c.config, c.options);
    if (r.passed) continue;
    caught = true;
    EXPECT_FALSE(r.failure.empty());
    EXPECT_NE(r.trace.find("#1 "), std::string::npos) << "no numbered trace";
    EXPECT_FALSE(r.replay.empty());
    // The failing schedule replays to the same failure.
    check::Options replay = c.options;
    replay.replay = r.replay;
    const check::Result again = check::Explore(c.config, replay);
    EXPECT_FALSE(again.passed);
    EXPECT_EQ(WithoutAddresses(again.failure), WithoutAddresses(r.failure));
    break;
  }
  EXPECT_TRUE(caught) << "mutant " << mutant << " passed every configuration";
}

}  // namespace
}  // namespace ringlock::testing
