// Tests for uring/ring.h against the running kernel.
#include "uring/ring.h"

#include <liburing.h>

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>
#include <string>

#include "gtest/gtest.h"

namespace ringlock::uring {
namespace {

TEST(RingTest, CreatesWithNodropAndProbes) {
  absl::StatusOr<Ring> ring = Ring::Create();
  ASSERT_TRUE(ring.ok()) << ring.status();
  EXPECT_TRUE(ring->features() & IORING_FEAT_NODROP);
  EXPECT_TRUE(ring->probe().Supports(IORING_OP_NOP));
  EXPECT_GT(ring->probe().last_op, IORING_OP_NOP);
  // The machines this project tests on run Linux >= 6.7, with the futex opcodes.
  EXPECT_TRUE(ring->probe().futex()) << "last_op=" << int(ring->probe().last_op);
  EXPECT_TRUE(ring->setup_flags() & IORING_SETUP_SINGLE_ISSUER);
  EXPECT_TRUE(ring->setup_flags() & IORING_SETUP_DEFER_TASKRUN);  // >= 6.1
}

TEST(RingTest, MoveKeepsTheRing) {
  absl::StatusOr<Ring> made = Ring::Create();
  ASSERT_TRUE(made.ok());
  Ring a = std::move(*made);
  Ring b = std::move(a);
  io_uring_prep_nop(b.GetSqe());
  ASSERT_EQ(b.SubmitAndWait(), 0);
  EXPECT_EQ(b.Reap([](const Completion&) {}), 1u);
}

// More operations than SQ entries: GetSqe submits when the SQ is full and
// every operation completes exactly once.
TEST(RingTest, FullSubmissionQueueDropsNothing) {
  absl::StatusOr<Ring> ring = Ring::Create({.sq_entries = 4});
  ASSERT_TRUE(ring.ok());
  constexpr int kOps = 1000;
  for (int i = 0; i < kOps; ++i) {
    io_uring_sqe* sqe = ring->GetSqe();
    ASSERT_NE(sqe, nullptr);
    io_uring_prep_nop(sqe);
    sqe->user_data = i + 1;
  }
  std::set<uint64_t> seen;
  while (seen.size() < kOps) {
    ASSERT_EQ(ring->SubmitAndWait(), 0);
    ring->Reap([&](const Completion& c) {
      EXPECT_EQ(c.res, 0);
      EXPECT_TRUE(seen.insert(c.user_data).second) << c.user_data;
    });
  }
  EXPECT_EQ(seen.size(), size_t{kOps});
}

// More completions in flight than CQ entries: the kernel's overflow list
// (IORING_FEAT_NODROP) and the ring's backlog keep every one.
TEST(RingTest, CompletionQueueOverflowLosesNothing) {
  absl::StatusOr<Ring> ring = Ring::Create({.sq_entries = 8, .cq_entries = 16});
  ASSERT_TRUE(ring.ok());
  ASSERT_EQ(ring->cq_entries(), 16u);
  constexpr int kOps = 500;  // > 30 CQ rings' worth, never reaped meanwhile.
  for (int i = 0; i < kOps; ++i) {
    io_uring_sqe* sqe = ring->GetSqe();
    io_uring_prep_nop(sqe);
    sqe->user_data = i + 1;
  }
  ASSERT_GE(ring->Submit(), 0);
  std::set<uint64_t> seen;
  while (seen.size() < kOps) {
    ASSERT_EQ(ring->SubmitAndWait(), 0);
    ring->Reap([&](const Completion& c) {
      EXPECT_TRUE(seen.insert(c.user_data).second) << c.user_data;
    });
  }
  EXPECT_EQ(seen.size(), size_t{kOps});
}

// Runs Ring::Create in a forked child whose seccomp filter makes
// io_uring_setup fail with `err`; returns "<status code>|<message>".
std::string CreateUnderSeccomp(int err) {
  int p[2];
  if (pipe(p) != 0) return "pipe failed";
  pid_t pid = fork();
  if (pid == 0) {
    close(p[0]);
    sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K,
                 SECCOMP_RET_ERRNO | (static_cast<uint32_t>(err) & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog prog{static_cast<unsigned short>(sizeof(filter) / sizeof(filter[0])),
                    filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
      _exit(2);
    }
    absl::StatusOr<Ring> r = Ring::Create();
    std::string out = std::to_string(static_cast<int>(r.status().code())) + "|" +
                      std::string(r.status().message());
    (void)!write(p[1], out.data(), out.size());
    _exit(0);
  }
  close(p[1]);
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = read(p[0], buf, sizeof(buf))) > 0) out.append(buf, n);
  close(p[0]);
  int status;
  waitpid(pid, &status, 0);
  return out;
}

TEST(RingTest, ClearErrorWhenIoUringIsDenied) {
  std::string eperm = CreateUnderSeccomp(EPERM);
  EXPECT_EQ(eperm.substr(0, eperm.find('|')),
            std::to_string(static_cast<int>(absl::StatusCode::kPermissionDenied)))
      << eperm;
  EXPECT_NE(eperm.find("kernel.io_uring_disabled="), std::string::npos) << eperm;
  EXPECT_NE(eperm.find("seccomp"), std::string::npos) << eperm;

  std::string enosys = CreateUnderSeccomp(ENOSYS);
  EXPECT_EQ(enosys.substr(0, enosys.find('|')),
            std::to_string(static_cast<int>(absl::StatusCode::kUnimplemented)))
      << enosys;
  EXPECT_NE(enosys.find("no io_uring"), std::string::npos) << enosys;

  std::string enomem = CreateUnderSeccomp(ENOMEM);
  EXPECT_EQ(enomem.substr(0, enomem.find('|')),
            std::to_string(static_cast<int>(absl::StatusCode::kResourceExhausted)))
      << enomem;
  EXPECT_NE(enomem.find("RLIMIT_MEMLOCK"), std::string::npos) << enomem;
}

TEST(RingTest, WithoutSingleIssuer) {
  absl::StatusOr<Ring> ring =
      Ring::Create({.single_issuer = false, .defer_taskrun = false});
  ASSERT_TRUE(ring.ok());
  EXPECT_FALSE(ring->setup_flags() & IORING_SETUP_SINGLE_ISSUER);
  EXPECT_FALSE(ring->setup_flags() & IORING_SETUP_DEFER_TASKRUN);
  EXPECT_TRUE(ring->setup_flags() & IORING_SETUP_COOP_TASKRUN);  // >= 5.19
  io_uring_prep_nop(ring->GetSqe());
  ASSERT_EQ(ring->SubmitAndWait(), 0);
  EXPECT_EQ(ring->Reap([](const Completion&) {}), 1u);
}

}  // namespace
}  // namespace ringlock::uring
