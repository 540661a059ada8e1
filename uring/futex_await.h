// uring/futex_await.h — co_await a futex word from a Task on an EventLoop.
//
//   int32_t r = co_await WaitFutex(loop, &word, expected, kFutex2Private);
//
// Yields what EventLoop::StartFutexWait completes with (0, -EAGAIN,
// -ETIMEDOUT, -ECANCELED); WaitFutexAny yields StartFutexWaitv's results.
// If the coroutine frame is destroyed while waiting, the awaiter orphans its
// heap-allocated op: it cancels the wait and the op frees itself on
// completion. Availability and fallback: as EventLoop (native on >= 6.7,
// futex_waitv(2) helper thread otherwise).
#ifndef RINGLOCK_URING_FUTEX_AWAIT_H_
#define RINGLOCK_URING_FUTEX_AWAIT_H_

#include <atomic>
#include <coroutine>
#include <memory>
#include <optional>
#include <vector>

#include "absl/time/time.h"
#include "absl/types/span.h"
#include "uring/event_loop.h"
#include "uring/futex_op.h"
#include "uring/internal/resuming_op.h"

namespace ringlock::uring {

namespace internal {
struct FutexAwaitState final : ResumingOp<FutexWaitvOp> {};
}  // namespace internal

class [[nodiscard]] FutexAwaiter {
 public:
  FutexAwaiter(EventLoop& loop, std::vector<FutexWaitv> entries, bool any,
               Deadline deadline)
      : loop_(&loop), entries_(std::move(entries)), any_(any),
        deadline_(deadline) {}
  FutexAwaiter(FutexAwaiter&&) = default;
  ~FutexAwaiter() {
    if (state_ && !state_->done) {
      internal::FutexAwaitState* s = state_.release();
      s->orphaned = true;
      loop_->CancelFutexWait(s);
    }
  }
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    state_ = std::make_unique<internal::FutexAwaitState>();
    state_->waiter = h;
    if (any_) {
      loop_->StartFutexWaitv(state_.get(), entries_, deadline_);
    } else {
      const FutexWaitv& e = entries_[0];
      loop_->StartFutexWait(
          state_.get(),
          reinterpret_cast<const std::atomic<uint32_t>*>(
              static_cast<uintptr_t>(e.uaddr)),
          static_cast<uint32_t>(e.val), e.flags, deadline_);
    }
  }
  int32_t await_resume() const { return state_->res; }

 private:
  EventLoop* loop_;
  std::vector<FutexWaitv> entries_;
  bool any_;
  Deadline deadline_;
  std::unique_ptr<internal::FutexAwaitState> state_;
};

inline FutexAwaiter WaitFutex(EventLoop& loop,
                              const std::atomic<uint32_t>* word,
                              uint32_t expected, uint32_t futex2_flags,
                              Deadline deadline = Deadline::Never()) {
  return FutexAwaiter(loop, {MakeFutexWaitv(word, expected, futex2_flags)},
                      /*any=*/false, deadline);
}

inline FutexAwaiter WaitFutexAny(
    EventLoop& loop, absl::Span<const FutexWaitv> entries,
    Deadline deadline = Deadline::Never()) {
  return FutexAwaiter(loop, {entries.begin(), entries.end()}, /*any=*/true,
                      deadline);
}

}  // namespace ringlock::uring

#endif  // RINGLOCK_URING_FUTEX_AWAIT_H_
