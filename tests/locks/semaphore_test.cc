#include "locks/semaphore.h"
#include "locks/async.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <new>
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

class SemaphoreTest : public testing::WaiterModeTest {};

TEST(SemaphoreBasicTest, CountsPermits) {
  CountingSemaphore<8> sem(3);
  static_assert(sizeof(sem) == 4);
  static_assert(CountingSemaphore<8>::max() == 8);
  EXPECT_EQ(sem.available(), 3u);
  EXPECT_TRUE(sem.try_acquire());
  EXPECT_TRUE(sem.try_acquire());
  EXPECT_TRUE(sem.try_acquire());
  EXPECT_FALSE(sem.try_acquire());
  sem.release(2);
  EXPECT_EQ(sem.available(), 2u);
  EXPECT_TRUE(sem.try_acquire_for(milliseconds(1)));
  EXPECT_TRUE(sem.try_acquire_until(std::chrono::steady_clock::now()));
  EXPECT_FALSE(sem.try_acquire());
}

TEST(SemaphoreBasicTest, ReleaseWithoutWaitersMakesNoWake) {
  Semaphore sem(0);
  WakeBatch batch;
  sem.release(5);
  EXPECT_EQ(WakeBatch::Pending(), 0);
}

TEST_P(SemaphoreTest, TryAcquireForTimesOut) {
  Semaphore sem(0);
  std::thread t = Start([&] {
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(sem.try_acquire_for(milliseconds(40)));
    EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(40));
  });
  t.join();
  EXPECT_EQ(sem.word().load(), 0u);  // the waiter deregistered
}

// release(n) lets exactly n blocked acquirers through.
TEST_P(SemaphoreTest, ReleaseNWakesExactlyN) {
  Semaphore sem(0);
  std::atomic<int> through{0};
  constexpr int kWaiters = 5;
  std::vector<std::thread> threads;
  for (int i = 0; i < kWaiters; ++i) {
    threads.push_back(Start([&] {
      sem.acquire();
      through.fetch_add(1);
    }));
  }
  std::this_thread::sleep_for(milliseconds(30));
  sem.release(3);
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (through.load() < 3 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  std::this_thread::sleep_for(milliseconds(20));
  EXPECT_EQ(through.load(), 3);
  sem.release(2);
  for (auto& t : threads) t.join();
  EXPECT_EQ(through.load(), kWaiters);
  EXPECT_EQ(sem.word().load(), 0u);
}

TEST_P(SemaphoreTest, BoundedBufferLosesNothing) {
  constexpr int kSlots = 3;
  constexpr int kItems = 20000;
  Semaphore free_slots(kSlots), filled(0);
  std::atomic<int> buffer[kSlots];
  std::atomic<int> head{0}, tail{0};
  int64_t sum = 0;
  std::thread producer = Start([&] {
    for (int i = 1; i <= kItems; ++i) {
      free_slots.acquire();
      buffer[tail.fetch_add(1) % kSlots].store(i, std::memory_order_relaxed);
      filled.release();
    }
  });
  std::thread consumer = Start([&] {
    for (int i = 1; i <= kItems; ++i) {
      filled.acquire();
      sum += buffer[head.fetch_add(1) % kSlots].load(std::memory_order_relaxed);
      free_slots.release();
    }
  });
  producer.join();
  consumer.join();
  EXPECT_EQ(sum, int64_t{kItems} * (kItems + 1) / 2);
  EXPECT_EQ(free_slots.available(), uint32_t{kSlots});
}

TEST_P(SemaphoreTest, ManyThreadsNeverExceedPermits) {
  CountingSemaphore<3> sem(3);
  std::atomic<int> inside{0}, max_inside{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.push_back(Start([&, t] {
      for (int i = 0; i < 3000; ++i) {
        if (t % 3 == 0) {
          if (!sem.try_acquire_for(std::chrono::microseconds(100))) continue;
        } else {
          sem.acquire();
        }
        const int now = inside.fetch_add(1) + 1;
        int seen = max_inside.load();
        while (now > seen && !max_inside.compare_exchange_weak(seen, now)) {
        }
        inside.fetch_sub(1);
        sem.release();
      }
    }));
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(max_inside.load(), 3);
  EXPECT_EQ(sem.available(), 3u);
  EXPECT_EQ(sem.word().load(), 3u);  // no waiter left registered
}

INSTANTIATE_TEST_SUITE_P(AllModes, SemaphoreTest, ::testing::ValuesIn(testing::AllWaiterModes()),
                         testing::WaiterModeName);

// Regression: a waiter that times out after release() woke it hands the
// permit's wake on to the next sleeper.
TEST(SemaphoreProtocolTest, LeavingWokenWaiterPassesTheWakeOn) {
  Semaphore sem(0);
  internal::SemaphoreAcquisition a(internal::WordAccess::Of(sem), FutexScope::kPrivate, "t"),
      b(internal::WordAccess::Of(sem), FutexScope::kPrivate, "t");
  uint32_t ea, eb;
  ASSERT_FALSE(a.Arm(&ea));
  ASSERT_FALSE(b.Arm(&eb));
  WakeBatch batch;
  sem.release(1);
  EXPECT_EQ(WakeBatch::Pending(), 1);
  a.Leave();
  EXPECT_EQ(WakeBatch::Pending(), 2);
  EXPECT_TRUE(b.OnWake(&eb));
  EXPECT_EQ(sem.word().load(), 0u);
}

// Regression: release() past max() was checked in debug builds only, after
// the add: release builds carried the excess into the waiter count
// (Semaphore(65535).release() left 0 permits and a phantom waiter), and even
// debug builds left that word behind in shared memory. Every build aborts now,
// before writing: the word another process sees is intact.
TEST(SemaphoreReleaseDeathTest, ReleasePastMaxAbortsInEveryBuildWithoutCorruptingTheWord) {
  using Shared = ProcessSharedSemaphore<>;
  void* p = mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
                 0);
  ASSERT_NE(p, MAP_FAILED);
  Shared* full = new (p) Shared(Shared::max());
  EXPECT_DEATH(full->release(),
               "ringlock::ProcessSharedSemaphore: misuse: release\\(\\) past max\\(\\)");
  EXPECT_EQ(full->word().load(), Shared::max()) << "the word was written before the check";
  EXPECT_DEATH(full->release(3),
               "ringlock::ProcessSharedSemaphore: misuse: release\\(\\) past max\\(\\)");
  EXPECT_EQ(full->word().load(), Shared::max());
  full->~Shared();
  munmap(p, sizeof(Shared));

  CountingSemaphore<2> two(1);
  EXPECT_DEATH(two.release(2), "ringlock::Semaphore: misuse: release\\(\\) past max\\(\\)");
  EXPECT_DEATH(two.release(3),
               "ringlock::Semaphore: misuse: release\\(n\\) with n greater than max\\(\\)");
  two.release(1);  // up to max() is fine
  EXPECT_EQ(two.word().load(), 2u);
}

// ---- The waiter count's limit ---------------------------------------------

constexpr uint32_t kFullWaiters = internal::kSemMaxWaiters * internal::kSemWaiterOne;

// Fails the process with a message instead of hanging (a lost wakeup).
class ScopedAlarm {
 public:
  explicit ScopedAlarm(unsigned seconds) {
    signal(SIGALRM, [](int) {
      static const char kMsg[] = "watchdog: semaphore waiters still waiting (lost wakeup)\n";
      (void)!write(2, kMsg, sizeof(kMsg) - 1);
      _exit(1);
    });
    alarm(seconds);
  }
  ~ScopedAlarm() { alarm(0); }
};

uint32_t WaitersOf(const Semaphore& sem) { return sem.word().load() / internal::kSemWaiterOne; }

uring::Task<void> AcquireAndCount(uring::EventLoop& loop, Semaphore& sem, int& acquired) {
  co_await sem.acquire_async(loop);
  ++acquired;
}

uring::Task<absl::Status> TimedAcquire(uring::EventLoop& loop, Semaphore& sem,
                                       std::chrono::milliseconds timeout) {
  co_return co_await sem.acquire_async_for(loop, timeout);
}

// Regression: the 65,536th async waiter wrapped N to 0 (release(1) then woke
// nobody; debug builds aborted). It is refused instead, and the 65,535
// registered waiters are all still served, one per permit. One loop (native
// io_uring futex waits): the limit is the word's, the same for every mode.
TEST(SemaphoreWaiterLimitTest, Async65536thWaiterIsRefusedNotWrapped) {
  ScopedAlarm watchdog(60);
  auto loop = testing::MakeLoop(testing::LoopKind::kNative);
  ASSERT_NE(loop, nullptr);
  Semaphore sem(0);
  constexpr int kWaiters = static_cast<int>(internal::kSemMaxWaiters);
  int acquired = 0;
  for (int i = 0; i < kWaiters; ++i) loop->Spawn(AcquireAndCount(*loop, sem, acquired));
  loop->RunUntil([&] { return WaitersOf(sem) == internal::kSemMaxWaiters; });
  ASSERT_EQ(sem.word().load(), kFullWaiters);

  const absl::Status refused = loop->RunUntilComplete(TimedAcquire(*loop, sem, milliseconds(500)));
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted) << refused;
  EXPECT_NE(refused.message().find("ringlock::Semaphore"), std::string::npos) << refused;
  EXPECT_EQ(sem.word().load(), kFullWaiters) << "the refused waiter touched the word";

  // release(1) reaches exactly one of the registered waiters.
  sem.release(1);
  loop->RunUntil([&] { return acquired == 1; });
  EXPECT_EQ(WaitersOf(sem), internal::kSemMaxWaiters - 1);
  // With a slot free, a timed waiter registers again (and times out).
  EXPECT_EQ(loop->RunUntilComplete(TimedAcquire(*loop, sem, milliseconds(1))).code(),
            absl::StatusCode::kDeadlineExceeded);
  sem.release(internal::kSemMaxWaiters - 1);
  loop->RunUntil([&] { return acquired == kWaiters; });
  EXPECT_EQ(acquired, kWaiters);
  EXPECT_EQ(sem.word().load(), 0u);
}

class SemaphoreWaiterLimitLoopTest : public testing::LoopModeTest {};

// Every loop kind: with N full, the timed async forms refuse at once and
// leave the word alone.
TEST_P(SemaphoreWaiterLimitLoopTest, TimedAsyncWaitIsRefusedWhenTheCountIsFull) {
  auto loop = MakeLoop();
  ASSERT_NE(loop, nullptr);
  Semaphore sem(0);
  internal::WordAccess::Of(sem).store(kFullWaiters);  // as if 65535 waiters were registered
  const absl::Status s = loop->RunUntilComplete(TimedAcquire(*loop, sem, milliseconds(2000)));
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  auto until = [&]() -> uring::Task<absl::Status> {
    co_return co_await sem.acquire_async_until(*loop, Deadline::Never());
  };
  EXPECT_EQ(loop->RunUntilComplete(until()).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(sem.word().load(), kFullWaiters);
  internal::WordAccess::Of(sem).store(0);
}

INSTANTIATE_TEST_SUITE_P(AllLoops, SemaphoreWaiterLimitLoopTest,
                         ::testing::ValuesIn(testing::AllLoopModes()), testing::LoopModeName);

// Waits that cannot report it abort, in every build (not only debug).
TEST(SemaphoreWaiterLimitDeathTest, BlockingWaiterPastTheLimitAbortsInEveryBuild) {
  EXPECT_DEATH(
      {
        Semaphore sem(0);
        internal::WordAccess::Of(sem).store(kFullWaiters);
        (void)sem.try_acquire_for(milliseconds(10));
      },
      "ringlock::Semaphore: misuse: more than 65535 waiters");
  EXPECT_DEATH(
      {
        ScopedAlarm watchdog(10);
        auto loop = testing::MakeLoop(testing::LoopKind::kNative);
        Semaphore sem(0);
        internal::WordAccess::Of(sem).store(kFullWaiters);
        auto untimed = [&]() -> uring::Task<void> { co_await sem.acquire_async(*loop); };
        loop->RunUntilComplete(untimed());
      },
      "ringlock::Semaphore: misuse: more than 65535 waiters");
}

// ---- The constructor's precondition ---------------------------------------

// Regression: the constructor stored `desired` as the whole word, so
// CountingSemaphore<1>(5) had 5 permits and Semaphore(70000) had 4464
// permits and a phantom waiter. Debug builds abort; release builds clamp.
#ifndef NDEBUG
TEST(SemaphoreConstructorDeathTest, DesiredOutsideZeroToMaxAborts) {
  EXPECT_DEATH(BinarySemaphore(5),
               "ringlock::Semaphore: misuse: constructed with more permits than max\\(\\)");
  EXPECT_DEATH(Semaphore(70000),
               "ringlock::Semaphore: misuse: constructed with more permits than max\\(\\)");
  EXPECT_DEATH(ProcessSharedSemaphore<3>(4),
               "ringlock::ProcessSharedSemaphore: misuse: constructed with more permits");
  EXPECT_DEATH(Semaphore(-1),
               "ringlock::Semaphore: misuse: constructed with a negative number of permits");
}
#else
TEST(SemaphoreConstructorTest, DesiredOutsideZeroToMaxIsClampedNeverSpills) {
  BinarySemaphore one(5);
  EXPECT_EQ(one.word().load(), 1u);
  Semaphore big(70000);
  EXPECT_EQ(big.word().load(), internal::kSemPermitMask) << "spilled into the waiter count";
  Semaphore negative(-1);
  EXPECT_EQ(negative.word().load(), 0u);
}
#endif

TEST(SemaphoreConstructorTest, DesiredWithinRangeIsExact) {
  EXPECT_EQ(BinarySemaphore(0).word().load(), 0u);
  EXPECT_EQ(BinarySemaphore(1).word().load(), 1u);
  EXPECT_EQ(Semaphore(65535).word().load(), 65535u);
  EXPECT_EQ(CountingSemaphore<7>(7).available(), 7u);
  static_assert(CountingSemaphore<7>::max() == 7);
}

}  // namespace
}  // namespace ringlock
