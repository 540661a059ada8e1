// Regression test for the Linux >= 6.16 private futex hash bug: a PRIVATE
// IORING_OP_FUTEX_WAIT armed while the process is still single-threaded is
// lost when the process creates its first thread (the waker's wake finds no
// waiter and the CQE never arrives). ringlock's async waits must survive it:
// here a coroutine waits for an Event in a fresh single-threaded process,
// then the process's first thread sets the event.
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "gtest/gtest.h"
#include "locks/async.h"
#include "locks/event.h"
#include "locks/semaphore.h"
#include "uring/event_loop.h"
#include "uring/task.h"

namespace ringlock {
namespace {

uring::Task<void> WaitFor(Event& ev, uring::EventLoop& loop, bool& done) {
  co_await ev.wait_async(loop);
  done = true;
}

uring::Task<void> AcquireThenFlag(Semaphore& sem, uring::EventLoop& loop, bool& done) {
  co_await sem.acquire_async(loop);
  done = true;
}

// In a forked child (single-threaded): arm the async wait, then create the
// process's first thread, which wakes it.
template <class Arm, class Wake>
int ChildScenario(Arm arm, Wake wake) {
  auto loop = uring::EventLoop::Create();
  if (!loop.ok()) return 2;
  bool done = false;
  uring::Task<void> task = arm(**loop, done);
  task.handle().resume();
  (*loop)->Poll();  // submitted and armed
  std::thread first_thread(wake);
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done && std::chrono::steady_clock::now() < give_up) {
    (*loop)->Poll();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  first_thread.join();
  return done ? 0 : 1;
}

int RunInFreshProcess(int (*scenario)()) {
  const pid_t pid = fork();
  if (pid == 0) _exit(scenario());
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(FutexHashBug616Test, EventWaitArmedBeforeFirstThreadIsWoken) {
  EXPECT_EQ(RunInFreshProcess([] {
              static Event ev;
              return ChildScenario([](uring::EventLoop& l, bool& d) { return WaitFor(ev, l, d); },
                                   [] { ev.set(); });
            }),
            0);
}

TEST(FutexHashBug616Test, SemaphoreWaitArmedBeforeFirstThreadIsWoken) {
  EXPECT_EQ(RunInFreshProcess([] {
              static Semaphore sem(0);
              return ChildScenario(
                  [](uring::EventLoop& l, bool& d) { return AcquireThenFlag(sem, l, d); },
                  [] { sem.release(); });
            }),
            0);
}

}  // namespace
}  // namespace ringlock
