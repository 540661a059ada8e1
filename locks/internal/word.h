// The futex word and the four things a word protocol asks of the kernel
// (wait, wait on many, wake, the clock): the one seam between the
// protocols and the machine.
//
// Production builds: std::atomic<uint32_t> and inline forwards to futex(2),
// futex_waitv(2) and CLOCK_MONOTONIC (no cost). Builds with
// RINGLOCK_MODEL_CHECK (//locks/check:model_locks, tests only) compile the
// very same protocol sources against the model checker instead: a word whose
// every operation is a scheduling point, a futex model, and a virtual clock
// (locks/check/README.md). Every primitive in the core reaches the kernel
// only through this header, so what the checker explores is the code that
// ships.
#ifndef RINGLOCK_LOCKS_INTERNAL_WORD_H_
#define RINGLOCK_LOCKS_INTERNAL_WORD_H_

#include <sched.h>

#include <atomic>
#include <cstdint>

#include "locks/futex.h"
#include "locks/internal/spin.h"

#ifdef RINGLOCK_MODEL_CHECK
#include "locks/check/model_atomic.h"
#endif

namespace ringlock::internal {

#ifndef RINGLOCK_MODEL_CHECK

using FutexWord = std::atomic<uint32_t>;
// A 64-bit protocol value that is never slept on (Watermark's position).
using Atomic64 = std::atomic<uint64_t>;
using WaitEntry = futex::WaitvEntry;  // {word, expected, scope}

inline FutexWaitResult FutexWait(const FutexWord& word, uint32_t expected, Deadline deadline,
                                 FutexScope scope, uint32_t bitset) {
  return futex::Wait(word, expected, deadline, scope, bitset);
}
inline futex::WaitvResult FutexWaitAny(const WaitEntry* entries, int count, Deadline deadline) {
  return futex::WaitAny(entries, count, deadline);
}
// Returns how many sleepers were woken.
inline int FutexWake(const FutexWord& word, int count, FutexScope scope, uint32_t bitset) {
  return futex::Wake(word, count, scope, bitset);
}
inline int64_t ProtocolNanos() { return MonotonicNanos(); }
inline bool DeadlinePassed(Deadline deadline) { return deadline.HasPassed(); }
// lock()'s bounded spin, in pauses (see mutex.cc).
inline constexpr int kMutexSpinLimit = 100;
// A loop cohort reads the clock once per this many handoffs (mutex.cc).
inline constexpr uint32_t kLoopHandoffsPerClockRead = 16;
// A blocking wait's yields before it sleeps (YieldBeforeSleep, below).
inline constexpr int kYieldsBeforeSleep = 4;

#else  // RINGLOCK_MODEL_CHECK: defined by locks/check/model_seam.cc

using FutexWord = check::Atomic<uint32_t>;
using Atomic64 = check::Atomic<uint64_t>;
struct WaitEntry {
  const FutexWord* word;
  uint32_t expected;
  FutexScope scope;
};

FutexWaitResult FutexWait(const FutexWord& word, uint32_t expected, Deadline deadline,
                          FutexScope scope, uint32_t bitset);
futex::WaitvResult FutexWaitAny(const WaitEntry* entries, int count, Deadline deadline);
int FutexWake(const FutexWord& word, int count, FutexScope scope, uint32_t bitset);
int64_t ProtocolNanos();  // the checker's virtual clock
bool DeadlinePassed(Deadline deadline);
// One try: the spin's barging CAS stays in the explored code; a hundred
// identical loads would only multiply the schedules.
inline constexpr int kMutexSpinLimit = 1;
inline constexpr uint32_t kLoopHandoffsPerClockRead = 1;  // every handoff sees the clock
// None: a yield is not an operation on the word, and the try after it is the
// one the waiter's Arm makes anyway.
inline constexpr int kYieldsBeforeSleep = 0;

#endif

// Before a blocking wait sleeps: gives the CPU away up to kYieldsBeforeSleep
// times and looks again after each; true once `ready()` (which also takes
// what it waits for, if anything) succeeded. On a machine with more runnable
// threads than CPUs, what the waiter waits for (a release, the last arrival,
// readers draining) is often a thread waiting for this very CPU: a yield
// hands it over for one syscall, where a futex sleep and its wake cost two
// syscalls and two context switches. Spinning with pause instead only burns
// the CPU that thread needs. libstdc++'s atomic waits (std::latch,
// std::barrier, std::counting_semaphore) yield the same way before they
// sleep (bench/README.md: semaphore queue, latch, barrier, reader/writer).
template <class Ready>
bool YieldBeforeSleep(Ready ready) {
  for (int i = 0; i < kYieldsBeforeSleep; ++i) {
    sched_yield();
    if (ready()) return true;
  }
  return false;
}

}  // namespace ringlock::internal

#endif  // RINGLOCK_LOCKS_INTERNAL_WORD_H_
