// The futex and io_uring FUTEX_WAIT model the scheduler explores: what
// -DRINGLOCK_MODEL_CHECK builds route futex(2), futex_waitv(2) and ring
// futex waits to. All functions must be called on a model thread (see
// scheduler.h); outside one, Wake returns 0 and a wait that would sleep
// aborts with a message (nothing could ever wake it).
//
// Semantics (the kernel's, as the protocols rely on them):
//   * Wait compares the word and queues the caller in ONE step: no wake can
//     fall between the check and the sleep.
//   * Sleepers (threads and armed async ops) form one FIFO queue; Wake wakes
//     the first `n` whose bitset intersects and returns how many it woke.
//   * A sleeping thread is not runnable until woken. A timed sleeper may be
//     timed out by the scheduler at any step while it sleeps (a choice); any
//     sleeper may return spuriously (kWoken) if Options::max_spurious_wakeups
//     allows (a choice).
//   * If nothing can run, nothing can time out and some thread has not
//     finished, the execution fails with "lost wakeup / deadlock".
#ifndef RINGLOCK_LOCKS_CHECK_MODEL_FUTEX_H_
#define RINGLOCK_LOCKS_CHECK_MODEL_FUTEX_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "locks/check/model_atomic.h"
#include "uring/sys/futex.h"

namespace ringlock::check {

inline constexpr uint32_t kMatchAny = 0xffffffffu;
inline constexpr int64_t kNoDeadline = -1;

// futex(FUTEX_WAIT_BITSET). `timed`: the scheduler may time it out.
FutexWaitResult Wait(const Atomic<uint32_t>& word, uint32_t expected, uint32_t bitset,
                     bool timed);
// The same with a deadline on the virtual clock (NowNanos): a deadline
// already passed times out at once (after the value check, as the kernel),
// and a timeout advances the clock to the deadline. kNoDeadline = untimed.
FutexWaitResult WaitUntil(const Atomic<uint32_t>& word, uint32_t expected, uint32_t bitset,
                          int64_t deadline_ns);

// futex(FUTEX_WAKE_BITSET): wakes at most n sleepers, FIFO; returns how many.
int Wake(const Atomic<uint32_t>& word, int n, uint32_t bitset = kMatchAny);

struct WaitEntry {
  const Atomic<uint32_t>* word;
  uint32_t expected;
};
struct WaitAnyResult {
  FutexWaitResult result;
  int index;  // kValueChanged: the mismatching entry; kWoken: the woken one
              // (-1 if spurious); kTimedOut: -1
};
// futex_waitv(2): if any entry mismatches, returns at once with its index;
// else sleeps on all words until one is woken.
WaitAnyResult WaitAny(const WaitEntry* entries, int count, bool timed);
WaitAnyResult WaitAnyUntil(const WaitEntry* entries, int count, int64_t deadline_ns);

// An asynchronous FUTEX_WAIT (an io_uring SQE) owned by the thread that
// started it (its "loop thread"). Life cycle:
//   kIdle --StartWait--> kUnsubmitted --(scheduler choice: submit)--> kArmed
//   submit with a mismatching word, Wake, timeout (if timed) and Cancel move it
//   to kCompleted with res 0 (woken), -EAGAIN, -ETIMEDOUT or -ECANCELED; it is
//   dispatched (Complete(res) called, state back to kIdle) only by its loop
//   thread inside RunLoopUntil, at a step the scheduler chooses.
// Destroying an op that is not kIdle fails the execution.
class AsyncOp {
 public:
  enum class State : uint8_t { kIdle, kUnsubmitted, kArmed, kCompleted };

  AsyncOp() = default;
  AsyncOp(const AsyncOp&) = delete;
  AsyncOp& operator=(const AsyncOp&) = delete;
  virtual ~AsyncOp();

  virtual void Complete(int32_t res) = 0;

  State state() const { return state_; }

 private:
  friend class internal::Scheduler;
  State state_ = State::kIdle;
  int owner_ = -1;
  int id_ = 0;
  const char* what_ = nullptr;
  std::vector<WaitEntry> entries_;  // one word, or several (a FUTEX_WAITV)
  bool waitv_ = false;               // completes with the woken entry's index
  uint32_t bitset_ = 0;
  bool timed_ = false;
  bool cancel_requested_ = false;
  int64_t deadline_ = kNoDeadline;
  int32_t res_ = 0;
  int completed_step_ = 0;
};

// Prepares `op` (kIdle -> kUnsubmitted) on the calling thread's loop. Not a
// scheduling point: the submission itself is a later scheduler choice.
void StartWait(AsyncOp* op, const Atomic<uint32_t>& word, uint32_t expected, uint32_t bitset,
               bool timed, const char* what = nullptr);
// The same for IORING_OP_FUTEX_WAITV over `count` words (bitset: any): submit
// arms it if every word matches (else -EAGAIN); a wake on any of them
// completes it with that entry's index.
void StartWaitv(AsyncOp* op, const WaitEntry* entries, int count, bool timed,
                const char* what = nullptr);
// IORING_OP_ASYNC_CANCEL, modelled as immediate: kUnsubmitted or kArmed ->
// kCompleted(-ECANCELED); a no-op otherwise. A scheduling point.
void Cancel(AsyncOp* op);
// The loop: while !pred(), wait until one of this thread's ops is completed
// and dispatch it (oldest completion first). pred runs on this thread.
void RunLoopUntil(const std::function<bool()>& pred);

}  // namespace ringlock::check

#endif  // RINGLOCK_LOCKS_CHECK_MODEL_FUTEX_H_
