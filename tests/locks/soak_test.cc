// Mixed soak: every kind of waiter on one Mutex, one Semaphore and one
// CondVar queue at once, with timed and cancelled waits, for a fixed time.
//
//   16 threads: 3 futex(2) threads and 3 ring-blocking threads (blocking
//   calls on a loop thread) taking the Mutex and the Semaphore, plain and
//   timed; 3 threads with short timed waits only; 3 loop threads running 3
//   coroutines each (lock_async, lock_async_for, acquire_async(_for), and
//   waits cancelled by destroying the coroutine); 2 producer and 2 consumer
//   threads (one futex, one ring-blocking each) on a capacity-4 queue with
//   notify after unlock, plus one coroutine consumer per loop.
//
// Checked: mutual exclusion inside the Mutex, at most kPermits holders of the
// Semaphore at any time, the Mutex counter equals the acquisitions counted
// by their takers, every produced item consumed exactly once, and the words
// back to their idle values. A stall watchdog fails the run instead of a hang.
//
// Duration: RINGLOCK_SOAK_SECONDS (default 3, CI's short form; 60 is the
// long form). Loop kind: native io_uring futex ops (the default loop) unless
// RINGLOCK_SOAK_LOOP=fallback|emulated.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "locks/async.h"
#include "locks/condvar.h"
#include "locks/mutex.h"
#include "locks/semaphore.h"
#include "tests/locks/stall_watchdog.h"
#include "tests/locks/waiter_modes.h"
#include "uring/event_loop.h"
#include "uring/io.h"
#include "uring/task.h"

namespace ringlock {
namespace {

using std::chrono::microseconds;
using uring::EventLoop;
using uring::Task;

constexpr uint32_t kPermits = 3;
constexpr size_t kCapacity = 4;

int SoakSeconds() {
  const char* s = std::getenv("RINGLOCK_SOAK_SECONDS");
  return s ? std::max(1, std::atoi(s)) : 3;
}

testing::LoopKind SoakLoopKind() {
  const std::string s = std::getenv("RINGLOCK_SOAK_LOOP") ? std::getenv("RINGLOCK_SOAK_LOOP") : "";
  if (s == "fallback") return testing::LoopKind::kFallback;
  if (s == "emulated") return testing::LoopKind::kEmulated;
  return testing::LoopKind::kNative;
}

struct Shared {
  Mutex mu;
  int64_t counter = 0;  // guarded by mu
  std::atomic<int> inside{0};
  Semaphore sem{kPermits};
  std::atomic<int> holders{0};

  Mutex queue_mu;
  CondVar not_empty, not_full;
  std::deque<int64_t> items;  // guarded by queue_mu
  bool producers_done = false;
  int64_t consumed_sum = 0;
  int64_t consumed = 0;

  std::atomic<bool> stop{false};
  std::atomic<int64_t> progress{0};
  std::atomic<int64_t> acquisitions{0};  // Mutex, counted by the takers
  std::atomic<int64_t> timeouts{0}, cancels{0}, sem_takes{0};
  std::atomic<int64_t> produced{0}, produced_sum{0};
  std::atomic<int> violations{0};
  std::atomic<int64_t> early_timeouts{0};  // a timed wait that failed before its time

  void TimedOut(std::chrono::steady_clock::time_point start, microseconds timeout) {
    timeouts.fetch_add(1, std::memory_order_relaxed);
    if (std::chrono::steady_clock::now() - start < timeout) early_timeouts.fetch_add(1);
  }

  // Runs with mu held.
  void InMutex() {
    if (inside.exchange(1) != 0) violations.fetch_add(1);
    ++counter;
    inside.store(0);
    acquisitions.fetch_add(1, std::memory_order_relaxed);
    progress.fetch_add(1, std::memory_order_relaxed);
  }
  // Runs with a permit held.
  void InSemaphore() {
    if (holders.fetch_add(1) + 1 > static_cast<int>(kPermits)) violations.fetch_add(1);
    holders.fetch_sub(1);
    sem_takes.fetch_add(1, std::memory_order_relaxed);
    progress.fetch_add(1, std::memory_order_relaxed);
  }

  std::string Describe() const {
    return "mu=" + std::to_string(mu.word().load()) + " sem=" + std::to_string(sem.word().load()) +
           " queue_mu=" + std::to_string(queue_mu.word().load()) +
           " not_empty=" + std::to_string(not_empty.word().load()) +
           " not_full=" + std::to_string(not_full.word().load()) +
           " produced=" + std::to_string(produced.load());
  }
};

// One step of a blocking worker: plain or timed Mutex, plain or timed
// Semaphore.
void BlockingStep(Shared& s, std::mt19937& rng, bool timed_only) {
  const int op = static_cast<int>(rng() % 4);
  const auto timeout = microseconds(rng() % 300);
  const auto start = std::chrono::steady_clock::now();
  if (op == 0 && !timed_only) {
    std::lock_guard<Mutex> g(s.mu);
    s.InMutex();
  } else if (op <= 1) {
    if (s.mu.try_lock_for(timeout)) {
      s.InMutex();
      s.mu.unlock();
    } else {
      s.TimedOut(start, timeout);
    }
  } else if (op == 2 && !timed_only) {
    s.sem.acquire();
    s.InSemaphore();
    s.sem.release();
  } else {
    if (s.sem.try_acquire_for(timeout)) {
      s.InSemaphore();
      s.sem.release();
    } else {
      s.TimedOut(start, timeout);
    }
  }
}

void Produce(Shared& s, int64_t item) {
  {
    std::unique_lock<Mutex> lock(s.queue_mu);
    s.not_full.wait(lock, [&] { return s.items.size() < kCapacity; });
    s.items.push_back(item);
  }
  s.produced.fetch_add(1, std::memory_order_relaxed);
  s.produced_sum.fetch_add(item, std::memory_order_relaxed);
  s.progress.fetch_add(1, std::memory_order_relaxed);
  s.not_empty.notify_one();
}

// Takes one item (true), or false once producers are done and it is empty.
bool Consume(Shared& s) {
  {
    std::unique_lock<Mutex> lock(s.queue_mu);
    s.not_empty.wait(lock, [&] { return !s.items.empty() || s.producers_done; });
    if (s.items.empty()) return false;
    s.consumed_sum += s.items.front();
    s.items.pop_front();
    ++s.consumed;
  }
  s.progress.fetch_add(1, std::memory_order_relaxed);
  s.not_full.notify_one();
  return true;
}

Task<void> AsyncConsumer(EventLoop& loop, Shared& s) {
  for (;;) {
    std::unique_lock<Mutex> lock = co_await s.queue_mu.lock_async(loop);
    while (s.items.empty() && !s.producers_done) co_await s.not_empty.wait_async(lock, loop);
    if (s.items.empty()) co_return;
    s.consumed_sum += s.items.front();
    s.items.pop_front();
    ++s.consumed;
    lock.unlock();
    s.progress.fetch_add(1, std::memory_order_relaxed);
    s.not_full.notify_one();
  }
}

// A wait that is cancelled by destroying its coroutine while it may be
// parked (or may already have the lock, or a wake spent on it).
Task<void> LockOnce(EventLoop& loop, Shared& s) {
  std::unique_lock<Mutex> g = co_await s.mu.lock_async(loop);
  s.InMutex();
}
Task<void> AcquireOnce(EventLoop& loop, Shared& s) {
  co_await s.sem.acquire_async(loop);
  s.InSemaphore();
  s.sem.release();
}

Task<void> AsyncWorker(EventLoop& loop, Shared& s, uint32_t seed) {
  std::mt19937 rng(seed);
  while (!s.stop.load(std::memory_order_relaxed)) {
    const int op = static_cast<int>(rng() % 6);
    const auto timeout = microseconds(rng() % 300);
    const auto start = std::chrono::steady_clock::now();
    if (op == 0) {
      std::unique_lock<Mutex> g = co_await s.mu.lock_async(loop);
      s.InMutex();
    } else if (op == 1) {
      auto r = co_await s.mu.lock_async_for(loop, timeout);
      if (r.ok()) {
        s.InMutex();
      } else {
        EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
        s.TimedOut(start, timeout);
      }
    } else if (op == 2) {
      co_await s.sem.acquire_async(loop);
      s.InSemaphore();
      s.sem.release();
    } else if (op == 3) {
      absl::Status st = co_await s.sem.acquire_async_for(loop, timeout);
      if (st.ok()) {
        s.InSemaphore();
        s.sem.release();
      } else {
        EXPECT_EQ(st.code(), absl::StatusCode::kDeadlineExceeded) << st;
        s.TimedOut(start, timeout);
      }
    } else {
      // Cancel: start a wait, let the loop run a little, destroy it.
      Task<void> waiter = op == 4 ? LockOnce(loop, s) : AcquireOnce(loop, s);
      waiter.handle().resume();
      co_await uring::SleepFor(loop, absl::Microseconds(rng() % 200));
      if (!waiter.done()) s.cancels.fetch_add(1, std::memory_order_relaxed);
      waiter = Task<void>();
    }
  }
}

std::unique_ptr<EventLoop> MakeSoakLoop() {
  auto loop = EventLoop::Create(testing::LoopOptions(SoakLoopKind()));
  if (!loop.ok()) {
    ADD_FAILURE() << loop.status();
    return nullptr;
  }
  return *std::move(loop);
}

TEST(SoakTest, EveryWaiterKindOnOneMutexSemaphoreAndQueue) {
  Shared s;
  testing::StallWatchdog watchdog(s.progress, std::chrono::seconds(20),
                                  [&] { return s.Describe(); });
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(SoakSeconds());
  std::vector<std::thread> workers, producers, consumers, loops;
  auto blocking = [&](bool ring, bool timed_only, uint32_t seed) {
    return std::thread([&, ring, timed_only, seed] {
      std::unique_ptr<EventLoop> loop = ring ? MakeSoakLoop() : nullptr;
      std::mt19937 rng(seed);
      while (!s.stop.load(std::memory_order_relaxed)) BlockingStep(s, rng, timed_only);
    });
  };
  uint32_t seed = 1;
  for (int i = 0; i < 3; ++i) workers.push_back(blocking(false, false, seed++));
  for (int i = 0; i < 3; ++i) workers.push_back(blocking(true, false, seed++));
  for (int i = 0; i < 3; ++i) workers.push_back(blocking(i == 0, true, seed++));
  for (int i = 0; i < 3; ++i) {
    loops.emplace_back([&, base = seed] {
      auto loop = MakeSoakLoop();
      if (loop == nullptr) return;
      for (int c = 0; c < 3; ++c) loop->Spawn(AsyncWorker(*loop, s, base + c));
      loop->Spawn(AsyncConsumer(*loop, s));
      loop->Stop();
      loop->Run();
    });
    seed += 3;
  }
  for (int p = 0; p < 2; ++p) {
    producers.emplace_back([&, p] {
      std::unique_ptr<EventLoop> loop = p == 1 ? MakeSoakLoop() : nullptr;
      for (int64_t i = p; !s.stop.load(std::memory_order_relaxed); i += 2) Produce(s, i);
    });
  }
  for (int c = 0; c < 2; ++c) {
    consumers.emplace_back([&, c] {
      std::unique_ptr<EventLoop> loop = c == 1 ? MakeSoakLoop() : nullptr;
      while (Consume(s)) {
      }
    });
  }
  while (std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  s.stop = true;
  for (auto& t : producers) t.join();
  {
    std::lock_guard<Mutex> g(s.queue_mu);
    s.producers_done = true;
  }
  s.not_empty.notify_all();
  for (auto& t : consumers) t.join();
  for (auto& t : workers) t.join();
  for (auto& t : loops) t.join();

  std::printf("soak %d s: %lld Mutex acquisitions, %lld Semaphore takes, %lld items, "
              "%lld timeouts (%lld early), %lld cancelled waits\n",
              SoakSeconds(), static_cast<long long>(s.acquisitions.load()),
              static_cast<long long>(s.sem_takes.load()), static_cast<long long>(s.consumed),
              static_cast<long long>(s.timeouts.load()), static_cast<long long>(s.early_timeouts.load()),
              static_cast<long long>(s.cancels.load()));
  EXPECT_EQ(s.violations.load(), 0);
  EXPECT_EQ(s.counter, s.acquisitions.load());
  EXPECT_EQ(s.consumed, s.produced.load());
  EXPECT_EQ(s.consumed_sum, s.produced_sum.load());
  EXPECT_GT(s.consumed, 0);
  EXPECT_GT(s.timeouts.load(), 0);
  EXPECT_EQ(s.early_timeouts.load(), 0) << "timed waits that failed before their deadline";
  // Idle words: Mutex free with no waiters, every permit back, no waiters.
  EXPECT_EQ(s.mu.word().load(), 0u);
  EXPECT_EQ(s.queue_mu.word().load(), 0u);
  EXPECT_EQ(s.sem.word().load(), kPermits);
  // A CondVar's W may outlive its last waiter; notify_all clears it.
  s.not_empty.notify_all();
  s.not_full.notify_all();
  EXPECT_EQ(s.not_empty.word().load() & internal::kCondWaiters, 0u);
  EXPECT_EQ(s.not_full.word().load() & internal::kCondWaiters, 0u);
}

}  // namespace
}  // namespace ringlock
