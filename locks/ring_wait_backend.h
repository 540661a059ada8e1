// ringlock/locks/ring_wait_backend.h — blocking lock calls on an EventLoop thread.
//
// A thread that owns a uring::EventLoop and calls an ordinary blocking
// operation (Mutex::lock, CondVar::wait, Semaphore::acquire, Event::wait,
// WaitAny, or their timed forms, e.g. through a std::lock_guard deep in
// existing code) does not sleep in futex(2). It arms an IORING_OP_FUTEX_WAIT
// (WAITV for WaitAny) on the primitive's word in its loop's ring and keeps
// dispatching the loop's other completions, posted work and coroutines until
// that wait completes. This is what lets a thread waiting for lock B still
// complete the I/O A that B's holder is waiting for.
//
// Chosen automatically whenever uring::EventLoop::Current() is set on the
// calling thread and the ring layer (//locks:ring, part of //locks) is
// linked: it installs its chooser into the core at static initialization.
// Same word protocol, same results as the futex(2) backend.
// Nesting: a completion dispatched while waiting may itself block (on the
// same lock or another); waits nest like function calls, the inner one
// returns first. An outer wait whose futex completes while a nested wait runs
// cannot act on its wake until the nested one returns, so it must not keep
// it: its completion runs the waiter's Leave() at once (passing the wake on,
// e.g. to the nested waiter) and the outer wait re-registers when control
// returns to it. Without this, a Mutex's W bit would stay set for a waiter
// that cannot run (regression test: RingBlockingTest.NestedWaitsOnOneMutex).
// Availability: native FUTEX_WAIT SQEs on Linux 6.7+, the loop's
// futex_waitv(2) helper thread before that (EventLoop::native_futex()).
// ScopedFutexBlocking opts a scope out (plain futex(2) sleeps).
#ifndef RINGLOCK_LOCKS_RING_WAIT_BACKEND_H_
#define RINGLOCK_LOCKS_RING_WAIT_BACKEND_H_

#include "locks/internal/wait_backend.h"
#include "uring/event_loop.h"

namespace ringlock {

namespace internal {

class RingWaitBackend final : public WaitBackend {
 public:
  explicit RingWaitBackend(uring::EventLoop& loop) : loop_(&loop) {}
  void set_loop(uring::EventLoop& loop) { loop_ = &loop; }

  BackendWaitResult Wait(const std::atomic<uint32_t>& word, uint32_t expected, Deadline deadline,
                         FutexScope scope, uint32_t bitset, WaitLeaver& leaver) override;
  BackendWaitResult WaitAny(const futex::WaitvEntry* entries, int count, Deadline deadline,
                            int* index, WaitLeaver& leaver) override;
  const char* name() const override { return "ring"; }

 private:
  uring::EventLoop* loop_;
};

}  // namespace internal

// While alive, blocking lock calls on this thread sleep in futex(2) even if
// the thread runs an EventLoop (for code that must not dispatch completions
// re-entrantly).
class ScopedFutexBlocking {
 public:
  ScopedFutexBlocking()
      : previous_(internal::SetThreadWaitBackend(&internal::FutexWaitBackend::Get())) {}
  ~ScopedFutexBlocking() { internal::SetThreadWaitBackend(previous_); }
  ScopedFutexBlocking(const ScopedFutexBlocking&) = delete;
  ScopedFutexBlocking& operator=(const ScopedFutexBlocking&) = delete;

 private:
  internal::WaitBackend* previous_;
};

}  // namespace ringlock

#endif  // RINGLOCK_LOCKS_RING_WAIT_BACKEND_H_
