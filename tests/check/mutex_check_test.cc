// The Mutex protocol (locks/mutex.h, mutex.cc), unchanged, explored over
// every interleaving of small configurations by the model checker
// (locks/check/README.md): the word is a model atomic, futex(2) and the
// ring's FUTEX_WAIT SQEs are the futex model, the clock is virtual (a
// waiter's "waited 1 ms" is a scheduler choice, so the starving transitions
// are explored too). Preemption bound 1, 2 for the barging holder
// (RINGLOCK_CHECK_BOUND for more). Every sleep on the word is checked against
// INV5.
#include "gtest/gtest.h"
#include "locks/check/check_gtest.h"
#include "tests/check/configs.h"

namespace ringlock::testing {
namespace {

TEST(MutexCheck, ThreeLockersOneTimedOneCoroutine) {
  g_mutex_starving_executions = 0;
  const check::Result r = check::ExploreAndPrint(
      MutexThreeLockers(CoroutineLocker).ToConfig("mutex: lock, timed, coroutine"),
      MutexOptions());
  EXPECT_TRUE(r.passed) << r.Report();
  EXPECT_GT(g_mutex_starving_executions.load(), 0) << "the starving transitions were not reached";
  EXPECT_GT(r.counts.at("timeout"), 0);
  EXPECT_GT(r.counts.at("late_dispatch"), 0);
}

TEST(MutexCheck, ThreeLockersOneTimedOneRingBlocking) {
  const check::Result r = check::ExploreAndPrint(
      MutexThreeLockers(RingBlockingLocker).ToConfig("mutex: lock, timed, ring-blocking"),
      MutexOptions());
  EXPECT_TRUE(r.passed) << r.Report();
}

TEST(MutexCheck, ThreeLockersOneTimedOneCancelledCoroutine) {
  const check::Result r = check::ExploreAndPrint(
      MutexThreeLockers(CancellableCoroutineLocker)
          .ToConfig("mutex: lock, timed, coroutine destroyed while waiting"),
      MutexOptions());
  EXPECT_TRUE(r.passed) << r.Report();
  EXPECT_GT(r.counts.at("async_cancel"), 0);
}

// Two untimed lockers: a wake lost by the cancelled coroutine strands one
// (a timed locker would hide it by timing out).
TEST(MutexCheck, TwoLockersAndACancelledCoroutine) {
  const check::Result r = check::ExploreAndPrint(
      MutexThreeLockers(CancellableCoroutineLocker, Locker)
          .ToConfig("mutex: lock, lock, coroutine destroyed while waiting"),
      MutexOptions());
  EXPECT_TRUE(r.passed) << r.Report();
}

TEST(MutexCheck, ThreeFutexLockersOneTimed) {
  const check::Result r = check::ExploreAndPrint(
      MutexThreeLockers(Locker).ToConfig("mutex: lock, timed, lock"), MutexOptions());
  EXPECT_TRUE(r.passed) << r.Report();
}

// Bound 2: T1 unlocks, barges back and unlocks while T2 turns starving and
// T3 is held off by the reservation. Also: lock()'s spin goes on while others
// are parked and none starves, so some execution has a spin take the lock
// while a waiter is registered (the spin used to stop at the first registered
// waiter: none by construction then). And a waiter woken while the holder
// has barged back looks again before it sleeps, so some execution has it
// take the lock from that look.
TEST(MutexCheck, HolderBargesBackWhileAWaiterTurnsStarving) {
  g_mutex_starving_executions = 0;
  internal::g_mutex_stats.spin_wins_over_parked = 0;
  internal::g_mutex_stats.wake_spin_wins = 0;
  const check::Result r = check::ExploreAndPrint(
      MutexHolderBargesBack().ToConfig("mutex: holder unlocks and barges back, two lockers"),
      MutexBargeOptions());
  EXPECT_TRUE(r.passed) << r.Report();
  EXPECT_GT(g_mutex_starving_executions.load(), 0) << "the starving transitions were not reached";
  EXPECT_GT(internal::g_mutex_stats.spin_wins_over_parked.load(), 0u)
      << "no spin barged while a waiter was parked";
  EXPECT_GT(internal::g_mutex_stats.wake_spin_wins.load(), 0u)
      << "no woken waiter took the lock from its spin";
}

// lock_async's loop cohort (locks/internal/mutex_cohort.h) beside a plain
// locker: representative registration while a coroutine of the loop holds
// the lock, handoffs, a converted guard's plain unlock, slices cut by the
// clock, starving waiters.
TEST(MutexCheck, ALoopCohortAndAThread) {
  g_mutex_starving_executions = 0;
  internal::MutexStats& stats = internal::g_mutex_stats;
  stats.loop_handoffs = 0;
  stats.loop_slices_ended = 0;
  stats.loop_new_representatives = 0;
  const check::Result r = check::ExploreAndPrint(
      MutexCohortAndAThread().ToConfig("mutex: lock, loop cohort of four coroutines"),
      MutexOptions());
  EXPECT_TRUE(r.passed) << r.Report();
  EXPECT_GT(g_mutex_starving_executions.load(), 0) << "no waiter turned starving";
  EXPECT_GT(stats.loop_handoffs.load(), 0u) << "no handoff inside the loop";
  EXPECT_GT(stats.loop_slices_ended.load(), 0u) << "no slice ended with others waiting";
  EXPECT_GT(stats.loop_new_representatives.load(), 0u) << "no queue head sent to the word";
}

TEST(CondVarCheck, TwoConsumersNotifyOneAfterUnlock) {
  const check::Result r = check::ExploreAndPrint(
      CondVarTwoConsumers().ToConfig("condvar: 2 consumers, notify_one after unlock"),
      CondVarOptions());
  EXPECT_TRUE(r.passed) << r.Report();
}

TEST(WakeBatchCheck, HeldWakesLeaveBeforeTheThreadSleeps) {
  const check::Result r = check::ExploreAndPrint(
      BatchedUnlockThenSleep().ToConfig("wake batch: unlock a in a batch, then sleep on b"),
      CondVarOptions());
  EXPECT_TRUE(r.passed) << r.Report();
}

}  // namespace
}  // namespace ringlock::testing
