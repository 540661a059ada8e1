// Where a flushed WakeBatch goes. The io_uring sink lives in
// locks/ring_wake_sink.cc; without it, wakes go out through futex(2).
#ifndef RINGLOCK_LOCKS_INTERNAL_WAKE_SINK_H_
#define RINGLOCK_LOCKS_INTERNAL_WAKE_SINK_H_

#include "locks/wake_batch.h"

namespace ringlock::internal {

// Sends `count` queued wakes. Returns normally only when all have been
// delivered to the kernel.
void SendWakes(const WakeBatch::Entry* entries, int count, WakeBatch::Mode mode);

}  // namespace ringlock::internal

#endif  // RINGLOCK_LOCKS_INTERNAL_WAKE_SINK_H_
