#include "locks/ring_wait_backend.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "locks/internal/uring_glue.h"
#include "uring/futex_op.h"

namespace ringlock::internal {
namespace {

// Lives on the blocked thread's stack: RunUntil returns only after Complete.
template <class Base>
struct BlockingOp final : Base {
  BlockingOp(uring::EventLoop& loop, WaitLeaver& leaver)
      : loop(loop), leaver(leaver), depth(loop.run_depth() + 1) {}

  void Complete(int32_t r) override {
    res = r;
    done = true;
    // Completed while a nested RunUntil runs above ours: we cannot act on a
    // wake until it returns, so hand it on now (see the header).
    if (loop.run_depth() > depth) {
      leaver.Leave();
      left = true;
    }
  }

  uring::EventLoop& loop;
  WaitLeaver& leaver;
  const int depth;  // the run depth of our own RunUntil
  int32_t res = 0;
  bool done = false;
  bool left = false;
};

BackendWaitResult ToResult(int32_t res) {
  CheckLoopFutexResult(res);
  switch (res) {
    case -EAGAIN:
      return BackendWaitResult::kValueChanged;
    case -ETIMEDOUT:
      return BackendWaitResult::kTimedOut;
    default:
      return BackendWaitResult::kWoken;  // woken, or cancelled: re-check the word
  }
}

// The ring layer's backend chooser (see InstallThreadBackendChooser): the
// ring-blocking backend for a thread that owns an EventLoop.
WaitBackend* RingBackendForThisThread() {
  uring::EventLoop* loop = uring::EventLoop::Current();
  if (loop == nullptr) return nullptr;
  thread_local RingWaitBackend ring(*loop);
  ring.set_loop(*loop);
  return &ring;
}

[[maybe_unused]] const bool kInstalled = [] {
  InstallThreadBackendChooser(&RingBackendForThisThread);
  return true;
}();

}  // namespace

BackendWaitResult RingWaitBackend::Wait(const std::atomic<uint32_t>& word, uint32_t expected,
                                        Deadline deadline, FutexScope scope, uint32_t bitset,
                                        WaitLeaver& leaver) {
  BlockingOp<uring::FutexWaitOp> op(*loop_, leaver);
  op.set_wait_mask(bitset);
  loop_->StartFutexWait(&op, &word, expected, Futex2Flags(scope), deadline);
  loop_->RunUntil([&] { return op.done; });
  return op.left ? BackendWaitResult::kLeft : ToResult(op.res);
}

BackendWaitResult RingWaitBackend::WaitAny(const futex::WaitvEntry* entries, int count,
                                           Deadline deadline, int* index, WaitLeaver& leaver) {
  std::vector<uring::FutexWaitv> v(count);
  for (int i = 0; i < count; ++i) {
    v[i] =
        uring::MakeFutexWaitv(entries[i].word, entries[i].expected, Futex2Flags(entries[i].scope));
  }
  BlockingOp<uring::FutexWaitvOp> op(*loop_, leaver);
  loop_->StartFutexWaitv(&op, v, deadline);
  loop_->RunUntil([&] { return op.done; });
  *index = -1;
  if (op.left) return BackendWaitResult::kLeft;
  if (op.res >= 0) {
    *index = op.res;
    return BackendWaitResult::kWoken;
  }
  return ToResult(op.res);
}

void LoopFutexWaitFailed(int err) {
  std::fprintf(stderr, "ringlock: futex wait through the event loop failed: %s (errno %d)\n",
               std::strerror(err), err);
  std::abort();
}

}  // namespace ringlock::internal
