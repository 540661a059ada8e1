#include "locks/wait_any.h"
#include "locks/async.h"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "uring/task.h"
#include "tests/locks/waiter_modes.h"

namespace ringlock {
namespace {

using std::chrono::milliseconds;

class WaitAnyTest : public testing::WaiterModeTest {};

TEST(WaitAnyBasicTest, TakesTheFirstReadyOne) {
  Mutex a, b;
  a.lock();
  EXPECT_EQ(WaitAny({Lock(a), Lock(b)}), 1);
  EXPECT_TRUE(b.is_locked());
  b.unlock();
  a.unlock();
  EXPECT_EQ(WaitAny({Lock(a), Lock(b)}), 0);  // both free: lowest index
  EXPECT_TRUE(a.is_locked());
  EXPECT_FALSE(b.is_locked());
  a.unlock();
  EXPECT_EQ(a.word().load(), 0u);
  EXPECT_EQ(b.word().load(), 0u);
}

TEST(WaitAnyBasicTest, TimesOutTakingNothing) {
  Mutex a;
  Semaphore s(0);
  Event e(EventMode::kAutoReset);
  a.lock();
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(WaitAny({Lock(a), Acquire(s), Take(e)}, Deadline::After(milliseconds(30))), -1);
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(30));
  a.unlock();
  EXPECT_EQ(a.word().load(), 0u);
  EXPECT_EQ(s.word().load(), 0u);
  EXPECT_EQ(e.word().load(), internal::kEventAuto);
}

TEST_P(WaitAnyTest, WakesForWhicheverIsReleased) {
  Mutex a, b;
  Semaphore s(0);
  Event e;
  a.lock();
  b.lock();
  for (int which = 0; which < 4; ++which) {
    std::atomic<int> got{-2};
    std::atomic<bool> held{false};
    std::thread t = Start([&] {
      got = WaitAny({Lock(a), Lock(b), Acquire(s), Take(e)});
      // The winner holds what it took: check, then give mutexes back.
      if (got == 0) held = a.is_locked(), a.unlock();
      if (got == 1) held = b.is_locked(), b.unlock();
      if (got == 2) held = s.available() == 0;
      if (got == 3) held = e.is_set();
    });
    std::this_thread::sleep_for(milliseconds(20));
    switch (which) {
      case 0: a.unlock(); break;
      case 1: b.unlock(); break;
      case 2: s.release(); break;
      case 3: e.set(); break;
    }
    t.join();
    EXPECT_EQ(got.load(), which);
    EXPECT_TRUE(held.load());
    if (which == 0) {  // relock in a-then-b order
      b.unlock();
      a.lock();
      b.lock();
    }
    if (which == 1) b.lock();
  }
  a.unlock();
  b.unlock();
  EXPECT_EQ(a.word().load(), 0u);
  EXPECT_EQ(b.word().load(), 0u);
  EXPECT_EQ(s.word().load(), 0u);
}

// N threads each take whichever of two mutexes frees first; both are used
// and mutual exclusion holds on each.
TEST_P(WaitAnyTest, ContendedPairOfMutexes) {
  Mutex mus[2];
  int64_t counters[2] = {0, 0};
  constexpr int kThreads = 6, kIters = 3000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.push_back(Start([&] {
      for (int i = 0; i < kIters; ++i) {
        const int k = WaitAny({Lock(mus[0]), Lock(mus[1])});
        ++counters[k];
        mus[k].unlock();
      }
    }));
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(counters[0] + counters[1], int64_t{kThreads} * kIters);
  EXPECT_EQ(mus[0].word().load(), 0u);
  EXPECT_EQ(mus[1].word().load(), 0u);
}

INSTANTIATE_TEST_SUITE_P(AllModes, WaitAnyTest, ::testing::ValuesIn(testing::AllWaiterModes()),
                         testing::WaiterModeName);

// WaitAnyAsync yields a typed result: the index, DeadlineExceeded, or
// Cancelled when the loop is destroyed first (it yielded -1 / -2 before).
class WaitAnyAsyncTest : public testing::LoopModeTest {};

TEST_P(WaitAnyAsyncTest, ReportsCancellationWhenTheLoopIsDestroyed) {
  Mutex a;
  Event ev;
  a.lock();
  absl::Status status = absl::OkStatus();
  bool resumed = false;
  auto waiter = [&](uring::EventLoop& loop) -> uring::Task<void> {
    const std::vector<Waitable> ws = {Lock(a), Take(ev)};
    absl::StatusOr<int> r = co_await WaitAnyAsync(loop, ws);
    status = r.status();
    resumed = true;
  };
  uring::Task<void> task;
  {
    auto loop = MakeLoop();
    ASSERT_NE(loop, nullptr);
    task = waiter(*loop);
    task.handle().resume();
    loop->Poll();
    EXPECT_EQ(a.word().load() / Mutex::kWaiterOne, 1u);
  }
  EXPECT_TRUE(resumed);
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled) << status;
  EXPECT_EQ(a.word().load(), Mutex::kLocked);  // it left: no waiter counted
  EXPECT_EQ(ev.word().load(), 0u);
  a.unlock();
}

INSTANTIATE_TEST_SUITE_P(LoopModes, WaitAnyAsyncTest, ::testing::ValuesIn(testing::AllLoopModes()),
                         testing::LoopModeName);

}  // namespace
}  // namespace ringlock
