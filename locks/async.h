// ringlock/locks/async.h — co_await on ringlock primitives from coroutines
// running on a uring::EventLoop.
//
// The primitives' headers declare their *_async members over any loop type
// and pull in no event loop; this header (target //locks:ring, part of
// //locks) supplies the uring::EventLoop side: each wait is an
// IORING_OP_FUTEX_WAIT (FUTEX_WAITV for WaitAnyAsync) on the primitive's word,
// with a linked timeout for a deadline (the loop's futex_waitv(2) helper
// thread before Linux 6.7). Include it wherever a coroutine co_awaits a
// ringlock primitive:
//
//   #include "locks/async.h"
//   ringlock::AsyncMutexLock g = co_await mu.lock_async(loop);
//   absl::StatusOr<int> i = co_await ringlock::WaitAnyAsync(loop, waitables);
#ifndef RINGLOCK_LOCKS_ASYNC_H_
#define RINGLOCK_LOCKS_ASYNC_H_

#include <atomic>
#include <cstdint>
#include <span>
#include <vector>

#include "locks/condvar.h"
#include "locks/event.h"
#include "locks/futex.h"
#include "locks/internal/async_acquire.h"
#include "locks/internal/mutex_lock_awaiter.h"
#include "locks/internal/uring_glue.h"
#include "locks/mutex.h"
#include "locks/semaphore.h"
#include "locks/wait_any.h"
#include "locks/watermark.h"
#include "uring/event_loop.h"
#include "uring/futex_op.h"

namespace ringlock::internal {

template <>
struct AsyncLoop<uring::EventLoop> {
  template <bool kManyWords>
  using WaitOp = std::conditional_t<kManyWords, uring::FutexWaitvOp, uring::FutexWaitOp>;

  static void StartWait(uring::EventLoop& loop, WaitOp<false>* op,
                        const std::atomic<uint32_t>& word, uint32_t expected, FutexScope scope,
                        uint32_t bitset, Deadline deadline) {
    op->set_wait_mask(bitset);
    loop.StartFutexWait(op, &word, expected, Futex2Flags(scope), deadline);
  }

  static void StartWaitv(uring::EventLoop& loop, WaitOp<true>* op,
                         std::span<const futex::WaitvEntry> entries, Deadline deadline) {
    std::vector<uring::FutexWaitv> v;  // the loop copies them into `op`
    v.reserve(entries.size());
    for (const futex::WaitvEntry& e : entries) {
      v.push_back(uring::MakeFutexWaitv(e.word, e.expected, Futex2Flags(e.scope)));
    }
    loop.StartFutexWaitv(op, v, deadline);
  }

  static void Cancel(uring::EventLoop& loop, uring::FutexWaitOp* op) { loop.CancelFutexWait(op); }

  static void Schedule(uring::EventLoop& loop, void (*fn)(void*, bool), void* arg) {
    loop.Schedule(fn, arg);
  }

  static void CheckResult(int32_t res) { CheckLoopFutexResult(res); }
};

}  // namespace ringlock::internal

#endif  // RINGLOCK_LOCKS_ASYNC_H_
