// ringlock::Once against std::call_once's requirements ([thread.once.callonce]):
// among concurrent callers exactly one (the active execution) runs its
// callable; the others (passive executions) return only after it returned,
// seeing its effects; a call after a returning execution runs nothing; if the
// active execution throws, the exception reaches its caller and another
// caller's callable runs. Every kind of waiter: futex(2), ring-blocking,
// coroutines.
#include "locks/once.h"
#include "locks/async.h"

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "locks/internal/word_access.h"
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

TEST(OnceBasicTest, RunsOnceAndPassesArguments) {
  Once once;
  EXPECT_FALSE(once.done());
  int runs = 0, sum = 0;
  auto add = [&](int a, int b) {
    ++runs;
    sum += a + b;
  };
  call_once(once, add, 2, 3);
  EXPECT_TRUE(once.done());
  call_once(once, add, 10, 10);
  once.call_once([&] { ++runs; });
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(sum, 5);
  EXPECT_EQ(once.word().load(), internal::kOnceDone);
}

// GCC 12 at -O2 warns inside std::invoke about the virtual-call branch of a
// member function pointer on this (non-polymorphic) local object: a false
// -Warray-bounds, fatal under -Werror.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Warray-bounds"
TEST(OnceBasicTest, MemberPointerCallablesAsStdInvoke) {
  struct Counter {
    int n = 0;
    void Add(int k) { n += k; }
  } c;
  Once once;
  call_once(once, &Counter::Add, c, 4);
  EXPECT_EQ(c.n, 4);
}
#pragma GCC diagnostic pop

// An exceptional execution is not a returning one: the exception reaches
// the caller, and the next call runs its own callable.
TEST(OnceBasicTest, ThrowingCallableLeavesItNotDone) {
  Once once;
  EXPECT_THROW(once.call_once([] { throw std::runtime_error("first"); }), std::runtime_error);
  EXPECT_FALSE(once.done());
  EXPECT_EQ(once.word().load(), 0u);
  int runs = 0;
  once.call_once([&] { ++runs; });
  once.call_once([&] { ++runs; });
  EXPECT_EQ(runs, 1);
  EXPECT_TRUE(once.done());
}

class OnceTest : public testing::WaiterModeTest {};

// Many concurrent callers: exactly one runs, and every caller returns after
// it, seeing its write (TSAN checks the plain int).
TEST_P(OnceTest, ConcurrentCallersRunTheCallableExactlyOnce) {
  HangWatchdog dog("ConcurrentCallersRunTheCallableExactlyOnce");
  constexpr int kCallers = 6;
  Once once;
  std::atomic<int> runs{0}, returned{0};
  int value = 0;
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < kCallers; ++i) {
    threads.push_back(Start([&] {
      while (!go.load()) std::this_thread::yield();
      once.call_once([&] {
        runs.fetch_add(1);
        std::this_thread::sleep_for(milliseconds(20));  // others arrive and wait
        value = 42;
      });
      EXPECT_EQ(value, 42);
      returned.fetch_add(1);
    }));
  }
  go.store(true);
  for (auto& t : threads) t.join();
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(returned.load(), kCallers);
  EXPECT_EQ(once.word().load(), internal::kOnceDone);
}

// The active execution throws while others wait: the exception reaches
// that caller only, and exactly one of the waiting callers runs next.
TEST_P(OnceTest, AWaiterRunsNextWhenTheRunnerThrows) {
  HangWatchdog dog("AWaiterRunsNextWhenTheRunnerThrows");
  constexpr int kWaiters = 4;
  Once once;
  std::atomic<bool> in_first{false}, release_first{false};
  std::atomic<int> runs{0}, returned{0}, waiting{0};
  std::thread thrower = Start([&] {
    EXPECT_THROW(once.call_once([&] {
      in_first.store(true);
      while (!release_first.load()) std::this_thread::yield();
      throw std::runtime_error("boom");
    }),
                 std::runtime_error);
  });
  ASSERT_TRUE(Eventually([&] { return in_first.load(); }));
  std::vector<std::thread> waiters;
  for (int i = 0; i < kWaiters; ++i) {
    waiters.push_back(Start([&] {
      waiting.fetch_add(1);
      once.call_once([&] { runs.fetch_add(1); });
      returned.fetch_add(1);
    }));
  }
  ASSERT_TRUE(Eventually([&] { return waiting.load() == kWaiters; }));
  std::this_thread::sleep_for(milliseconds(20));  // they are asleep
  EXPECT_EQ(returned.load(), 0);
  release_first.store(true);
  thrower.join();
  for (auto& t : waiters) t.join();
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(returned.load(), kWaiters);
  EXPECT_TRUE(once.done());
}

// Every waiter kind on one Once: a futex thread, a thread of the mode under
// test and coroutines; the first runner throws once.
TEST_P(OnceTest, EveryKindOfCallerWithAThrow) {
  HangWatchdog dog("EveryKindOfCallerWithAThrow");
  constexpr int kCoroutines = 3;
  Once once;
  std::atomic<int> attempts{0}, runs{0}, returned{0}, threw{0}, started{0};
  std::atomic<bool> go{false};
  // The first attempt throws; the next runs.
  auto body = [&] {
    if (attempts.fetch_add(1) == 0) {
      std::this_thread::sleep_for(milliseconds(10));
      throw std::runtime_error("first attempt");
    }
    runs.fetch_add(1);
  };
  auto call = [&] {
    started.fetch_add(1);
    while (!go.load()) std::this_thread::yield();
    try {
      once.call_once(body);
    } catch (const std::runtime_error&) {
      threw.fetch_add(1);
      once.call_once(body);  // as a retry loop would
    }
    returned.fetch_add(1);
  };
  std::thread futex_caller(call);
  std::thread mode_caller = Start(call);
  std::thread coroutine_thread([&] {
    auto loop = testing::MakeLoop(testing::LoopKindFor(GetParam()));
    ASSERT_NE(loop, nullptr);
    int finished = 0;
    started.fetch_add(1);
    while (!go.load()) std::this_thread::yield();
    for (int i = 0; i < kCoroutines; ++i) {
      loop->Spawn([](EventLoop& l, Once& once, decltype(body)& body, std::atomic<int>& threw,
                     std::atomic<int>& returned, int& finished) -> Task<void> {
        try {
          co_await once.call_once_async(l, body);
        } catch (const std::runtime_error&) {
          threw.fetch_add(1);
        }
        if (!once.done()) co_await once.call_once_async(l, body);
        returned.fetch_add(1);
        ++finished;
      }(*loop, once, body, threw, returned, finished));
    }
    loop->RunUntil([&] { return finished == kCoroutines; });
  });
  ASSERT_TRUE(Eventually([&] { return started.load() == 3; }));
  go.store(true);
  futex_caller.join();
  mode_caller.join();
  coroutine_thread.join();
  EXPECT_EQ(attempts.load(), 2);
  EXPECT_EQ(threw.load(), 1);
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(returned.load(), 2 + kCoroutines);
  EXPECT_EQ(once.word().load(), internal::kOnceDone);
}

// Many rounds of three racing callers: no lost wakeup, one run each round.
TEST_P(OnceTest, ManyShortRacesLoseNoCaller) {
  HangWatchdog dog("ManyShortRacesLoseNoCaller", 60);
  for (int r = 0; r < 300; ++r) {
    Once once;
    std::atomic<int> runs{0};
    auto call = [&] { once.call_once([&] { runs.fetch_add(1); }); };
    std::thread a = Start(call), b = Start(call);
    call();
    a.join();
    b.join();
    ASSERT_EQ(runs.load(), 1);
    ASSERT_EQ(once.word().load(), internal::kOnceDone);
  }
}

INSTANTIATE_TEST_SUITE_P(AllModes, OnceTest, ::testing::ValuesIn(testing::AllWaiterModes()),
                         testing::WaiterModeName);

class OnceAsyncTest : public testing::LoopModeTest {};

// The callable runs inside co_await; its exception comes out of it.
TEST_P(OnceAsyncTest, CoroutineRunsTheCallableAndSeesItsException) {
  HangWatchdog dog("OnceAsyncTest");
  auto loop = MakeLoop();
  ASSERT_NE(loop, nullptr);
  Once once;
  int runs = 0;
  auto task = [&]() -> Task<std::string> {
    std::string what = "no exception";
    try {
      co_await once.call_once_async(*loop, [] { throw std::runtime_error("async boom"); });
    } catch (const std::runtime_error& e) {
      what = e.what();
    }
    if (once.done()) co_return "done after a throw";
    co_await once.call_once_async(*loop, [&] { ++runs; });
    co_await once.call_once_async(*loop, [&] { ++runs; });
    co_return what;
  };
  EXPECT_EQ(loop->RunUntilComplete(task()), "async boom");
  EXPECT_EQ(runs, 1);
  EXPECT_TRUE(once.done());
}

INSTANTIATE_TEST_SUITE_P(AllLoops, OnceAsyncTest, ::testing::ValuesIn(testing::AllLoopModes()),
                         testing::LoopModeName);

#ifndef NDEBUG
TEST(OnceDeathTest, DestroyingWhileTheCallableRunsAborts) {
  EXPECT_DEATH(
      {
        auto* once = new Once;
        internal::WordAccess::Of(*once).store(internal::kOnceRunning);
        delete once;
      },
      "ringlock::Once: misuse: destroyed while call_once runs");
}
#endif

}  // namespace
}  // namespace ringlock
