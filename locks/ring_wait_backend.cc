#include "locks/ring_wait_backend.h"

#include <cerrno>
#include <vector>

#include "locks/internal/uring_glue.h"
#include "uring/futex_op.h"

namespace ringlock::internal {
namespace {

// Lives on the blocked thread's stack: RunUntil returns only after Complete.
template <class Base>
struct BlockingOp final : Base {
  int32_t res = 0;
  bool done = false;
  void Complete(int32_t r) override {
    res = r;
    done = true;
  }
};

FutexWaitResult ToResult(int32_t res) {
  switch (res) {
    case -EAGAIN:
      return FutexWaitResult::kValueChanged;
    case -ETIMEDOUT:
      return FutexWaitResult::kTimedOut;
    default:
      return FutexWaitResult::kWoken;  // woken, or cancelled: re-check the word
  }
}

}  // namespace

FutexWaitResult RingWaitBackend::Wait(const std::atomic<uint32_t>& word, uint32_t expected,
                                      Deadline deadline, FutexScope scope, uint32_t bitset) {
  BlockingOp<uring::FutexWaitOp> op;
  op.set_wait_mask(bitset);
  loop_->StartFutexWait(&op, &word, expected, Futex2Flags(scope), ToAbslDeadline(deadline));
  loop_->RunUntil([&] { return op.done; });
  return ToResult(op.res);
}

futex::WaitvResult RingWaitBackend::WaitAny(const futex::WaitvEntry* entries, int count,
                                            Deadline deadline) {
  std::vector<uring::FutexWaitv> v(count);
  for (int i = 0; i < count; ++i) {
    v[i] = uring::MakeFutexWaitv(entries[i].word, entries[i].expected,
                                 Futex2Flags(entries[i].scope));
  }
  BlockingOp<uring::FutexWaitvOp> op;
  loop_->StartFutexWaitv(&op, v, ToAbslDeadline(deadline));
  loop_->RunUntil([&] { return op.done; });
  if (op.res >= 0) return {FutexWaitResult::kWoken, op.res};
  return {ToResult(op.res), -1};
}

}  // namespace ringlock::internal
