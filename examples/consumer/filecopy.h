// filecopy: a small I/O-heavy program built on ringlock, as a downstream
// project would use it.
//
// CopyFiles copies files with a pool of worker threads. Each worker runs its
// own uring::EventLoop and does every read and write through io_uring; the
// state the workers share (the job queue and the totals) is guarded by one
// ringlock::Mutex (4 bytes) where a std::mutex (40 bytes) would otherwise be,
// and workers take it with `co_await mu.lock_async(loop)`, so a worker that
// waits for the lock keeps its loop running.
//
// LockOrRead shows one loop waiting for a lock and a read at once: two
// coroutines on the same loop, one in `co_await uring::Read`, one in
// `co_await mu.lock_async`; whichever the kernel completes first runs first.
#ifndef CONSUMER_FILECOPY_H_
#define CONSUMER_FILECOPY_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "locks/async.h"
#include "locks/mutex.h"
#include "uring/event_loop.h"

namespace filecopy {

struct Job {
  std::string src;
  std::string dst;  // created or truncated
};

struct Stats {
  int64_t files = 0;   // jobs finished
  int64_t bytes = 0;   // bytes written
  int64_t chunks = 0;  // reads that returned data (one lock_async each)
};

// Copies every job with `workers` threads (>= 1), `chunk` bytes per read.
// Returns the totals, or the first error (the other workers stop taking jobs).
absl::StatusOr<Stats> CopyFiles(const std::vector<Job>& jobs, int workers,
                                size_t chunk = 64 * 1024);

struct LockOrReadResult {
  std::vector<std::string> order;  // "read" and "lock", in completion order
  std::string data;                // what the read returned
};

// On `loop` (the calling thread's), starts a read of up to `max_len` bytes
// from `fd` and a lock_async of `mu` together, and runs the loop until both
// finished. `on_event` (optional) is called on the loop thread with "read" or
// "lock" as each one completes; the lock is released after its callback.
absl::StatusOr<LockOrReadResult> LockOrRead(
    ringlock::uring::EventLoop& loop, ringlock::Mutex& mu, int fd,
    size_t max_len, std::function<void(std::string_view)> on_event = nullptr);

}  // namespace filecopy

#endif  // CONSUMER_FILECOPY_H_
