// Where a flushed WakeBatch goes. The io_uring sink lives in
// locks/ring_wake_sink.cc; without it, wakes go out through futex(2).
#ifndef RINGLOCK_LOCKS_INTERNAL_WAKE_SINK_H_
#define RINGLOCK_LOCKS_INTERNAL_WAKE_SINK_H_

#include "locks/wake_batch.h"

#include <atomic>
#include <cstdint>

#include "locks/futex.h"
#include "locks/internal/wait_backend.h"

namespace ringlock::internal {

// One wake held in a thread's WakeBatch.
struct QueuedWake {
  std::atomic<uint32_t>* word;
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
void SendWakes(const QueuedWake* entries, int count, WakeBatch::Mode mode);

}  // namespace ringlock::internal

#endif  // RINGLOCK_LOCKS_INTERNAL_WAKE_SINK_H_
