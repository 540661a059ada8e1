// ThreadSanitizer mutex annotations.
//
// ringlock's primitives synchronize through atomics TSAN already understands
// (every acquiring path ends in an acquire RMW or load of the word that a
// release RMW wrote), so they need no happens-before annotations even where
// the kernel (futex(2) or an io_uring FUTEX_WAKE) does the waking. These
// annotations tell TSAN that a word *is* a mutex, which buys lock-order
// (deadlock) detection and reports that name the lock. No-ops without TSAN.
#ifndef RINGLOCK_LOCKS_INTERNAL_TSAN_H_
#define RINGLOCK_LOCKS_INTERNAL_TSAN_H_

#if defined(__SANITIZE_THREAD__)
#define RINGLOCK_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RINGLOCK_TSAN 1
#endif
#endif

#ifdef RINGLOCK_TSAN
#include <sanitizer/tsan_interface.h>
#endif

namespace ringlock::internal {

#ifdef RINGLOCK_TSAN
inline void TsanMutexPreUnlock(void* m, unsigned flags) { __tsan_mutex_pre_unlock(m, flags); }
inline void TsanMutexPostUnlock(void* m, unsigned flags) { __tsan_mutex_post_unlock(m, flags); }
// Where a lock is taken (fast path, spin, or a waiter's protocol step).
inline void TsanMutexAcquired(void* m) {
  __tsan_mutex_pre_lock(m, 0);
  __tsan_mutex_post_lock(m, 0, 0);
}
#else
inline void TsanMutexAcquired(void*) {}
inline void TsanMutexPreUnlock(void*, unsigned) {}
inline void TsanMutexPostUnlock(void*, unsigned) {}
#endif

}  // namespace ringlock::internal

#endif  // RINGLOCK_LOCKS_INTERNAL_TSAN_H_
