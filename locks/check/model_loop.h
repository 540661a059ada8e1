// Ring waiters in the model: a loop the real coroutine driver
// (internal/async_acquire.h) runs on, and a ring-blocking backend for
// threads, both over check::AsyncOp (a FUTEX_WAIT SQE that is unsubmitted,
// armed, or completed and not yet dispatched). Built only with
// RINGLOCK_MODEL_CHECK (//locks/check:model_locks).
#ifndef RINGLOCK_LOCKS_CHECK_MODEL_LOOP_H_
#define RINGLOCK_LOCKS_CHECK_MODEL_LOOP_H_

#include <cerrno>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <functional>
#include <span>
#include <vector>

#include "locks/check/model_futex.h"
#include "locks/internal/async_acquire.h"
#include "locks/internal/mutex_lock_awaiter.h"
#include "locks/internal/wait_backend.h"
#include "locks/internal/word.h"

namespace ringlock::check {

// One per loop thread; the thread drives it with RunUntil.
class ModelLoop {
 public:
  // Dispatches this thread's completed ops until done(). Nests, as
  // EventLoop::RunUntil does.
  void RunUntil(const std::function<bool()>& done) {
    ++run_depth_;
    for (;;) {
      while (!ready_.empty()) {  // scheduled steps, in order
        const Step step = ready_.front();
        ready_.erase(ready_.begin());
        step.fn(step.arg, false);
      }
      if (done()) break;
      RunLoopUntil([&] { return done() || !ready_.empty(); });
      if (ready_.empty()) break;
    }
    --run_depth_;
  }
  int run_depth() const { return run_depth_; }
  // fn(arg, false) in a later step of this loop (a cohort's handoff).
  void Schedule(void (*fn)(void*, bool), void* arg) { ready_.push_back({fn, arg}); }

 private:
  struct Step {
    void (*fn)(void*, bool);
    void* arg;
  };
  int run_depth_ = 0;
  std::vector<Step> ready_;
};

// The model's entries for a futex_waitv over the core's entries.
inline std::vector<WaitEntry> ModelEntries(std::span<const ringlock::internal::WaitEntry> entries) {
  std::vector<WaitEntry> v;
  for (const auto& e : entries) v.push_back({e.word, e.expected});
  return v;
}

// A coroutine started at once on the calling (loop) thread and never
// awaited: the model's Spawn.
struct Detached {
  struct promise_type {
    Detached get_return_object() { return {}; }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() {}
    void unhandled_exception() { std::terminate(); }
  };
};

// The ring-blocking backend in the model: arms an op and runs the loop until
// it completes. An op that completes while a nested RunUntil runs above its
// own hands its wake on at once (Leave) and reports kLeft, exactly as
// RingWaitBackend does.
class ModelRingBackend final : public ringlock::internal::WaitBackend {
 public:
  explicit ModelRingBackend(ModelLoop& loop) : loop_(loop) {}

  ringlock::internal::BackendWaitResult Wait(const ringlock::internal::FutexWord& word, uint32_t expected,
                                   Deadline deadline, FutexScope, uint32_t bitset,
                                   ringlock::internal::WaitLeaver& leaver) override {
    Op op(loop_, leaver);
    StartWait(&op, word, expected, bitset, !deadline.is_never(), "ring-blocking wait");
    loop_.RunUntil([&] { return op.done; });
    if (op.left) return ringlock::internal::BackendWaitResult::kLeft;
    switch (op.res) {
      case -EAGAIN:
        return ringlock::internal::BackendWaitResult::kValueChanged;
      case -ETIMEDOUT:
        return ringlock::internal::BackendWaitResult::kTimedOut;
      default:
        return ringlock::internal::BackendWaitResult::kWoken;
    }
  }
  ringlock::internal::BackendWaitResult WaitAny(const ringlock::internal::WaitEntry* entries,
                                                int count, Deadline deadline, int* index,
                                                ringlock::internal::WaitLeaver& leaver) override {
    Op op(loop_, leaver);
    const std::vector<WaitEntry> v = ModelEntries({entries, static_cast<size_t>(count)});
    StartWaitv(&op, v.data(), count, !deadline.is_never(), "ring-blocking waitv");
    loop_.RunUntil([&] { return op.done; });
    *index = -1;
    if (op.left) return ringlock::internal::BackendWaitResult::kLeft;
    if (op.res >= 0) {
      *index = op.res;
      return ringlock::internal::BackendWaitResult::kWoken;
    }
    return op.res == -EAGAIN     ? ringlock::internal::BackendWaitResult::kValueChanged
           : op.res == -ETIMEDOUT ? ringlock::internal::BackendWaitResult::kTimedOut
                                  : ringlock::internal::BackendWaitResult::kWoken;
  }
  const char* name() const override { return "model-ring"; }

 private:
  struct Op final : AsyncOp {
    Op(ModelLoop& loop, ringlock::internal::WaitLeaver& leaver)
        : loop(loop), leaver(leaver), depth(loop.run_depth() + 1) {}
    void Complete(int32_t r) override {
      res = r;
      done = true;
      if (loop.run_depth() > depth) {
        leaver.Leave();
        left = true;
      }
    }
    ModelLoop& loop;
    ringlock::internal::WaitLeaver& leaver;
    const int depth;
    int32_t res = 0;
    bool done = false;
    bool left = false;
  };

  ModelLoop& loop_;
};

// Makes the calling thread ring-blocking for the scope: its blocking waits
// arm ops on its own ModelLoop and run it until they complete, as a thread
// that runs an EventLoop does.
class RingBlockingScope {
 public:
  RingBlockingScope() : previous_(ringlock::internal::SetThreadWaitBackend(&ring_)) {}
  ~RingBlockingScope() { ringlock::internal::SetThreadWaitBackend(previous_); }
  RingBlockingScope(const RingBlockingScope&) = delete;
  RingBlockingScope& operator=(const RingBlockingScope&) = delete;

 private:
  ModelLoop loop_;
  ModelRingBackend ring_{loop_};
  ringlock::internal::WaitBackend* previous_;
};

}  // namespace ringlock::check

namespace ringlock::internal {

template <>
struct AsyncLoop<check::ModelLoop> {
  // Counts the calling thread's live coroutine waits (a cancelled one lives
  // until its completion is dispatched), so a loop thread can drain them.
  struct Op : check::AsyncOp {
    Op() { ++live_on_this_thread(); }
    ~Op() override { --live_on_this_thread(); }
    static int& live_on_this_thread() {
      thread_local int live = 0;
      return live;
    }
  };
  template <bool kManyWords>
  using WaitOp = Op;

  static void StartWait(check::ModelLoop&, Op* op, const FutexWord& word, uint32_t expected,
                        FutexScope, uint32_t bitset, Deadline deadline) {
    check::StartWait(op, word, expected, bitset, !deadline.is_never(), "coroutine wait");
  }
  static void StartWaitv(check::ModelLoop&, Op* op, std::span<const WaitEntry> entries,
                         Deadline deadline) {
    const std::vector<check::WaitEntry> v = check::ModelEntries(entries);
    check::StartWaitv(op, v.data(), static_cast<int>(v.size()), !deadline.is_never(),
                      "coroutine waitv");
  }
  static void Cancel(check::ModelLoop&, Op* op) { check::Cancel(op); }
  static void Schedule(check::ModelLoop& loop, void (*fn)(void*, bool), void* arg) {
    loop.Schedule(fn, arg);
  }
  static void CheckResult(int32_t) {}
};

}  // namespace ringlock::internal

#endif  // RINGLOCK_LOCKS_CHECK_MODEL_LOOP_H_
