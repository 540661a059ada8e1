// uring/internal/resuming_op.h — the state behind the awaitables of io.h and
// futex_await.h: an Operation whose completion resumes the coroutine that
// awaits it, or frees the operation if that coroutine's frame died first.
#ifndef RINGLOCK_URING_INTERNAL_RESUMING_OP_H_
#define RINGLOCK_URING_INTERNAL_RESUMING_OP_H_

#include <coroutine>
#include <cstdint>

namespace ringlock::uring::internal {

// Base: Operation or one of its kinds (FutexWaitvOp). The awaiter owns the
// state until it is destroyed while the operation is pending; it then sets
// `orphaned`, cancels the operation and lets go: Complete frees it.
template <class Base>
struct ResumingOp : Base {
  std::coroutine_handle<> waiter;
  int32_t res = 0;
  bool done = false;
  bool orphaned = false;

  void Complete(int32_t r) override {
    if (orphaned) {
      delete this;  // virtual: Operation's destructor is
      return;
    }
    res = r;
    done = true;
    waiter.resume();  // May destroy the awaiter (and this state).
  }
};

}  // namespace ringlock::uring::internal

#endif  // RINGLOCK_URING_INTERNAL_RESUMING_OP_H_
