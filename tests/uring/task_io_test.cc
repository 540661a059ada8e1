// Task<T> and the I/O / futex awaitables on a real EventLoop.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <coroutine>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "uring/event_loop.h"
#include "uring/futex_await.h"
#include "uring/io.h"
#include "uring/task.h"

namespace ringlock::uring {
namespace {

// Native futex SQEs, the futex_waitv(2) fallback, and no io_uring at all.
struct IoConfig {
  FutexMode mode;
  RingMode ring;
};

class TaskIoTest : public ::testing::TestWithParam<IoConfig> {
 protected:
  void SetUp() override {
    auto l = EventLoop::Create({.mode = GetParam().mode, .ring = GetParam().ring});
    if (!l.ok() && absl::IsUnimplemented(l.status())) GTEST_SKIP() << l.status();
    ASSERT_TRUE(l.ok()) << l.status();
    loop_ = std::move(*l);
  }
  std::unique_ptr<EventLoop> loop_;
};

Task<int> Answer() { co_return 41; }
Task<int> AnswerPlusOne() { co_return (co_await Answer()) + 1; }
// (No co_await inside ?: here: GCC 12 evaluates it in both branches.)
Task<int> Depth(int n) {
  if (n == 0) co_return 0;
  co_return 1 + co_await Depth(n - 1);
}
Task<void> Throws() {
  throw std::runtime_error("boom");
  co_return;
}

TEST_P(TaskIoTest, ValuesChainAndExceptions) {
  EXPECT_EQ(loop_->RunUntilComplete(AnswerPlusOne()), 42);
  EXPECT_EQ(loop_->RunUntilComplete(Depth(1000)), 1000);
  EXPECT_THROW(loop_->RunUntilComplete(Throws()), std::runtime_error);
}

TEST_P(TaskIoTest, NopAndSleep) {
  auto t = [](EventLoop& loop) -> Task<int> {
    int a = co_await Nop(loop);
    absl::Time start = absl::Now();
    int b = co_await SleepFor(loop, absl::Milliseconds(20));
    EXPECT_GE(absl::Now() - start, absl::Milliseconds(19));
    co_return a * 10 + b;
  };
  EXPECT_EQ(loop_->RunUntilComplete(t(*loop_)), 0);
}

TEST_P(TaskIoTest, PipeReadWrite) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  std::string got;
  // The reader is pending before the writer runs.
  loop_->Spawn([](EventLoop& loop, int fd, std::string* out) -> Task<void> {
    char buf[32];
    int n = co_await Read(loop, fd, buf, sizeof(buf));
    if (n > 0) out->assign(buf, n);
  }(*loop_, p[0], &got));
  auto writer = [](EventLoop& loop, int fd) -> Task<int> {
    co_await SleepFor(loop, absl::Milliseconds(5));
    co_return co_await Write(loop, fd, "hello", 5);
  };
  EXPECT_EQ(loop_->RunUntilComplete(writer(*loop_, p[1])), 5);
  loop_->RunUntil([&] { return !got.empty(); });
  EXPECT_EQ(got, "hello");
  close(p[0]);
  close(p[1]);
}

TEST_P(TaskIoTest, SocketpairSendRecv) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  auto t = [](EventLoop& loop, int a, int b) -> Task<std::string> {
    EXPECT_EQ(co_await Send(loop, a, "ping", 4), 4);
    char buf[8];
    int n = co_await Recv(loop, b, buf, sizeof(buf));
    co_return std::string(buf, n > 0 ? n : 0);
  };
  EXPECT_EQ(loop_->RunUntilComplete(t(*loop_, sv[0], sv[1])), "ping");
  close(sv[0]);
  close(sv[1]);
}

TEST_P(TaskIoTest, AcceptConnectLoopback) {
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(ls, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(ls, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(ls, 4), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(ls, reinterpret_cast<sockaddr*>(&addr), &len), 0);

  std::string server_got;
  loop_->Spawn([](EventLoop& loop, int ls, std::string* out) -> Task<void> {
    int c = co_await Accept(loop, ls);
    EXPECT_GE(c, 0);
    char buf[16];
    int n = co_await Recv(loop, c, buf, sizeof(buf));
    out->assign(buf, n > 0 ? n : 0);
    co_await Send(loop, c, "pong", 4);
    close(c);
  }(*loop_, ls, &server_got));

  auto client = [](EventLoop& loop, sockaddr_in to) -> Task<std::string> {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_EQ(co_await Connect(loop, s, reinterpret_cast<sockaddr*>(&to),
                               sizeof(to)), 0);
    co_await Send(loop, s, "ping", 4);
    char buf[16];
    int n = co_await Recv(loop, s, buf, sizeof(buf));
    close(s);
    co_return std::string(buf, n > 0 ? n : 0);
  };
  EXPECT_EQ(loop_->RunUntilComplete(client(*loop_, addr)), "pong");
  loop_->RunUntil([&] { return loop_->in_flight() == 0; });
  EXPECT_EQ(server_got, "ping");
  close(ls);
}

// Destroying a Task suspended in a read orphans the operation: the kernel
// stops using the frame's buffer (the data stays in the pipe), and the
// orphaned state frees itself (ASAN: no use-after-free, no leak).
TEST_P(TaskIoTest, DestroyingSuspendedTaskCancelsItsRead) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  bool resumed = false;
  {
    Task<void> t = [](EventLoop& loop, int fd, bool* resumed) -> Task<void> {
      char buf[64];
      co_await Read(loop, fd, buf, sizeof(buf));
      *resumed = true;
    }(*loop_, p[0], &resumed);
    t.handle().resume();  // Runs to the co_await.
    loop_->Poll();        // Submitted.
    ASSERT_EQ(loop_->in_flight(), 1u);
  }  // ~Task destroys the suspended frame.
  ASSERT_EQ(write(p[1], "data", 4), 4);
  loop_->RunUntil([&] { return loop_->in_flight() == 0; });
  EXPECT_FALSE(resumed);
  char buf[8];
  EXPECT_EQ(read(p[0], buf, sizeof(buf)), 4);  // Not consumed by the orphan.
  close(p[0]);
  close(p[1]);
}

// Every kind of pending awaiter can be abandoned without hanging the
// synchronous cancel or leaking its state.
TEST_P(TaskIoTest, AbandonSleepRecvAccept) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(ls, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(ls, 4), 0);
  {
    Task<int> sleep = [](EventLoop& l) -> Task<int> {
      co_return co_await SleepFor(l, absl::Hours(1));
    }(*loop_);
    Task<int> recv = [](EventLoop& l, int fd) -> Task<int> {
      char buf[8];
      co_return co_await Recv(l, fd, buf, sizeof(buf));
    }(*loop_, sv[0]);
    Task<int> accept = [](EventLoop& l, int fd) -> Task<int> {
      co_return co_await Accept(l, fd);
    }(*loop_, ls);
    sleep.handle().resume();
    recv.handle().resume();
    accept.handle().resume();
    loop_->Poll();
    EXPECT_EQ(loop_->in_flight(), 3u);
  }
  loop_->RunUntil([&] { return loop_->in_flight() == 0; });
  close(sv[0]);
  close(sv[1]);
  close(ls);
}

TEST_P(TaskIoTest, LoopDestructionDestroysSpawnedTasks) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  std::atomic<uint32_t> word{0};
  loop_->Spawn([](EventLoop& loop, int fd) -> Task<void> {
    char buf[64];
    co_await Read(loop, fd, buf, sizeof(buf));
  }(*loop_, p[0]));
  loop_->Spawn([](EventLoop& loop, std::atomic<uint32_t>* w) -> Task<void> {
    co_await WaitFutex(loop, w, 0, kFutex2Private);
  }(*loop_, &word));
  loop_->Spawn([](EventLoop&) -> Task<void> { co_return; }(*loop_));
  loop_->Poll();
  loop_->Poll();
  loop_.reset();  // ASAN: frames and orphaned states all freed.
  close(p[0]);
  close(p[1]);
}

TEST_P(TaskIoTest, FutexAwaitables) {
  std::atomic<uint32_t> word{0};
  std::atomic<bool> stop{false};
  std::thread waker([&] {
    while (!stop.load(std::memory_order_acquire)) {
      syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  auto t = [](EventLoop& loop, std::atomic<uint32_t>* w) -> Task<int> {
    int woken = co_await WaitFutex(loop, w, 0, kFutex2Private);
    std::atomic<uint32_t> idle{0};
    int timed = co_await WaitFutex(loop, &idle, 0, kFutex2Private,
                                   Deadline::After(std::chrono::milliseconds(10)));
    FutexWaitv v[2] = {MakeFutexWaitv(&idle, 0, kFutex2Private),
                       MakeFutexWaitv(w, 0, kFutex2Private)};
    int index = co_await WaitFutexAny(loop, v);
    EXPECT_EQ(woken, 0);
    EXPECT_EQ(timed, -ETIMEDOUT);
    EXPECT_EQ(index, 1);
    co_return woken == 0 && timed == -ETIMEDOUT && index == 1;
  };
  EXPECT_EQ(loop_->RunUntilComplete(t(*loop_, &word)), 1);
  stop.store(true, std::memory_order_release);
  waker.join();
}

TEST_P(TaskIoTest, DestroyingTaskWaitingOnFutexCancelsIt) {
  std::atomic<uint32_t> word{0};
  {
    Task<int> t = [](EventLoop& loop, std::atomic<uint32_t>* w) -> Task<int> {
      co_return co_await WaitFutex(loop, w, 0, kFutex2Private);
    }(*loop_, &word);
    t.handle().resume();
    loop_->Poll();
  }
  loop_->RunUntil([&] { return loop_->in_flight() == 0; });
}

std::string ModeName(const ::testing::TestParamInfo<IoConfig>& info) {
  if (info.param.ring == RingMode::kEmulated) return "Emulated";
  return info.param.mode == FutexMode::kNative ? "Native" : "Fallback";
}
// co_await Yield{loop}: reschedules the coroutine through Schedule().
struct Yield {
  EventLoop& loop;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) { loop.Schedule(h); }
  void await_resume() const noexcept {}
};

// Yields until *stop, or gives up after `limit` (then *gave_up).
Task<void> Yielder(EventLoop& loop, const bool* stop, int64_t* steps, bool* gave_up,
                   absl::Duration limit, bool* done) {
  const absl::Time give_up = absl::Now() + limit;
  while (!*stop) {
    if (absl::Now() > give_up) {
      *gave_up = true;
      break;
    }
    ++*steps;
    co_await Yield{loop};
  }
  *done = true;
}

// Regression: RunUntil reaped the engine only when nothing else was queued,
// so a coroutine yielding through Schedule() starved every completion (a
// 10 ms sleep took until the yielder stopped). Now a finished operation
// waits at most kMaxStepsWithoutReap yielder steps; an exact count here.
TEST_P(TaskIoTest, ScheduleYieldingCoroutineDoesNotStarveCompletions) {
  bool stop = false, gave_up = false, yielder_done = false;
  int64_t steps = 0;
  loop_->Spawn(Yielder(*loop_, &stop, &steps, &gave_up, absl::Seconds(3), &yielder_done));
  int64_t nop_started = -1, nop_done = -1, sleep_done = -1;
  // (A coroutine lambda's captures die with the lambda: keep it alive.)
  auto completer = [&]() -> Task<void> {
    nop_started = steps;
    // A NOP completes when submitted: its CQE is there at once.
    EXPECT_EQ(co_await Nop(*loop_), 0);
    nop_done = steps;
    EXPECT_EQ(co_await SleepFor(*loop_, absl::Milliseconds(10)), 0);
    sleep_done = steps;
    stop = true;
  };
  loop_->Spawn(completer());
  loop_->RunUntil([&] { return stop || gave_up; });
  EXPECT_FALSE(gave_up) << "completions starved for 3 s: " << steps << " yielder steps";
  ASSERT_GE(nop_done, 0);
  EXPECT_LE(nop_done - nop_started, EventLoop::kMaxStepsWithoutReap);
  EXPECT_GT(sleep_done, nop_done);
  stop = true;
  loop_->RunUntil([&] { return yielder_done && loop_->in_flight() == 0; });
}

// Regression: ~EventLoop destroyed a spawned coroutine's frame and then ran
// the resumption it had queued through Schedule(): a use after free.
TEST_P(TaskIoTest, DestroyingTheLoopDropsResumptionsOfDestroyedFrames) {
  bool stop = false, gave_up = false, yielder_done = false;
  int64_t steps = 0;
  loop_->Spawn(Yielder(*loop_, &stop, &steps, &gave_up, absl::Seconds(30), &yielder_done));
  while (steps < 3) loop_->Poll();  // the yielder's next resumption is queued
  loop_.reset();
  EXPECT_FALSE(yielder_done);
  EXPECT_FALSE(gave_up);
}

// Reads `empty` (never written), then `full` (has data), then waits on a
// word with the wrong value; records every result.
Task<void> ReadReadWait(EventLoop& loop, int empty, int full, std::vector<int32_t>* results) {
  char buf[8];
  results->push_back(co_await Read(loop, empty, buf, sizeof(buf)));
  results->push_back(co_await Read(loop, full, buf, sizeof(buf)));
  std::atomic<uint32_t> word{1};
  results->push_back(co_await WaitFutex(loop, &word, 0, kFutex2Private));
}

// Once destruction has begun, new operations never reach the ring: the
// read of a pipe holding data and the mismatched futex wait (which would
// give 1 and -EAGAIN there) both complete with -ECANCELED.
TEST_P(TaskIoTest, OperationStartedDuringDestructionCompletesCancelledWithoutTheRing) {
  int empty[2], full[2];
  ASSERT_EQ(pipe(empty), 0);
  ASSERT_EQ(pipe(full), 0);
  ASSERT_EQ(write(full[1], "x", 1), 1);
  std::vector<int32_t> results;
  Task<void> t = ReadReadWait(*loop_, empty[0], full[0], &results);
  t.handle().resume();
  loop_->Poll();
  loop_.reset();
  EXPECT_TRUE(t.done());
  EXPECT_EQ(results, (std::vector<int32_t>{-ECANCELED, -ECANCELED, -ECANCELED}));
  for (int fd : {empty[0], empty[1], full[0], full[1]}) close(fd);
}

// Reads `fd` until a read succeeds, retrying on every error.
Task<void> RetryReadForever(EventLoop& loop, int fd) {
  char c;
  while (co_await Read(loop, fd, &c, 1) <= 0) {
  }
}

void SayHungAndExit(int) {
  const char msg[] = "HANG: ~EventLoop kept dispatching the retrying task\n";
  (void)!write(2, msg, sizeof(msg) - 1);
  _exit(3);
}

// Regression: a task owned by the caller that retries on every error made
// ~EventLoop dispatch cancelled retries forever (600k seen). Now retries
// started during destruction complete with -ECANCELED without the ring,
// and a chain kMaxShutdownDepth deep aborts with a message (never a hang).
TEST_P(TaskIoTest, RetryingTaskCannotLivelockLoopDestruction) {
  const IoConfig config = GetParam();
  // No helper thread may run at fork (ThreadSanitizer refuses new threads
  // after a multi-threaded fork): the child makes its own loop.
  loop_.reset();
  EXPECT_DEATH(
      {
        signal(SIGALRM, SayHungAndExit);
        alarm(5);
        auto loop = EventLoop::Create({.mode = config.mode, .ring = config.ring});
        if (!loop.ok()) _exit(4);
        int p[2];
        if (pipe(p) != 0) _exit(5);
        Task<void> t = RetryReadForever(**loop, p[0]);
        t.handle().resume();
        (*loop)->Poll();
        loop->reset();
      },
      "code that retries on error must stop on -ECANCELED");
}

INSTANTIATE_TEST_SUITE_P(Modes, TaskIoTest,
                         ::testing::Values(IoConfig{FutexMode::kNative, RingMode::kIoUring},
                                           IoConfig{FutexMode::kFallback, RingMode::kIoUring},
                                           IoConfig{FutexMode::kFallback, RingMode::kEmulated}),
                         ModeName);

}  // namespace
}  // namespace ringlock::uring
