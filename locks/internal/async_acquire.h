// The async (coroutine) driver of a word protocol: the counterpart of
// internal/block_on.h for waiters that must not block their thread.
//
// co_await AsyncAcquire<Acquisition>{...} runs the same Arm / OnWake / Leave
// steps as a blocked thread, but each sleep is an EventLoop::StartFutexWait
// (IORING_OP_FUTEX_WAIT, or the loop's futex_waitv(2) helper before 6.7),
// and the coroutine is resumed from the completion.
//
// Lifetime and cancellation: the pending wait lives in a heap object the
// loop completes. If the coroutine frame is destroyed while it waits, the
// awaiter orphans that object: it asks the loop to cancel the wait, and when
// the completion arrives the object runs Leave() (which passes on any wake
// the wait consumed: a Mutex handoff, a Semaphore permit, an auto-reset set)
// and frees itself. The primitive must outlive such pending waits.
#ifndef RINGLOCK_LOCKS_INTERNAL_ASYNC_ACQUIRE_H_
#define RINGLOCK_LOCKS_INTERNAL_ASYNC_ACQUIRE_H_

#include <cerrno>
#include <coroutine>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "locks/futex.h"
#include "locks/internal/block_on.h"
#include "locks/internal/uring_glue.h"
#include "uring/event_loop.h"
#include "uring/futex_op.h"

namespace ringlock {

// How an async wait ended.
enum class AsyncWaitStatus : uint8_t {
  kAcquired,   // the lock / permit / event was taken
  kTimedOut,   // the deadline passed first; nothing taken
  kCancelled,  // the loop was destroyed first; nothing taken
  kRefused,    // the word's waiter count is full; nothing taken, never waited
};

namespace internal {

// The operation a waiting coroutine's acquisition sleeps in: FUTEX_WAIT for
// one word, FUTEX_WAITV for many.
template <class A>
using AsyncWaitOpFor =
    std::conditional_t<ManyWordAcquisition<A>, uring::FutexWaitvOp, uring::FutexWaitOp>;

template <Acquisition A>
class AsyncAcquireState final : public AsyncWaitOpFor<A> {
 public:
  AsyncAcquireState(A acq, uring::EventLoop& loop, Deadline deadline)
      : acq_(std::move(acq)), loop_(loop), deadline_(deadline) {}

  void Start(uint32_t expected) {
    if constexpr (ManyWordAcquisition<A>) {
      const absl::Span<const futex::WaitvEntry> entries = acq_.entries();
      waitv_.clear();
      for (const futex::WaitvEntry& e : entries) {
        waitv_.push_back(uring::MakeFutexWaitv(e.word, e.expected, Futex2Flags(e.scope)));
      }
      loop_.StartFutexWaitv(this, waitv_, deadline_);
    } else {
      this->set_wait_mask(acq_.bitset());
      loop_.StartFutexWait(this, &acq_.word(), expected, Futex2Flags(acq_.scope()),
                           deadline_);
    }
  }

  const A& acquisition() const { return acq_; }

  void Complete(int32_t res) override {
    if (orphaned_) {
      acq_.Leave();
      delete this;
      return;
    }
    CheckLoopFutexResult(res);
    uint32_t expected = 0;
    if (acq_.OnWake(&expected)) {
      Finish(AsyncWaitStatus::kAcquired);
    } else if (res == -ETIMEDOUT || deadline_.HasPassed()) {
      acq_.Leave();
      Finish(AsyncWaitStatus::kTimedOut);
    } else if (res == -ECANCELED) {
      acq_.Leave();
      Finish(AsyncWaitStatus::kCancelled);
    } else {
      Start(expected);  // woken but beaten to it, or the word moved: wait again
    }
  }

  void Orphan() {
    orphaned_ = true;
    loop_.CancelFutexWait(this);
  }

  bool finished() const { return finished_; }
  AsyncWaitStatus status() const { return status_; }
  void set_waiter(std::coroutine_handle<> h) { waiter_ = h; }
  bool resume_on_cancel = true;

 private:
  void Finish(AsyncWaitStatus status) {
    status_ = status;
    finished_ = true;
    // Untimed waits have no way to report cancellation (the loop is going
    // away): their coroutine stays suspended and its owner destroys it.
    if (status == AsyncWaitStatus::kCancelled && !resume_on_cancel) return;
    waiter_.resume();  // may destroy the awaiter and with it `this`: last
  }

  A acq_;
  uring::EventLoop& loop_;
  Deadline deadline_;
  std::vector<uring::FutexWaitv> waitv_;  // many words: the entries to arm
  std::coroutine_handle<> waiter_;
  AsyncWaitStatus status_ = AsyncWaitStatus::kCancelled;
  bool finished_ = false;
  bool orphaned_ = false;
};

// Awaitable; await_resume() yields the AsyncWaitStatus. The one driver every
// waiting coroutine runs, for every primitive and for WaitAnyAsync.
template <Acquisition A>
class [[nodiscard]] AsyncAcquire {
 public:
  AsyncAcquire(A acq, uring::EventLoop& loop, Deadline deadline, bool resume_on_cancel)
      : acq_(std::move(acq)), loop_(&loop), deadline_(deadline),
        resume_on_cancel_(resume_on_cancel) {}
  AsyncAcquire(AsyncAcquire&& other) noexcept
      : acq_(std::move(other.acq_)), loop_(other.loop_), deadline_(other.deadline_),
        resume_on_cancel_(other.resume_on_cancel_), state_(std::exchange(other.state_, nullptr)),
        ready_(other.ready_), refused_(other.refused_) {}
  AsyncAcquire& operator=(AsyncAcquire&&) = delete;

  ~AsyncAcquire() {
    if (state_ == nullptr) return;
    if (state_->finished()) {
      delete state_;
    } else {
      state_->Orphan();  // the frame dies while waiting: see the file comment
    }
  }

  bool await_ready() {
    // Acquisitions may offer a cheaper first attempt than Arm (the Mutex:
    // its inline fast path and bounded spin, exactly as lock()).
    if constexpr (requires { acq_.TryBeforeArm(); }) {
      if (acq_.TryBeforeArm()) return ready_ = true;
    }
    uint32_t expected = 0;
    ready_ = acq_.Arm(&expected);
    // Acquisitions built to refuse a waiter their word cannot count (timed
    // forms, which can report it) register nothing: resume at once.
    if constexpr (requires { acq_.refused(); }) {
      if (!ready_ && acq_.refused()) return refused_ = true;
    }
    if (!ready_) expected_ = expected;
    return ready_;
  }

  void await_suspend(std::coroutine_handle<> h) {
    state_ = new AsyncAcquireState<A>(acq_, *loop_, deadline_);
    state_->resume_on_cancel = resume_on_cancel_;
    state_->set_waiter(h);
    state_->Start(expected_);
  }

  AsyncWaitStatus await_resume() const {
    if (refused_) return AsyncWaitStatus::kRefused;
    return ready_ ? AsyncWaitStatus::kAcquired : state_->status();
  }

  // The acquisition after the wait (e.g. which primitive WaitAny took).
  const A& acquisition() const { return state_ ? state_->acquisition() : acq_; }

 private:
  A acq_;
  uring::EventLoop* loop_;
  Deadline deadline_;
  bool resume_on_cancel_;
  AsyncAcquireState<A>* state_ = nullptr;
  bool ready_ = false;
  bool refused_ = false;
  uint32_t expected_ = 0;
};

// Adapts an awaitable's result: co_await yields fn(inner.await_resume()).
template <class Inner, class Fn>
class [[nodiscard]] MappedAwaiter {
 public:
  MappedAwaiter(Inner inner, Fn fn) : inner_(std::move(inner)), fn_(std::move(fn)) {}
  bool await_ready() { return inner_.await_ready(); }
  void await_suspend(std::coroutine_handle<> h) { inner_.await_suspend(h); }
  decltype(auto) await_resume() { return fn_(inner_.await_resume()); }

 private:
  Inner inner_;
  Fn fn_;
};

// The Status an async timed wait reports for `status`.
absl::Status AsyncWaitError(AsyncWaitStatus status, const char* primitive);

}  // namespace internal
}  // namespace ringlock

#endif  // RINGLOCK_LOCKS_INTERNAL_ASYNC_ACQUIRE_H_
