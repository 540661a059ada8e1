// The buffer pool's deadlock (bench/buffer_pool/buffer_pool.h, "The deadlock
// demo"): with page reads through io_uring, a thread that waits for a page
// lock in futex(2) while its own read holds another page locked hangs with
// the other page's holder; waiting in the ring (ring-blocking or async)
// completes the same schedule. Each run is a forked child: the demo's
// watchdog reports a hang and exits kDeadlockExitCode, so nothing hangs here
// (the parent also kills a child that outlives a generous limit).
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "bench/buffer_pool/buffer_pool.h"
#include "gtest/gtest.h"
#include "tests/locks/waiter_modes.h"

namespace ringlock::buffer_pool {
namespace {

using ringlock::testing::LoopKind;

// The child's exit status; -1 if it had to be killed.
int RunInChild(DemoMode mode, LoopKind loop) {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string t = std::string(base ? base : "/tmp") + "/deadlock.XXXXXX";
  std::vector<char> buf(t.begin(), t.end());
  buf.push_back(0);
  if (mkdtemp(buf.data()) == nullptr) return -2;
  const std::string dir = buf.data(), data = dir + "/data.db";
  if (!CreateDataFile(data, 8).ok()) return -2;
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid == 0) _exit(RunDeadlockDemo(mode, dir, data, /*watchdog_ms=*/1500, ringlock::testing::LoopOptions(loop)));
  int status = 0, code = -1;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < give_up) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (code == -1) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  unlink(data.c_str());
  unlink((dir + "/wal.log").c_str());
  rmdir(dir.c_str());
  return code;
}

TEST(BufferPoolDeadlockTest, StdMutexWithIoUringReadsHangsAndTheWatchdogReportsIt) {
  EXPECT_EQ(RunInChild(DemoMode::kStdMutex, LoopKind::kNative), kDeadlockExitCode);
}

TEST(BufferPoolDeadlockTest, RinglockMutexInFutexHangsAndTheWatchdogReportsIt) {
  EXPECT_EQ(RunInChild(DemoMode::kFutex, LoopKind::kNative), kDeadlockExitCode);
}

class RingModes : public ::testing::TestWithParam<LoopKind> {};

TEST_P(RingModes, RingBlockingWaitsCompleteTheSameSchedule) {
  EXPECT_EQ(RunInChild(DemoMode::kRingBlocking, GetParam()), 0);
}

TEST_P(RingModes, AsyncWaitsCompleteTheSameSchedule) {
  EXPECT_EQ(RunInChild(DemoMode::kAsync, GetParam()), 0);
}

INSTANTIATE_TEST_SUITE_P(Loops, RingModes,
                         ::testing::Values(LoopKind::kNative, LoopKind::kFallback,
                                           LoopKind::kEmulated),
                         [](const ::testing::TestParamInfo<LoopKind>& i) {
                           return i.param == LoopKind::kNative     ? "native"
                                  : i.param == LoopKind::kFallback ? "fallback"
                                                                   : "emulated";
                         });

}  // namespace
}  // namespace ringlock::buffer_pool
