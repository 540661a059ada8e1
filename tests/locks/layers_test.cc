// The ring layer installs itself into the core when it is linked (//locks):
// a thread that owns an EventLoop parks in its ring, any other in futex(2);
// ScopedFutexBlocking opts a scope out.
#include <string>

#include "gtest/gtest.h"
#include "locks/internal/wait_backend.h"
#include "locks/ring_wait_backend.h"
#include "uring/event_loop.h"

namespace ringlock {
namespace {

std::string Backend() { return internal::CurrentWaitBackend().name(); }

TEST(LayersTest, TheRingLayerBecomesTheParkerOfALoopThread) {
  EXPECT_EQ(Backend(), "futex");
  {
    auto loop = uring::EventLoop::Create();
    ASSERT_TRUE(loop.ok()) << loop.status();
    EXPECT_EQ(Backend(), "ring");
    {
      ScopedFutexBlocking futex_only;
      EXPECT_EQ(Backend(), "futex");
    }
    EXPECT_EQ(Backend(), "ring");
  }
  EXPECT_EQ(Backend(), "futex");
}

}  // namespace
}  // namespace ringlock
