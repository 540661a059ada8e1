// ringlock/locks/futex.h — the futex vocabulary (Deadline, FutexScope,
// futex(2) and futex_waitv(2)) at its stable public path. It lives in
// uring/sys/futex.h, the bottom of the build graph that locks/ and uring/
// share; see there.
#ifndef RINGLOCK_LOCKS_FUTEX_H_
#define RINGLOCK_LOCKS_FUTEX_H_

#include "uring/sys/futex.h"  // IWYU pragma: export

#endif  // RINGLOCK_LOCKS_FUTEX_H_
