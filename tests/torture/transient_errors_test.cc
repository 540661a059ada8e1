// Transient kernel errors on futex waits are retried, never fatal.
//
// The kernel allocates per-wait state for io_uring FUTEX_WAIT / FUTEX_WAITV
// and for futex_waitv(2), and reports -ENOMEM when it cannot (GFP_NOWAIT for
// io_uring's futex data: memory pressure, not a caller's mistake). ringlock
// used to abort on it ("futex wait through the event loop failed: Cannot
// allocate memory", "futex_waitv failed"), and the futex_waitv(2) helper of
// fallback loops failed every pending wait with it. A waiter re-checks its
// word after any return, so the fix treats -ENOMEM like -EINTR: a spurious
// return, and the wait is armed again.
//
// The errors are injected through uring/fault_hooks.h and
// futex::SetSyscallFaultHook. Each test has a watchdog (alarm) so a hang
// fails instead of stalling CI.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "locks/async.h"
#include "locks/event.h"
#include "locks/mutex.h"
#include "locks/semaphore.h"
#include "locks/wait_any.h"
#include "tests/locks/waiter_modes.h"
#include "uring/event_loop.h"
#include "uring/fault_hooks.h"
#include "uring/sys/futex.h"
#include "uring/task.h"

namespace ringlock {
namespace {

using std::chrono::milliseconds;
using uring::EventLoop;
using uring::Task;

// Faults still to inject; each hook call that injects counts one down.
std::atomic<int> g_budget{0};
std::atomic<int> g_injected{0};

bool TakeOne() {
  int b = g_budget.load();
  while (b > 0) {
    if (g_budget.compare_exchange_weak(b, b - 1)) {
      g_injected.fetch_add(1);
      return true;
    }
  }
  return false;
}

int32_t EnomemResult(int32_t res) { return TakeOne() ? -ENOMEM : res; }
int EnomemWaitv(futex::SyscallKind kind) {
  return kind == futex::SyscallKind::kWaitv && TakeOne() ? ENOMEM : 0;
}

void OnAlarm(int) {
  static const char kMsg[] = "transient_errors_test: watchdog: a wait hung (20 s)\n";
  (void)!write(2, kMsg, sizeof(kMsg) - 1);
  _exit(1);
}

class Injection {
 public:
  explicit Injection(int budget) {
    g_budget = budget;
    g_injected = 0;
    signal(SIGALRM, &OnAlarm);
    alarm(20);
  }
  ~Injection() {
    alarm(0);
    uring::fault::SetFutexWaitResultHook(nullptr);
    futex::SetSyscallFaultHook(nullptr);
    g_budget = 0;
  }
};

// Holds `mu` until `waiting` parked waiters are registered on its word
// (the waiter bits), then a little longer, then unlocks.
void UnlockWhenWaited(Mutex& mu) {
  while ((mu.word().load() & ~1u) == 0) std::this_thread::sleep_for(milliseconds(1));
  std::this_thread::sleep_for(milliseconds(20));
  mu.unlock();
}

class RingFutexWaitEnomemTest : public testing::LoopModeTest {};

// A ring-blocking lock() and a coroutine's lock_async() whose futex wait
// completions come back -ENOMEM (five of them): both still get the lock.
TEST_P(RingFutexWaitEnomemTest, RingFutexWaitEnomemIsRetriedNotFatal) {
  Injection inj(5);
  uring::fault::SetFutexWaitResultHook(&EnomemResult);
  Mutex mu;
  mu.lock();
  int64_t counter = 0;
  std::thread waiter([&] {
    auto loop = MakeLoop();
    ASSERT_NE(loop, nullptr);
    loop->Spawn([](EventLoop& l, Mutex& m, int64_t& c) -> Task<void> {
      for (int i = 0; i < 20; ++i) {
        auto g = co_await m.lock_async(l);
        ++c;
      }
    }(*loop, mu, counter));
    loop->Poll();
    for (int i = 0; i < 20; ++i) {
      std::lock_guard<Mutex> g(mu);  // ring-blocking: dispatches the coroutine too
      ++counter;
    }
    loop->Stop();
    loop->Run();
  });
  std::thread other([&] {
    for (int i = 0; i < 200; ++i) {
      std::lock_guard<Mutex> g(mu);
      ++counter;
    }
  });
  UnlockWhenWaited(mu);
  waiter.join();
  other.join();
  EXPECT_EQ(counter, 240);
  EXPECT_EQ(mu.word().load(), 0u);
  EXPECT_GT(g_injected.load(), 0);
}

// The same through a Semaphore and WaitAnyAsync (FUTEX_WAITV).
TEST_P(RingFutexWaitEnomemTest, RingFutexWaitvEnomemIsRetriedNotFatal) {
  Injection inj(3);
  uring::fault::SetFutexWaitResultHook(&EnomemResult);
  Semaphore sem{0};
  Event ev{EventMode::kAutoReset};
  int got = -2;
  std::thread waiter([&] {
    auto loop = MakeLoop();
    ASSERT_NE(loop, nullptr);
    got = loop->RunUntilComplete([](EventLoop& l, Semaphore& s, Event& e) -> Task<int> {
      std::vector<Waitable> w{Acquire(s), Take(e)};
      absl::StatusOr<int> r = co_await WaitAnyAsync(l, w);
      co_return r.ok() ? *r : -3;
    }(*loop, sem, ev));
  });
  // Registered (the event's waiter count), then set: the wake's completion
  // comes back -ENOMEM.
  while (ev.word().load() < 4) std::this_thread::sleep_for(milliseconds(1));
  ev.set();
  waiter.join();
  EXPECT_EQ(got, 1);
  EXPECT_FALSE(ev.is_set());
  EXPECT_EQ(sem.word().load(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Loops, RingFutexWaitEnomemTest,
                         ::testing::ValuesIn(testing::AllLoopModes()), testing::LoopModeName);

// futex_waitv(2) failing with ENOMEM under a blocking WaitAny (no loop).
TEST(TransientErrorsTest, FutexWaitvSyscallEnomemIsRetriedNotFatal) {
  Injection inj(3);
  futex::SetSyscallFaultHook(&EnomemWaitv);
  Mutex mu;
  Event ev;
  mu.lock();
  int got = -2;
  std::thread waiter([&] {
    got = WaitAny({Lock(mu), Take(ev)});
    if (got == 0) mu.unlock();
  });
  UnlockWhenWaited(mu);
  waiter.join();
  EXPECT_EQ(got, 0);
  EXPECT_EQ(mu.word().load(), 0u);
  EXPECT_EQ(g_injected.load(), 3);
}

// The fallback loops' futex_waitv(2) helper thread getting ENOMEM: it used
// to fail every pending wait with -ENOMEM (and the lock layer aborted).
TEST(TransientErrorsTest, FallbackHelperFutexWaitvEnomemIsRetriedNotFatal) {
  for (testing::LoopKind kind : {testing::LoopKind::kFallback, testing::LoopKind::kEmulated}) {
    SCOPED_TRACE(kind == testing::LoopKind::kFallback ? "fallback" : "emulated");
    Injection inj(0);
    futex::SetSyscallFaultHook(&EnomemWaitv);
    Mutex mu;
    Event ev;
    mu.lock();
    std::atomic<EventLoop*> loop_ptr{nullptr};
    int done = 0;
    std::thread waiter([&] {
      auto loop = testing::MakeLoop(kind);
      ASSERT_NE(loop, nullptr);
      loop->Spawn([](EventLoop& l, Mutex& m, int& d) -> Task<void> {
        auto g = co_await m.lock_async(l);
        d += g.owns_lock();
      }(*loop, mu, done));
      loop_ptr = loop.get();
      loop->RunUntil([&] { return done == 2; });
      loop_ptr = nullptr;
    });
    // The helper sleeps on the Mutex word; arm the faults, then make it
    // rebuild its set (a second wait): its next futex_waitv(2) calls fail.
    while ((mu.word().load() & ~1u) == 0) std::this_thread::sleep_for(milliseconds(1));
    g_budget = 3;
    loop_ptr.load()->Post([&] {
      loop_ptr.load()->Spawn([](EventLoop& l, Event& e, int& d) -> Task<void> {
        co_await e.wait_async(l);
        ++d;
      }(*loop_ptr.load(), ev, done));
    });
    while (g_budget.load() > 0) std::this_thread::sleep_for(milliseconds(1));
    std::this_thread::sleep_for(milliseconds(20));
    mu.unlock();
    ev.set();
    waiter.join();
    EXPECT_EQ(done, 2);
    EXPECT_EQ(mu.word().load(), 0u);
    EXPECT_EQ(g_injected.load(), 3);
  }
}

}  // namespace
}  // namespace ringlock
