// Spinning before parking.
#ifndef RINGLOCK_LOCKS_INTERNAL_SPIN_H_
#define RINGLOCK_LOCKS_INTERNAL_SPIN_H_

#include <cstdint>
#include <ctime>

namespace ringlock::internal {

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

inline int64_t MonotonicNanos() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

}  // namespace ringlock::internal

#endif  // RINGLOCK_LOCKS_INTERNAL_SPIN_H_
