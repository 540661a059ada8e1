// Conversions between the lock layer's futex vocabulary and uring's.
#ifndef RINGLOCK_LOCKS_INTERNAL_URING_GLUE_H_
#define RINGLOCK_LOCKS_INTERNAL_URING_GLUE_H_

#include <cerrno>
#include <cstdint>
#include <optional>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "locks/futex.h"
#include "uring/futex_sqe.h"

namespace ringlock::internal {

inline uint32_t Futex2Flags(FutexScope scope) {
  return uring::kFutex2SizeU32 | (scope == FutexScope::kPrivate ? uring::kFutex2Private : 0);
}

// EventLoop takes absl::Time deadlines and converts them back to
// CLOCK_MONOTONIC; the round trip costs microseconds of jitter, no drift.
inline std::optional<absl::Time> ToAbslDeadline(Deadline d) {
  if (d.is_never()) return std::nullopt;
  return absl::Now() + absl::Nanoseconds(d.monotonic_nanos() - Deadline::Now().monotonic_nanos());
}

[[noreturn]] void LoopFutexWaitFailed(int err);

// The results a futex wait through an EventLoop ends with (see
// EventLoop::StartFutexWait). Anything else (EFAULT, EINVAL, ENOSYS) is a
// fault the waiter cannot fix by waiting again: abort with a message, as the
// futex(2) path does, instead of re-arming forever.
inline void CheckLoopFutexResult(int32_t res) {
  if (res < 0 && res != -EAGAIN && res != -ETIMEDOUT && res != -ECANCELED && res != -EINTR) {
    LoopFutexWaitFailed(-res);
  }
}

}  // namespace ringlock::internal

#endif  // RINGLOCK_LOCKS_INTERNAL_URING_GLUE_H_
