// uring/internal/futex_fallback.h — async futex waits without io_uring's
// futex opcodes (Linux < 6.7, or forced for tests).
//
// One helper thread per EventLoop sleeps in futex_waitv(2) (Linux >= 5.16,
// syscall 449) over the loop's pending waits plus an internal control word.
// Adding or removing a wait bumps the control word and wakes the helper,
// which rebuilds its set. When a wait finishes (woken, value mismatch,
// deadline), the helper records (op, res) and calls `notify` (the loop
// writes its eventfd); the loop collects results with TakeCompleted.
//
// Before each sleep the helper compares every pending entry with its
// expected value itself, so a wait whose word already changed completes with
// -EAGAIN (as a native FUTEX_WAIT armed late would).
//
// Absorbed wakes: futex_waitv(2) returns the highest woken index only, so
// when it returns index r every wait with an entry at index <= r completes
// (0 for all but the reported one): a wake that left its word unchanged
// cannot be lost under another index. Callers re-check their words.
//
// Capacity: one futex_waitv(2) holds 128 words, one of them the control
// word. Waits beyond 127 words are not slept on: the helper re-checks their
// values and completes them with 0 every millisecond (so wakes that leave
// the word unchanged are seen too).
#ifndef RINGLOCK_URING_INTERNAL_FUTEX_FALLBACK_H_
#define RINGLOCK_URING_INTERNAL_FUTEX_FALLBACK_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/types/span.h"
#include "uring/futex_sqe.h"
#include "uring/operation.h"

namespace ringlock::uring::internal {

class FutexFallback {
 public:
  static constexpr int64_t kNoDeadline = INT64_MAX;

  // False if the kernel lacks futex_waitv(2) (Linux < 5.16): no fallback.
  static bool Available();

  // The helper starts at Start(), so that its failure can be reported.
  explicit FutexFallback(absl::AnyInvocable<void()> notify);
  ~FutexFallback();  // Stops and joins the helper; pending waits are dropped.

  // Starts the helper thread: 0, or the errno thread creation failed with
  // (e.g. EAGAIN, or EPERM when a seccomp filter denies clone).
  int Start();

  // Starts waiting for `op`. `waitv`: res is the index woken, else 0.
  void Add(Operation* op, absl::Span<const FutexWaitv> entries, bool waitv,
           int64_t deadline_mono_ns);
  // Removes a pending wait. False if it already finished (its result is, or
  // will be, in TakeCompleted).
  bool Remove(Operation* op);
  // Finished waits since the last call.
  std::vector<std::pair<Operation*, int32_t>> TakeCompleted();
  // Removes every pending wait and returns them.
  std::vector<Operation*> RemoveAll();

 private:
  struct Wait {
    Operation* op;
    std::vector<FutexWaitv> entries;
    bool waitv;
    int64_t deadline;
  };
  void Run();
  void Kick();

  absl::AnyInvocable<void()> notify_;
  // std::mutex, not absl::Mutex: Debian's libabsl is not built with TSAN, so
  // TSAN cannot see absl::Mutex's ordering; pthread mutexes it intercepts.
  std::mutex mu_;  // guards the members below up to ctl_
  std::map<uint64_t, Wait> waits_;
  std::unordered_map<Operation*, uint64_t> ids_;
  std::vector<std::pair<Operation*, int32_t>> done_;
  uint64_t next_id_ = 1;
  bool stop_ = false;
  std::atomic<uint32_t> ctl_{0};
  std::thread thread_;
};

}  // namespace ringlock::uring::internal

#endif  // RINGLOCK_URING_INTERNAL_FUTEX_FALLBACK_H_
