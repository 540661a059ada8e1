// A loop's cohort on one Mutex: the coroutines of one event loop that wait
// for a Mutex queue here, behind their own loop, instead of each one sleeping
// in the kernel on the word.
//
// Why: coroutines of one loop run on one thread, one at a time. Left to the
// word protocol, the loop whose coroutine unlocks takes the lock straight
// back on the fast path (its next coroutine, or the same one), while the
// wake it sent lands on a loop that is busy running it, or on another loop
// that needs ~10 us to wake and then finds the lock taken again: one loop
// kept the lock for 95% of the acquisitions in bench/async_mutex_bench. A
// cohort makes the loop take turns with everyone else and makes its own
// turn cheap:
//   * at most one coroutine of the loop waits in the word protocol for the
//     whole cohort (the *representative*); the others wait in a FIFO here
//     and never barge past it;
//   * a coroutine that unlocks through its AsyncMutexLock hands the lock to
//     the next coroutine of the queue without releasing the word (no atomic,
//     no wake, no syscall: the next one is scheduled on the loop) for as
//     long as nobody waits on the word, or for one slice
//     (BasicMutex::kLoopSlice) once someone does (the cohort's own
//     representative too), and never while a waiter starves;
//   * then it releases the word to the kernel's waiters, after making the
//     head of the queue the representative (registered on the word while
//     the lock is still held, so the release wakes the longest sleeper and
//     the loop waits its turn).
// The word protocol is unchanged: to it, a cohort's run of handoffs is one
// long critical section and the representative one more waiter.
//
// The table is per thread (a loop runs on its owner thread) and keyed by
// (mutex, loop). Everything here runs on that thread: no atomics.
#ifndef RINGLOCK_LOCKS_INTERNAL_MUTEX_COHORT_H_
#define RINGLOCK_LOCKS_INTERNAL_MUTEX_COHORT_H_

#include <cstdint>

namespace ringlock::internal {

struct MutexCohort;

// A coroutine queued in a cohort (the Mutex's lock_async awaiter).
class CohortWaiter {
 public:
  // Wait for the lock in the word protocol on `cohort`'s behalf.
  virtual void BecomeRepresentative(MutexCohort* cohort) = 0;
  // HandOff gave this waiter the lock: run RunHandoffStep(cohort, ...) in a
  // later step of its loop.
  virtual void ScheduleHandoffStep(MutexCohort* cohort) = 0;
  // The handoff step: resume the coroutine, which owns the lock.
  virtual void Resume() = 0;

  CohortWaiter* next_in_cohort = nullptr;
  CohortWaiter* prev_in_cohort = nullptr;

 protected:
  ~CohortWaiter() = default;
};

struct MutexCohort {
  const void* mutex = nullptr;
  const void* loop = nullptr;
  // A coroutine of the loop holds the mutex through an AsyncMutexLock and
  // will hand it on.
  bool owned = false;
  // A coroutine of the loop waits in the word protocol (registered in N).
  bool representative = false;
  // The current run of handoffs has gone on while others waited since
  // slice_start_ns.
  bool slice_started = false;
  int64_t slice_start_ns = 0;
  uint32_t slice_handoffs = 0;
  CohortWaiter* head = nullptr;
  CohortWaiter* tail = nullptr;
  // Given the lock, not yet resumed (its step is pending); a waiter that
  // dies in between clears it and passes the lock on.
  CohortWaiter* handed = nullptr;
  int pending_steps = 0;  // handoff steps queued on the loop: keep the cohort

  bool idle() const {
    return !owned && !representative && head == nullptr && pending_steps == 0;
  }
  void Push(CohortWaiter* w);
  CohortWaiter* Pop();
  void Unlink(CohortWaiter* w);
};

// The calling thread's cohorts. A pointer stays valid until DropCohortIfIdle
// drops that cohort: never while it is owned, has a representative or a
// queue, so a waiter in it may keep the pointer.
MutexCohort* FindCohort(const void* mutex, const void* loop);
MutexCohort* FindOrAddCohort(const void* mutex, const void* loop);
void DropCohortIfIdle(MutexCohort* cohort);
// The cohort's state changes, each written once:
// Gives the held lock to `w` (taken off the queue): the cohort owns it, and
// `w` resumes in a later step of its loop.
void HandOff(MutexCohort* cohort, CohortWaiter* w);
// The representative took the lock: the cohort owns it.
void RepresentativeTookTheLock(MutexCohort* cohort);
// If coroutines queue and nobody of the loop holds the lock or waits on the
// word for them, the head becomes the representative.
void GiveQueueARepresentative(MutexCohort* cohort);
// The owner stops handing on (it releases the word, or becomes a plain
// holder): the slice ends, the queue gets a representative, an idle cohort
// is dropped.
void EndOwnership(MutexCohort* cohort);
// That step (AsyncLoop::Schedule's signature; `cohort` is the argument).
void RunHandoffStep(void* cohort, bool loop_destroying);
// How many cohorts the calling thread has (tests).
int LiveCohorts();

}  // namespace ringlock::internal

#endif  // RINGLOCK_LOCKS_INTERNAL_MUTEX_COHORT_H_
