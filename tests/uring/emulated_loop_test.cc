// The io_uring emulation (uring/internal/sqe_emulator.h) through EventLoop:
// the cases io.h's awaitables do not reach (the suites in task_io_test and
// event_loop_test run their common cases on the emulated loop too).
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <array>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "uring/event_loop.h"
#include "uring/io.h"

namespace ringlock::uring {
namespace {

struct Op final : Operation {
  int32_t res = 0;
  int completions = 0;
  void Complete(int32_t r) override {
    res = r;
    ++completions;
  }
};

class EmulatedLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto l = EventLoop::Create({.mode = FutexMode::kFallback, .ring = RingMode::kEmulated});
    ASSERT_TRUE(l.ok()) << l.status();
    loop_ = std::move(*l);
    ASSERT_TRUE(loop_->emulated());
    ASSERT_EQ(loop_->ring(), nullptr);
  }
  void RunUntilDone(const Op& op) {
    loop_->RunUntil([&] { return op.completions > 0; });
  }
  std::unique_ptr<EventLoop> loop_;
};

TEST_F(EmulatedLoopTest, NativeFutexModeIsRejected) {
  auto l = EventLoop::Create({.mode = FutexMode::kNative, .ring = RingMode::kEmulated});
  ASSERT_FALSE(l.ok());
  EXPECT_TRUE(absl::IsUnimplemented(l.status())) << l.status();
}

TEST_F(EmulatedLoopTest, RegularFileAtOffsetsAndVectors) {
  char path[] = "/tmp/ringlock_emulated_XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  unlink(path);
  Op w;
  loop_->StartOperation(&w, [&](io_uring_sqe* s) { io_uring_prep_write(s, fd, "abcdef", 6, 10); });
  RunUntilDone(w);
  EXPECT_EQ(w.res, 6);
  char a[3] = {}, b[3] = {};
  iovec iov[2] = {{a, 3}, {b, 3}};
  Op r;
  loop_->StartOperation(&r, [&](io_uring_sqe* s) { io_uring_prep_readv(s, fd, iov, 2, 10); });
  RunUntilDone(r);
  EXPECT_EQ(r.res, 6);
  EXPECT_EQ(std::string(a, 3) + std::string(b, 3), "abcdef");
  close(fd);
}

TEST_F(EmulatedLoopTest, ReadsOnOneFdCompleteInSubmissionOrder) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  Op first, second;
  char c1 = 0, c2 = 0;
  loop_->StartOperation(&first, [&](io_uring_sqe* s) { io_uring_prep_read(s, p[0], &c1, 1, -1); });
  loop_->StartOperation(&second, [&](io_uring_sqe* s) { io_uring_prep_read(s, p[0], &c2, 1, -1); });
  loop_->Poll();
  EXPECT_EQ(first.completions + second.completions, 0);  // Nothing to read yet.
  ASSERT_EQ(write(p[1], "xy", 2), 2);
  loop_->RunUntil([&] { return first.completions && second.completions; });
  EXPECT_EQ(c1, 'x');
  EXPECT_EQ(c2, 'y');
  close(p[0]);
  close(p[1]);
}

TEST_F(EmulatedLoopTest, OffsetsOnPipesAreIgnoredAsByIoUring) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  ASSERT_EQ(write(p[1], "ab", 2), 2);
  char c[2] = {};
  Op r;
  loop_->StartOperation(&r, [&](io_uring_sqe* s) { io_uring_prep_read(s, p[0], c, 2, 0); });
  RunUntilDone(r);
  EXPECT_EQ(r.res, 2);  // Not -ESPIPE.
  EXPECT_EQ(std::string(c, 2), "ab");
  close(p[0]);
  close(p[1]);
}

TEST_F(EmulatedLoopTest, ReadSeesEofAndErrors) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  Op eof;
  char c;
  loop_->StartOperation(&eof, [&](io_uring_sqe* s) { io_uring_prep_read(s, p[0], &c, 1, -1); });
  loop_->Poll();
  close(p[1]);  // Hang-up wakes the pending read: EOF.
  RunUntilDone(eof);
  EXPECT_EQ(eof.res, 0);
  close(p[0]);
  Op bad;
  loop_->StartOperation(&bad, [&](io_uring_sqe* s) { io_uring_prep_read(s, p[0], &c, 1, -1); });
  RunUntilDone(bad);
  EXPECT_EQ(bad.res, -EBADF);
}

TEST_F(EmulatedLoopTest, ConnectRefusedAndNonBlockingStateKept) {
  // A port nobody listens on: bind one, then close it.
  int probe = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(probe, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(probe, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  close(probe);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  Op c;
  loop_->StartOperation(&c, [&](io_uring_sqe* s) {
    io_uring_prep_connect(s, fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  });
  RunUntilDone(c);
  EXPECT_EQ(c.res, -ECONNREFUSED);
  EXPECT_FALSE(fcntl(fd, F_GETFL) & O_NONBLOCK);  // The caller's blocking mode is back.
  close(fd);
}

TEST_F(EmulatedLoopTest, RecvWithDontwaitDoesNotWait) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  Op r;
  char buf[4];
  loop_->StartOperation(&r, [&](io_uring_sqe* s) { io_uring_prep_recv(s, sv[0], buf, 4, MSG_DONTWAIT); });
  RunUntilDone(r);
  EXPECT_EQ(r.res, -EAGAIN);
  close(sv[0]);
  close(sv[1]);
}

TEST_F(EmulatedLoopTest, UnsupportedOpcodesAndFlagsAreEinval) {
  Op fsync_op, linked;
  loop_->StartOperation(&fsync_op, [&](io_uring_sqe* s) { io_uring_prep_fsync(s, 0, 0); });
  loop_->StartOperation(&linked, [&](io_uring_sqe* s) {
    io_uring_prep_nop(s);
    s->flags |= IOSQE_IO_LINK;
  });
  loop_->RunUntil([&] { return fsync_op.completions && linked.completions; });
  EXPECT_EQ(fsync_op.res, -EINVAL);
  EXPECT_EQ(linked.res, -EINVAL);
}

TEST_F(EmulatedLoopTest, TimeoutsAbsoluteRelativeAndCancelled) {
  __kernel_timespec rel{.tv_sec = 0, .tv_nsec = 20'000'000};
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  int64_t abs_ns = int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec + 10'000'000;
  __kernel_timespec abs{.tv_sec = abs_ns / 1'000'000'000, .tv_nsec = abs_ns % 1'000'000'000};
  __kernel_timespec forever{.tv_sec = 3600, .tv_nsec = 0};
  Op r, a, f;
  absl::Time start = absl::Now();
  loop_->StartOperation(&r, [&](io_uring_sqe* s) { io_uring_prep_timeout(s, &rel, 0, 0); });
  loop_->StartOperation(&a, [&](io_uring_sqe* s) {
    io_uring_prep_timeout(s, &abs, 0, IORING_TIMEOUT_ABS);
  });
  loop_->StartOperation(&f, [&](io_uring_sqe* s) { io_uring_prep_timeout(s, &forever, 0, 0); });
  RunUntilDone(a);
  EXPECT_EQ(a.res, -ETIME);
  EXPECT_EQ(r.completions, 0);  // The absolute one (10 ms) fires first.
  RunUntilDone(r);
  EXPECT_EQ(r.res, -ETIME);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(19));
  loop_->Cancel(&f);
  RunUntilDone(f);
  EXPECT_EQ(f.res, -ECANCELED);
  EXPECT_EQ(loop_->in_flight(), 0u);
}

TEST_F(EmulatedLoopTest, CancelSyncFreesTheBufferAtOnce) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  auto* buf = new char[16];
  Op r;
  loop_->StartOperation(&r, [&](io_uring_sqe* s) { io_uring_prep_read(s, p[0], buf, 16, -1); });
  loop_->Poll();
  loop_->CancelSync(&r);
  delete[] buf;  // ASAN: the emulator must never write here again.
  ASSERT_EQ(write(p[1], "late", 4), 4);
  RunUntilDone(r);
  EXPECT_EQ(r.res, -ECANCELED);
  loop_->Poll();
  EXPECT_EQ(r.completions, 1);
  char rest[4];
  EXPECT_EQ(read(p[0], rest, 4), 4);  // The data is still in the pipe.
  close(p[0]);
  close(p[1]);
}

TEST_F(EmulatedLoopTest, ManyPendingReadsSurviveLoopDestruction) {
  std::vector<std::array<int, 2>> pipes(300);
  std::vector<Op> ops(300);
  char sink;
  for (size_t i = 0; i < pipes.size(); ++i) {
    ASSERT_EQ(pipe(pipes[i].data()), 0);
    loop_->StartOperation(&ops[i], [&](io_uring_sqe* s) {
      io_uring_prep_read(s, pipes[i][0], &sink, 1, -1);
    });
  }
  loop_->Poll();
  EXPECT_EQ(loop_->in_flight(), 300u);
  loop_.reset();  // Cancels all 300 and dispatches their completions.
  for (const Op& op : ops) {
    EXPECT_EQ(op.completions, 1);
    EXPECT_EQ(op.res, -ECANCELED);
  }
  for (auto& p : pipes) {
    close(p[0]);
    close(p[1]);
  }
}

}  // namespace
}  // namespace ringlock::uring
