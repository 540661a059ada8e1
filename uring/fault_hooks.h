// uring/fault_hooks.h — fault injection into the event loop, for tests only.
//
// Torture tests use these to make rare kernel behaviour common: a futex wait
// that ends with a transient error, a futex_waitv(2) helper thread that is
// slow to report. (futex(2) and futex_waitv(2) syscall results have their
// own hook, futex::SetSyscallFaultHook in uring/sys/futex.h.)
//
// Cost when unset (the default): one relaxed load of a global function
// pointer per futex wait completion (dispatch) and per helper-thread wakeup;
// never on a lock's fast path. Set hooks before the loops they should affect
// run and clear them (nullptr) after; a hook may run on several threads at
// once and must be thread-safe.
#ifndef RINGLOCK_URING_FAULT_HOOKS_H_
#define RINGLOCK_URING_FAULT_HOOKS_H_

#include <cstdint>

namespace ringlock::uring::fault {

// Called with the result of every futex wait (StartFutexWait/Waitv) that
// ended woken (0 or an index) or with -EAGAIN, just before its Complete;
// returns the result to deliver instead (e.g. -EINTR, -EAGAIN, -ENOMEM, or
// `res` unchanged). Timeouts and cancellations are never offered: their
// meaning cannot change.
using FutexWaitResultHook = int32_t (*)(int32_t res);
void SetFutexWaitResultHook(FutexWaitResultHook hook);

// Called by the futex_waitv(2) helper thread of fallback loops each time its
// sleep returns, before it reports what finished: a hook that sleeps delays
// every fallback wait's completion.
using FallbackDelayHook = void (*)();
void SetFallbackDelayHook(FallbackDelayHook hook);

}  // namespace ringlock::uring::fault

#endif  // RINGLOCK_URING_FAULT_HOOKS_H_
