// ringlock::Latch against std::latch's requirements ([thread.latch]):
// count_down(n) decrements by n; wait / arrive_and_wait block until the
// count is zero and then return at once forever; try_wait never blocks;
// count_down strongly happens-before the return of the waits that see zero.
// Every kind of waiter: futex(2), ring-blocking, coroutines.
#include "locks/latch.h"
#include "locks/async.h"
#include "locks/wait_any.h"

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <new>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "tests/locks/prim_test_util.h"
#include "tests/locks/waiter_modes.h"
#include "uring/event_loop.h"
#include "uring/task.h"

namespace ringlock {
namespace {

using std::chrono::milliseconds;
using testing::Eventually;
using testing::HangWatchdog;
using uring::EventLoop;
using uring::Task;

TEST(LatchBasicTest, MaxIsAtLeastWhatTheWordCounts) {
  EXPECT_EQ(Latch::max(), (std::ptrdiff_t{1} << 31) - 1);
  static_assert(sizeof(Latch) == 4 && sizeof(ProcessSharedLatch) == 4);
}

TEST(LatchBasicTest, ZeroIsOpenFromTheStart) {
  Latch latch(0);
  EXPECT_TRUE(latch.try_wait());
  latch.wait();
  EXPECT_TRUE(latch.wait_for(milliseconds(0)));
  EXPECT_EQ(latch.word().load(), 0u);
}

TEST(LatchBasicTest, CountDownByNOpensExactlyAtZero) {
  Latch latch(5);
  EXPECT_FALSE(latch.try_wait());
  latch.count_down(2);
  EXPECT_FALSE(latch.try_wait());
  latch.count_down();
  EXPECT_FALSE(latch.try_wait());
  EXPECT_EQ(latch.word().load(), 2u);
  latch.count_down(2);
  EXPECT_TRUE(latch.try_wait());
  latch.wait();
  EXPECT_TRUE(latch.try_wait());  // final
  latch.count_down(0);            // 0 <= n <= count left (0): allowed, no effect
  EXPECT_EQ(latch.word().load(), 0u);
}

TEST(LatchBasicTest, ArriveAndWaitOfTheLastArrivalReturns) {
  Latch latch(3);
  latch.count_down(2);
  latch.arrive_and_wait();
  EXPECT_TRUE(latch.try_wait());
}

class LatchTest : public testing::WaiterModeTest {};

TEST_P(LatchTest, TimedWaitTimesOutWhileCountIsLeft) {
  HangWatchdog dog("TimedWaitTimesOutWhileCountIsLeft");
  Latch latch(1);
  std::thread t = Start([&] {
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(latch.wait_for(milliseconds(30)));
    EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(30));
    EXPECT_FALSE(latch.wait_until(std::chrono::system_clock::now() + milliseconds(2)));
  });
  t.join();
  EXPECT_FALSE(latch.try_wait());
  latch.count_down();
  EXPECT_TRUE(latch.wait_for(milliseconds(0)));
  EXPECT_EQ(latch.word().load(), 0u);
}

// No waiter returns before the last count_down; every waiter returns after it.
TEST_P(LatchTest, WaitersReleasedExactlyWhenTheCountReachesZero) {
  HangWatchdog dog("WaitersReleasedExactlyWhenTheCountReachesZero");
  constexpr int kWaiters = 5, kCount = 4;
  Latch latch(kCount);
  std::atomic<int> released{0}, counted{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kWaiters; ++i) {
    threads.push_back(Start([&] {
      latch.wait();
      EXPECT_EQ(counted.load(), kCount) << "released before the count reached zero";
      released.fetch_add(1);
    }));
  }
  for (int i = 0; i < kCount - 1; ++i) {
    counted.fetch_add(1);
    latch.count_down();
    std::this_thread::sleep_for(milliseconds(10));
    EXPECT_EQ(released.load(), 0);
  }
  counted.fetch_add(1);
  latch.count_down();
  for (auto& t : threads) t.join();
  EXPECT_EQ(released.load(), kWaiters);
  EXPECT_EQ(latch.word().load(), 0u);
}

// arrive_and_wait as a one-shot rendezvous: nobody leaves before all came,
// and each participant's writes before arriving are visible after (TSAN
// checks the plain array).
TEST_P(LatchTest, ArriveAndWaitIsARendezvousWithHappensBefore) {
  HangWatchdog dog("ArriveAndWaitIsARendezvousWithHappensBefore");
  constexpr int kThreads = 6;
  Latch latch(kThreads);
  int written[kThreads] = {};
  std::atomic<int> arrived{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.push_back(Start([&, i] {
      written[i] = i + 1;
      arrived.fetch_add(1);
      latch.arrive_and_wait();
      EXPECT_EQ(arrived.load(), kThreads);
      for (int j = 0; j < kThreads; ++j) EXPECT_EQ(written[j], j + 1);
    }));
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(latch.word().load(), 0u);
}

// Many rounds of a small latch with racing count_downs and waiters: every
// waiter of every round returns (no lost wakeup).
TEST_P(LatchTest, ManyShortLatchesLoseNoWaiter) {
  HangWatchdog dog("ManyShortLatchesLoseNoWaiter", 60);
  constexpr int kRounds = 300;
  for (int r = 0; r < kRounds; ++r) {
    Latch latch(2);
    std::atomic<int> done{0};
    std::thread a = Start([&] {
      latch.count_down();
      latch.wait();
      done.fetch_add(1);
    });
    std::thread b = Start([&] {
      latch.arrive_and_wait();
      done.fetch_add(1);
    });
    latch.wait();
    a.join();
    b.join();
    ASSERT_EQ(done.load(), 2);
    ASSERT_EQ(latch.word().load(), 0u);
  }
}

// A futex thread, a thread of the mode under test and coroutines on a loop
// all wait on one latch; one count_down releases them all.
TEST_P(LatchTest, EveryKindOfWaiterOnOneLatch) {
  HangWatchdog dog("EveryKindOfWaiterOnOneLatch");
  constexpr int kCoroutines = 3;
  Latch latch(1);
  std::atomic<int> released{0}, started{0};
  std::thread futex_waiter([&] {
    started.fetch_add(1);
    latch.wait();
    released.fetch_add(1);
  });
  std::thread mode_waiter = Start([&] {
    started.fetch_add(1);
    latch.wait();
    released.fetch_add(1);
  });
  std::thread coroutine_thread([&] {
    auto loop = testing::MakeLoop(testing::LoopKindFor(GetParam()));
    ASSERT_NE(loop, nullptr);
    int finished = 0;
    for (int i = 0; i < kCoroutines; ++i) {
      loop->Spawn([](EventLoop& l, Latch& latch, std::atomic<int>& released,
                     int& finished) -> Task<void> {
        co_await latch.wait_async(l);
        released.fetch_add(1);
        ++finished;
      }(*loop, latch, released, finished));
    }
    started.fetch_add(1);
    loop->RunUntil([&] { return finished == kCoroutines; });
  });
  ASSERT_TRUE(Eventually([&] { return started.load() == 3; }));
  std::this_thread::sleep_for(milliseconds(20));
  EXPECT_EQ(released.load(), 0);
  latch.count_down();
  futex_waiter.join();
  mode_waiter.join();
  coroutine_thread.join();
  EXPECT_EQ(released.load(), 2 + kCoroutines);
  EXPECT_EQ(latch.word().load(), 0u);
}

// A latch joins WaitAny: the index of the latch once it opens, -1 at the
// deadline while it is still counting.
TEST_P(LatchTest, WaitAnyReturnsTheLatchOnceItOpens) {
  HangWatchdog dog("WaitAnyReturnsTheLatchOnceItOpens");
  Latch latch(1);
  Mutex held;
  held.lock();
  std::atomic<int> result{-2};
  std::thread t = Start([&] {
    EXPECT_EQ(WaitAny({Lock(held), Opened(latch)}, Deadline::AfterDuration(milliseconds(10))), -1);
    result.store(WaitAny({Lock(held), Opened(latch)}));
  });
  std::this_thread::sleep_for(milliseconds(30));
  EXPECT_EQ(result.load(), -2);
  latch.count_down();
  t.join();
  EXPECT_EQ(result.load(), 1);
  EXPECT_EQ(held.word().load(), Mutex::kLocked);  // not taken
  held.unlock();
  EXPECT_EQ(latch.word().load(), 0u);
}

INSTANTIATE_TEST_SUITE_P(AllModes, LatchTest, ::testing::ValuesIn(testing::AllWaiterModes()),
                         testing::WaiterModeName);

class LatchAsyncTest : public testing::LoopModeTest {};

TEST_P(LatchAsyncTest, CoroutineResumesAtZeroAndTimedFormsReport) {
  HangWatchdog dog("LatchAsyncTest");
  auto loop = MakeLoop();
  ASSERT_NE(loop, nullptr);
  Latch latch(2);
  auto timed = [&]() -> Task<absl::Status> {
    co_return co_await latch.wait_async_for(*loop, milliseconds(20));
  };
  const absl::Status s = loop->RunUntilComplete(timed());
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_NE(s.message().find("ringlock::Latch"), std::string::npos) << s;
  std::thread counter([&] {
    latch.count_down();
    std::this_thread::sleep_for(milliseconds(10));
    latch.count_down();
  });
  auto untimed = [&]() -> Task<bool> {
    co_await latch.wait_async(*loop);
    co_return latch.try_wait();
  };
  EXPECT_TRUE(loop->RunUntilComplete(untimed()));
  counter.join();
  auto open = [&]() -> Task<absl::Status> {
    co_return co_await latch.wait_async_until(*loop, Deadline::Never());
  };
  EXPECT_TRUE(loop->RunUntilComplete(open()).ok());
  EXPECT_EQ(latch.word().load(), 0u);
}

INSTANTIATE_TEST_SUITE_P(AllLoops, LatchAsyncTest, ::testing::ValuesIn(testing::AllLoopModes()),
                         testing::LoopModeName);

TEST(LatchProcessSharedTest, ChildrenCountDownParentWaits) {
  HangWatchdog dog("LatchProcessSharedTest");
  constexpr int kChildren = 3;
  void* p = mmap(nullptr, sizeof(ProcessSharedLatch), PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(p, MAP_FAILED);
  auto* latch = new (p) ProcessSharedLatch(kChildren);
  auto* gate = new (static_cast<char*>(p) + 64) ProcessSharedLatch(1);  // children wait on it
  pid_t pids[kChildren];
  for (int i = 0; i < kChildren; ++i) {
    pids[i] = fork();
    if (pids[i] == 0) {
      gate->wait();
      latch->count_down();
      _exit(0);
    }
  }
  std::this_thread::sleep_for(milliseconds(10));
  EXPECT_FALSE(latch->try_wait());
  gate->count_down();
  latch->wait();
  for (pid_t pid : pids) {
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  EXPECT_EQ(latch->word().load(), 0u);
  munmap(p, sizeof(ProcessSharedLatch));
}

#ifndef NDEBUG
TEST(LatchDeathTest, CountDownBelowZeroAborts) {
  EXPECT_DEATH(
      {
        Latch latch(2);
        latch.count_down(3);
      },
      "ringlock::Latch: misuse: count_down\\(\\) below zero");
  EXPECT_DEATH(
      {
        Latch latch(0);
        latch.count_down();
      },
      "ringlock::Latch: misuse: count_down\\(\\) below zero");
  EXPECT_DEATH(
      {
        ProcessSharedLatch latch(1);
        latch.count_down(-1);
      },
      "ringlock::ProcessSharedLatch: misuse: count_down\\(\\) with a negative count");
  EXPECT_DEATH({ Latch latch(-1); }, "ringlock::Latch: misuse: constructed with a negative count");
}
#endif

}  // namespace
}  // namespace ringlock
