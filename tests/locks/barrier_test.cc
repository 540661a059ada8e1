// ringlock::Barrier against std::barrier's requirements ([thread.barrier]):
// a phase completes when the expected count of arrivals is reached; the
// completion function runs once per phase, after the phase's last arrival and
// before any wait of that phase returns; arrive(n) counts n; arrive_and_drop
// lowers the expected count of the following phases; wait(token) returns
// once the token's phase completed. Every kind of waiter: futex(2),
// ring-blocking, coroutines.
#include "locks/barrier.h"
#include "locks/async.h"

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <new>
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
using uring::EventLoop;
using uring::Task;

struct CountCompletions {
  std::atomic<int>* count;
  void operator()() noexcept { count->fetch_add(1); }
};

TEST(BarrierBasicTest, SizeAndMax) {
  static_assert(sizeof(Barrier<>) == 4 && sizeof(ProcessSharedBarrier<>) == 4);
  EXPECT_EQ(Barrier<>::max(), 16383);
}

// One thread, arrive(n): the phase completes at the count, runs the
// completion once, and a token of the completed phase waits no more.
TEST(BarrierBasicTest, ArriveByNCompletesThePhaseOnce) {
  std::atomic<int> completions{0};
  Barrier<CountCompletions> b(3, CountCompletions{&completions});
  auto t1 = b.arrive(2);
  EXPECT_EQ(completions.load(), 0);
  EXPECT_FALSE(b.wait_for(t1, milliseconds(1)));  // the phase is still open
  auto t2 = b.arrive();
  EXPECT_EQ(completions.load(), 1);
  b.wait(std::move(t1));
  b.wait(std::move(t2));
  // Phase 2: same count.
  auto t3 = b.arrive(3);
  EXPECT_EQ(completions.load(), 2);
  b.wait(std::move(t3));
}

TEST(BarrierBasicTest, ArriveAndDropLowersTheNextPhasesCount) {
  std::atomic<int> completions{0};
  Barrier<CountCompletions> b(2, CountCompletions{&completions});
  b.arrive_and_drop();  // this phase needs one more; later phases need one
  EXPECT_EQ(completions.load(), 0);
  b.arrive_and_wait();
  EXPECT_EQ(completions.load(), 1);
  b.arrive_and_wait();  // alone now
  b.arrive_and_wait();
  EXPECT_EQ(completions.load(), 3);
  b.arrive_and_drop();  // the last participant leaves: the phase completes
  EXPECT_EQ(completions.load(), 4);
}

class BarrierTest : public testing::WaiterModeTest {};

// N threads over K phases with arrive_and_wait: nobody leaves a phase before
// every thread arrived in it, and the completion of that phase has run
// (exactly once) before anyone leaves.
TEST_P(BarrierTest, PhasesReleaseOnlyAfterAllArrivedAndTheCompletionRan) {
  HangWatchdog dog("PhasesReleaseOnlyAfterAllArrivedAndTheCompletionRan");
  constexpr int kThreads = 4, kPhases = 50;
  std::atomic<int> arrivals[kPhases] = {};
  std::atomic<int> completions{0};
  int completed_phase = -1;  // plain: written by the completion, read after waits
  auto completion = [&]() noexcept {
    const int phase = completions.fetch_add(1);
    EXPECT_EQ(arrivals[phase].load(), kThreads) << "completion ran before the last arrival";
    completed_phase = phase;
  };
  Barrier<decltype(completion)> b(kThreads, completion);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.push_back(Start([&] {
      for (int p = 0; p < kPhases; ++p) {
        arrivals[p].fetch_add(1);
        b.arrive_and_wait();
        ASSERT_EQ(arrivals[p].load(), kThreads) << "phase " << p << " released early";
        ASSERT_GE(completed_phase, p) << "released before the completion of phase " << p;
        ASSERT_GE(completions.load(), p + 1);
      }
    }));
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(completions.load(), kPhases);
}

// arrive() then wait(token) later: a token of a completed phase returns at
// once even after the next phase started (the phase is in the word).
TEST_P(BarrierTest, LateWaiterOfAnOldPhaseIsNotConfusedWithTheNewOne) {
  HangWatchdog dog("LateWaiterOfAnOldPhaseIsNotConfusedWithTheNewOne");
  std::atomic<int> completions{0};
  Barrier<CountCompletions> b(2, CountCompletions{&completions});
  auto old_token = b.arrive();
  std::thread other = Start([&] {
    b.arrive_and_wait();  // completes phase 0
    (void)b.arrive();     // phase 1 starts (1 of 2 arrivals)
  });
  other.join();
  EXPECT_EQ(completions.load(), 1);
  std::thread late = Start([&] { b.wait(std::move(old_token)); });
  late.join();
  auto t = b.arrive();  // completes phase 1
  EXPECT_EQ(completions.load(), 2);
  b.wait(std::move(t));
}

TEST_P(BarrierTest, TimedWaitTimesOutAndTheTokenStaysValid) {
  HangWatchdog dog("TimedWaitTimesOutAndTheTokenStaysValid");
  Barrier<> b(2);
  std::atomic<bool> timed_out{false};
  std::thread t = Start([&] {
    auto token = b.arrive();
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(b.wait_for(token, milliseconds(30)));
    EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(30));
    timed_out.store(true);
    EXPECT_TRUE(b.wait_until(token, std::chrono::steady_clock::now() + std::chrono::seconds(20)));
  });
  ASSERT_TRUE(Eventually([&] { return timed_out.load(); }));
  b.arrive_and_wait();
  t.join();
}

// A futex thread, a thread of the mode under test and coroutines on a loop
// (arrive_and_wait_async) share a barrier over several phases.
TEST_P(BarrierTest, EveryKindOfParticipantOverSeveralPhases) {
  HangWatchdog dog("EveryKindOfParticipantOverSeveralPhases");
  constexpr int kCoroutines = 2, kParticipants = 2 + kCoroutines, kPhases = 20;
  std::atomic<int> completions{0};
  std::atomic<int> arrivals[kPhases] = {};
  std::atomic<int> early{0};
  Barrier<CountCompletions> b(kParticipants, CountCompletions{&completions});
  auto participant = [&] {
    for (int p = 0; p < kPhases; ++p) {
      arrivals[p].fetch_add(1);
      b.arrive_and_wait();
      if (arrivals[p].load() != kParticipants || completions.load() < p + 1) early.fetch_add(1);
    }
  };
  std::thread futex_thread(participant);
  std::thread mode_thread = Start(participant);
  std::thread coroutine_thread([&] {
    auto loop = testing::MakeLoop(testing::LoopKindFor(GetParam()));
    ASSERT_NE(loop, nullptr);
    int finished = 0;
    for (int i = 0; i < kCoroutines; ++i) {
      loop->Spawn([](EventLoop& l, Barrier<CountCompletions>& b, std::atomic<int>* arrivals,
                     std::atomic<int>& completions, std::atomic<int>& early,
                     int& finished) -> Task<void> {
        for (int p = 0; p < kPhases; ++p) {
          arrivals[p].fetch_add(1);
          co_await b.arrive_and_wait_async(l);
          if (arrivals[p].load() != kParticipants || completions.load() < p + 1)
            early.fetch_add(1);
        }
        ++finished;
      }(*loop, b, arrivals, completions, early, finished));
    }
    loop->RunUntil([&] { return finished == kCoroutines; });
  });
  futex_thread.join();
  mode_thread.join();
  coroutine_thread.join();
  EXPECT_EQ(early.load(), 0);
  EXPECT_EQ(completions.load(), kPhases);
}

INSTANTIATE_TEST_SUITE_P(AllModes, BarrierTest, ::testing::ValuesIn(testing::AllWaiterModes()),
                         testing::WaiterModeName);

class BarrierAsyncTest : public testing::LoopModeTest {};

TEST_P(BarrierAsyncTest, TimedAsyncWaitReportsAndThenCompletes) {
  HangWatchdog dog("BarrierAsyncTest");
  auto loop = MakeLoop();
  ASSERT_NE(loop, nullptr);
  Barrier<> b(2);
  auto token = b.arrive();
  auto timed = [&]() -> Task<absl::Status> {
    co_return co_await b.wait_async_for(*loop, token, milliseconds(20));
  };
  const absl::Status s = loop->RunUntilComplete(timed());
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_NE(s.message().find("ringlock::Barrier"), std::string::npos) << s;
  std::thread other([&] {
    std::this_thread::sleep_for(milliseconds(10));
    b.arrive_and_wait();
  });
  auto untimed = [&]() -> Task<void> { co_await b.wait_async(*loop, std::move(token)); };
  loop->RunUntilComplete(untimed());
  other.join();
}

INSTANTIATE_TEST_SUITE_P(AllLoops, BarrierAsyncTest, ::testing::ValuesIn(testing::AllLoopModes()),
                         testing::LoopModeName);

struct SharedCompletion {  // stateless: allowed in a ProcessSharedBarrier
  void operator()() noexcept {}
};

TEST(BarrierProcessSharedTest, ProcessesMeetOverPhases) {
  HangWatchdog dog("BarrierProcessSharedTest");
  constexpr int kChildren = 3, kPhases = 50;
  using B = ProcessSharedBarrier<SharedCompletion>;
  struct Shared {
    B barrier{kChildren + 1};
    std::atomic<int> arrivals[kPhases] = {};
  };
  void* p = mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
                 0);
  ASSERT_NE(p, MAP_FAILED);
  auto* s = new (p) Shared;
  auto participant = [s] {
    for (int i = 0; i < kPhases; ++i) {
      s->arrivals[i].fetch_add(1);
      s->barrier.arrive_and_wait();
      if (s->arrivals[i].load() != kChildren + 1) return false;
    }
    return true;
  };
  pid_t pids[kChildren];
  for (int i = 0; i < kChildren; ++i) {
    pids[i] = fork();
    if (pids[i] == 0) _exit(participant() ? 0 : 2);
  }
  EXPECT_TRUE(participant());
  for (pid_t pid : pids) {
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  s->~Shared();
  munmap(p, sizeof(Shared));
}

#ifndef NDEBUG
TEST(BarrierDeathTest, ArrivingPastTheExpectedCountAborts) {
  EXPECT_DEATH(
      {
        Barrier<> b(2);
        (void)b.arrive(3);
      },
      "ringlock::Barrier: misuse: arrive\\(\\) past the expected count");
  EXPECT_DEATH(
      {
        Barrier<> b(1);
        b.arrive_and_drop();  // phase 0 completes; no participant is left
        (void)b.arrive();
      },
      "ringlock::Barrier: misuse: arrive\\(\\) past the expected count");
  EXPECT_DEATH(
      {
        ProcessSharedBarrier<> b(2);
        (void)b.arrive(0);
      },
      "ringlock::ProcessSharedBarrier: misuse: arrive\\(\\) with a count below 1");
}
#endif

}  // namespace
}  // namespace ringlock
