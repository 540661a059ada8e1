// The core layer alone (//locks:core, no ring layer linked): the primitives
// work, blocked threads sleep in futex(2), and a WakeBatch sends its wakes
// through futex(2). This binary depends on no io_uring code at all (CI checks
// with `bazel query` that no path leads from //locks:core to liburing).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "locks/condvar.h"
#include "locks/event.h"
#include "locks/internal/wait_backend.h"
#include "locks/mutex.h"
#include "locks/wake_batch.h"

namespace ringlock {
namespace {

// Fails the test instead of hanging CI.
void JoinOrFail(std::vector<std::thread>& threads, const char* what) {
  auto joined = std::async(std::launch::async, [&] {
    for (std::thread& t : threads) t.join();
  });
  if (joined.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    std::fprintf(stderr, "STALL: %s did not finish in 20 s\n", what);
    std::_Exit(1);
  }
}

TEST(CoreOnlyTest, ThreadsParkInFutexWithoutTheRingLayer) {
  EXPECT_EQ(std::string(internal::CurrentWaitBackend().name()), "futex");
  Mutex mu;
  int64_t counter = 0;  // guarded by mu, deliberately not atomic
  constexpr int kThreads = 4, kIters = 20000;
  std::vector<std::thread> threads;
  std::atomic<int> saw_other_backend{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      if (std::string(internal::CurrentWaitBackend().name()) != "futex") ++saw_other_backend;
      for (int i = 0; i < kIters; ++i) {
        mu.lock();
        ++counter;
        mu.unlock();
      }
    });
  }
  JoinOrFail(threads, "mutex contention");
  EXPECT_EQ(counter, int64_t{kThreads} * kIters);
  EXPECT_EQ(saw_other_backend.load(), 0);
}

TEST(CoreOnlyTest, WakeBatchSendsHeldWakesThroughFutex) {
  constexpr int kSleepers = 3;
  Event events[kSleepers];
  std::vector<std::thread> sleepers;
  for (Event& ev : events) sleepers.emplace_back([&ev] { ev.wait(); });
  // Each sleeper registered (the word counts it) before the batch opens.
  for (Event& ev : events) {
    while (ev.word().load() < 4u /* one registered waiter */) std::this_thread::yield();
  }
  {
    WakeBatch batch;
    for (Event& ev : events) ev.set();
    EXPECT_EQ(WakeBatch::Pending(), kSleepers);  // held, not sent
  }
  EXPECT_EQ(WakeBatch::Pending(), 0);
  JoinOrFail(sleepers, "event sleepers woken by a batch");
}

TEST(CoreOnlyTest, CondVarHandsOffThroughFutex) {
  Mutex mu;
  CondVar cv;
  int turn = 0;  // guarded by mu
  constexpr int kRounds = 2000;
  std::vector<std::thread> players;
  for (int me = 0; me < 2; ++me) {
    players.emplace_back([&, me] {
      for (int r = 0; r < kRounds; ++r) {
        std::unique_lock<Mutex> lock(mu);
        cv.wait(lock, [&] { return turn % 2 == me; });
        ++turn;
        cv.notify_all();
      }
    });
  }
  JoinOrFail(players, "condvar ping-pong");
  EXPECT_EQ(turn, 2 * kRounds);
}

}  // namespace
}  // namespace ringlock
