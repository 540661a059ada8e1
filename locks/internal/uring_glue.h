// What the lock layer needs around uring's futex waits.
#ifndef RINGLOCK_LOCKS_INTERNAL_URING_GLUE_H_
#define RINGLOCK_LOCKS_INTERNAL_URING_GLUE_H_

#include <cerrno>
#include <cstdint>
#include "locks/futex.h"
#include "uring/futex_sqe.h"

namespace ringlock::internal {

using futex::Futex2Flags;

[[noreturn]] void LoopFutexWaitFailed(int err);

// The results a futex wait through an EventLoop ends with (see
// EventLoop::StartFutexWait). -EINTR and -ENOMEM (the kernel could not
// allocate the wait's state: io_uring's futex data, futex_waitv's array) are
// transient and count as spurious returns: the waiter re-checks its word and
// waits again. Anything else (EFAULT, EINVAL, ENOSYS) is a fault the waiter
// cannot fix by waiting again: abort with a message, as the futex(2) path
// does, instead of re-arming forever.
inline void CheckLoopFutexResult(int32_t res) {
  if (res < 0 && res != -EAGAIN && res != -ETIMEDOUT && res != -ECANCELED && res != -EINTR &&
      res != -ENOMEM) {
    LoopFutexWaitFailed(-res);
  }
}

}  // namespace ringlock::internal

#endif  // RINGLOCK_LOCKS_INTERNAL_URING_GLUE_H_
