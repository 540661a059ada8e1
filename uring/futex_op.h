// uring/futex_op.h — FutexWaitOp and FutexWaitvOp: the Operations of
// EventLoop::StartFutexWait / StartFutexWaitv.
//
// Derive from them and implement Complete(res); see event_loop.h for the
// results. They carry the state a pending wait needs (the absolute deadline
// the kernel reads when the SQEs are submitted, the copied waitv entries),
// so they must stay alive and in place until Complete runs.
#ifndef RINGLOCK_URING_FUTEX_OP_H_
#define RINGLOCK_URING_FUTEX_OP_H_

#include <linux/time_types.h>

#include <vector>

#include "uring/futex_sqe.h"
#include "uring/operation.h"

namespace ringlock::uring {

struct FutexWaitOp : Operation {
 public:
  // Bitset for StartFutexWait (FUTEX_WAIT_BITSET semantics): only wakes whose
  // bitset intersects it complete the wait. Native path only; the fallback
  // (futex_waitv(2), no bitsets) waits with all bits, a superset: callers
  // must treat a non-matching wake as spurious. Set before starting.
  void set_wait_mask(uint64_t mask) { mask_ = mask; }

 private:
  friend class EventLoop;
  uint64_t mask_ = kFutexBitsetMatchAny;
  __kernel_timespec deadline_{};  // absolute CLOCK_MONOTONIC, for LINK_TIMEOUT
};

struct FutexWaitvOp : FutexWaitOp {
 private:
  friend class EventLoop;
  std::vector<FutexWaitv> entries_;  // op-owned copy the kernel reads at submit
};

}  // namespace ringlock::uring

#endif  // RINGLOCK_URING_FUTEX_OP_H_
