// uring/uring.h — everything in ringlock's io_uring layer (target //uring).
//
//   futex_sqe.h    opcode numbers, FUTEX2 flags, FutexWaitv, Prep* helpers
//   futex_hash.h   EnsurePrivateFutexHash (Linux >= 6.16 bug immunity)
//   ring.h         Ring, RingOptions, Probe
//   operation.h    Operation (the completion interface)
//   futex_op.h     FutexWaitOp, FutexWaitvOp
//   event_loop.h   EventLoop, EventLoopOptions, FutexMode
//   task.h         Task<T>
//   io.h           Nop Read Write Recv Send Accept Connect SleepFor
//   futex_await.h  WaitFutex, WaitFutexAny
#ifndef RINGLOCK_URING_URING_H_
#define RINGLOCK_URING_URING_H_

#include "uring/event_loop.h"
#include "uring/futex_await.h"
#include "uring/futex_hash.h"
#include "uring/futex_op.h"
#include "uring/futex_sqe.h"
#include "uring/io.h"
#include "uring/operation.h"
#include "uring/ring.h"
#include "uring/task.h"

#endif  // RINGLOCK_URING_URING_H_
