// EventLoop conformance suite: every futex test runs against the native
// io_uring futex opcodes and against the forced futex_waitv(2) fallback.
#include "uring/event_loop.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/uring/futex_sleepers.h"

namespace ringlock::uring {
namespace {

// The loop takes monotonic Deadlines; these tests compute absl::Time.
Deadline DeadlineAt(absl::Time t) {
  if (t == absl::InfiniteFuture()) return Deadline::Never();
  if (t == absl::InfinitePast()) return Deadline::FromMonotonicNanos(0);
  return Deadline::After(std::chrono::nanoseconds(absl::ToInt64Nanoseconds(t - absl::Now())));
}

constexpr uint32_t kPriv = kFutex2Private;

long FutexWake(const std::atomic<uint32_t>* w, int n) {
  return syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, n, nullptr, nullptr, 0);
}

// Records its result; counts completions to catch doubles.
struct RecordingWait : FutexWaitOp {
  std::atomic<int> calls{0};
  int32_t res = 1;
  void Complete(int32_t r) override {
    res = r;
    calls.fetch_add(1, std::memory_order_release);
  }
  bool done() const { return calls.load(std::memory_order_acquire) > 0; }
};

struct RecordingWaitv : FutexWaitvOp {
  std::atomic<int> calls{0};
  int32_t res = 1000;
  void Complete(int32_t r) override {
    res = r;
    calls.fetch_add(1, std::memory_order_release);
  }
  bool done() const { return calls.load(std::memory_order_acquire) > 0; }
};

struct RecordingOp : Operation {
  int calls = 0;
  int32_t res = 1;
  void Complete(int32_t r) override {
    res = r;
    ++calls;
  }
};

// Wakes `word` (without changing it) until `done`, like a waker that holds
// the protocol's state; the result must then be 0 in both modes.
class Waker {
 public:
  Waker(const std::atomic<uint32_t>* word, std::atomic<bool>* stop)
      : t_([=] {
          while (!stop->load(std::memory_order_acquire)) {
            FutexWake(word, 1);
            std::this_thread::sleep_for(std::chrono::microseconds(200));
          }
        }) {}
  ~Waker() { t_.join(); }

 private:
  std::thread t_;
};

// The suite runs against: native futex SQEs on a DEFER_TASKRUN ring, the
// same on a COOP_TASKRUN ring, and the futex_waitv(2) fallback.
struct LoopConfig {
  FutexMode mode;
  bool defer_taskrun;
  RingMode ring = RingMode::kIoUring;
};

class EventLoopTest : public ::testing::TestWithParam<LoopConfig> {
 protected:
  EventLoopOptions Options() const {
    return {.mode = GetParam().mode,
            .ring = GetParam().ring,
            .defer_taskrun = GetParam().defer_taskrun};
  }
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<EventLoop>> l = EventLoop::Create(Options());
    if (!l.ok() && GetParam().mode == FutexMode::kNative &&
        absl::IsUnimplemented(l.status())) {
      GTEST_SKIP() << l.status();
    }
    ASSERT_TRUE(l.ok()) << l.status();
    loop_ = std::move(*l);
    ASSERT_EQ(loop_->native_futex(), GetParam().mode == FutexMode::kNative);
    ASSERT_EQ(loop_->emulated(), GetParam().ring == RingMode::kEmulated);
    if (loop_->emulated()) {
      ASSERT_EQ(loop_->ring(), nullptr);
      return;
    }
    ASSERT_EQ(bool(loop_->ring()->setup_flags() & IORING_SETUP_DEFER_TASKRUN),
              GetParam().defer_taskrun);
  }
  void TearDown() override { loop_.reset(); }
  std::unique_ptr<EventLoop> loop_;
};

TEST_P(EventLoopTest, CurrentIsTheCreatingThreadsLoop) {
  EXPECT_EQ(EventLoop::Current(), loop_.get());
  std::thread([] { EXPECT_EQ(EventLoop::Current(), nullptr); }).join();
  loop_.reset();
  EXPECT_EQ(EventLoop::Current(), nullptr);
}

TEST_P(EventLoopTest, FutexWaitWokenByFutexSyscall) {
  std::atomic<uint32_t> word{0};
  RecordingWait op;
  loop_->StartFutexWait(&op, &word, 0, kPriv, Deadline::Never());
  loop_->FlushWakes();
  std::atomic<bool> stop{false};
  {
    Waker w(&word, &stop);
    loop_->RunUntil([&] { return op.done(); });
    stop.store(true, std::memory_order_release);
  }
  EXPECT_EQ(op.res, 0);
  EXPECT_EQ(op.calls.load(), 1);
  EXPECT_EQ(loop_->in_flight(), 0u);
}

TEST_P(EventLoopTest, FutexWaitMismatchIsEagain) {
  std::atomic<uint32_t> word{3};
  RecordingWait op;
  loop_->StartFutexWait(&op, &word, 2, kPriv);
  loop_->RunUntil([&] { return op.done(); });
  EXPECT_EQ(op.res, -EAGAIN);
}

TEST_P(EventLoopTest, FutexWaitDeadlineIsEtimedout) {
  std::atomic<uint32_t> word{0};
  RecordingWait op;
  absl::Time start = absl::Now();
  loop_->StartFutexWait(&op, &word, 0, kPriv, DeadlineAt(start + absl::Milliseconds(30)));
  loop_->RunUntil([&] { return op.done(); });
  EXPECT_EQ(op.res, -ETIMEDOUT);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(25));
  // The link timeout's own CQE must not reach anyone: run a little more.
  RecordingOp nop;
  loop_->StartOperation(&nop, [](io_uring_sqe* s) { io_uring_prep_nop(s); });
  loop_->RunUntil([&] { return nop.calls > 0; });
  EXPECT_EQ(op.calls.load(), 1);
}

TEST_P(EventLoopTest, FutexWaitDeadlineExtremes) {
  std::atomic<uint32_t> word{0};
  RecordingWait past, forever;
  loop_->StartFutexWait(&past, &word, 0, kPriv, DeadlineAt(absl::InfinitePast()));
  loop_->StartFutexWait(&forever, &word, 0, kPriv, DeadlineAt(absl::InfiniteFuture()));
  loop_->RunUntil([&] { return past.done(); });
  EXPECT_EQ(past.res, -ETIMEDOUT);
  loop_->Cancel(&forever);
  loop_->RunUntil([&] { return forever.done(); });
  EXPECT_EQ(forever.res, -ECANCELED);
}

TEST_P(EventLoopTest, FutexWaitWokenBeforeDeadline) {
  std::atomic<uint32_t> word{0};
  RecordingWait op;
  loop_->StartFutexWait(&op, &word, 0, kPriv, DeadlineAt(absl::Now() + absl::Seconds(30)));
  loop_->FlushWakes();
  std::atomic<bool> stop{false};
  {
    Waker w(&word, &stop);
    loop_->RunUntil([&] { return op.done(); });
    stop.store(true);
  }
  EXPECT_EQ(op.res, 0);
}

TEST_P(EventLoopTest, CancelIsEcanceled) {
  std::atomic<uint32_t> word{0};
  RecordingWait armed, unflushed, timed;
  loop_->StartFutexWait(&armed, &word, 0, kPriv);
  loop_->StartFutexWait(&timed, &word, 0, kPriv, DeadlineAt(absl::Now() + absl::Seconds(30)));
  loop_->FlushWakes();
  loop_->StartFutexWait(&unflushed, &word, 0, kPriv);
  loop_->CancelFutexWait(&armed);
  loop_->CancelFutexWait(&unflushed);
  loop_->CancelFutexWait(&timed);
  loop_->RunUntil([&] { return armed.done() && unflushed.done() && timed.done(); });
  EXPECT_EQ(armed.res, -ECANCELED);
  EXPECT_EQ(unflushed.res, -ECANCELED);
  EXPECT_EQ(timed.res, -ECANCELED);  // Not -ETIMEDOUT.
  loop_->CancelFutexWait(&armed);  // After completion: no-op.
  EXPECT_FALSE(loop_->Poll() && armed.calls.load() != 1);
  EXPECT_EQ(armed.calls.load(), 1);
}

TEST_P(EventLoopTest, WakeThatWonKeepsResultZero) {
  std::atomic<uint32_t> word{0};
  RecordingWait op;
  loop_->StartFutexWait(&op, &word, 0, kPriv);
  loop_->FlushWakes();
  std::atomic<bool> stop{false};
  {
    Waker w(&word, &stop);
    while (!op.done()) loop_->Poll();
    stop.store(true);
  }
  loop_->CancelFutexWait(&op);  // The wake won: nothing changes.
  loop_->Poll();
  EXPECT_EQ(op.res, 0);
  EXPECT_EQ(op.calls.load(), 1);
}

TEST_P(EventLoopTest, QueueFutexWakeWakesExactlyNSleepers) {
  std::atomic<uint32_t> word{0};
  testing::FutexSleepers sleepers(&word, 3);
  // Step A queues the wake; step B (the next step, with no blocking in
  // between) sees it delivered: the loop flushed it when A returned.
  bool b_saw_wake = false, b_ran = false;
  loop_->Post([&] { loop_->QueueFutexWake(&word, 2, kPriv); });
  loop_->Post([&] {
    absl::Time until = absl::Now() + absl::Seconds(5);
    while (sleepers.woken() < 2 && absl::Now() < until) std::this_thread::yield();
    b_saw_wake = sleepers.woken() == 2;
    b_ran = true;
  });
  loop_->RunUntil([&] { return b_ran; });
  EXPECT_TRUE(b_saw_wake);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(sleepers.woken(), 2);
  loop_->QueueFutexWake(&word, 1, kPriv);
  loop_->FlushWakes();
  sleepers.Join();
  EXPECT_EQ(sleepers.woken(), 3);
}

TEST_P(EventLoopTest, QueuedWakeWakesFutexWaitOnSameLoop) {
  std::atomic<uint32_t> word{0};
  RecordingWait op;
  loop_->StartFutexWait(&op, &word, 0, kPriv);
  loop_->FlushWakes();
  // Fallback: the helper may not sleep yet; repeat until it is woken.
  while (!op.done()) {
    loop_->QueueFutexWake(&word, 1, kPriv);
    loop_->Poll();
    if (!op.done()) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  EXPECT_EQ(op.res, 0);
}

TEST_P(EventLoopTest, WaitvReportsIndex) {
  std::atomic<uint32_t> words[3] = {0, 0, 0};
  FutexWaitv v[3];
  for (int i = 0; i < 3; ++i) v[i] = MakeFutexWaitv(&words[i], 0, kPriv);
  RecordingWaitv op;
  loop_->StartFutexWaitv(&op, v, Deadline::Never());
  loop_->FlushWakes();
  std::atomic<bool> stop{false};
  {
    Waker w(&words[1], &stop);
    loop_->RunUntil([&] { return op.done(); });
    stop.store(true);
  }
  EXPECT_EQ(op.res, 1);
}

TEST_P(EventLoopTest, WaitvMismatchTimeoutCancel) {
  std::atomic<uint32_t> words[2] = {0, 7};
  FutexWaitv v[2] = {MakeFutexWaitv(&words[0], 0, kPriv),
                     MakeFutexWaitv(&words[1], 0, kPriv)};
  RecordingWaitv mismatch, timed, cancelled;
  loop_->StartFutexWaitv(&mismatch, v, Deadline::Never());
  loop_->StartFutexWaitv(&timed, absl::MakeConstSpan(v, 1),
                         DeadlineAt(absl::Now() + absl::Milliseconds(20)));
  loop_->StartFutexWaitv(&cancelled, absl::MakeConstSpan(v, 1), Deadline::Never());
  loop_->FlushWakes();
  loop_->Cancel(&cancelled);
  loop_->RunUntil([&] { return mismatch.done() && timed.done() && cancelled.done(); });
  EXPECT_EQ(mismatch.res, -EAGAIN);
  EXPECT_EQ(timed.res, -ETIMEDOUT);
  EXPECT_EQ(cancelled.res, -ECANCELED);
}

TEST_P(EventLoopTest, ManyWaitsBeyondOneFutexWaitv) {
  // More pending waits than one futex_waitv(2) holds (fallback capacity).
  constexpr int kN = 300;
  std::vector<std::atomic<uint32_t>> words(kN);
  std::vector<std::unique_ptr<RecordingWait>> ops;
  for (int i = 0; i < kN; ++i) {
    ops.push_back(std::make_unique<RecordingWait>());
    loop_->StartFutexWait(ops.back().get(), &words[i], 0, kPriv);
  }
  loop_->FlushWakes();
  for (int i = 0; i < kN; ++i) {
    words[i].store(1, std::memory_order_release);
    FutexWake(&words[i], 1);
  }
  loop_->RunUntil([&] {
    for (auto& op : ops) if (!op->done()) return false;
    return true;
  });
  for (auto& op : ops) {
    EXPECT_TRUE(op->res == 0 || op->res == -EAGAIN) << op->res;
    EXPECT_EQ(op->calls.load(), 1);
  }
}

// Ping-pong through one word between the loop (queued wakes, async waits)
// and a thread in futex(2): any lost wakeup hangs the test.
TEST_P(EventLoopTest, PingPongWithFutexSyscallThread) {
  constexpr uint32_t kRounds = 1000;
  std::atomic<uint32_t> word{0};
  std::thread peer([&] {
    for (uint32_t i = 0; i < kRounds; ++i) {
      uint32_t v;
      while ((v = word.load(std::memory_order_acquire)) != 2 * i + 1) {
        syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, v, nullptr, nullptr, 0);
      }
      word.store(2 * i + 2, std::memory_order_release);
      FutexWake(&word, 1);
    }
  });
  for (uint32_t i = 0; i < kRounds; ++i) {
    word.store(2 * i + 1, std::memory_order_release);
    loop_->QueueFutexWake(&word, 1, kPriv);
    for (;;) {
      uint32_t v = word.load(std::memory_order_acquire);
      if (v == 2 * i + 2) break;
      RecordingWait op;
      loop_->StartFutexWait(&op, &word, v, kPriv);
      loop_->RunUntil([&] { return op.done(); });
      ASSERT_TRUE(op.res == 0 || op.res == -EAGAIN) << op.res;
    }
  }
  peer.join();
}

TEST_P(EventLoopTest, PostFromOtherThreads) {
  constexpr int kPerThread = 2000;
  int count = 0;  // Only touched on the loop thread.
  std::vector<std::thread> posters;
  for (int t = 0; t < 2; ++t) {
    posters.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) loop_->Post([&] { ++count; });
    });
  }
  loop_->RunUntil([&] { return count == 2 * kPerThread; });
  for (auto& t : posters) t.join();
  EXPECT_EQ(count, 2 * kPerThread);
}

TEST_P(EventLoopTest, RunReturnsAfterStopWhenIdle) {
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    loop_->Stop();
  });
  loop_->Run();
  stopper.join();
}

// A step blocks in a nested RunUntil (as a ring-blocking lock does) and the
// loop keeps completing other operations and posted work meanwhile.
TEST_P(EventLoopTest, ReentrantRunUntil) {
  std::atomic<uint32_t> word{0};
  RecordingWait lock_wait;
  RecordingOp nop;
  bool inner_done = false, posted_ran = false;
  loop_->Post([&] {
    loop_->StartFutexWait(&lock_wait, &word, 0, kPriv);
    loop_->StartOperation(&nop, [](io_uring_sqe* s) { io_uring_prep_nop(s); });
    loop_->Post([&] { posted_ran = true; });
    std::thread waker([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      word.store(1, std::memory_order_release);
      FutexWake(&word, 1);
    });
    loop_->RunUntil([&] { return lock_wait.done(); });
    waker.join();
    // Everything else completed while this step was "blocked".
    EXPECT_EQ(nop.calls, 1);
    EXPECT_TRUE(posted_ran);
    inner_done = true;
  });
  loop_->RunUntil([&] { return inner_done; });
  EXPECT_TRUE(lock_wait.res == 0 || lock_wait.res == -EAGAIN);
}

TEST_P(EventLoopTest, FullSubmissionQueueDropsNothing) {
  loop_.reset();
  EventLoopOptions o = Options();
  o.sq_entries = 4;
  auto l = EventLoop::Create(o);
  ASSERT_TRUE(l.ok());
  loop_ = std::move(*l);
  std::vector<RecordingOp> ops(1000);
  for (auto& op : ops) {
    loop_->StartOperation(&op, [](io_uring_sqe* s) { io_uring_prep_nop(s); });
  }
  loop_->RunUntil([&] { return loop_->in_flight() == 0; });
  for (auto& op : ops) EXPECT_EQ(op.calls, 1);
}

TEST_P(EventLoopTest, CompletionQueueOverflowLosesNothing) {
  loop_.reset();
  EventLoopOptions o = Options();
  o.sq_entries = 8;
  o.cq_entries = 16;
  auto l = EventLoop::Create(o);
  ASSERT_TRUE(l.ok());
  loop_ = std::move(*l);
  std::vector<RecordingOp> ops(2000);
  // All submitted in one step: far more completions than CQ entries.
  bool started = false;
  loop_->Post([&] {
    for (auto& op : ops) {
      loop_->StartOperation(&op, [](io_uring_sqe* s) { io_uring_prep_nop(s); });
    }
    started = true;
  });
  loop_->RunUntil([&] { return started && loop_->in_flight() == 0; });
  for (auto& op : ops) EXPECT_EQ(op.calls, 1);
}

// Heap operations that free themselves: ASAN reports leaks and
// use-after-free if the loop loses or double-completes one.
struct SelfDeletingWait : FutexWaitOp {
  explicit SelfDeletingWait(std::vector<int32_t>* out) : out(out) {}
  std::vector<int32_t>* out;
  void Complete(int32_t r) override {
    out->push_back(r);
    delete this;
  }
};
struct SelfDeletingOp : Operation {
  explicit SelfDeletingOp(std::vector<int32_t>* out) : out(out) {}
  std::vector<int32_t>* out;
  char buf[16];
  void Complete(int32_t r) override {
    out->push_back(r);
    delete this;
  }
};

TEST_P(EventLoopTest, DestructionCancelsPendingOperations) {
  std::atomic<uint32_t> word{0};
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::vector<int32_t> results;
  for (int i = 0; i < 10; ++i) {
    loop_->StartFutexWait(new SelfDeletingWait(&results), &word, 0, kPriv,
                          i % 2 ? DeadlineAt(absl::Now() + absl::Hours(1))
                                : Deadline::Never());
  }
  for (int i = 0; i < 5; ++i) {
    auto* op = new SelfDeletingOp(&results);
    loop_->StartOperation(op, [&](io_uring_sqe* s) {
      io_uring_prep_read(s, fds[0], op->buf, sizeof(op->buf), 0);
    });
  }
  loop_->FlushWakes();
  loop_->Poll();
  loop_.reset();
  ASSERT_EQ(results.size(), 15u);
  for (size_t i = 0; i < results.size(); ++i) EXPECT_EQ(results[i], -ECANCELED) << i;
  close(fds[0]);
  close(fds[1]);
}

// Regression: with sq_entries = 1 the loop submitted a timed wait's
// IOSQE_IO_LINK head alone (the SQ had no room for its LINK_TIMEOUT), so
// the wait never timed out. A link is never split: sq_entries < 2 is
// refused, and with 2 every timed wait of a burst times out.
TEST_P(EventLoopTest, TimedWaitWithTheSmallestSubmissionQueueTimesOut) {
  loop_.reset();  // one loop per thread at a time
  for (uint32_t n : {0u, 1u}) {
    EventLoopOptions options = Options();
    options.sq_entries = n;
    absl::StatusOr<std::unique_ptr<EventLoop>> l = EventLoop::Create(options);
    ASSERT_FALSE(l.ok()) << "sq_entries " << n;
    EXPECT_TRUE(absl::IsInvalidArgument(l.status())) << l.status();
    EXPECT_NE(l.status().message().find("sq_entries must be >= 2"), std::string::npos)
        << l.status();
  }
  EventLoopOptions options = Options();
  options.sq_entries = 2;
  absl::StatusOr<std::unique_ptr<EventLoop>> l = EventLoop::Create(options);
  ASSERT_TRUE(l.ok()) << l.status();
  loop_ = std::move(*l);
  if (!loop_->emulated()) {
    ASSERT_EQ(loop_->ring()->sq_entries(), 2u);
  }
  std::atomic<uint32_t> word{0};
  RecordingWait waits[5];
  const absl::Time start = absl::Now();
  for (RecordingWait& w : waits) {  // more pairs than the SQ holds, in one step
    loop_->StartFutexWait(&w, &word, 0, kPriv, DeadlineAt(start + absl::Milliseconds(20)));
  }
  loop_->RunUntil([&] {
    for (RecordingWait& w : waits) {
      if (!w.done()) return false;
    }
    return true;
  });
  for (RecordingWait& w : waits) {
    EXPECT_EQ(w.res, -ETIMEDOUT);
    EXPECT_EQ(w.calls.load(), 1);
  }
}

// A timed wait that waits again after a spurious 0 (the fallback's, see
// StartFutexWait) until its deadline ends it.
struct TimedWait : FutexWaitOp {
  EventLoop* loop = nullptr;
  std::atomic<uint32_t>* word = nullptr;
  absl::Time deadline;
  absl::Time* first_end = nullptr;  // set by the first wait to end
  int32_t res = 1;
  int ends = 0;
  void Start() { loop->StartFutexWait(this, word, 0, kFutex2Private, DeadlineAt(deadline)); }
  void Complete(int32_t r) override {
    if (r == 0) {
      Start();
      return;
    }
    res = r;
    ++ends;
    if (*first_end == absl::InfiniteFuture()) *first_end = absl::Now();
  }
};

// Many timed waits on one loop whose deadlines fall together: every one
// ends -ETIMEDOUT exactly once. Also reports how late the first timeout is
// (not asserted): on the native path each expiring LINK_TIMEOUT cancels its
// wait by user_data, which the kernel finds by walking the ring's list of
// pending futex waits, so N waits cost O(N^2) kernel time (uring/README.md,
// "Limits"). RINGLOCK_TIMED_WAITS=N measures another count.
TEST_P(EventLoopTest, ManyTimedWaitsAllTimeOut) {
  int n = 2000;
  if (const char* env = std::getenv("RINGLOCK_TIMED_WAITS")) n = std::atoi(env);
  std::atomic<uint32_t> word{0};
  std::vector<TimedWait> waits(n);
  const absl::Duration timeout = absl::Milliseconds(50);
  absl::Time first = absl::InfiniteFuture();
  const absl::Time start = absl::Now();
  for (TimedWait& w : waits) {
    w.first_end = &first;
    w.loop = loop_.get();
    w.word = &word;
    w.deadline = start + timeout;
    w.Start();
  }
  size_t ended = 0;
  loop_->RunUntil([&] {
    while (ended < waits.size() && waits[ended].ends > 0) ++ended;
    return ended == waits.size();
  });
  const absl::Time last = absl::Now();
  int wrong = 0;
  for (const TimedWait& w : waits) {
    if (w.res != -ETIMEDOUT || w.ends != 1) ++wrong;
  }
  EXPECT_EQ(wrong, 0) << "first: res " << waits[0].res << ", ends " << waits[0].ends;
  EXPECT_EQ(loop_->in_flight(), 0u);
  std::printf("%d timed waits of %s: first timeout after %s, last after %s\n", n,
              absl::FormatDuration(timeout).c_str(),
              absl::FormatDuration(first - start).c_str(),
              absl::FormatDuration(last - start).c_str());
}

// An operation has one identity per start: starting it again while it is
// in flight would leave two starts under one Operation, so it aborts with a
// message; so does a CQE that matches no start (an SQE written on the
// loop's ring behind its back).
TEST_P(EventLoopTest, StartingAnOperationInFlightAborts) {
  const EventLoopOptions options = Options();
  loop_.reset();  // fork with no loop helper thread running (TSAN)
  EXPECT_DEATH(
      {
        auto loop = EventLoop::Create(options);
        if (!loop.ok()) _exit(4);
        std::atomic<uint32_t> word{0};
        RecordingWait op;
        (*loop)->StartFutexWait(&op, &word, 0, kPriv);
        (*loop)->StartFutexWait(&op, &word, 0, kPriv);
      },
      "an Operation was started again while still in flight");
  if (options.ring == RingMode::kEmulated) return;
  EXPECT_DEATH(
      {
        auto loop = EventLoop::Create(options);
        if (!loop.ok()) _exit(4);
        io_uring_sqe* sqe = (*loop)->ring()->GetSqe();
        io_uring_prep_nop(sqe);
        sqe->user_data = (uint64_t{1} << 63) | 7;
        (*loop)->Poll();
      },
      "matches no operation in flight");
}

std::string ConfigName(const ::testing::TestParamInfo<LoopConfig>& info) {
  if (info.param.ring == RingMode::kEmulated) return "Emulated";
  std::string name =
      info.param.mode == FutexMode::kNative ? "Native" : "Fallback";
  return name + (info.param.defer_taskrun ? "" : "CoopTaskrun");
}

INSTANTIATE_TEST_SUITE_P(
    Modes, EventLoopTest,
    ::testing::Values(LoopConfig{FutexMode::kNative, true},
                      LoopConfig{FutexMode::kFallback, true},
                      LoopConfig{FutexMode::kNative, false},
                      LoopConfig{FutexMode::kFallback, true, RingMode::kEmulated}),
    ConfigName);

TEST(EventLoopCreateTest, AutoPicksNativeHere) {
  auto l = EventLoop::Create();
  ASSERT_TRUE(l.ok()) << l.status();
  ASSERT_FALSE((*l)->emulated());
  EXPECT_EQ((*l)->native_futex(), (*l)->ring()->probe().futex());
}

int OpenFds() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (readdir(d) != nullptr) ++n;
    closedir(d);
  }
  return n;
}

// Collects what this process writes to stderr while alive.
class StderrCapture {
 public:
  StderrCapture() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) return;
    std::fflush(stderr);
    read_fd_ = fds[0];
    saved_fd_ = dup(STDERR_FILENO);
    dup2(fds[1], STDERR_FILENO);
    close(fds[1]);
  }
  ~StderrCapture() { Finish(); }
  std::string Finish() {
    if (saved_fd_ < 0) return text_;
    std::fflush(stderr);
    dup2(saved_fd_, STDERR_FILENO);
    close(saved_fd_);
    saved_fd_ = -1;
    char buf[4096];
    ssize_t n;
    while ((n = read(read_fd_, buf, sizeof(buf))) > 0) text_.append(buf, n);
    close(read_fd_);
    return text_;
  }

 private:
  int read_fd_ = -1;
  int saved_fd_ = -1;
  std::string text_;
};

// Regression: with RingMode::kAuto, options io_uring rejects (sq_entries 0
// or 65536, a CQ smaller than the SQ, ...) quietly selected the emulation
// with a misleading "io_uring unavailable" line. They are InvalidArgument in
// every mode, checked before any engine is tried.
TEST(EventLoopCreateTest, InvalidOptionsAreInvalidArgumentInEveryMode) {
  struct Bad {
    const char* what;
    EventLoopOptions options;
  };
  const Bad kBad[] = {
      {"sq_entries = 0", {.sq_entries = 0}},
      {"sq_entries = 65536", {.sq_entries = 65536}},
      {"sq_entries = UINT32_MAX", {.sq_entries = UINT32_MAX}},
      {"cq_entries < sq_entries", {.sq_entries = 256, .cq_entries = 8}},
      {"cq_entries = 2^20", {.cq_entries = 1u << 20}},
      {"mode = 7", {.mode = static_cast<FutexMode>(7)}},
      {"ring = 9", {.ring = static_cast<RingMode>(9)}},
  };
  const int fds_before = OpenFds();
  StderrCapture captured;
  for (const Bad& bad : kBad) {
    for (RingMode ring : {RingMode::kAuto, RingMode::kIoUring, RingMode::kEmulated}) {
      for (FutexMode mode : {FutexMode::kAuto, FutexMode::kNative, FutexMode::kFallback}) {
        EventLoopOptions options = bad.options;
        if (static_cast<int>(options.ring) <= 2) options.ring = ring;
        if (static_cast<int>(options.mode) <= 2) options.mode = mode;
        absl::StatusOr<std::unique_ptr<EventLoop>> l = EventLoop::Create(options);
        EXPECT_TRUE(absl::IsInvalidArgument(l.status()))
            << bad.what << ", ring " << static_cast<int>(ring) << ", mode "
            << static_cast<int>(mode) << ": "
            << (l.ok() ? std::string(l.value()->emulated() ? "an emulated loop" : "a loop")
                       : l.status().ToString());
        EXPECT_EQ(EventLoop::Current(), nullptr);
      }
    }
  }
  const std::string err = captured.Finish();
  EXPECT_EQ(err.find("io_uring unavailable"), std::string::npos) << err;
  EXPECT_EQ(OpenFds(), fds_before);

  // The limits themselves are valid.
  for (EventLoopOptions ok : {EventLoopOptions{.sq_entries = 2},
                              EventLoopOptions{.sq_entries = 32768},
                              EventLoopOptions{.sq_entries = 100, .cq_entries = 128},
                              EventLoopOptions{.sq_entries = 256, .cq_entries = 65536}}) {
    absl::StatusOr<std::unique_ptr<EventLoop>> l = EventLoop::Create(ok);
    ASSERT_TRUE(l.ok()) << "sq_entries " << ok.sq_entries << ", cq_entries " << ok.cq_entries
                        << ": " << l.status();
    EXPECT_FALSE((*l)->emulated());
  }
}

}  // namespace
}  // namespace ringlock::uring
