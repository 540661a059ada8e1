#include <liburing.h>
#include "absl/status/statusor.h"
#include "gtest/gtest.h"
TEST(Smoke, Links) {
  absl::StatusOr<int> v = 3;
  EXPECT_TRUE(v.ok());
  io_uring ring;
  ASSERT_EQ(io_uring_queue_init(8, &ring, 0), 0);
  io_uring_queue_exit(&ring);
}
