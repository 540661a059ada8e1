// ThreadSanitizer mutex annotations.
//
// ringlock's primitives synchronize through atomics TSAN already understands
// (every acquiring path ends in an acquire RMW or load of the word that a
// release RMW wrote), so they need no happens-before annotations even where
// the kernel (futex(2) or an io_uring FUTEX_WAKE) does the waking. These
// annotations tell TSAN that a word *is* a mutex, which buys lock-order
// (deadlock) detection and reports that name the lock. No-ops without TSAN.
//
// Try-locks (try_lock, and the timed try_lock_for / try_lock_until /
// lock_async_until, as TSAN treats pthread_mutex_timedlock) are annotated
// as try-locks: they cannot deadlock, so they add no lock-order edge, and
// std::lock / std::scoped_lock over several Mutexes (lock one, try the
// others) is not reported as a lock-order inversion.
#ifndef RINGLOCK_LOCKS_INTERNAL_TSAN_H_
#define RINGLOCK_LOCKS_INTERNAL_TSAN_H_

#if defined(__SANITIZE_THREAD__)
#define RINGLOCK_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RINGLOCK_TSAN 1
#endif
#endif

// Model-checked builds (RINGLOCK_MODEL_CHECK) hand control between threads
// at every word operation, through the checker's own synchronization; TSAN
// ignores synchronization inside an annotated unlock, so the annotations
// would make it report the checker's bookkeeping as races. Off there.
#if defined(RINGLOCK_MODEL_CHECK)
#undef RINGLOCK_TSAN
#endif

#ifdef RINGLOCK_TSAN
#include <sanitizer/tsan_interface.h>
#endif

namespace ringlock::internal {

#ifdef RINGLOCK_TSAN
inline constexpr unsigned kTsanTryLock = __tsan_mutex_try_lock;
// A shared (reader) acquire or release (SharedMutex).
inline constexpr unsigned kTsanReadLock = __tsan_mutex_read_lock;
inline void TsanMutexPreUnlock(void* m, unsigned flags) { __tsan_mutex_pre_unlock(m, flags); }
inline void TsanMutexPostUnlock(void* m, unsigned flags) { __tsan_mutex_post_unlock(m, flags); }
// Where a lock is taken (fast path, spin, or a waiter's protocol step);
// flags: 0 for a blocking lock, kTsanTryLock for a try-lock.
inline void TsanMutexAcquired(void* m, unsigned flags = 0) {
  __tsan_mutex_pre_lock(m, flags);
  __tsan_mutex_post_lock(m, flags, 0);
}
// A try-lock that did not take the lock.
inline void TsanMutexTryLockFailed(void* m, unsigned flags = 0) {
  __tsan_mutex_pre_lock(m, flags | __tsan_mutex_try_lock);
  __tsan_mutex_post_lock(m, flags | __tsan_mutex_try_lock | __tsan_mutex_try_lock_failed, 0);
}
// The mutex's memory is going away: a new mutex at the same address must
// not inherit its lock-order history.
inline void TsanMutexDestroyed(void* m) { __tsan_mutex_destroy(m, 0); }
#else
inline constexpr unsigned kTsanTryLock = 0;
inline constexpr unsigned kTsanReadLock = 0;
inline void TsanMutexAcquired(void*, unsigned = 0) {}
inline void TsanMutexTryLockFailed(void*, unsigned = 0) {}
inline void TsanMutexDestroyed(void*) {}
inline void TsanMutexPreUnlock(void*, unsigned) {}
inline void TsanMutexPostUnlock(void*, unsigned) {}
#endif

}  // namespace ringlock::internal

#endif  // RINGLOCK_LOCKS_INTERNAL_TSAN_H_
