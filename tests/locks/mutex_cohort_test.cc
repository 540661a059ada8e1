// lock_async's loop cohorts (locks/internal/mutex_cohort.h): a loop's
// coroutines queue behind one representative on the word, hand the lock to
// each other without touching the word, and give it up to other waiters
// after a slice. Every test runs on each loop kind (native futex SQEs, the
// futex_waitv(2) helper, no io_uring).
#include <atomic>
#include <coroutine>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "locks/async.h"
#include "locks/event.h"
#include "locks/internal/check.h"
#include "locks/internal/mutex_cohort.h"
#include "locks/mutex.h"
#include "tests/locks/prim_test_util.h"
#include "tests/locks/waiter_modes.h"
#include "uring/event_loop.h"
#include "uring/task.h"

namespace ringlock {
namespace {

using uring::EventLoop;
using uring::Task;

class MutexCohortTest : public testing::LoopModeTest {};

// Suspends the coroutine until a later step of its loop.
struct YieldTo {
  EventLoop& loop;
  bool await_ready() const { return false; }
  void await_suspend(std::coroutine_handle<> h) { loop.Schedule(h); }
  void await_resume() const {}
};

struct Turns {
  std::vector<int> order;       // who held the lock, in turn
  std::vector<uint32_t> words;  // the word as each one saw it inside
};

// Guard: AsyncMutexLock, or std::unique_lock<Mutex> (the converted guard).
template <class Guard = AsyncMutexLock>
Task<void> TakeTurn(EventLoop& loop, Mutex& mu, int id, Turns& t) {
  Guard g = co_await mu.lock_async(loop);
  t.order.push_back(id);
  t.words.push_back(mu.word().load());
}

// Every wait has left (the loop's ops completed, no cohort remains) and the
// mutex is free.
void ExpectAllLeft(EventLoop& loop, const Mutex& mu) {
  loop.RunUntil([&] { return loop.in_flight() == 0 && internal::LiveCohorts() == 0; });
  EXPECT_EQ(mu.word().load(), 0u);
}

// One coroutine waits on the word for the loop; the others queue behind it
// and get the lock from each other in arrival order, the word held
// throughout with nobody registered (no atomic, no wake per handoff).
TEST_P(MutexCohortTest, QueuedCoroutinesTakeTheLockInFifoOrderWithoutTheWord) {
  testing::HangWatchdog watchdog("QueuedCoroutinesTakeTheLockInFifoOrderWithoutTheWord");
  auto loop = MakeLoop();
  ASSERT_NE(loop, nullptr);
  Mutex mu;
  Turns t;
  mu.lock();  // a plain holder
  for (int id = 1; id <= 4; ++id) loop->Spawn(TakeTurn(*loop, mu, id, t));
  loop->Poll();  // 1 registers on the word, 2..4 queue behind it
  EXPECT_EQ(mu.word().load(), Mutex::kLocked | Mutex::kWaiterOne);
  EXPECT_EQ(internal::LiveCohorts(), 1);
  mu.unlock();  // wakes the representative
  loop->RunUntil([&] { return t.order.size() == 4; });
  EXPECT_EQ(t.order, (std::vector<int>{1, 2, 3, 4}));
  for (uint32_t w : t.words) EXPECT_EQ(w, Mutex::kLocked);
  ExpectAllLeft(*loop, mu);
}

// Regression (found while building cohorts): a loop whose coroutines hand
// the lock on without end starved a thread registered on the word; that
// thread never even got the wake that would let it turn starving. A
// registered waiter ends the loop's run after one slice.
TEST_P(MutexCohortTest, LoopHandoffsDoNotStarveAThreadWaitingOnTheWord) {
  testing::HangWatchdog watchdog("LoopHandoffsDoNotStarveAThreadWaitingOnTheWord");
  auto loop = MakeLoop();
  ASSERT_NE(loop, nullptr);
  Mutex mu;
  std::atomic<int64_t> loop_turns{0};
  std::atomic<bool> stop{false};
  int running = 0;
  auto worker = [&]() -> Task<void> {
    ++running;
    while (!stop.load()) {
      AsyncMutexLock g = co_await mu.lock_async(*loop);
      loop_turns.fetch_add(1);
      co_await YieldTo{*loop};  // hold across a step: the others queue
    }
    --running;
  };
  for (int i = 0; i < 4; ++i) loop->Spawn(worker());
  std::atomic<bool> thread_got{false};
  std::thread thread([&] {
    while (loop_turns.load() < 2000) std::this_thread::yield();
    mu.lock();
    thread_got = true;
    stop = true;
    mu.unlock();
  });
  loop->RunUntil([&] { return stop.load() && running == 0; });
  thread.join();
  EXPECT_TRUE(thread_got.load());
  EXPECT_GE(loop_turns.load(), 2000);
  ExpectAllLeft(*loop, mu);
}

// Converting the guard to std::unique_lock gives up the handoff; the queue
// must still move (the converted holder's plain unlock would otherwise
// strand it: it gets a representative on the word).
TEST_P(MutexCohortTest, ConvertedLocksKeepTheQueueMoving) {
  testing::HangWatchdog watchdog("ConvertedLocksKeepTheQueueMoving");
  auto loop = MakeLoop();
  ASSERT_NE(loop, nullptr);
  Mutex mu;
  Turns t;
  mu.lock();
  loop->Spawn(TakeTurn(*loop, mu, 1, t));
  for (int id = 2; id <= 4; ++id) loop->Spawn(TakeTurn<std::unique_lock<Mutex>>(*loop, mu, id, t));
  loop->Poll();
  mu.unlock();
  loop->RunUntil([&] { return t.order.size() == 4; });
  EXPECT_EQ(t.order, (std::vector<int>{1, 2, 3, 4}));
  ExpectAllLeft(*loop, mu);
}

// A queued coroutine destroyed by its owner leaves the queue; one destroyed
// after it was handed the lock (before it ran) passes the lock on.
TEST_P(MutexCohortTest, DestroyedQueuedOrHandedCoroutinesPassTheLockOn) {
  testing::HangWatchdog watchdog("DestroyedQueuedOrHandedCoroutinesPassTheLockOn");
  auto loop = MakeLoop();
  ASSERT_NE(loop, nullptr);
  Mutex mu;
  Turns t;
  mu.lock();
  std::vector<Task<void>> tasks;
  for (int id = 1; id <= 4; ++id) {
    tasks.push_back(TakeTurn(*loop, mu, id, t));
    tasks.back().handle().resume();  // 1 registers, 2..4 queue
  }
  loop->Poll();
  tasks[2] = Task<void>();  // 3 dies queued
  mu.unlock();
  loop->RunUntil([&] { return tasks[0].done(); });  // 1 ran and handed the lock to 2
  EXPECT_EQ(t.order, (std::vector<int>{1}));
  EXPECT_EQ(mu.word().load(), Mutex::kLocked);  // held for 2
  tasks[1] = Task<void>();  // 2 dies handed: 4 gets the lock
  loop->RunUntil([&] { return tasks[3].done(); });
  EXPECT_EQ(t.order, (std::vector<int>{1, 4}));
  ExpectAllLeft(*loop, mu);
}

// Destroying the loop with a holder, a representative, handed and queued
// coroutines leaves the mutex free and no cohort behind (ASAN: no leak).
TEST_P(MutexCohortTest, LoopDestructionLeavesTheMutexFree) {
  testing::HangWatchdog watchdog("LoopDestructionLeavesTheMutexFree");
  Mutex mu;
  Event never;
  Turns t;
  bool holder_resumed = false;
  {
    auto loop = MakeLoop();
    ASSERT_NE(loop, nullptr);
    auto holder = [&]() -> Task<void> {
      AsyncMutexLock g = co_await mu.lock_async(*loop);
      co_await never.wait_async(*loop);  // holds until the loop goes
      holder_resumed = true;
    };
    loop->Spawn(holder());
    for (int id = 1; id <= 4; ++id) loop->Spawn(TakeTurn(*loop, mu, id, t));
    loop->Poll();  // the holder holds; 1 registers; 2..4 queue
    EXPECT_EQ(mu.word().load() & ~Mutex::kWaking, Mutex::kLocked | Mutex::kWaiterOne);
    EXPECT_EQ(internal::LiveCohorts(), 1);
  }
  EXPECT_FALSE(holder_resumed);
  EXPECT_EQ(mu.word().load(), 0u);
  EXPECT_EQ(internal::LiveCohorts(), 0);
}

// A guard from the loop's cohort unlocked on another thread would touch the
// loop thread's cohort from there: debug builds abort with a message.
using MutexCohortDeathTest = MutexCohortTest;
TEST_P(MutexCohortDeathTest, GuardUnlockedOnAnotherThreadAbortsWithAMessage) {
  if (!internal::kDebugChecks) GTEST_SKIP() << "a debug-build check";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const testing::LoopKind kind = GetParam();
  auto scenario = [kind] {
    auto loop = testing::MakeLoop(kind);
    Mutex mu;
    AsyncMutexLock out;
    mu.lock();
    auto take = [&](bool keep) -> Task<void> {
      AsyncMutexLock g = co_await mu.lock_async(*loop);
      if (keep) out = std::move(g);
    };
    loop->Spawn(take(false));  // waits on the word for the loop
    loop->Spawn(take(true));   // queues; handed the lock; keeps it
    loop->Poll();
    mu.unlock();
    loop->RunUntil([&] { return out.owns_lock(); });
    std::thread([&] { out.unlock(); }).join();
  };
  EXPECT_DEATH(scenario(), "ringlock::Mutex.*AsyncMutexLock unlocked on another thread");
}

INSTANTIATE_TEST_SUITE_P(Modes, MutexCohortDeathTest, ::testing::ValuesIn(testing::AllLoopModes()),
                         testing::LoopModeName);

INSTANTIATE_TEST_SUITE_P(Modes, MutexCohortTest, ::testing::ValuesIn(testing::AllLoopModes()),
                         testing::LoopModeName);

}  // namespace
}  // namespace ringlock
