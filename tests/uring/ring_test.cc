// Tests for uring/ring.h against the running kernel.
#include "uring/ring.h"

#include <liburing.h>

#include <set>

#include "gtest/gtest.h"

namespace ringlock::uring {
namespace {

TEST(RingTest, CreatesWithNodropAndProbes) {
  absl::StatusOr<Ring> ring = Ring::Create();
  ASSERT_TRUE(ring.ok()) << ring.status();
  EXPECT_TRUE(ring->features() & IORING_FEAT_NODROP);
  EXPECT_TRUE(ring->probe().Supports(IORING_OP_NOP));
  EXPECT_GT(ring->probe().last_op, IORING_OP_NOP);
  // BRIEF.md §3: this machine runs 6.18 with the futex opcodes.
  EXPECT_TRUE(ring->probe().futex()) << "last_op=" << int(ring->probe().last_op);
  EXPECT_TRUE(ring->setup_flags() & IORING_SETUP_SINGLE_ISSUER);
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

TEST(RingTest, WithoutSingleIssuer) {
  absl::StatusOr<Ring> ring =
      Ring::Create({.single_issuer = false, .defer_taskrun = false});
  ASSERT_TRUE(ring.ok());
  EXPECT_FALSE(ring->setup_flags() & IORING_SETUP_SINGLE_ISSUER);
  io_uring_prep_nop(ring->GetSqe());
  ASSERT_EQ(ring->SubmitAndWait(), 0);
  EXPECT_EQ(ring->Reap([](const Completion&) {}), 1u);
}

}  // namespace
}  // namespace ringlock::uring
