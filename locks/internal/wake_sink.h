// Where a thread's held wakes go when its WakeBatch sends them. The core
// sends them through futex(2), one call per wake; the ring layer
// (//locks:ring, locks/ring_wake_sink.cc) installs a sink that sends them
// through the thread's EventLoop ring or a small per-thread wake ring, in
// one submit.
#ifndef RINGLOCK_LOCKS_INTERNAL_WAKE_SINK_H_
#define RINGLOCK_LOCKS_INTERNAL_WAKE_SINK_H_

#include <atomic>
#include <cstdint>

#include "locks/futex.h"
#include "locks/internal/wait_backend.h"
#include "locks/wake_batch.h"

namespace ringlock::internal {

// One wake held in a thread's WakeBatch.
struct QueuedWake {
  internal::FutexWord* word;
  int count;
  FutexScope scope;
  uint32_t bitset;
  NobodyWokenFn if_nobody_woken;  // run if it woke nobody (may be null)
  uint32_t token;

  void RunIfNobodyWoken(int woken) const {
    if (woken == 0 && if_nobody_woken != nullptr) if_nobody_woken(*word, token);
  }
};

// Sends `count` queued wakes and runs the nobody-woken steps of those that
// woke nobody. Returns only when all have been delivered to the kernel.
// Through the installed sink, else SendWakesThroughFutex.
void SendWakes(const QueuedWake* entries, int count, WakeBatch::Mode mode);

// The core's way: one futex(2) call per wake.
void SendWakesThroughFutex(const QueuedWake* entries, int count);

// Installed once, at static initialization, by the ring layer. A sink has
// SendWakes' contract.
using WakeSink = void (*)(const QueuedWake* entries, int count, WakeBatch::Mode mode);
void InstallWakeSink(WakeSink sink);

}  // namespace ringlock::internal

#endif  // RINGLOCK_LOCKS_INTERNAL_WAKE_SINK_H_
