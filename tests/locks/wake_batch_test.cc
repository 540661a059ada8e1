#include "locks/wake_batch.h"
#include "locks/async.h"

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/locks/stall_watchdog.h"
#include "tests/locks/waiter_modes.h"
#include "locks/condvar.h"
#include "locks/event.h"
#include "locks/mutex.h"
#include "locks/wait_any.h"
#include "uring/event_loop.h"
#include "uring/task.h"

namespace ringlock {
namespace {

using std::chrono::milliseconds;

enum class Waker { kPlainThread, kLoopThread, kFallbackLoopThread, kEmulatedLoopThread };

class WakeBatchTest : public ::testing::TestWithParam<Waker> {
 protected:
  void SetUp() override {
    if (GetParam() == Waker::kPlainThread) return;
    uring::EventLoopOptions options;
    if (GetParam() != Waker::kLoopThread) options.mode = uring::FutexMode::kFallback;
    if (GetParam() == Waker::kEmulatedLoopThread) options.ring = uring::RingMode::kEmulated;
    auto loop = uring::EventLoop::Create(options);
    ASSERT_TRUE(loop.ok()) << loop.status();
    loop_ = *std::move(loop);
  }
  std::unique_ptr<uring::EventLoop> loop_;  // makes this thread a loop thread
};

// 64 sleepers on 64 words, woken by one batch: every wake is queued until
// the scope closes, then every sleeper wakes.
void WakeSleepersInOneBatch(WakeBatch::Mode mode) {
  constexpr int kSleepers = 64;
  std::vector<std::unique_ptr<Event>> events;
  for (int i = 0; i < kSleepers; ++i) events.push_back(std::make_unique<Event>());
  std::atomic<int> awake{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kSleepers; ++i) {
    threads.emplace_back([&, i] {
      events[i]->wait();
      awake.fetch_add(1);
    });
  }
  // Wait until every sleeper is registered on its word.
  for (auto& ev : events) {
    while (ev->word().load() < internal::kEventWaiterOne) std::this_thread::yield();
  }
  {
    WakeBatch batch(mode);
    for (auto& ev : events) ev->set();
    // Every wake is queued, none sent yet. (A sleeper that had registered
    // but not yet slept may still return early: set() changed its word.)
    EXPECT_EQ(WakeBatch::Pending(), kSleepers);
  }
  EXPECT_EQ(WakeBatch::Pending(), 0);
  for (auto& t : threads) t.join();
  EXPECT_EQ(awake.load(), kSleepers);
}

TEST_P(WakeBatchTest, WakesEverySleeperWhenTheScopeCloses) {
  WakeSleepersInOneBatch(WakeBatch::Mode::kInline);
}

TEST_P(WakeBatchTest, OffloadModeWakesEverySleeper) {
  WakeSleepersInOneBatch(WakeBatch::Mode::kOffload);
}

TEST_P(WakeBatchTest, FlushesWhenFullAndNests) {
  Mutex mu;
  {
    WakeBatch outer;
    {
      WakeBatch inner;  // joins the outer batch
      mu.lock();
      mu.unlock();
    }
    EXPECT_EQ(WakeBatch::Pending(), 0);  // uncontended: nothing queued
    std::vector<std::unique_ptr<Event>> events;
    // Fake a registered waiter on each word so set() must wake.
    for (int i = 0; i < WakeBatch::kCapacity + 10; ++i) {
      events.push_back(std::make_unique<Event>());
      internal::WordAccess::Of(*events.back()).fetch_add(internal::kEventWaiterOne);
      events.back()->set();
    }
    EXPECT_EQ(WakeBatch::Pending(), 10);  // flushed once at kCapacity
    outer.Flush();
    EXPECT_EQ(WakeBatch::Pending(), 0);
    for (auto& ev : events) internal::WordAccess::Of(*ev).fetch_sub(internal::kEventWaiterOne);
  }
}

// Regression: with Mode::kOffload an io_uring worker performs the wakes after
// the waker returns; when the waker thread exited right after the batch
// closed, its ring (per-thread wake ring or EventLoop) went away with the
// wakes still queued for the worker, and they were cancelled: 0 of 64
// sleepers woke, the events stayed set.
TEST_P(WakeBatchTest, OffloadedWakesSurviveTheWakerThreadExiting) {
  constexpr int kSleepers = 64;
  std::vector<std::unique_ptr<Event>> events;
  for (int i = 0; i < kSleepers; ++i) {
    events.push_back(std::make_unique<Event>(EventMode::kAutoReset));
  }
  std::atomic<int64_t> awake{0};
  testing::StallWatchdog watchdog(awake, std::chrono::seconds(10), [&] {
    int still_set = 0;
    for (auto& ev : events) still_set += ev->is_set();
    return std::to_string(awake.load()) + " of 64 awake, " + std::to_string(still_set) +
           " events still set";
  });
  for (int round = 0; round < 20; ++round) {
    awake = 0;
    std::vector<std::thread> sleepers;
    for (int i = 0; i < kSleepers; ++i) {
      sleepers.emplace_back([&, i] {
        events[i]->wait();
        awake.fetch_add(1);
      });
    }
    for (auto& ev : events) {
      while (ev->word().load() < internal::kEventWaiterOne) std::this_thread::yield();
    }
    // The waker makes its own ring the way the parameter says, sets every
    // event inside an offload batch and exits at once: its ring goes away.
    std::thread waker([&] {
      std::unique_ptr<uring::EventLoop> loop;
      if (GetParam() != Waker::kPlainThread) {
        uring::EventLoopOptions options;
        if (GetParam() != Waker::kLoopThread) options.mode = uring::FutexMode::kFallback;
        if (GetParam() == Waker::kEmulatedLoopThread) options.ring = uring::RingMode::kEmulated;
        loop = *uring::EventLoop::Create(options);
      }
      WakeBatch batch(WakeBatch::Mode::kOffload);
      for (auto& ev : events) ev->set();
    });
    waker.join();
    for (auto& t : sleepers) t.join();
    ASSERT_EQ(awake.load(), kSleepers);
    for (auto& ev : events) EXPECT_FALSE(ev->is_set());
  }
}

// A batched notify_one that wakes nobody runs the CondVar's nobody-woken
// step when the batch sends it, as an unbatched one does at once: W goes, with
// the second Q bump (INV2 in condvar.h). Before wakes carried that step on
// every path, a batched notify_one left W set.
TEST_P(WakeBatchTest, BatchedNotifyOneThatWokeNobodyClearsW) {
  Mutex mu;
  CondVar cv;
  {
    std::unique_lock<Mutex> lock(mu);
    // Registers (W=1) and leaves by timeout: nobody is asleep after it.
    EXPECT_EQ(cv.wait_for(lock, milliseconds(1)), std::cv_status::timeout);
  }
  const uint32_t before = cv.word().load();
  ASSERT_EQ(before & internal::kCondWaiters, internal::kCondWaiters);
  {
    WakeBatch batch;
    cv.notify_one();
    EXPECT_EQ(WakeBatch::Pending(), 1);
  }
  EXPECT_EQ(cv.word().load(), (before + 2 * internal::kCondSeqOne) & ~internal::kCondWaiters);
  cv.notify_one();  // W=0: no syscall, no change
  EXPECT_EQ(cv.word().load(), (before + 2 * internal::kCondSeqOne) & ~internal::kCondWaiters);
}

INSTANTIATE_TEST_SUITE_P(Wakers, WakeBatchTest,
                         ::testing::Values(Waker::kPlainThread, Waker::kLoopThread,
                                           Waker::kFallbackLoopThread,
                                           Waker::kEmulatedLoopThread),
                         [](const auto& info) {
                           switch (info.param) {
                             case Waker::kPlainThread: return "plain_thread";
                             case Waker::kLoopThread: return "loop_thread";
                             case Waker::kFallbackLoopThread: return "fallback_loop_thread";
                             default: return "emulated_loop_thread";
                           }
                         });

}  // namespace
}  // namespace ringlock

namespace ringlock {
namespace {

// A thread never sleeps while wakes it queued in a WakeBatch are held back:
// every blocking wait sends them first. Each test: the thread holds `a`, S
// sleeps in a.lock(), H holds `b` until S has taken `a`; the thread, inside
// a batch, unlocks `a` (the wake for S is queued) and then blocks. Before
// the fix the wake stayed queued while the thread slept: S never woke, H
// never let go, and the thread slept for good.
// S sleeps in a.lock() once it starts; H holds `b` until S has taken `a`.
// Whoever unlocks `a` inside a batch and then waits for `b` strands both
// unless the batch's wakes leave before it sleeps.
struct SleeperAndHolder {
  std::atomic<bool> s_has_a{false}, h_has_b{false};
  std::thread s, h;

  void Start(Mutex& a, Mutex& b) {
    s = std::thread([this, &a] {
      a.lock();
      s_has_a = true;
      a.unlock();
    });
    h = std::thread([this, &b] {
      b.lock();
      h_has_b = true;
      while (!s_has_a.load()) std::this_thread::sleep_for(milliseconds(1));
      b.unlock();
    });
  }
  void Join() {
    s.join();
    h.join();
  }
};

class SleepInsideABatchTest : public testing::WaiterModeTest {
 protected:
  // Runs `block(a, b)` on a thread of the parameter's mode, inside a batch,
  // right after it unlocks `a`; `block` must return only once H let go of `b`.
  template <class Block>
  void Run(Block block) {
    Mutex a, b;
    SleeperAndHolder others;
    std::atomic<int64_t> finished{0};
    testing::StallWatchdog watchdog(finished, std::chrono::seconds(10), [&] {
      return "a=" + std::to_string(a.word().load()) + " b=" + std::to_string(b.word().load()) +
             " S has a: " + std::to_string(others.s_has_a.load()) +
             " (a thread slept with its queued wakes held back)";
    });
    std::atomic<bool> main_has_a{false};
    std::thread main = Start([&] {
      a.lock();
      main_has_a = true;
      while (a.word().load() < Mutex::kWaiterOne || !others.h_has_b.load()) {
        std::this_thread::yield();
      }
      std::this_thread::sleep_for(milliseconds(20));  // S asleep
      WakeBatch batch;
      a.unlock();  // queued: S stays asleep until the batch sends it
      block(a, b);
    });
    while (!main_has_a.load()) std::this_thread::yield();
    others.Start(a, b);
    main.join();
    others.Join();
    finished = 1;
    EXPECT_TRUE(others.s_has_a.load());
    EXPECT_EQ(a.word().load(), 0u);
    EXPECT_EQ(b.word().load(), 0u);
  }
};

TEST_P(SleepInsideABatchTest, BlockingLockInsideABatchSendsItsWakesFirst) {
  Run([](Mutex&, Mutex& b) {
    b.lock();
    b.unlock();
  });
}

TEST_P(SleepInsideABatchTest, TimedLockInsideABatchSendsItsWakesFirst) {
  Run([](Mutex&, Mutex& b) {
    EXPECT_TRUE(b.try_lock_for(std::chrono::seconds(30)));
    b.unlock();
  });
}

TEST_P(SleepInsideABatchTest, WaitAnyInsideABatchSendsItsWakesFirst) {
  Run([](Mutex&, Mutex& b) {
    Event never;
    EXPECT_EQ(WaitAny({Take(never), Lock(b)}), 1);
    b.unlock();
  });
}

// CondVar::wait releases the caller's mutex inside the batch (the wake for
// the mutex's sleeper S is queued) and then sleeps; S must get the mutex to
// notify it.
TEST_P(SleepInsideABatchTest, CondVarWaitInsideABatchSendsItsWakesFirst) {
  Mutex mu;
  CondVar cv;
  bool ready = false;
  std::atomic<int64_t> finished{0};
  testing::StallWatchdog watchdog(finished, std::chrono::seconds(10), [&] {
    return "mu=" + std::to_string(mu.word().load()) + " cv=" + std::to_string(cv.word().load()) +
           " (a thread slept with its queued wakes held back)";
  });
  std::atomic<bool> main_locked{false};
  std::thread main = Start([&] {
    std::unique_lock<Mutex> lock(mu);
    main_locked = true;
    while (mu.word().load() < Mutex::kWaiterOne) std::this_thread::yield();
    std::this_thread::sleep_for(milliseconds(20));  // S asleep in mu.lock()
    WakeBatch batch;
    cv.wait(lock, [&] { return ready; });
  });
  while (!main_locked.load()) std::this_thread::yield();
  std::thread s([&] {
    {
      std::lock_guard<Mutex> g(mu);
      ready = true;
    }
    cv.notify_one();
  });
  main.join();
  s.join();
  finished = 1;
  EXPECT_EQ(mu.word().load(), 0u);
}

INSTANTIATE_TEST_SUITE_P(AllModes, SleepInsideABatchTest,
                         ::testing::ValuesIn(testing::AllWaiterModes()), testing::WaiterModeName);

}  // namespace
}  // namespace ringlock

namespace ringlock {
namespace {

// Regression: a thread's wake ring was inherited by a fork()ed child, whose
// batches then went to the parent's ring (its submitter is a parent thread,
// so the kernel refuses them): the child's offloaded wakes were lost.
TEST(WakeBatchForkTest, ForkedChildSendsItsBatchesThroughItsOwnRing) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "ThreadSanitizer does not support threads in a fork()ed child";
#endif
  {
    // Make this thread's wake ring: an offloaded wake of a faked waiter.
    Event ev;
    internal::WordAccess::Of(ev).fetch_add(internal::kEventWaiterOne);
    {
      WakeBatch batch(WakeBatch::Mode::kOffload);
      ev.set();
    }
    internal::WordAccess::Of(ev).fetch_sub(internal::kEventWaiterOne);
  }
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    alarm(10);  // a lost wake ends the child by SIGALRM
    Event ev(EventMode::kAutoReset);
    std::thread sleeper([&] { ev.wait(); });
    while (ev.word().load() < internal::kEventWaiterOne) std::this_thread::yield();
    std::this_thread::sleep_for(milliseconds(20));
    {
      WakeBatch batch(WakeBatch::Mode::kOffload);
      ev.set();
    }
    sleeper.join();
    _exit(ev.is_set() ? 2 : 0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status)) << "child killed by signal " << WTERMSIG(status)
                                 << " (SIGALRM: its wake was lost)";
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace ringlock

namespace ringlock {
namespace {

// Regression: a coroutine that suspended inside a WakeBatch left every wake
// queued on its thread until it resumed, and the loop slept with them held.
// Here the coroutine unlocks `a` inside a batch (the wake for a's sleeper S
// is queued) and then waits for `b`, which H holds until S has taken `a`.
class CoroutineInsideABatchTest : public testing::LoopModeTest {};

TEST_P(CoroutineInsideABatchTest, CoroutineSuspendingInsideABatchSendsItsWakesFirst) {
  Mutex a, b;
  SleeperAndHolder others;
  std::atomic<bool> coroutine_has_a{false};
  std::atomic<int64_t> finished{0};
  testing::StallWatchdog watchdog(finished, std::chrono::seconds(10), [&] {
    return "a=" + std::to_string(a.word().load()) + " b=" + std::to_string(b.word().load()) +
           " (a loop slept with a suspended coroutine's queued wakes held back)";
  });
  std::thread loop_thread([&] {
    auto loop = MakeLoop();
    ASSERT_NE(loop, nullptr);
    auto body = [&](uring::EventLoop& l) -> uring::Task<void> {
      std::unique_lock<Mutex> ga = co_await a.lock_async(l);
      coroutine_has_a = true;
      while (a.word().load() < Mutex::kWaiterOne || !others.h_has_b.load()) {
        std::this_thread::yield();
      }
      std::this_thread::sleep_for(milliseconds(20));  // S asleep
      WakeBatch batch;
      ga.unlock();  // queued
      std::unique_lock<Mutex> gb = co_await b.lock_async(l);  // suspends inside the batch
    };
    loop->RunUntilComplete(body(*loop));
  });
  while (!coroutine_has_a.load()) std::this_thread::yield();
  others.Start(a, b);
  loop_thread.join();
  others.Join();
  finished = 1;
  EXPECT_EQ(a.word().load(), 0u);
  EXPECT_EQ(b.word().load(), 0u);
}

INSTANTIATE_TEST_SUITE_P(LoopModes, CoroutineInsideABatchTest,
                         ::testing::ValuesIn(testing::AllLoopModes()), testing::LoopModeName);

}  // namespace
}  // namespace ringlock
