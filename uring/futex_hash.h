// uring/futex_hash.h — immunity against the Linux >= 6.16 private futex hash
// bug.
//
// The bug (seen on 6.18 here, reported on 6.17): Linux 6.16 introduced
// per-process private futex hashes, allocated when the process creates its
// first thread. A PRIVATE IORING_OP_FUTEX_WAIT armed while the process is
// still single-threaded is hashed into the global table; when the first
// thread is created the process switches to its new private hash and the
// armed wait is stranded there: wakers (futex(2) or FUTEX_WAKE) find 0
// waiters and the CQE never arrives.
//
// The cure is to make sure the private hash exists before the first private
// wait is armed: prctl(PR_FUTEX_HASH, PR_FUTEX_HASH_GET_SLOTS) returns 0
// while none exists; then one thread is created and joined, which makes the
// kernel allocate the default hash exactly as a real first thread would.
// Growing an existing hash later was measured to keep armed waiters.
#ifndef RINGLOCK_URING_FUTEX_HASH_H_
#define RINGLOCK_URING_FUTEX_HASH_H_

namespace ringlock::uring {

// Ensures the calling process has its private futex hash. Cheap after the
// first call in a process (one relaxed load); redone in a fork()ed child.
// Thread-safe. A no-op on kernels without PR_FUTEX_HASH (< 6.16), which do
// not have the bug. EventLoop calls it before arming any futex wait; callers
// of PrepFutexWait/PrepFutexWaitv on their own Ring must call it themselves.
void EnsurePrivateFutexHash();

namespace internal {
// EnsurePrivateFutexHash, but 0 or the errno that creating its thread failed
// with (e.g. EPERM under a seccomp filter denying clone), never throwing.
// After a failure the next call tries again.
int TryEnsurePrivateFutexHash();

// 0 if the process has no private futex hash yet, > 0 slots, -1 if the
// kernel does not know PR_FUTEX_HASH. For tests.
int PrivateFutexHashSlots();
}  // namespace internal

}  // namespace ringlock::uring

#endif  // RINGLOCK_URING_FUTEX_HASH_H_
