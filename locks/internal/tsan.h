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
inline constexpr unsigned kTsanTryLock = __tsan_mutex_try_lock;
inline constexpr unsigned kTsanTryLockFailed = __tsan_mutex_try_lock_failed;
inline void TsanMutexPreLock(void* m, unsigned flags) { __tsan_mutex_pre_lock(m, flags); }
inline void TsanMutexPostLock(void* m, unsigned flags) { __tsan_mutex_post_lock(m, flags, 0); }
inline void TsanMutexPreUnlock(void* m, unsigned flags) { __tsan_mutex_pre_unlock(m, flags); }
inline void TsanMutexPostUnlock(void* m, unsigned flags) { __tsan_mutex_post_unlock(m, flags); }
#else
inline constexpr unsigned kTsanTryLock = 0;
inline constexpr unsigned kTsanTryLockFailed = 0;
inline void TsanMutexPreLock(void*, unsigned) {}
inline void TsanMutexPostLock(void*, unsigned) {}
inline void TsanMutexPreUnlock(void*, unsigned) {}
inline void TsanMutexPostUnlock(void*, unsigned) {}
#endif

}  // namespace ringlock::internal

#endif  // RINGLOCK_LOCKS_INTERNAL_TSAN_H_
