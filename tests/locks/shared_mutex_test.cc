// ringlock::SharedMutex against std::shared_timed_mutex's requirements
// ([thread.sharedtimedmutex.requirements], [thread.sharedmutex.requirements],
// [thread.timedmutex.requirements]): an exclusive owner excludes every other
// owner, shared or exclusive; many shared owners at once; try_* fail without
// blocking while the other side holds; timed forms give up at their deadline;
// std::unique_lock / std::shared_lock work. Plus the header's policy
// (phase-fair): with a writer waiting a new reader waits; a writer's unlock
// lets every waiting reader in together before the next writer. Every kind
// of waiter: futex(2), ring-blocking, coroutines; and process-shared.
#include "locks/shared_mutex.h"
#include "locks/latch.h"
#include "locks/async.h"
#include "locks/wait_any.h"

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <new>
#include <shared_mutex>
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
using uring::Task;

uint32_t Readers(const SharedMutex& m) { return m.word().load() / internal::kRwReaderOne; }
uint32_t WaitingReaders(const SharedMutex& m) {
  return (m.word().load() & internal::kRwWaiterMask) / internal::kRwWaiterOne;
}
// Idle: nothing held, nobody waiting (P, the reader phase, is either).
template <class M>
uint32_t Busy(const M& m) {
  return m.word().load() & ~internal::kRwPhase;
}
bool WriterWaits(const SharedMutex& m) {
  return (m.word().load() & internal::kRwWritersWaiting) != 0;
}

TEST(SharedMutexBasicTest, OneWordAndUncontendedOpsLeaveItIdle) {
  static_assert(sizeof(SharedMutex) == 4 && sizeof(ProcessSharedSharedMutex) == 4);
  SharedMutex m;
  m.lock();
  EXPECT_EQ(m.word().load(), internal::kRwWriter);
  m.unlock();
  EXPECT_EQ(Busy(m), 0u);
  m.lock_shared();
  m.lock_shared();
  EXPECT_EQ(Readers(m), 2u);
  m.unlock_shared();
  m.unlock_shared();
  EXPECT_EQ(Busy(m), 0u);
}

// After an odd number of hand-offs the idle word is P, not 0: uncontended
// lock / unlock and lock_shared / unlock_shared keep P (the word goes
// exactly P -> P|X -> P). (That the fast paths, not the slow ones, run here
// is a speed property: not observable in a test.)
TEST(SharedMutexBasicTest, UncontendedOpsKeepThePhase) {
  SharedMutex m;
  internal::WordAccess::Of(m).store(internal::kRwPhase);
  m.lock();
  EXPECT_EQ(m.word().load(), internal::kRwPhase | internal::kRwWriter);
  m.unlock();
  EXPECT_EQ(m.word().load(), internal::kRwPhase);
  m.lock_shared();
  EXPECT_EQ(m.word().load(), internal::kRwPhase | internal::kRwReaderOne);
  m.unlock_shared();
  EXPECT_EQ(m.word().load(), internal::kRwPhase);
}

TEST(SharedMutexBasicTest, TryFormsFailWhileTheOtherSideHolds) {
  SharedMutex m;
  ASSERT_TRUE(m.try_lock());
  EXPECT_FALSE(m.try_lock());
  EXPECT_FALSE(m.try_lock_shared());
  m.unlock();
  ASSERT_TRUE(m.try_lock_shared());
  EXPECT_TRUE(m.try_lock_shared());  // shared owners coexist
  EXPECT_FALSE(m.try_lock());
  EXPECT_EQ(Readers(m), 2u);
  m.unlock_shared();
  m.unlock_shared();
  EXPECT_EQ(Busy(m), 0u);
}

TEST(SharedMutexBasicTest, StdGuardsWork) {
  SharedMutex m;
  {
    std::unique_lock<SharedMutex> w(m);
    EXPECT_TRUE(w.owns_lock());
    std::shared_lock<SharedMutex> r(m, std::try_to_lock);
    EXPECT_FALSE(r.owns_lock());
  }
  {
    std::shared_lock<SharedMutex> r1(m);
    std::shared_lock<SharedMutex> r2(m, milliseconds(1));
    EXPECT_TRUE(r2.owns_lock());
    std::unique_lock<SharedMutex> w(m, milliseconds(1));
    EXPECT_FALSE(w.owns_lock());
  }
  std::unique_lock<SharedMutex> w(m, std::chrono::steady_clock::now() + milliseconds(1));
  EXPECT_TRUE(w.owns_lock());
  w.unlock();
  EXPECT_EQ(Busy(m), 0u);
}

class SharedMutexTest : public testing::WaiterModeTest {};

TEST_P(SharedMutexTest, ExclusiveOwnerExcludesBothAndTimedFormsGiveUp) {
  HangWatchdog dog("ExclusiveOwnerExcludesBothAndTimedFormsGiveUp");
  SharedMutex m;
  m.lock();
  std::thread t = Start([&] {
    auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(m.try_lock_for(milliseconds(30)));
    EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(30));
    start = std::chrono::steady_clock::now();
    EXPECT_FALSE(m.try_lock_shared_for(milliseconds(30)));
    EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(30));
    EXPECT_FALSE(m.try_lock_shared_until(std::chrono::steady_clock::now() + milliseconds(5)));
  });
  t.join();
  // A writer that gave up may leave WW (conservative): unlock clears it.
  EXPECT_EQ(Busy(m) & ~internal::kRwWritersWaiting, internal::kRwWriter);
  m.unlock();
  EXPECT_EQ(Busy(m), 0u);
}

TEST_P(SharedMutexTest, SharedOwnersExcludeAWriterWhoseTimedLockGivesUp) {
  HangWatchdog dog("SharedOwnersExcludeAWriterWhoseTimedLockGivesUp");
  SharedMutex m;
  m.lock_shared();
  std::thread t = Start([&] {
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(m.try_lock_until(std::chrono::steady_clock::now() + milliseconds(30)));
    EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(30));
  });
  t.join();
  m.unlock_shared();
  EXPECT_EQ(Busy(m), 0u);
}

TEST_P(SharedMutexTest, ManySharedOwnersAtOnce) {
  HangWatchdog dog("ManySharedOwnersAtOnce");
  constexpr int kReaders = 4;
  SharedMutex m;
  Latch all_in(kReaders);
  std::atomic<int> inside{0}, max_inside{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < kReaders; ++i) {
    ts.push_back(Start([&] {
      std::shared_lock<SharedMutex> r(m);
      const int n = ++inside;
      int seen = max_inside.load();
      while (n > seen && !max_inside.compare_exchange_weak(seen, n)) {
      }
      all_in.arrive_and_wait();  // every reader holds at this point
      --inside;
    }));
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(max_inside.load(), kReaders);
  EXPECT_EQ(Busy(m), 0u);
}

// Policy: a writer waiting stops new readers; the writer gets the lock once
// the readers that hold it leave.
TEST_P(SharedMutexTest, WithAWriterWaitingANewReaderWaits) {
  HangWatchdog dog("WithAWriterWaitingANewReaderWaits");
  SharedMutex m;
  m.lock_shared();
  std::atomic<int> order{0};
  int writer_at = -1, reader_at = -1;
  std::thread w = Start([&] {
    m.lock();
    writer_at = order++;
    m.unlock();
  });
  ASSERT_TRUE(Eventually([&] { return WriterWaits(m); }));
  EXPECT_FALSE(m.try_lock_shared());
  EXPECT_FALSE(m.try_lock_shared_for(milliseconds(10)));
  std::thread r = Start([&] {
    m.lock_shared();
    reader_at = order++;
    m.unlock_shared();
  });
  ASSERT_TRUE(Eventually([&] { return WaitingReaders(m) == 1; }));
  // A writer still on its way to sleep when the wake comes counts as gone
  // (the wake finds nobody and the readers go first): let it fall asleep.
  std::this_thread::sleep_for(milliseconds(50));
  m.unlock_shared();  // the last reader out: the writer first, then the new reader
  w.join();
  r.join();
  EXPECT_EQ(writer_at, 0);
  EXPECT_EQ(reader_at, 1);
  EXPECT_EQ(Busy(m), 0u);
}

// Policy: a writer's unlock hands the lock to every waiting reader in one
// step, before a writer that waits too.
TEST_P(SharedMutexTest, WriterUnlockLetsAllWaitingReadersInTogether) {
  HangWatchdog dog("WriterUnlockLetsAllWaitingReadersInTogether");
  constexpr int kReaders = 3;
  SharedMutex m;
  m.lock();
  std::atomic<int> readers_in{0};
  std::atomic<bool> writer_in{false};
  Latch release_readers(1);
  std::vector<std::thread> ts;
  for (int i = 0; i < kReaders; ++i) {
    ts.push_back(Start([&] {
      m.lock_shared();
      ++readers_in;
      EXPECT_FALSE(writer_in.load());
      release_readers.wait();
      m.unlock_shared();
    }));
  }
  ASSERT_TRUE(Eventually([&] { return WaitingReaders(m) == kReaders; }));
  std::thread w = Start([&] {
    m.lock();
    writer_in = true;
    EXPECT_EQ(readers_in.load(), kReaders);
    m.unlock();
  });
  ASSERT_TRUE(Eventually([&] { return WriterWaits(m); }));
  m.unlock();
  // The hand-off is the unlock itself: exactly kReaders holders, none waiting.
  EXPECT_EQ(Readers(m), static_cast<uint32_t>(kReaders));
  EXPECT_EQ(WaitingReaders(m), 0u);
  ASSERT_TRUE(Eventually([&] { return readers_in.load() == kReaders; }));
  std::this_thread::sleep_for(milliseconds(5));
  EXPECT_FALSE(writer_in.load());
  release_readers.count_down();
  for (auto& t : ts) t.join();
  w.join();
  EXPECT_TRUE(writer_in.load());
  EXPECT_EQ(Busy(m), 0u);
}

// Neither side starves the other: two readers whose holds overlap forever
// would starve a writer under reader preference; a writer stream would
// starve readers under writer preference.
TEST_P(SharedMutexTest, NeitherSideStarves) {
  HangWatchdog dog("NeitherSideStarves");
  SharedMutex m;
  std::atomic<bool> stop{false};
  std::atomic<int> writes{0}, reads{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < 2; ++i) {
    ts.push_back(Start([&] {
      while (!stop.load()) {
        std::shared_lock<SharedMutex> r(m);
        ++reads;
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    }));
    ts.push_back(Start([&] {
      while (!stop.load()) {
        std::unique_lock<SharedMutex> w(m);
        ++writes;
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    }));
  }
  EXPECT_TRUE(Eventually([&] { return writes.load() >= 20 && reads.load() >= 20; }));
  stop = true;
  for (auto& t : ts) t.join();
  EXPECT_EQ(Busy(m), 0u);
}

TEST_P(SharedMutexTest, StressReadersSeeConsistentPairsAndWritesAreExact) {
  HangWatchdog dog("StressReadersSeeConsistentPairsAndWritesAreExact");
  constexpr int kThreads = 4, kIters = 3000;
  SharedMutex m;
  long a = 0, b = 0;  // guarded: writers keep a == b
  std::atomic<int> bad{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < kThreads; ++i) {
    ts.push_back(Start([&, i] {
      for (int k = 0; k < kIters; ++k) {
        if ((k + i) % 4 == 0) {
          if (k % 3 == 0) {
            while (!m.try_lock_for(milliseconds(1))) {
            }
          } else {
            m.lock();
          }
          ++a;
          ++b;
          m.unlock();
        } else {
          if (k % 5 == 0) {
            while (!m.try_lock_shared_for(std::chrono::microseconds(50))) {
            }
          } else {
            m.lock_shared();
          }
          if (a != b) ++bad;
          m.unlock_shared();
        }
      }
    }));
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(bad.load(), 0);
  long expected = 0;
  for (int i = 0; i < kThreads; ++i)
    for (int k = 0; k < kIters; ++k) expected += ((k + i) % 4 == 0);
  EXPECT_EQ(a, expected);
  EXPECT_EQ(Busy(m), 0u);
}

TEST_P(SharedMutexTest, WaitAnyLocksAndLocksShared) {
  HangWatchdog dog("WaitAnyLocksAndLocksShared");
  SharedMutex m, n;
  m.lock();
  n.lock();
  std::thread t = Start([&] {
    EXPECT_EQ(WaitAny({Lock(m), LockShared(n)}), 1);
    EXPECT_EQ(Readers(n), 1u);
    n.unlock_shared();
    EXPECT_EQ(WaitAny({LockShared(n), Lock(m)}, Deadline::AfterDuration(milliseconds(5))), 0);
    n.unlock_shared();
    EXPECT_EQ(WaitAny({Lock(m)}, Deadline::AfterDuration(milliseconds(5))), -1);
  });
  ASSERT_TRUE(Eventually([&] { return WaitingReaders(n) == 1; }));
  n.unlock();
  t.join();
  // The writers that left may leave WW set on the held word; unlock clears it.
  EXPECT_EQ(Busy(m) & ~internal::kRwWritersWaiting, internal::kRwWriter);
  m.unlock();
  EXPECT_EQ(Busy(m), 0u);
  EXPECT_EQ(Busy(n), 0u);
}

INSTANTIATE_TEST_SUITE_P(AllModes, SharedMutexTest, ::testing::ValuesIn(testing::AllWaiterModes()),
                         testing::WaiterModeName);

class SharedMutexAsyncTest : public testing::LoopModeTest {};

TEST_P(SharedMutexAsyncTest, CoroutinesTakeBothSidesAndTimedFormsReport) {
  HangWatchdog dog("SharedMutexAsyncTest");
  auto loop = MakeLoop();
  ASSERT_NE(loop, nullptr);
  SharedMutex m;
  Latch held(1), release(1);
  // TSAN builds expect the thread that locked to unlock: a holder thread.
  std::thread holder([&] {
    m.lock();
    held.count_down();
    release.wait();
    std::this_thread::sleep_for(milliseconds(10));
    m.unlock();
  });
  held.wait();
  auto timed_w = [&]() -> Task<absl::Status> {
    auto g = co_await m.lock_async_for(*loop, milliseconds(20));
    co_return g.status();
  };
  auto timed_r = [&]() -> Task<absl::Status> {
    auto g = co_await m.lock_shared_async_for(*loop, milliseconds(20));
    co_return g.status();
  };
  absl::Status s = loop->RunUntilComplete(timed_w());
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_NE(s.message().find("ringlock::SharedMutex"), std::string::npos) << s;
  s = loop->RunUntilComplete(timed_r());
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_EQ(Busy(m) & ~internal::kRwWritersWaiting, internal::kRwWriter);
  release.count_down();
  auto reader = [&]() -> Task<uint32_t> {
    std::shared_lock<SharedMutex> r = co_await m.lock_shared_async(*loop);
    co_return Readers(m);
  };
  EXPECT_EQ(loop->RunUntilComplete(reader()), 1u);
  holder.join();
  auto writer = [&]() -> Task<bool> {
    std::unique_lock<SharedMutex> g = co_await m.lock_async(*loop);
    co_return g.owns_lock() && Busy(m) == internal::kRwWriter;
  };
  EXPECT_TRUE(loop->RunUntilComplete(writer()));
  auto both = [&]() -> Task<bool> {
    auto r = co_await m.lock_shared_async_until(*loop, Deadline::Never());
    if (!r.ok()) co_return false;
    r->unlock();
    auto w = co_await m.lock_async_until(*loop, Deadline::Never());
    co_return w.ok() && w->owns_lock();
  };
  EXPECT_TRUE(loop->RunUntilComplete(both()));
  EXPECT_EQ(Busy(m), 0u);
}

// A coroutine destroyed while it waits leaves nothing behind, and a hand-off
// already made to it is released (here: the waiting writer gets the lock).
TEST_P(SharedMutexAsyncTest, DestroyedWaitingReaderReleasesItsHandOff) {
  HangWatchdog dog("DestroyedWaitingReaderReleasesItsHandOff");
  auto loop = MakeLoop();
  ASSERT_NE(loop, nullptr);
  SharedMutex m;
  m.lock();
  auto waiter = [&]() -> Task<void> { auto g = co_await m.lock_shared_async(*loop); };
  Task<void> task = waiter();
  task.handle().resume();  // registers: Nr=1
  loop->Poll();
  EXPECT_EQ(WaitingReaders(m), 1u);
  std::this_thread::sleep_for(milliseconds(20));  // let a fallback helper arm it
  std::atomic<bool> writer_got{false};
  std::thread t([&] {
    m.lock();
    writer_got = true;
    m.unlock();
  });
  ASSERT_TRUE(Eventually([&] { return WriterWaits(m); }));
  m.unlock();  // hands the lock to the coroutine: R=1
  EXPECT_EQ(Readers(m), 1u);
  task = Task<void>();  // destroyed before its completion runs
  ASSERT_TRUE(Eventually([&] {
    loop->Poll();  // the orphaned completion runs Leave(): releases the hand-off
    return writer_got.load();
  }));
  t.join();
  loop->RunUntil([&] { return loop->in_flight() == 0; });
  EXPECT_EQ(Busy(m), 0u);
}

TEST_P(SharedMutexAsyncTest, DestroyedWaitingWriterLeavesNoTrace) {
  HangWatchdog dog("DestroyedWaitingWriterLeavesNoTrace");
  auto loop = MakeLoop();
  ASSERT_NE(loop, nullptr);
  SharedMutex m;
  m.lock_shared();
  auto waiter = [&]() -> Task<void> { auto g = co_await m.lock_async(*loop); };
  Task<void> task = waiter();
  task.handle().resume();
  loop->Poll();
  EXPECT_TRUE(WriterWaits(m));
  task = Task<void>();
  loop->RunUntil([&] { return loop->in_flight() == 0; });
  m.unlock_shared();  // its writer wake finds nobody and clears WW, or (ring
                      // fallback) is spent on the helper's stale wait
  m.lock_shared();    // a reader at a free word with WW resends it: never hangs
  m.unlock_shared();
  EXPECT_EQ(Busy(m), 0u);
}

INSTANTIATE_TEST_SUITE_P(AllLoops, SharedMutexAsyncTest,
                         ::testing::ValuesIn(testing::AllLoopModes()), testing::LoopModeName);

TEST(SharedMutexProcessSharedTest, WritersInChildrenReaderInParent) {
  HangWatchdog dog("SharedMutexProcessSharedTest");
  constexpr int kChildren = 3, kIters = 2000;
  struct Shared {
    ProcessSharedSharedMutex m;
    ProcessSharedLatch gate{1};  // children start writing once it opens
    long a, b;
  };
  void* p = mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                 -1, 0);
  ASSERT_NE(p, MAP_FAILED);
  auto* s = new (p) Shared{};
  pid_t pids[kChildren];
  for (int i = 0; i < kChildren; ++i) {
    pids[i] = fork();
    if (pids[i] == 0) {
      s->gate.wait();
      for (int k = 0; k < kIters; ++k) {
        s->m.lock();
        ++s->a;
        ++s->b;
        s->m.unlock();
      }
      _exit(0);
    }
  }
  // Taken after fork(): a lock held across fork() stays held in the child.
  s->m.lock_shared();  // the children's writers wait on the parent's hold
  s->gate.count_down();
  ASSERT_TRUE(Eventually([&] {
    return (s->m.word().load() & internal::kRwWritersWaiting) != 0;
  }));
  EXPECT_EQ(s->a, 0);
  s->m.unlock_shared();
  int bad = 0;
  for (int k = 0; k < kIters; ++k) {
    std::shared_lock<ProcessSharedSharedMutex> r(s->m);
    if (s->a != s->b) ++bad;
  }
  for (pid_t pid : pids) {
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(s->a, long{kChildren} * kIters);
  EXPECT_EQ(Busy(s->m), 0u);
  s->~Shared();
  munmap(p, sizeof(Shared));
}

#ifndef NDEBUG
TEST(SharedMutexDeathTest, MisuseAbortsNamingSharedMutex) {
  EXPECT_DEATH(
      {
        SharedMutex m;
        m.unlock();
      },
      "ringlock::SharedMutex.*unlock\\(\\) of a shared mutex no writer holds");
  EXPECT_DEATH(
      {
        SharedMutex m;
        m.unlock_shared();
      },
      "ringlock::SharedMutex.*unlock_shared\\(\\) with no reader");
  EXPECT_DEATH(
      {
        SharedMutex m;
        m.lock_shared();
        m.unlock();
      },
      "ringlock::SharedMutex.*no writer holds");
  EXPECT_DEATH(
      {
        auto* m = new SharedMutex;
        m->lock_shared();
        delete m;
      },
      "ringlock::SharedMutex.*destroyed while held");
}
#endif

TEST(SharedMutexLimitTest, TooManyReadersAbortInEveryBuild) {
  EXPECT_DEATH(
      {
        SharedMutex m;
        internal::WordAccess::Of(m).store(internal::kRwReaderMask);
        m.lock_shared();
      },
      "ringlock::SharedMutex.*more than 65535 readers hold");
  EXPECT_DEATH(
      {
        SharedMutex m;
        internal::WordAccess::Of(m).store(internal::kRwWriter | internal::kRwWaiterMask);
        m.lock_shared();
      },
      "ringlock::SharedMutex.*more than 8191 readers wait");
}

TEST(SharedMutexLimitTest, TimedAsyncReaderIsRefusedWhenTheWaiterCountIsFull) {
  auto loop = testing::MakeLoop(testing::LoopKind::kNative);
  ASSERT_NE(loop, nullptr);
  SharedMutex m;
  internal::WordAccess::Of(m).store(internal::kRwWriter | internal::kRwWaiterMask);
  auto timed = [&]() -> Task<absl::Status> {
    auto g = co_await m.lock_shared_async_for(*loop, milliseconds(20));
    co_return g.status();
  };
  const absl::Status s = loop->RunUntilComplete(timed());
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_EQ(m.word().load(), internal::kRwWriter | internal::kRwWaiterMask);
  internal::WordAccess::Of(m).store(0);
}

}  // namespace
}  // namespace ringlock
