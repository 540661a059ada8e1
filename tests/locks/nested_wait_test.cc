// Ring-blocking waits nested inside other waits on the same loop thread, for
// every primitive and WaitAny: a coroutine dispatched while one blocking wait
// runs blocks too, and the outer wait's completion arrives while the inner
// one runs (ring_wait_backend.h). Each test spawns three coroutines that block
// with plain blocking calls, releases them from another thread, and checks
// exact counts and idle words; a watchdog fails the process instead of a hang.
#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "locks/condvar.h"
#include "locks/event.h"
#include "locks/mutex.h"
#include "locks/semaphore.h"
#include "locks/wait_any.h"
#include "tests/locks/stall_watchdog.h"
#include "tests/locks/waiter_modes.h"
#include "uring/event_loop.h"
#include "uring/task.h"

namespace ringlock {
namespace {

using std::chrono::milliseconds;
using uring::Task;

class NestedWaitTest : public testing::LoopModeTest {
 protected:
  // Runs `spawn(loop)` on a new loop thread until its coroutines finish.
  template <class Spawn>
  std::thread RunLoop(Spawn spawn) {
    return std::thread([this, spawn] {
      auto loop = MakeLoop();
      ASSERT_NE(loop, nullptr);
      spawn(*loop);
      loop->Stop();
      loop->Run();
    });
  }

  std::atomic<int64_t> progress_{0};
};

constexpr int kNested = 3;

// Waits until `n` waiters are registered on the loop thread's word, then a
// little longer so the inner ones arm too.
template <class Pred>
void WaitForWaiters(Pred registered) {
  while (!registered()) std::this_thread::yield();
  std::this_thread::sleep_for(milliseconds(50));
}

Task<void> WaitOnCondVar(Mutex& mu, CondVar& cv, const bool& go, std::atomic<int>& waiting,
                         std::atomic<int>& done, std::atomic<int64_t>& progress) {
  std::unique_lock<Mutex> lock(mu);
  waiting.fetch_add(1);
  // Before the fix, the outer wait re-armed after its nested inner waits and
  // unlocked the caller's lock a second time: std::unique_lock threw
  // "Operation not permitted" (a bare Mutex: a debug abort, or a corrupt word).
  cv.wait(lock, [&] { return go; });
  EXPECT_TRUE(lock.owns_lock());
  done.fetch_add(1);
  progress.fetch_add(1);
  co_return;
}

// Regression: CondVar::wait on a loop thread unlocked the caller's lock twice
// when a nested wait ran inside it.
TEST_P(NestedWaitTest, CondVarWaitDoesNotUnlockTwiceAfterANestedWait) {
  Mutex mu;
  CondVar cv;
  bool go = false;
  std::atomic<int> waiting{0}, done{0};
  testing::StallWatchdog watchdog(progress_, std::chrono::seconds(20), [&] {
    return "mu=" + std::to_string(mu.word().load()) + " cv=" + std::to_string(cv.word().load()) +
           " done=" + std::to_string(done.load());
  });
  std::thread t = RunLoop([&](uring::EventLoop& loop) {
    for (int i = 0; i < kNested; ++i) loop.Spawn(WaitOnCondVar(mu, cv, go, waiting, done, progress_));
  });
  WaitForWaiters([&] { return waiting.load() == kNested; });
  {
    std::lock_guard<Mutex> g(mu);
    go = true;
  }
  cv.notify_one();  // wakes the outermost: it must not strand the others
  std::this_thread::sleep_for(milliseconds(30));
  cv.notify_all();
  t.join();
  EXPECT_EQ(done.load(), kNested);
  EXPECT_EQ(mu.word().load(), 0u);
}

Task<void> WaitOnCondVarWithNotifyOne(Mutex& mu, CondVar& cv, int& tickets,
                                      std::atomic<int>& waiting, std::atomic<int>& done,
                                      std::atomic<int64_t>& progress) {
  mu.lock();
  waiting.fetch_add(1);
  while (tickets == 0) cv.wait(mu);
  --tickets;
  mu.unlock();
  done.fetch_add(1);
  progress.fetch_add(1);
  co_return;
}

// The same with wait(Mutex&) and one notify_one per waiter: every notify
// reaches a waiter even when it lands on an outer wait that cannot run.
TEST_P(NestedWaitTest, CondVarNotifyOneReachesNestedWaiters) {
  Mutex mu;
  CondVar cv;
  int tickets = 0;
  std::atomic<int> waiting{0}, done{0};
  testing::StallWatchdog watchdog(progress_, std::chrono::seconds(20), [&] {
    return "mu=" + std::to_string(mu.word().load()) + " cv=" + std::to_string(cv.word().load()) +
           " done=" + std::to_string(done.load());
  });
  std::thread t = RunLoop([&](uring::EventLoop& loop) {
    for (int i = 0; i < kNested; ++i) {
      loop.Spawn(WaitOnCondVarWithNotifyOne(mu, cv, tickets, waiting, done, progress_));
    }
  });
  WaitForWaiters([&] { return waiting.load() == kNested; });
  for (int i = 0; i < kNested; ++i) {
    {
      std::lock_guard<Mutex> g(mu);
      ++tickets;
    }
    cv.notify_one();
    std::this_thread::sleep_for(milliseconds(10));
  }
  t.join();
  EXPECT_EQ(done.load(), kNested);
  EXPECT_EQ(tickets, 0);
  EXPECT_EQ(mu.word().load(), 0u);
}

Task<void> WaitOnEvent(Event& ev, std::atomic<int>& done, std::atomic<int64_t>& progress) {
  ev.wait();
  done.fetch_add(1);
  progress.fetch_add(1);
  co_return;
}

TEST_P(NestedWaitTest, AutoResetEventSetsReachNestedWaiters) {
  Event ev(EventMode::kAutoReset);
  std::atomic<int> done{0};
  testing::StallWatchdog watchdog(progress_, std::chrono::seconds(20), [&] {
    return "ev=" + std::to_string(ev.word().load()) + " done=" + std::to_string(done.load());
  });
  std::thread t = RunLoop([&](uring::EventLoop& loop) {
    for (int i = 0; i < kNested; ++i) loop.Spawn(WaitOnEvent(ev, done, progress_));
  });
  WaitForWaiters([&] { return ev.word().load() >> 2 >= 1; });
  for (int i = 1; i <= kNested; ++i) {
    ev.set();  // the first lands on the outermost wait: it must pass it on
    while (done.load() < i) std::this_thread::yield();
  }
  t.join();
  EXPECT_EQ(done.load(), kNested);
  EXPECT_FALSE(ev.is_set());
  EXPECT_EQ(ev.word().load() >> 2, 0u);
}

TEST_P(NestedWaitTest, ManualResetEventReleasesAllNestedWaiters) {
  Event ev(EventMode::kManualReset);
  std::atomic<int> done{0};
  testing::StallWatchdog watchdog(progress_, std::chrono::seconds(20), [&] {
    return "ev=" + std::to_string(ev.word().load()) + " done=" + std::to_string(done.load());
  });
  std::thread t = RunLoop([&](uring::EventLoop& loop) {
    for (int i = 0; i < kNested; ++i) loop.Spawn(WaitOnEvent(ev, done, progress_));
  });
  WaitForWaiters([&] { return ev.word().load() >> 2 >= 1; });
  ev.set();
  t.join();
  EXPECT_EQ(done.load(), kNested);
  EXPECT_TRUE(ev.is_set());
  EXPECT_EQ(ev.word().load() >> 2, 0u);
}

Task<void> WaitAnyOfTwo(Semaphore& a, Semaphore& b, std::atomic<int>& waiting,
                        std::atomic<int>& from_a, std::atomic<int>& from_b,
                        std::atomic<int64_t>& progress) {
  waiting.fetch_add(1);
  const int i = WaitAny({Acquire(a), Acquire(b)});
  EXPECT_TRUE(i == 0 || i == 1) << i;
  (i == 0 ? from_a : from_b).fetch_add(1);
  progress.fetch_add(1);
  co_return;
}

TEST_P(NestedWaitTest, WaitAnyPassesOnWakesOfNestedWaiters) {
  Semaphore a(0), b(0);
  std::atomic<int> waiting{0}, from_a{0}, from_b{0};
  testing::StallWatchdog watchdog(progress_, std::chrono::seconds(20), [&] {
    return "a=" + std::to_string(a.word().load()) + " b=" + std::to_string(b.word().load()) +
           " from_a=" + std::to_string(from_a.load()) + " from_b=" + std::to_string(from_b.load());
  });
  std::thread t = RunLoop([&](uring::EventLoop& loop) {
    for (int i = 0; i < kNested; ++i) {
      loop.Spawn(WaitAnyOfTwo(a, b, waiting, from_a, from_b, progress_));
    }
  });
  WaitForWaiters([&] { return waiting.load() == kNested; });
  a.release(1);  // lands on the outermost WaitAny first
  std::this_thread::sleep_for(milliseconds(30));
  b.release(2);
  t.join();
  EXPECT_EQ(from_a.load(), 1);
  EXPECT_EQ(from_b.load(), 2);
  EXPECT_EQ(a.word().load(), 0u);
  EXPECT_EQ(b.word().load(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Modes, NestedWaitTest, ::testing::ValuesIn(testing::AllLoopModes()),
                         testing::LoopModeName);

}  // namespace
}  // namespace ringlock
