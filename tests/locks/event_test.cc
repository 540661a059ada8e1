#include "locks/event.h"
#include "locks/async.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "locks/wake_batch.h"
#include "tests/locks/waiter_modes.h"
#include "uring/event_loop.h"
#include "uring/task.h"

namespace ringlock {
namespace {

using std::chrono::milliseconds;

class EventTest : public testing::WaiterModeTest {};

TEST(EventBasicTest, ManualResetStaysSet) {
  Event ev;
  EXPECT_FALSE(ev.is_set());
  EXPECT_FALSE(ev.try_wait());
  ev.set();
  EXPECT_TRUE(ev.is_set());
  EXPECT_TRUE(ev.try_wait());
  EXPECT_TRUE(ev.try_wait());
  ev.wait();
  ev.reset();
  EXPECT_FALSE(ev.is_set());
  EXPECT_FALSE(ev.wait_for(milliseconds(1)));
}

TEST(EventBasicTest, AutoResetIsTakenOnce) {
  Event ev(EventMode::kAutoReset);
  EXPECT_EQ(ev.mode(), EventMode::kAutoReset);
  ev.set();
  ev.set();  // does not accumulate
  EXPECT_TRUE(ev.try_wait());
  EXPECT_FALSE(ev.try_wait());
  EXPECT_FALSE(ev.is_set());
}

TEST(EventBasicTest, SetWithoutWaitersMakesNoWake) {
  Event ev;
  WakeBatch batch;
  ev.set();
  EXPECT_EQ(WakeBatch::Pending(), 0);
}

TEST_P(EventTest, WaitForTimesOut) {
  Event ev;
  std::thread t = Start([&] {
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(ev.wait_for(milliseconds(40)));
    EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(40));
    EXPECT_FALSE(ev.wait_until(std::chrono::system_clock::now() + milliseconds(5)));
  });
  t.join();
  EXPECT_EQ(ev.word().load(), 0u);
}

TEST_P(EventTest, ManualSetReleasesAllWaiters) {
  Event ev;
  std::atomic<int> done{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i) {
    threads.push_back(Start([&] {
      ev.wait();
      done.fetch_add(1);
    }));
  }
  std::this_thread::sleep_for(milliseconds(20));
  ev.set();
  for (auto& t : threads) t.join();
  EXPECT_EQ(done.load(), 6);
}

// Each set() of an auto-reset event releases exactly one waiter.
TEST_P(EventTest, AutoResetReleasesExactlyOnePerSet) {
  Event ev(EventMode::kAutoReset);
  std::atomic<int> done{0};
  constexpr int kWaiters = 5;
  std::vector<std::thread> threads;
  for (int i = 0; i < kWaiters; ++i) {
    threads.push_back(Start([&] {
      ev.wait();
      done.fetch_add(1);
    }));
  }
  std::this_thread::sleep_for(milliseconds(20));
  for (int round = 1; round <= kWaiters; ++round) {
    ev.set();
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (done.load() < round && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(milliseconds(1));
    }
    ASSERT_EQ(done.load(), round) << "a set() was lost";
    std::this_thread::sleep_for(milliseconds(10));
    ASSERT_EQ(done.load(), round) << "a set() released two waiters";
    EXPECT_FALSE(ev.is_set());
  }
  for (auto& t : threads) t.join();
}

TEST_P(EventTest, PingPong) {
  Event ping(EventMode::kAutoReset), pong(EventMode::kAutoReset);
  constexpr int kRounds = 5000;
  int volatile_counter = 0;  // handed back and forth: TSAN checks the ordering
  std::thread t = Start([&] {
    for (int i = 0; i < kRounds; ++i) {
      ping.wait();
      ++volatile_counter;
      pong.set();
    }
  });
  for (int i = 0; i < kRounds; ++i) {
    ping.set();
    pong.wait();
  }
  t.join();
  EXPECT_EQ(volatile_counter, kRounds);
}

// Many setters and waiters: every set() is consumed exactly once, none lost.
TEST_P(EventTest, AutoResetExactlyOnceUnderStress) {
  Event ev(EventMode::kAutoReset);
  Event done_ev;
  constexpr int kTakes = 4000;
  std::atomic<int> taken{0}, exited{0};
  std::vector<std::thread> waiters;
  for (int i = 0; i < 4; ++i) {
    waiters.push_back(Start([&] {
      for (;;) {
        ev.wait();
        if (taken.fetch_add(1) + 1 >= kTakes) done_ev.set();
        if (done_ev.is_set()) {
          exited.fetch_add(1);
          return;
        }
      }
    }));
  }
  // Set only after the previous set was taken, so each set must release one.
  int sets = 0;
  while (!done_ev.is_set()) {
    const int before = taken.load();
    ev.set();
    ++sets;
    while (taken.load() == before && !done_ev.is_set()) std::this_thread::yield();
  }
  // Sets do not accumulate: release the other waiters one set at a time.
  while (exited.load() < 4) {
    ev.set();
    std::this_thread::yield();
  }
  for (auto& t : waiters) t.join();
  EXPECT_GE(sets, kTakes);
}

INSTANTIATE_TEST_SUITE_P(AllModes, EventTest, ::testing::ValuesIn(testing::AllWaiterModes()),
                         testing::WaiterModeName);

// Regression: an auto-reset waiter that leaves after set() woke it passes the
// wake to another sleeper instead of stranding the set.
TEST(EventProtocolTest, LeavingWokenWaiterPassesTheWakeOn) {
  Event ev(EventMode::kAutoReset);
  internal::EventAcquisition a(internal::WordAccess::Of(ev), FutexScope::kPrivate, ev.Name()),
      b(internal::WordAccess::Of(ev), FutexScope::kPrivate, ev.Name());
  uint32_t ea, eb;
  ASSERT_FALSE(a.Arm(&ea));
  ASSERT_FALSE(b.Arm(&eb));
  WakeBatch batch;
  ev.set();
  EXPECT_EQ(WakeBatch::Pending(), 1);
  a.Leave();
  EXPECT_EQ(WakeBatch::Pending(), 2);
  EXPECT_TRUE(b.OnWake(&eb));
  EXPECT_FALSE(ev.is_set());
}

#ifndef NDEBUG
TEST(EventDeathTest, DestroyingWithWaitersAborts) {
  EXPECT_DEATH(
      {
        Event ev;
        internal::EventAcquisition a(internal::WordAccess::Of(ev), FutexScope::kPrivate,
                                     ev.Name());
        uint32_t e;
        (void)a.Arm(&e);
      },
      "ringlock::Event: misuse: destroyed with waiters");
}
#endif

// ---- The waiter count's limit ---------------------------------------------

// N (bits 2-31) full: 2^30-1 waiters registered.
constexpr uint32_t kFullWaiters = ~0u & ~(internal::kEventSet | internal::kEventAuto);

class EventWaiterLimitLoopTest : public testing::LoopModeTest {};

// Regression: one waiter more than N can count carried out of the word (N
// back to 0). The timed async forms refuse it with ResourceExhausted and
// leave the word alone.
TEST_P(EventWaiterLimitLoopTest, TimedAsyncWaitIsRefusedWhenTheCountIsFull) {
  auto loop = MakeLoop();
  ASSERT_NE(loop, nullptr);
  Event ev;
  internal::WordAccess::Of(ev).store(kFullWaiters);
  auto timed = [&]() -> uring::Task<absl::Status> {
    co_return co_await ev.wait_async_for(*loop, std::chrono::seconds(2));
  };
  const absl::Status s = loop->RunUntilComplete(timed());
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_NE(s.message().find("ringlock::Event"), std::string::npos) << s;
  EXPECT_EQ(ev.word().load(), kFullWaiters);
  internal::WordAccess::Of(ev).store(0);
}

INSTANTIATE_TEST_SUITE_P(AllLoops, EventWaiterLimitLoopTest,
                         ::testing::ValuesIn(testing::AllLoopModes()), testing::LoopModeName);

// Waits that cannot report it abort, in every build (not only debug).
TEST(EventWaiterLimitDeathTest, BlockingWaiterPastTheLimitAbortsInEveryBuild) {
  EXPECT_DEATH(
      {
        alarm(10);  // a wrapped count would wait: die otherwise, without the message
        Event ev;
        internal::WordAccess::Of(ev).store(kFullWaiters);
        (void)ev.wait_for(milliseconds(10));
      },
      "ringlock::Event: misuse: more than 2\\^30-1 waiters");
}

}  // namespace
}  // namespace ringlock
