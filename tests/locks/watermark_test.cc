// Watermark (locks/watermark.h): exact releases (an advance releases exactly
// the waiters whose target it reached, with one wake each), timeouts and
// cancellation, for blocked threads in every waiter mode and for coroutines
// on every loop kind.
#include "locks/watermark.h"
#include "locks/async.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
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
using uring::EventLoop;
using uring::Task;

// Ends the process with a message if the test is still running after
// `limit`: a lost wakeup fails instead of hanging CI.
class Deadman {
 public:
  explicit Deadman(const char* what, std::chrono::seconds limit = std::chrono::seconds(20))
      : thread_([this, what, limit] {
          std::unique_lock<std::mutex> lock(mu_);
          if (!cv_.wait_for(lock, limit, [this] { return done_; })) {
            std::fprintf(stderr, "HANG: %s still running after %lld s\n", what,
                         static_cast<long long>(limit.count()));
            std::fflush(stderr);
            _exit(1);
          }
        }) {}
  ~Deadman() {
    {
      std::lock_guard<std::mutex> g(mu_);
      done_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

void AwaitRegistered(const Watermark& wm, size_t n) {
  while (wm.waiters() != n) std::this_thread::yield();
}

// Spins until `pred`, failing (not hanging) after a generous limit.
template <class Pred>
bool Eventually(Pred pred) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return true;
}

TEST(WatermarkBasicTest, PositionOnlyMovesForward) {
  Watermark wm(10);
  EXPECT_EQ(wm.position(), 10u);
  EXPECT_EQ(wm.advance_to(5), 0u);
  EXPECT_EQ(wm.position(), 10u);
  EXPECT_EQ(wm.advance_to(10), 0u);
  EXPECT_EQ(wm.advance_to(uint64_t{1} << 40), 0u);  // 64-bit positions
  EXPECT_EQ(wm.position(), uint64_t{1} << 40);
}

TEST(WatermarkBasicTest, ReachedTargetReturnsAtOnceWithoutRegistering) {
  Watermark wm(7);
  wm.wait_until_reached(7);
  wm.wait_until_reached(0);
  EXPECT_TRUE(wm.wait_until_reached_for(3, milliseconds(0)));
  EXPECT_EQ(wm.waiters(), 0u);
  EXPECT_EQ(wm.lock_word().load(), 0u);
}

TEST(WatermarkBasicTest, AdvanceWithoutWaitersQueuesNoWake) {
  Watermark wm;
  WakeBatch batch;
  EXPECT_EQ(wm.advance_to(100), 0u);
  EXPECT_EQ(WakeBatch::Pending(), 0);
}

// Destroying a Watermark a waiter is registered on (here an acquisition
// armed by hand, as a waiter about to sleep) aborts naming the misuse.
void DestroyWithRegisteredWaiter() {
  auto wm = std::make_unique<Watermark>();
  internal::WatermarkAcquisition acq(*wm, 5);
  uint32_t expected = 0;
  if (acq.Arm(&expected)) return;  // not reached: registered
  wm.reset();
}

TEST(WatermarkDeathTest, DestroyedWithWaitersAborts) {
  if (!internal::kDebugChecks) GTEST_SKIP() << "debug builds only";
  EXPECT_DEATH(DestroyWithRegisteredWaiter(), "ringlock::Watermark: misuse: destroyed with waiters");
}

class WatermarkTest : public testing::WaiterModeTest {};

// Targets 1..8; advance_to(3) releases exactly the three reached (one wake
// each, held in the caller's batch until it closes), the rest stay asleep
// and registered until advance_to(8).
TEST_P(WatermarkTest, AdvanceReleasesExactlyTheReachedWaiters) {
  Deadman deadman("AdvanceReleasesExactlyTheReachedWaiters");
  constexpr int kWaiters = 8;
  Watermark wm;
  std::atomic<int> released{0};
  std::atomic<int> early{0};  // returned before their target was reached
  std::vector<std::thread> threads;
  for (int i = 1; i <= kWaiters; ++i) {
    threads.push_back(Start([&, i] {
      wm.wait_until_reached(i);
      if (wm.position() < static_cast<uint64_t>(i)) early.fetch_add(1);
      released.fetch_add(1);
    }));
  }
  AwaitRegistered(wm, kWaiters);
  {
    WakeBatch batch;
    EXPECT_EQ(wm.advance_to(3), 3u);
    EXPECT_EQ(WakeBatch::Pending(), 3);  // one wake per released waiter, none sent yet
  }
  ASSERT_TRUE(Eventually([&] { return released.load() == 3; })) << released.load();
  std::this_thread::sleep_for(milliseconds(20));
  EXPECT_EQ(released.load(), 3) << "a waiter below its target returned";
  EXPECT_EQ(wm.waiters(), 5u);
  EXPECT_EQ(wm.advance_to(2), 0u);  // not forward: nothing
  EXPECT_EQ(wm.advance_to(8), 5u);
  for (auto& t : threads) t.join();
  EXPECT_EQ(released.load(), kWaiters);
  EXPECT_EQ(early.load(), 0);
  EXPECT_EQ(wm.waiters(), 0u);
  EXPECT_EQ(wm.lock_word().load(), 0u);
}

// Waiters on the same target are all released by the advance that reaches
// it; the advance past everything releases the rest, in any arrival order.
TEST_P(WatermarkTest, EqualAndUnorderedTargets) {
  Deadman deadman("EqualAndUnorderedTargets");
  const uint64_t targets[] = {50, 10, 30, 10, 50, 20, 10};
  Watermark wm;
  std::atomic<int> released{0};
  std::vector<std::thread> threads;
  for (uint64_t t : targets) {
    threads.push_back(Start([&, t] {
      wm.wait_until_reached(t);
      EXPECT_GE(wm.position(), t);
      released.fetch_add(1);
    }));
  }
  AwaitRegistered(wm, std::size(targets));
  EXPECT_EQ(wm.advance_to(10), 3u);
  EXPECT_EQ(wm.advance_to(25), 1u);
  EXPECT_EQ(wm.advance_to(49), 1u);
  EXPECT_EQ(wm.advance_to(1000), 2u);
  for (auto& t : threads) t.join();
  EXPECT_EQ(released.load(), 7);
  EXPECT_EQ(wm.waiters(), 0u);
}

TEST_P(WatermarkTest, TimedWaitTimesOutAndDeregisters) {
  Deadman deadman("TimedWaitTimesOutAndDeregisters");
  Watermark wm;
  std::thread t = Start([&] {
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(wm.wait_until_reached_for(5, milliseconds(40)));
    EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(40));
    EXPECT_FALSE(
        wm.wait_until_reached_until(5, std::chrono::system_clock::now() + milliseconds(5)));
  });
  t.join();
  EXPECT_EQ(wm.waiters(), 0u);
  EXPECT_EQ(wm.advance_to(5), 0u);  // nothing left linked
  EXPECT_EQ(wm.lock_word().load(), 0u);
}

TEST_P(WatermarkTest, TimedWaitReturnsTrueWhenReachedInTime) {
  Deadman deadman("TimedWaitReturnsTrueWhenReachedInTime");
  Watermark wm;
  std::atomic<bool> got{false};
  std::thread t = Start([&] { got = wm.wait_until_reached_for(4, std::chrono::seconds(30)); });
  AwaitRegistered(wm, 1);
  EXPECT_EQ(wm.advance_to(4), 1u);
  t.join();
  EXPECT_TRUE(got.load());
  EXPECT_EQ(wm.waiters(), 0u);
}

// Timed waiters give up while advances race them: every true return saw
// its target, every waiter deregistered, nothing is left linked.
TEST_P(WatermarkTest, TimeoutsRacingAdvances) {
  Deadman deadman("TimeoutsRacingAdvances");
  constexpr int kThreads = 4;
  constexpr int kRounds = 200;
  Watermark wm;
  std::atomic<int> early{0};
  std::atomic<int> reached{0}, timed_out{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.push_back(Start([&, i] {
      for (int r = 0; r < kRounds; ++r) {
        const uint64_t target = wm.position() + 1 + (r + i) % 3;
        if (wm.wait_until_reached_for(target, std::chrono::microseconds(50 + 20 * i))) {
          if (wm.position() < target) early.fetch_add(1);
          reached.fetch_add(1);
        } else {
          timed_out.fetch_add(1);
        }
      }
    }));
  }
  std::thread advancer([&] {
    uint64_t p = 0;
    while (reached.load() + timed_out.load() < kThreads * kRounds) {
      wm.advance_to(++p);
      std::this_thread::sleep_for(std::chrono::microseconds(30));
    }
  });
  for (auto& t : threads) t.join();
  advancer.join();
  EXPECT_EQ(early.load(), 0);
  EXPECT_EQ(reached.load() + timed_out.load(), kThreads * kRounds);
  EXPECT_EQ(wm.waiters(), 0u);
  EXPECT_EQ(wm.advance_to(~uint64_t{0}), 0u);
}

// Stress: many waiters on increasing targets, several advancers racing.
TEST_P(WatermarkTest, StressWaitersAndConcurrentAdvancers) {
  Deadman deadman("StressWaitersAndConcurrentAdvancers", std::chrono::seconds(60));
  constexpr int kWaiters = 8;
  constexpr uint64_t kEnd = 20000;
  Watermark wm;
  std::atomic<int> early{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kWaiters; ++i) {
    threads.push_back(Start([&, i] {
      for (uint64_t t = 1 + i; t <= kEnd; t += 1 + (t * 7 + i) % 13) {
        wm.wait_until_reached(t);
        if (wm.position() < t) early.fetch_add(1);
      }
    }));
  }
  std::vector<std::thread> advancers;
  for (int a = 0; a < 2; ++a) {
    advancers.emplace_back([&, a] {
      for (uint64_t p = 1 + a; p <= kEnd; p += 2) {
        wm.advance_to(p);
        if (p % 64 == 0) std::this_thread::yield();
      }
      wm.advance_to(kEnd);
    });
  }
  for (auto& t : advancers) t.join();
  for (auto& t : threads) t.join();
  EXPECT_EQ(early.load(), 0);
  EXPECT_EQ(wm.waiters(), 0u);
  EXPECT_EQ(wm.position(), kEnd);
}

INSTANTIATE_TEST_SUITE_P(Modes, WatermarkTest, ::testing::ValuesIn(testing::AllWaiterModes()),
                         testing::WaiterModeName);

// ---- coroutines -------------------------------------------------------

class WatermarkAsyncTest : public testing::LoopModeTest {};

TEST_P(WatermarkAsyncTest, CoroutinesReleasedExactlyByTarget) {
  Deadman deadman("CoroutinesReleasedExactlyByTarget");
  auto loop = MakeLoop();
  ASSERT_NE(loop, nullptr);
  Watermark wm;
  int released = 0;
  auto waiter = [&](uint64_t target) -> Task<void> {
    co_await wm.wait_until_reached_async(*loop, target);
    EXPECT_GE(wm.position(), target);
    ++released;
  };
  for (uint64_t t = 1; t <= 6; ++t) loop->Spawn(waiter(t));
  while (wm.waiters() != 6) loop->Poll();  // Spawn starts them in a later step
  // From another thread (its wake ring or futex(2)).
  std::thread([&] { EXPECT_EQ(wm.advance_to(2), 2u); }).join();
  loop->RunUntil([&] { return released == 2; });
  // From the loop thread itself (through the loop's ring).
  EXPECT_EQ(wm.advance_to(4), 2u);
  loop->RunUntil([&] { return released == 4; });
  for (int i = 0; i < 20; ++i) {
    loop->Poll();
    std::this_thread::sleep_for(milliseconds(1));
  }
  EXPECT_EQ(released, 4) << "a coroutine below its target was resumed";
  EXPECT_EQ(wm.advance_to(6), 2u);
  loop->RunUntil([&] { return released == 6; });
  loop->RunUntil([&] { return loop->in_flight() == 0; });
  EXPECT_EQ(wm.waiters(), 0u);
}

TEST_P(WatermarkAsyncTest, TimedAsyncWaitReportsDeadlineExceeded) {
  Deadman deadman("TimedAsyncWaitReportsDeadlineExceeded");
  auto loop = MakeLoop();
  ASSERT_NE(loop, nullptr);
  Watermark wm;
  auto timed = [&]() -> Task<absl::Status> {
    co_return co_await wm.wait_until_reached_async_for(*loop, 9, milliseconds(30));
  };
  const absl::Status s = loop->RunUntilComplete(timed());
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_EQ(wm.waiters(), 0u);
  EXPECT_EQ(wm.advance_to(9), 0u);
  // Reached in time: OK.
  absl::Status got = absl::UnknownError("not resumed");
  auto in_time = [&]() -> Task<void> {
    got = co_await wm.wait_until_reached_async_until(
        *loop, 12, Deadline::AfterDuration(std::chrono::seconds(30)));
  };
  Task<void> task = in_time();
  task.handle().resume();
  EXPECT_EQ(wm.waiters(), 1u);
  std::thread([&] { EXPECT_EQ(wm.advance_to(12), 1u); }).join();
  loop->RunUntil([&] { return task.done(); });
  EXPECT_TRUE(got.ok()) << got;
  EXPECT_EQ(wm.waiters(), 0u);
}

// A coroutine destroyed while it waits: its node is unlinked when the
// cancelled wait completes; a later advance finds nobody.
TEST_P(WatermarkAsyncTest, DestroyedCoroutineUnlinksItsNode) {
  Deadman deadman("DestroyedCoroutineUnlinksItsNode");
  auto loop = MakeLoop();
  ASSERT_NE(loop, nullptr);
  Watermark wm;
  bool resumed = false;
  auto waiter = [&]() -> Task<void> {
    co_await wm.wait_until_reached_async(*loop, 5);
    resumed = true;
  };
  Task<void> task = waiter();
  task.handle().resume();
  loop->Poll();
  EXPECT_EQ(wm.waiters(), 1u);
  task = Task<void>();  // destroyed while waiting
  loop->RunUntil([&] { return loop->in_flight() == 0; });
  EXPECT_FALSE(resumed);
  EXPECT_EQ(wm.waiters(), 0u);
  EXPECT_EQ(wm.advance_to(5), 0u);
}

// Destroyed after an advance released it but before its completion ran:
// the node goes back to the pool, nothing else is disturbed.
TEST_P(WatermarkAsyncTest, DestroyedAfterReleaseFreesItsNode) {
  Deadman deadman("DestroyedAfterReleaseFreesItsNode");
  auto loop = MakeLoop();
  ASSERT_NE(loop, nullptr);
  Watermark wm;
  auto waiter = [&](uint64_t target) -> Task<void> {
    co_await wm.wait_until_reached_async(*loop, target);
  };
  Task<void> first = waiter(5);
  first.handle().resume();
  Task<void> second = waiter(6);
  second.handle().resume();
  loop->Poll();
  EXPECT_EQ(wm.waiters(), 2u);
  std::thread([&] { EXPECT_EQ(wm.advance_to(5), 1u); }).join();
  first = Task<void>();
  loop->RunUntil([&] { return wm.waiters() == 1; });
  EXPECT_FALSE(second.done());
  EXPECT_EQ(wm.advance_to(6), 1u);
  loop->RunUntil([&] { return second.done(); });
  loop->RunUntil([&] { return loop->in_flight() == 0; });
  EXPECT_EQ(wm.waiters(), 0u);
}

// Threads (plain and timed) and coroutines on one Watermark.
TEST_P(WatermarkAsyncTest, ThreadsTimedWaitersAndCoroutinesTogether) {
  Deadman deadman("ThreadsTimedWaitersAndCoroutinesTogether");
  auto loop = MakeLoop();
  ASSERT_NE(loop, nullptr);
  Watermark wm;
  std::atomic<int> released{0};
  std::vector<std::thread> threads;
  for (uint64_t t = 1; t <= 3; ++t) {
    threads.emplace_back([&, t] {
      wm.wait_until_reached(t * 2);
      released.fetch_add(1);
    });
  }
  std::thread timed([&] { EXPECT_FALSE(wm.wait_until_reached_for(100, milliseconds(20))); });
  int coroutines = 0;
  auto waiter = [&](uint64_t target) -> Task<void> {
    co_await wm.wait_until_reached_async(*loop, target);
    ++coroutines;
  };
  for (uint64_t t = 1; t <= 3; ++t) loop->Spawn(waiter(t * 2 + 1));
  timed.join();
  while (wm.waiters() != 6) loop->Poll();
  std::thread advancer([&] {
    for (uint64_t p = 1; p <= 7; ++p) wm.advance_to(p);
  });
  loop->RunUntil([&] { return coroutines == 3; });
  advancer.join();
  for (auto& t : threads) t.join();
  EXPECT_EQ(released.load(), 3);
  loop->RunUntil([&] { return loop->in_flight() == 0; });
  EXPECT_EQ(wm.waiters(), 0u);
}

// More releases than one WakeBatch holds (kCapacity): every full batch is
// sent with the lock released, and every coroutine is resumed once.
TEST_P(WatermarkAsyncTest, ReleasesMoreWaitersThanOneBatchHolds) {
  Deadman deadman("ReleasesMoreWaitersThanOneBatchHolds");
  constexpr int kCoroutines = 2 * WakeBatch::kCapacity + 44;
  auto loop = MakeLoop();
  ASSERT_NE(loop, nullptr);
  Watermark wm;
  int released = 0;
  auto waiter = [&](uint64_t target) -> Task<void> {
    co_await wm.wait_until_reached_async(*loop, target);
    ++released;
  };
  for (int i = 0; i < kCoroutines; ++i) loop->Spawn(waiter(1 + i % 3));
  while (wm.waiters() != kCoroutines) loop->Poll();
  std::thread([&] { EXPECT_EQ(wm.advance_to(3), static_cast<size_t>(kCoroutines)); }).join();
  loop->RunUntil([&] { return released == kCoroutines; });
  loop->RunUntil([&] { return loop->in_flight() == 0; });
  EXPECT_EQ(wm.waiters(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Loops, WatermarkAsyncTest, ::testing::ValuesIn(testing::AllLoopModes()),
                         testing::LoopModeName);

}  // namespace
}  // namespace ringlock
