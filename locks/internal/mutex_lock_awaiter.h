// Mutex::lock_async's awaiter: joins the loop's cohort on the mutex
// (internal/mutex_cohort.h) or, when the loop has none, tries the lock as
// lock() does and else waits on the word through the async driver
// (internal/async_acquire.h) as the cohort's representative.
#ifndef RINGLOCK_LOCKS_INTERNAL_MUTEX_LOCK_AWAITER_H_
#define RINGLOCK_LOCKS_INTERNAL_MUTEX_LOCK_AWAITER_H_

#include <coroutine>
#include <optional>

#include "locks/futex.h"
#include "locks/internal/async_acquire.h"
#include "locks/internal/mutex_cohort.h"
#include "locks/mutex.h"

namespace ringlock::internal {

template <FutexScope kScope, class Loop>
class [[nodiscard]] MutexLockAwaiter final : public CohortWaiter {
  using M = BasicMutex<kScope>;
  using WordWait = AsyncAcquire<MutexAcquisition<kScope>, Loop>;

 public:
  MutexLockAwaiter(M& mu, Loop& loop) : mu_(mu), loop_(loop) {}
  MutexLockAwaiter(const MutexLockAwaiter&) = delete;
  MutexLockAwaiter& operator=(const MutexLockAwaiter&) = delete;

  ~MutexLockAwaiter() {
    switch (state_) {
      case State::kQueued:  // the frame died in the queue
        cohort_->Unlink(this);
        DropCohortIfIdle(cohort_);
        break;
      case State::kHanded:  // handed the lock, died before it ran: pass it on
        if (cohort_->handed == this) cohort_->handed = nullptr;
        mu_.UnlockFromLoop(&loop_, cohort_);
        break;
      case State::kRepresentative:  // died waiting on the word for the loop
        word_wait_.reset();  // cancels the wait; a wake it took is passed on
        cohort_->representative = false;
        GiveQueueARepresentative(cohort_);
        DropCohortIfIdle(cohort_);
        break;
      default:
        break;
    }
  }

  bool await_ready() {
    MutexCohort* c = FindCohort(&mu_, &loop_);
    if (c != nullptr && (c->owned || c->representative)) {
      cohort_ = c;
      state_ = State::kQueued;  // behind the loop's holder or representative
      return false;
    }
    word_wait_.emplace(MutexAcquisition<kScope>(mu_), loop_, Deadline::Never(),
                       /*resume_on_cancel=*/false);
    if (word_wait_->await_ready()) {  // lock()'s fast path and spin, or Arm took it
      state_ = State::kTook;
      return true;
    }
    cohort_ = FindOrAddCohort(&mu_, &loop_);
    cohort_->representative = true;
    state_ = State::kRepresentative;
    return false;
  }

  void await_suspend(std::coroutine_handle<> h) {
    handle_ = h;
    if (state_ == State::kQueued) {
      cohort_->Push(this);
    } else {
      word_wait_->await_suspend(h);
    }
  }

  BasicAsyncMutexLock<kScope> await_resume() {
    const State was = std::exchange(state_, State::kDone);
    // An untimed word wait resumes only acquired.
    if (was == State::kRepresentative) RepresentativeTookTheLock(cohort_);
    return BasicAsyncMutexLock<kScope>(mu_, &loop_, was == State::kTook ? nullptr : cohort_);
  }

  // CohortWaiter:
  void ScheduleHandoffStep(MutexCohort* cohort) override {
    cohort_ = cohort;
    state_ = State::kHanded;
    AsyncLoop<Loop>::Schedule(loop_, &RunHandoffStep, cohort);
  }
  void Resume() override { handle_.resume(); }
  void BecomeRepresentative(MutexCohort* cohort) override {
    cohort_ = cohort;
    word_wait_.emplace(MutexAcquisition<kScope>(mu_, false, false, /*try_before_arm=*/false),
                       loop_, Deadline::Never(), /*resume_on_cancel=*/false);
    if (word_wait_->await_ready()) {  // the lock was free (a representative left)
      RepresentativeTookTheLock(cohort);
      HandOff(cohort, this);
      return;
    }
    state_ = State::kRepresentative;
    word_wait_->await_suspend(handle_);
  }

 private:
  enum class State {
    kInit,
    kTook,            // took the lock in await_ready
    kQueued,          // in the cohort's queue
    kHanded,          // given the lock; its resumption is scheduled
    kRepresentative,  // waiting on the word for the loop
    kDone,            // resumed
  };

  M& mu_;
  Loop& loop_;
  State state_ = State::kInit;
  MutexCohort* cohort_ = nullptr;  // while queued, handed or representative
  std::coroutine_handle<> handle_;
  std::optional<WordWait> word_wait_;
};

}  // namespace ringlock::internal

#endif  // RINGLOCK_LOCKS_INTERNAL_MUTEX_LOCK_AWAITER_H_
