// The ProcessShared* variants synchronize processes through a MAP_SHARED
// mapping (non-private futex keys on both sides).
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <new>

#include "gtest/gtest.h"
#include "locks/condvar.h"
#include "locks/event.h"
#include "locks/mutex.h"
#include "locks/semaphore.h"

namespace ringlock {
namespace {

struct Shared {
  ProcessSharedMutex mu;
  ProcessSharedCondVar cv;
  ProcessSharedSemaphore<> items{0};
  ProcessSharedEvent done{EventMode::kManualReset};
  int64_t counter = 0;
  int turn = 0;
};

class ProcessSharedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    void* p = mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                   -1, 0);
    ASSERT_NE(p, MAP_FAILED);
    shared_ = new (p) Shared;
  }
  void TearDown() override {
    shared_->~Shared();
    munmap(shared_, sizeof(Shared));
  }
  // Runs `body` in `n` child processes; returns how many exited 0.
  template <class F>
  int RunChildren(int n, F body) {
    pid_t pids[16];
    for (int i = 0; i < n; ++i) {
      pids[i] = fork();
      if (pids[i] == 0) {
        body(i);
        _exit(0);
      }
    }
    int ok = 0;
    for (int i = 0; i < n; ++i) {
      int status = 0;
      waitpid(pids[i], &status, 0);
      ok += WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    return ok;
  }
  Shared* shared_ = nullptr;
};

TEST_F(ProcessSharedTest, MutexExcludesAcrossProcesses) {
  constexpr int kProcs = 4, kIters = 20000;
  EXPECT_EQ(RunChildren(kProcs,
                        [&](int) {
                          for (int i = 0; i < kIters; ++i) {
                            shared_->mu.lock();
                            ++shared_->counter;
                            shared_->mu.unlock();
                          }
                        }),
            kProcs);
  EXPECT_EQ(shared_->counter, int64_t{kProcs} * kIters);
  EXPECT_EQ(shared_->mu.word().load(), 0u);
}

TEST_F(ProcessSharedTest, CondVarTurnsAcrossProcesses) {
  constexpr int kRounds = 500;
  EXPECT_EQ(RunChildren(2,
                        [&](int me) {
                          for (int r = 0; r < kRounds; ++r) {
                            shared_->mu.lock();
                            while (shared_->turn != me) shared_->cv.wait(shared_->mu);
                            shared_->turn = 1 - me;
                            ++shared_->counter;
                            shared_->mu.unlock();
                            shared_->cv.notify_all();
                          }
                        }),
            2);
  EXPECT_EQ(shared_->counter, 2 * kRounds);
}

TEST_F(ProcessSharedTest, SemaphoreAndEventAcrossProcesses) {
  constexpr int kItems = 2000;
  pid_t consumer = fork();
  if (consumer == 0) {
    for (int i = 0; i < kItems; ++i) shared_->items.acquire();
    shared_->done.set();
    _exit(0);
  }
  for (int i = 0; i < kItems; ++i) shared_->items.release();
  EXPECT_TRUE(shared_->done.wait_for(std::chrono::seconds(30)));
  int status = 0;
  waitpid(consumer, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(shared_->items.available(), 0u);
}

}  // namespace
}  // namespace ringlock
