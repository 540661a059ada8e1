// The deadlock that motivated io_uring futex waits (see the project's seed:
// "If the initiator of IO A needs to wait for a held lock B, the holder of
// lock B might wait for the IO A to complete"):
//
//   T1 holds lock B and waits until I/O A is done.
//   T2's event loop issued I/O A; A counts as done when T2 reaps its
//   completion. T2 then needs lock B (a std::lock_guard deep in its code).
//
// With std::mutex, T2 sleeps in the kernel and never reaps A: deadlock.
// With ringlock::Mutex, T2's lock() waits in its ring, reaps A while it
// waits, T1 proceeds and releases B, and T2 gets it.
//
// Each scenario runs in a child process so the std::mutex one can be shown
// to hang (and then be killed) without hanging the test.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <thread>

#include "gtest/gtest.h"
#include "locks/event.h"
#include "locks/mutex.h"
#include "locks/ring_wait_backend.h"
#include "uring/event_loop.h"
#include "uring/operation.h"

namespace ringlock {
namespace {

// Sets `done` when the loop dispatches the read's completion.
struct ReadA final : uring::Operation {
  Event* done;
  char byte = 0;
  void Complete(int32_t res) override {
    if (res == 1) done->set();
  }
};

template <class LockB>
void RunScenario() {
  LockB b;
  Event b_held, a_done;
  int fds[2];
  if (pipe(fds) != 0) _exit(3);
  std::thread t1([&] {
    std::lock_guard<LockB> hold(b);
    b_held.set();
    a_done.wait();  // for I/O A, which T2's loop completes
  });
  std::thread t2([&] {
    auto loop = uring::EventLoop::Create();
    if (!loop.ok()) _exit(4);
    ReadA a;
    a.done = &a_done;
    (*loop)->StartOperation(&a, [&](io_uring_sqe* sqe) { io_uring_prep_read(sqe, fds[0], &a.byte, 1, 0); });
    (*loop)->FlushWakes();  // submits A
    {
      ScopedFutexBlocking plain;  // wait for T1 without dispatching A early
      b_held.wait();
    }
    if (write(fds[1], "A", 1) != 1) _exit(5);  // A completes in the kernel
    std::lock_guard<LockB> need(b);             // T2 needs B
    (*loop)->RunUntil([&] { return !a.in_flight(); });
  });
  t1.join();
  t2.join();
  _exit(0);
}

// Runs the scenario in a child; true if it finished within `limit`.
template <class LockB>
bool FinishesWithin(std::chrono::milliseconds limit, int* exit_code) {
  const pid_t pid = fork();
  if (pid == 0) RunScenario<LockB>();
  const auto give_up = std::chrono::steady_clock::now() + limit;
  int status = 0;
  while (std::chrono::steady_clock::now() < give_up) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return false;
}

TEST(SeedDeadlockTest, StdMutexDeadlocks) {
  int code = -1;
  EXPECT_FALSE(FinishesWithin<std::mutex>(std::chrono::milliseconds(1500), &code))
      << "expected the std::mutex version to hang; it exited with " << code;
}

TEST(SeedDeadlockTest, RinglockMutexCompletesTheIoWhileWaiting) {
  int code = -1;
  ASSERT_TRUE(FinishesWithin<Mutex>(std::chrono::seconds(60), &code))
      << "ringlock::Mutex deadlocked like std::mutex";
  EXPECT_EQ(code, 0);
}

}  // namespace
}  // namespace ringlock
