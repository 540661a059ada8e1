// The async (coroutine) driver of a word protocol: the counterpart of
// internal/block_on.h for waiters that must not block their thread.
//
// co_await AsyncAcquire<Acquisition, Loop>{...} runs the same Arm / OnWake /
// Leave steps as a blocked thread, but each sleep is an asynchronous futex
// wait started on `Loop` and the coroutine is resumed from its completion.
//
// The driver knows nothing of io_uring: it reaches the loop only through
// AsyncLoop<Loop> (below), which the ring layer defines for uring::EventLoop
// in locks/async.h (a test build can define it for a model loop). The
// primitives' headers name only AsyncWaits<Loop> (declared in
// internal/async_waits.h), so they pull in neither this file nor any loop; a
// file that co_awaits a primitive includes locks/async.h.
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
#include <span>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "locks/futex.h"
#include "locks/internal/async_waits.h"
#include "locks/internal/block_on.h"

namespace ringlock {

namespace internal {

template <class>
inline constexpr bool kNoAsyncLoop = false;

// How the driver starts and cancels a futex wait on a `Loop`. A
// specialization provides:
//   template <bool kManyWords> using WaitOp = ...;  // a base class with
//       virtual void Complete(int32_t res), kept alive until it runs
//   static void StartWait(Loop&, WaitOp<false>*, const internal::FutexWord& word,
//                         uint32_t expected, FutexScope, uint32_t bitset, Deadline);
//   static void StartWaitv(Loop&, WaitOp<true>*,
//                          std::span<const internal::WaitEntry>, Deadline);
//   static void Cancel(Loop&, WaitOp<kManyWords>*);  // for both kinds
//   static void Schedule(Loop&, void (*fn)(void* arg, bool loop_destroying),
//                        void* arg);  // fn(arg, false) in a later step
//   static void CheckResult(int32_t res);  // aborts on a fault
// Completion results: 0 or an index (woken), -EAGAIN (a word differed when
// armed), -ETIMEDOUT, -ECANCELED (cancelled, or the loop is going away),
// -EINTR or -ENOMEM (transient: treated as a spurious return).
template <class Loop>
struct AsyncLoop {
  static_assert(kNoAsyncLoop<Loop>,
                "co_await on a ringlock primitive needs #include \"locks/async.h\" "
                "(Bazel: //locks or //locks:ring)");
};

template <Acquisition A, class Loop>
class AsyncAcquireState final : public AsyncLoop<Loop>::template WaitOp<ManyWordAcquisition<A>> {
  using L = AsyncLoop<Loop>;
  using WaitOp = typename L::template WaitOp<ManyWordAcquisition<A>>;

 public:
  AsyncAcquireState(A acq, Loop& loop, Deadline deadline)
      : acq_(std::move(acq)), loop_(loop), deadline_(deadline) {}

  void Start(uint32_t expected) {
    if constexpr (ManyWordAcquisition<A>) {
      L::StartWaitv(loop_, this, acq_.entries(), deadline_);
    } else {
      L::StartWait(loop_, this, acq_.word(), expected, acq_.scope(), acq_.bitset(), deadline_);
    }
  }

  const A& acquisition() const { return acq_; }

  void Complete(int32_t res) override {
    if (orphaned_) {
      acq_.Leave();
      delete this;
      return;
    }
    L::CheckResult(res);
    uint32_t expected = 0;
    if (acq_.OnWake(&expected)) {
      Finish(AsyncWaitStatus::kAcquired);
    } else if (res == -ETIMEDOUT || DeadlinePassed(deadline_)) {
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
    L::Cancel(loop_, static_cast<WaitOp*>(this));
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
  Loop& loop_;
  Deadline deadline_;
  std::coroutine_handle<> waiter_;
  AsyncWaitStatus status_ = AsyncWaitStatus::kCancelled;
  bool finished_ = false;
  bool orphaned_ = false;
};

// Awaitable; await_resume() yields the AsyncWaitStatus. The one driver every
// waiting coroutine runs, for every primitive and for WaitAnyAsync.
template <Acquisition A, class Loop>
class [[nodiscard]] AsyncAcquire {
 public:
  AsyncAcquire(A acq, Loop& loop, Deadline deadline, bool resume_on_cancel)
      : acq_(std::move(acq)),
        loop_(&loop),
        deadline_(deadline),
        resume_on_cancel_(resume_on_cancel) {}
  AsyncAcquire(AsyncAcquire&& other) noexcept
      : acq_(std::move(other.acq_)),
        loop_(other.loop_),
        deadline_(other.deadline_),
        resume_on_cancel_(other.resume_on_cancel_),
        state_(std::exchange(other.state_, nullptr)),
        ready_(other.ready_),
        refused_(other.refused_) {}
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
    state_ = new AsyncAcquireState<A, Loop>(acq_, *loop_, deadline_);
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
  Loop* loop_;
  Deadline deadline_;
  bool resume_on_cancel_;
  AsyncAcquireState<A, Loop>* state_ = nullptr;
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
  decltype(auto) await_resume() { return fn_(inner_.await_resume(), inner_); }

 private:
  Inner inner_;
  Fn fn_;
};

// The Status an async timed wait reports for `status`.
absl::Status AsyncWaitError(AsyncWaitStatus status, const char* primitive);

// The async forms of every primitive, written once, over any loop type with
// an AsyncLoop. `on_acquired(awaiter)` makes the result of a wait that took
// the primitive (a lock guard, nothing, the index WaitAny took).
template <class Loop>
struct AsyncWaits {
  static absl::Status Error(AsyncWaitStatus status, const char* primitive) {
    return AsyncWaitError(status, primitive);
  }

  // The bare driver: co_await yields the AsyncWaitStatus.
  template <Acquisition A>
  static AsyncAcquire<A, Loop> Raw(A acq, Loop& loop, Deadline deadline, bool resume_on_cancel) {
    return AsyncAcquire<A, Loop>(std::move(acq), loop, deadline, resume_on_cancel);
  }

  // Untimed: co_await yields on_acquired(...). A wait cut by the loop's
  // destruction is never resumed (there is no result to give): the
  // coroutine's owner destroys it.
  template <Acquisition A, class OnAcquired>
  static auto Untimed(A acq, Loop& loop, OnAcquired on_acquired) {
    using Inner = AsyncAcquire<A, Loop>;
    return MappedAwaiter(Inner(std::move(acq), loop, Deadline::Never(), /*resume_on_cancel=*/false),
                         [on_acquired = std::move(on_acquired)](AsyncWaitStatus, const Inner& in) {
                           return on_acquired(in);
                         });
  }

  // Timed: co_await yields absl::Status (on_acquired returns void) or
  // absl::StatusOr<T>: the result, or DeadlineExceeded, Cancelled (the loop
  // was destroyed first) or ResourceExhausted (the word's waiter count is
  // full; nothing waited), naming `primitive`. Nothing is taken unless OK.
  template <Acquisition A, class OnAcquired>
  static auto Timed(A acq, Loop& loop, Deadline deadline, const char* primitive,
                    OnAcquired on_acquired) {
    using Inner = AsyncAcquire<A, Loop>;
    using T = std::invoke_result_t<OnAcquired&, const Inner&>;
    using Result = std::conditional_t<std::is_void_v<T>, absl::Status, absl::StatusOr<T>>;
    return MappedAwaiter(Inner(std::move(acq), loop, deadline, /*resume_on_cancel=*/true),
                         [on_acquired = std::move(on_acquired), primitive](
                             AsyncWaitStatus status, const Inner& in) -> Result {
                           if (status != AsyncWaitStatus::kAcquired)
                             return AsyncWaitError(status, primitive);
                           if constexpr (std::is_void_v<T>) {
                             on_acquired(in);
                             return absl::OkStatus();
                           } else {
                             return on_acquired(in);
                           }
                         });
  }
};

}  // namespace internal
}  // namespace ringlock

#endif  // RINGLOCK_LOCKS_INTERNAL_ASYNC_ACQUIRE_H_
