// Destroying a primitive while a waiter is still registered on it (here a
// coroutine armed on another thread's EventLoop) is misuse: in release builds
// the loop or the kernel later completes the wait on freed memory (a
// use-after-free); debug builds abort with a message naming the primitive.
// One death test per primitive, on every loop kind.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>

#include "gtest/gtest.h"
#include "locks/async.h"
#include "locks/condvar.h"
#include "locks/event.h"
#include "locks/mutex.h"
#include "locks/semaphore.h"
#include "tests/locks/waiter_modes.h"
#include "uring/event_loop.h"
#include "uring/task.h"

namespace ringlock {
namespace {

using uring::EventLoop;
using uring::Task;

// Starts a thread whose loop runs `waiter` until `armed()` holds, then parks
// with the wait still armed (the loop is never run again), and returns once
// that point is reached. The thread is left behind: the caller aborts.
template <class MakeWaiter, class Armed>
void ArmOnAnotherLoop(testing::LoopKind kind, MakeWaiter make_waiter, Armed armed) {
  std::atomic<bool> ready{false};
  std::thread([&, kind] {
    auto loop = testing::MakeLoop(kind);
    if (loop == nullptr) std::abort();
    loop->Spawn(make_waiter(*loop));
    loop->RunUntil(armed);
    ready.store(true);
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
  }).detach();
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!ready.load()) {
    if (std::chrono::steady_clock::now() > give_up) {
      std::fprintf(stderr, "watchdog: the waiter never armed\n");
      std::_Exit(1);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

class DestroyWithWaitersDeathTest : public testing::LoopModeTest {
 protected:
  void SetUp() override {
    if (!internal::kDebugChecks) GTEST_SKIP() << "debug builds only (release: undefined)";
  }
};

TEST_P(DestroyWithWaitersDeathTest, Mutex) {
  EXPECT_DEATH(
      {
        auto* mu = new Mutex;
        mu->lock();
        ArmOnAnotherLoop(
            GetParam(),
            [mu](EventLoop& loop) -> Task<void> { (void)co_await mu->lock_async(loop); },
            [mu] { return (mu->word().load() & Mutex::kWaiterMask) != 0; });
        delete mu;
      },
      "ringlock::Mutex: misuse: destroyed while locked or with waiters");
}

TEST_P(DestroyWithWaitersDeathTest, Semaphore) {
  EXPECT_DEATH(
      {
        auto* sem = new Semaphore(0);
        ArmOnAnotherLoop(
            GetParam(),
            [sem](EventLoop& loop) -> Task<void> { co_await sem->acquire_async(loop); },
            [sem] { return sem->word().load() >= internal::kSemWaiterOne; });
        delete sem;
      },
      "ringlock::Semaphore: misuse: destroyed with waiters");
}

TEST_P(DestroyWithWaitersDeathTest, Event) {
  EXPECT_DEATH(
      {
        auto* ev = new Event;
        ArmOnAnotherLoop(
            GetParam(), [ev](EventLoop& loop) -> Task<void> { co_await ev->wait_async(loop); },
            [ev] { return ev->word().load() >= internal::kEventWaiterOne; });
        delete ev;
      },
      "ringlock::Event: misuse: destroyed with waiters");
}

TEST_P(DestroyWithWaitersDeathTest, CondVar) {
  EXPECT_DEATH(
      {
        auto* cv = new CondVar;
        auto* mu = new Mutex;
        std::atomic<bool> waiting{false};
        ArmOnAnotherLoop(
            GetParam(),
            [cv, mu, &waiting](EventLoop& loop) -> Task<void> {
              std::unique_lock<Mutex> l = co_await mu->lock_async(loop);
              waiting.store(true);
              co_await cv->wait_async(l, loop);
            },
            [&waiting] { return waiting.load(); });
        // The destructor looks for sleepers with a futex wake: let a helper
        // thread (fallback, emulated loops) reach its sleep first.
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        delete cv;
      },
      "ringlock::CondVar: misuse: destroyed with waiters");
}

INSTANTIATE_TEST_SUITE_P(AllLoops, DestroyWithWaitersDeathTest,
                         ::testing::ValuesIn(testing::AllLoopModes()), testing::LoopModeName);

}  // namespace
}  // namespace ringlock
