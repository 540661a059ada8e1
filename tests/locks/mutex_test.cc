#include "locks/mutex.h"
#include "locks/async.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "locks/internal/tsan.h"
#include "locks/wake_batch.h"
#include "tests/locks/waiter_modes.h"
#include "uring/event_loop.h"
#include "uring/task.h"

namespace ringlock {
namespace {

using std::chrono::milliseconds;
using testing::WaiterModeTest;

TEST(MutexTest, IsFourBytes) {
  static_assert(sizeof(Mutex) == 4);
  static_assert(sizeof(ProcessSharedMutex) == 4);
}

TEST(MutexTest, LockUnlockTryLock) {
  Mutex mu;
  EXPECT_FALSE(mu.is_locked());
  mu.lock();
  EXPECT_TRUE(mu.is_locked());
  EXPECT_FALSE(mu.try_lock());
  mu.unlock();
  ASSERT_TRUE(mu.try_lock());
  mu.unlock();
  EXPECT_EQ(mu.word().load(), 0u);
}

TEST(MutexTest, StandardLockableAdapters) {
  Mutex a, b;
  { std::lock_guard<Mutex> g(a); EXPECT_TRUE(a.is_locked()); }
  { std::unique_lock<Mutex> u(a, std::try_to_lock); EXPECT_TRUE(u.owns_lock()); }
  { std::scoped_lock s(a, b); EXPECT_TRUE(a.is_locked() && b.is_locked()); }
  std::lock(a, b);
  a.unlock();
  b.unlock();
  {
    std::unique_lock<Mutex> u(a, std::defer_lock);
    EXPECT_TRUE(u.try_lock_for(milliseconds(1)));
  }
  EXPECT_EQ(a.word().load(), 0u);
  EXPECT_EQ(b.word().load(), 0u);
}

// Uncontended lock/unlock never wakes anyone: inside a WakeBatch any wake
// would be queued, so an empty batch proves no futex call was made.
TEST(MutexTest, UncontendedUnlockMakesNoWake) {
  Mutex mu;
  WakeBatch batch;
  for (int i = 0; i < 1000; ++i) {
    mu.lock();
    mu.unlock();
    ASSERT_TRUE(mu.try_lock());
    mu.unlock();
  }
  EXPECT_EQ(WakeBatch::Pending(), 0);
}

class MutexModeTest : public WaiterModeTest {};

TEST_P(MutexModeTest, TryLockForTimesOut) {
  Mutex mu;
  mu.lock();
  std::thread t = Start([&] {
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(mu.try_lock_for(milliseconds(50)));
    const auto waited = std::chrono::steady_clock::now() - start;
    EXPECT_GE(waited, milliseconds(50));
    EXPECT_LT(waited, milliseconds(5000));
    EXPECT_FALSE(mu.try_lock_until(std::chrono::system_clock::now() + milliseconds(10)));
  });
  t.join();
  mu.unlock();
  // The timed-out waiter left nothing behind.
  EXPECT_EQ(mu.word().load(), 0u);
}

TEST_P(MutexModeTest, TryLockForSucceedsWhenReleased) {
  Mutex mu;
  mu.lock();
  std::atomic<bool> got{false};
  std::thread t = Start([&] {
    got = mu.try_lock_for(std::chrono::seconds(30));
    if (got) mu.unlock();
  });
  std::this_thread::sleep_for(milliseconds(20));
  mu.unlock();
  t.join();
  EXPECT_TRUE(got);
  EXPECT_EQ(mu.word().load(), 0u);
}

TEST_P(MutexModeTest, MutualExclusionUnderContention) {
  Mutex mu;
  int64_t counter = 0;  // plain: any overlap loses increments (and TSAN sees it)
  constexpr int kThreads = 8;
  constexpr int kIters = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.push_back(Start([&] {
      for (int i = 0; i < kIters; ++i) {
        std::lock_guard<Mutex> g(mu);
        ++counter;
      }
    }));
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(counter, int64_t{kThreads} * kIters);
  EXPECT_EQ(mu.word().load(), 0u);
}

TEST_P(MutexModeTest, MixedTimedAndUntimedLockers) {
  Mutex mu;
  int64_t counter = 0;
  std::atomic<int64_t> acquired{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.push_back(Start([&, t] {
      for (int i = 0; i < 3000; ++i) {
        if (t % 2 == 0) {
          if (!mu.try_lock_for(std::chrono::microseconds(50 + i % 200))) continue;
        } else {
          mu.lock();
        }
        ++counter;
        acquired.fetch_add(1, std::memory_order_relaxed);
        mu.unlock();
      }
    }));
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(counter, acquired.load());
  EXPECT_EQ(mu.word().load(), 0u);
}

// A waiter that has waited past the starvation threshold gets the lock while
// other threads keep re-taking it in a tight loop (barging).
TEST_P(MutexModeTest, LongWaiterIsNotStarved) {
  Mutex mu;
  std::atomic<bool> stop{false};
  std::vector<std::thread> hogs;
  for (int t = 0; t < 3; ++t) {
    hogs.push_back(Start([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        mu.lock();
        const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(20);
        while (std::chrono::steady_clock::now() < until) {
        }
        mu.unlock();
      }
    }));
  }
  std::this_thread::sleep_for(milliseconds(20));
  std::atomic<int> got{0};
  std::thread victim = Start([&] {
    for (int i = 0; i < 20; ++i) {
      mu.lock();
      got.fetch_add(1);
      mu.unlock();
    }
  });
  victim.join();  // would hang (test timeout) if the victim could starve
  stop = true;
  for (auto& t : hogs) t.join();
  EXPECT_EQ(got.load(), 20);
  EXPECT_EQ(mu.word().load(), 0u);
}

INSTANTIATE_TEST_SUITE_P(AllModes, MutexModeTest,
                         ::testing::ValuesIn(testing::AllWaiterModes()),
                         testing::WaiterModeName);

// --- Protocol interleavings, driven step by step on one thread -------------

using Acq = internal::MutexAcquisition<FutexScope::kPrivate>;

// Regression: a waiter that leaves (timeout, cancelled coroutine) after an
// unlock spent its wake on it must wake another waiter in its place.
TEST(MutexProtocolTest, LeavingWokenWaiterPassesTheWakeOn) {
  Mutex mu;
  mu.lock();
  Acq a(mu), b(mu);
  uint32_t ea, eb;
  ASSERT_FALSE(a.Arm(&ea));
  ASSERT_FALSE(b.Arm(&eb));
  {
    WakeBatch batch;  // capture wakes instead of sending them
    mu.unlock();      // W set, one wake (meant for a or b)
    EXPECT_EQ(WakeBatch::Pending(), 1);
    EXPECT_TRUE(mu.word().load() & Mutex::kWaking);
    a.Leave();  // a was the one woken, but leaves
    EXPECT_EQ(WakeBatch::Pending(), 2) << "the wake a consumed was not passed on";
    EXPECT_TRUE(mu.word().load() & Mutex::kWaking);
  }
  ASSERT_TRUE(b.OnWake(&eb));
  mu.unlock();
  EXPECT_EQ(mu.word().load(), 0u);
}

// Regression: a woken waiter that loses the race to a barger goes back to
// sleep and clears W, so the barger's unlock wakes again.
TEST(MutexProtocolTest, BargedWaiterIsWokenAgain) {
  Mutex mu;
  mu.lock();
  Acq a(mu);
  uint32_t ea;
  ASSERT_FALSE(a.Arm(&ea));
  WakeBatch batch;
  mu.unlock();
  EXPECT_EQ(WakeBatch::Pending(), 1);
  ASSERT_TRUE(mu.try_lock());  // barger
  EXPECT_FALSE(a.OnWake(&ea));
  EXPECT_FALSE(mu.word().load() & Mutex::kWaking);
  mu.unlock();
  EXPECT_EQ(WakeBatch::Pending(), 2);
  EXPECT_TRUE(a.OnWake(&ea));
  mu.unlock();
  EXPECT_EQ(mu.word().load(), 0u);
}

// Regression (lost wakeup, found as a hang with the futex_waitv(2) fallback):
// an unlock's wake that finds nobody asleep (waiter `z` registered but not
// asleep yet) leaves W set. A waiter registering after a newcomer barged then
// slept on a value with that W (L=1 W=1), and the newcomer's unlock, seeing
// W, woke nobody. INV5: registration clears W, so that unlock wakes it.
TEST(MutexProtocolTest, WaiterNeverSleepsOnAStaleW) {
  Mutex mu;
  mu.lock();
  Acq z(mu);
  uint32_t ez;
  ASSERT_FALSE(z.Arm(&ez));  // registered; stays away from the kernel
  mu.unlock();               // W=1, the wake finds nobody asleep
  ASSERT_TRUE(mu.word().load() & Mutex::kWaking);
  ASSERT_TRUE(mu.try_lock());  // a newcomer barges: L=1 W=1
  Acq x(mu);
  uint32_t ex;
  ASSERT_FALSE(x.Arm(&ex));
  EXPECT_EQ(ex & Mutex::kWaking, 0u) << "x would sleep on a value with W set";
  std::atomic<bool> taken{false}, gave_up{false};
  std::thread sleeper([&] {
    uint32_t e = ex;
    const Deadline give_up = Deadline::AfterDuration(std::chrono::seconds(5));
    for (;;) {
      futex::Wait(mu.word(), e, give_up, FutexScope::kPrivate, x.bitset());
      if (x.OnWake(&e)) break;
      if (give_up.HasPassed()) {
        gave_up.store(true);
        x.Leave();
        return;
      }
    }
    taken.store(true);
    mu.unlock();
  });
  std::this_thread::sleep_for(milliseconds(20));  // x asleep on `ex`
  mu.unlock();  // the newcomer's unlock must wake x
  sleeper.join();
  EXPECT_TRUE(taken.load());
  EXPECT_FALSE(gave_up.load()) << "lost wakeup: x slept 5 s on a free lock";
  z.Leave();
  EXPECT_EQ(mu.word().load(), 0u);
}

// While a waiter starves, newcomers may not barge, and unlock wakes only
// starving sleepers (bitset).
TEST(MutexProtocolTest, StarvingWaiterBlocksBarging) {
  Mutex mu;
  mu.lock();
  Acq a(mu);
  uint32_t ea;
  ASSERT_FALSE(a.Arm(&ea));
  std::this_thread::sleep_for(Mutex::kStarvationAfter + milliseconds(1));
  EXPECT_FALSE(a.OnWake(&ea));  // still held: becomes starving
  EXPECT_EQ(mu.word().load() & Mutex::kStarvingMask, Mutex::kStarvingOne);
  EXPECT_EQ(a.bitset(), Mutex::kAnyBit | Mutex::kStarvingBit);
  WakeBatch batch;
  mu.unlock();
  EXPECT_FALSE(mu.try_lock()) << "barged past a starving waiter";
  EXPECT_TRUE(a.OnWake(&ea));
  EXPECT_EQ(mu.word().load() & Mutex::kStarvingMask, 0u);
  mu.unlock();
  EXPECT_EQ(mu.word().load(), 0u);
}

#ifndef NDEBUG
TEST(MutexDeathTest, UnlockOfUnlockedMutexAborts) {
  EXPECT_DEATH(
      {
        Mutex mu;
        mu.unlock();
      },
      "ringlock::Mutex: misuse: unlock\\(\\) of a mutex that is not locked");
}

TEST(MutexDeathTest, DestroyingALockedMutexAborts) {
  EXPECT_DEATH(
      {
        Mutex mu;
        mu.lock();
      },
      "ringlock::Mutex: misuse: destroyed while locked");
}
#endif

// Regression: one waiter more than N (22 bits) can count wrapped it to 0
// (debug builds aborted; release builds lost the waiters). Every wait that
// cannot report it aborts with a message, in every build (the timed async
// forms are refused: MutexWaiterLimitLoopTest below).
TEST(MutexWaiterLimitDeathTest, WaiterPastTheLimitAbortsInEveryBuild) {
  constexpr uint32_t kFull = Mutex::kWaiterMask | Mutex::kLocked;
  EXPECT_DEATH(
      {
        alarm(10);  // a wrapped count would wait: die otherwise, without the message
        Mutex mu;
        internal::WordAccess::Of(mu).store(kFull);
        (void)mu.try_lock_for(milliseconds(10));
      },
      "ringlock::Mutex: misuse: more than 4194303 \\(2\\^22-1\\) waiters");
  EXPECT_DEATH(
      {
        alarm(10);
        auto loop = testing::MakeLoop(testing::LoopKind::kNative);
        Mutex mu;
        internal::WordAccess::Of(mu).store(kFull);
        auto untimed = [&]() -> uring::Task<void> { (void)co_await mu.lock_async(*loop); };
        loop->RunUntilComplete(untimed());
      },
      "ringlock::Mutex: misuse: more than 4194303");
}

class MutexWaiterLimitLoopTest : public testing::LoopModeTest {};

template <class M>
void ExpectTimedAsyncLockRefused(uring::EventLoop& loop, const std::string& name) {
  constexpr uint32_t kFull = M::kWaiterMask | M::kLocked;
  M mu;
  internal::WordAccess::Of(mu).store(kFull);  // as if 2^22-1 waiters were registered
  auto timed = [&]() -> uring::Task<absl::Status> {
    auto r = co_await mu.lock_async_for(loop, std::chrono::seconds(2));
    co_return r.status();
  };
  const absl::Status s = loop.RunUntilComplete(timed());
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_EQ(std::string(s.message()).rfind(name + ":", 0), 0u) << s;
  auto until = [&]() -> uring::Task<absl::Status> {
    auto r = co_await mu.lock_async_until(loop, Deadline::Never());
    co_return r.status();
  };
  EXPECT_EQ(loop.RunUntilComplete(until()).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(mu.word().load(), kFull) << "the refused waiter touched the word";
  internal::WordAccess::Of(mu).store(0);
}

// Regression: a timed async lock past the waiter limit aborted the process,
// while Semaphore's and Event's timed async forms report it. It yields
// ResourceExhausted naming the primitive, and leaves the word alone.
TEST_P(MutexWaiterLimitLoopTest, TimedAsyncWaitIsRefusedWhenTheCountIsFull) {
  auto loop = MakeLoop();
  ASSERT_NE(loop, nullptr);
  ExpectTimedAsyncLockRefused<Mutex>(*loop, "ringlock::Mutex");
  ExpectTimedAsyncLockRefused<ProcessSharedMutex>(*loop, "ringlock::ProcessSharedMutex");
}

INSTANTIATE_TEST_SUITE_P(AllLoops, MutexWaiterLimitLoopTest,
                         ::testing::ValuesIn(testing::AllLoopModes()), testing::LoopModeName);

// ---- TSAN: try-locks are try-locks ---------------------------------------

// Regression: try_lock was annotated as a blocking lock, so std::scoped_lock
// over two Mutexes taken in opposite orders (lock one, try the other, back
// off) was reported as a lock-order inversion; std::mutex is clean. Under
// --config=tsan (halt_on_error=1) a report fails the test.
TEST(MutexTsanTest, ScopedLockInOppositeOrdersIsNotALockOrderInversion) {
#ifndef RINGLOCK_TSAN
  GTEST_SKIP() << "checks ThreadSanitizer's lock-order report: run under --config=tsan";
#else
  Mutex a, b;
  int64_t in_both = 0;  // plain: TSAN checks both locks order it
  constexpr int kIters = 2000;
  std::thread t1([&] {
    for (int i = 0; i < kIters; ++i) {
      std::scoped_lock both(a, b);
      ++in_both;
    }
  });
  std::thread t2([&] {
    for (int i = 0; i < kIters; ++i) {
      std::scoped_lock both(b, a);
      ++in_both;
    }
  });
  t1.join();
  t2.join();
  EXPECT_EQ(in_both, 2 * kIters);
  EXPECT_EQ(a.word().load(), 0u);
  EXPECT_EQ(b.word().load(), 0u);
#endif
}

// The timed try-locks too (TSAN treats pthread_mutex_timedlock as a try).
TEST(MutexTsanTest, TimedTryLocksInOppositeOrdersAreNotALockOrderInversion) {
#ifndef RINGLOCK_TSAN
  GTEST_SKIP() << "checks ThreadSanitizer's lock-order report: run under --config=tsan";
#else
  Mutex a, b;
  int64_t in_both = 0;
  std::atomic<int> got{0};
  constexpr int kIters = 500;
  auto run = [&](Mutex& first, Mutex& second) {
    for (int i = 0; i < kIters; ++i) {
      std::lock_guard<Mutex> l(first);
      if (second.try_lock_for(std::chrono::microseconds(200))) {
        ++in_both;
        got.fetch_add(1);
        second.unlock();
      }
    }
  };
  std::thread t1([&] { run(a, b); });
  std::thread t2([&] { run(b, a); });
  t1.join();
  t2.join();
  EXPECT_EQ(in_both, got.load());
  EXPECT_EQ(a.word().load(), 0u);
  EXPECT_EQ(b.word().load(), 0u);
#endif
}

}  // namespace
}  // namespace ringlock
