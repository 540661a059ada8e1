// ringlock/locks/wake_batch.h — WakeBatch: send many directed wakes at once.
//
// Inside a WakeBatch scope, the wakes that unlock(), notify_*(), release()
// and set() would issue one futex(2) call at a time are queued instead and
// leave together when the scope closes (or on Flush()):
//   * through the thread's EventLoop ring, as FUTEX_WAKE SQEs in one
//     io_uring_enter, when the thread runs a loop with native futex ops;
//   * through a small per-thread ring otherwise (Linux 6.7+);
//   * as one futex(2) call per word when io_uring cannot do it.
// The waker does one syscall instead of N and is not preempted between them
// by the threads it wakes (bench/wake_bench measures the difference).
//
// Flush rule: queued wakes leave when the outermost WakeBatch on the thread
// is destroyed or flushed, when kCapacity wakes are queued, when the thread
// is about to sleep in any blocking wait (lock, wait, acquire, WaitAny,
// their timed forms, in futex(2) or in its ring), and, on a thread that runs
// an EventLoop, at the end of every dispatch step (so a coroutine that
// suspends inside a batch sends what it queued). A thread never sleeps while
// wakes it queued are held back, since a wakee may be the one that must run
// for the sleep to end. A wake is never delayed past the end of the scope,
// or the dispatch step, that queued it. The primitives' states
// are already updated when a wake is queued, so a delayed wake only delays
// the wakee: it cannot be lost (the futex protocol re-checks the word).
//
// Wakes whose protocol has a step for "this wake woke nobody" (a Mutex
// waiter's wake in the starving branch, INV5 in mutex.h; CondVar::notify_one,
// INV2 in condvar.h) leave in the same flush but report back, and the flush
// runs that step: through the per-thread wake ring or futex(2), never
// IOSQE_ASYNC, and not through the loop's ring (its wakes post no
// completion). Other unlock, notify, release and set wakes take the loop's
// ring.
//
// Nesting: an inner WakeBatch joins the outer one (and its mode).
// Thread-affine: a batch is flushed on the thread that opened it.
//
// Modes: kInline (default) — the waker's io_uring_enter performs the wakes,
// so every wakee is runnable when the scope closes. kOffload — the SQEs carry
// IOSQE_ASYNC, so an io_uring worker thread performs them and the waker
// returns at once, while the wakees wake a little later (bench/README_uring.md
// has the measured waker time and wake latency). For a lock release path that
// must get back to work. Offloaded wakes always go through the per-thread
// wake ring, never the loop's: the kernel cancels work a worker still holds
// when its ring closes or the submitting thread exits, so the wake ring counts
// them and, at thread exit, waits until every one has been performed. futex(2)
// fallback paths ignore the mode.
#ifndef RINGLOCK_LOCKS_WAKE_BATCH_H_
#define RINGLOCK_LOCKS_WAKE_BATCH_H_

#include <atomic>
#include <cstdint>

#include "locks/futex.h"

namespace ringlock {

class WakeBatch {
 public:
  static constexpr int kCapacity = 128;

  enum class Mode : uint8_t { kInline, kOffload };

  explicit WakeBatch(Mode mode = Mode::kInline);
  ~WakeBatch();
  WakeBatch(const WakeBatch&) = delete;
  WakeBatch& operator=(const WakeBatch&) = delete;

  // Sends the queued wakes now.
  void Flush();

  // Wakes queued on this thread and not yet sent.
  static int Pending();

 private:
  WakeBatch* outer_;
};

}  // namespace ringlock

#endif  // RINGLOCK_LOCKS_WAKE_BATCH_H_
