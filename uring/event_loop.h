// uring/event_loop.h — EventLoop: one io_uring per thread that completes
// I/O, futex waits, timers, posted work and coroutines.
//
// Model
//   An EventLoop belongs to the thread that created it (EventLoop::Current()
//   returns it there) and is its ring's single issuer: every method except
//   Post() and Stop() must be called on that thread.
//
//   Several loops on one thread: Current() is the newest one still alive (a
//   per-thread stack). Destroying it makes the next newest current again;
//   destroying an older one first just removes it. Ring-blocking waits
//   (locks/ring_wait_backend.h) dispatch Current() only, so an older loop's
//   completions wait while the thread blocks: prefer one loop per thread.
//
//   fork(): a loop belongs to the process that created it. In the child
//   (fork() through libc, which runs pthread_atfork handlers) Current() is
//   nullptr on every thread, so blocking lock calls there sleep in futex(2)
//   and never touch the parent's ring. The child must not use the
//   inherited loop objects (debug builds abort); destroying one there only
//   releases the child's copies of its fds and leaves the parent's ring,
//   helper thread state and operations alone. The child may create loops of
//   its own. Everything the loop
//   does for a caller finishes through Operation::Complete(res) (operation.h)
//   exactly once, on the owner thread, in a *dispatch step*.
//
//   A dispatch step is one of: one Operation::Complete call, one posted
//   function, one coroutine resumption. Steps run inside Run / RunUntil /
//   Poll / RunUntilComplete, one at a time.
//
// Submission rule (wakes, cancels, new operations)
//   Starting an operation, queueing a wake or cancelling only writes an SQE;
//   the loop submits all queued SQEs after the current dispatch step returns
//   to it: before the next step runs, or in the io_uring_enter that blocks
//   for completions (submit and wait in one syscall), or when Run/RunUntil/
//   Poll return. So nothing queued is delayed beyond the step that queued it
//   and no code of the loop's thread runs in between. Code outside any step
//   (e.g. before Run) is flushed by the next Run/RunUntil/Poll, or
//   explicitly by FlushWakes().
//
// Futex path (decided once at Create; see native_futex())
//   native    IORING_OP_FUTEX_WAIT / WAITV / WAKE SQEs (Linux >= 6.7).
//   fallback  one helper thread per loop in futex_waitv(2) (Linux >= 5.16)
//             reporting to the loop through its eventfd; wakes are futex(2)
//             calls. Chosen when the probe lacks the opcodes or when
//             EventLoopOptions::mode == kFallback, or when the probe itself
//             failed (io_uring_register denied). Once per process a line on
//             stderr says the fallback is in use and why.
//   Both paths give the same results, orderings and lifetimes.
//
// Engine (decided once at Create; see emulated())
//   io_uring  a Ring (Linux >= 5.5 with IORING_FEAT_NODROP).
//   emulated  no io_uring at all: io_uring_setup fails (ENOSYS: kernel
//             without it; EPERM: kernel.io_uring_disabled or a seccomp
//             profile, as many container runtimes ship; ENOMEM: memlock),
//             or io_uring_enter does (Ring::Create submits a NOP to check).
//             The loop keeps its model and API; SQEs run in userspace over
//             epoll(7) and a timerfd (internal/sqe_emulator.h), futex waits
//             take the fallback path above. Chosen by RingMode::kAuto when
//             io_uring is unavailable (one stderr line per process says why)
//             or forced with RingMode::kEmulated. Emulated I/O runs each
//             syscall on the loop thread once poll(2) says its fd is ready
//             (regular files: at once), so give the loop O_NONBLOCK sockets
//             and pipes if other threads read or write them too. Opcodes
//             beyond io.h's (and links, fixed files) complete with -EINVAL.
//   The synchronous futex(2) paths of ringlock's locks never need a loop.
#ifndef RINGLOCK_URING_EVENT_LOOP_H_
#define RINGLOCK_URING_EVENT_LOOP_H_

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <optional>
#include <unordered_set>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "uring/futex_op.h"
#include "uring/futex_sqe.h"
#include "uring/sys/futex.h"
#include "uring/internal/sqe_emulator.h"
#include "uring/operation.h"
#include "uring/ring.h"
#include "uring/task.h"

namespace ringlock::uring {

namespace internal {
class FutexFallback;
}

enum class FutexMode {
  kAuto,      // native if the kernel has the futex opcodes, else fallback
  kNative,    // native or Create fails (Unimplemented)
  kFallback,  // always the futex_waitv(2) helper thread (tests, old kernels)
};

enum class RingMode {
  kAuto,      // io_uring if io_uring_setup works, else the emulation
  kIoUring,   // io_uring, or Create fails with Ring::Create's status
  kEmulated,  // always the emulation (tests; processes that avoid io_uring)
};

struct EventLoopOptions {
  FutexMode mode = FutexMode::kAuto;
  RingMode ring = RingMode::kAuto;
  // >= 2 (Create fails with InvalidArgument otherwise): a timed futex wait
  // is a linked pair of SQEs and the loop never splits a link across
  // submissions. Rounded up to a power of two by the kernel.
  uint32_t sq_entries = 256;
  uint32_t cq_entries = 0;  // 0: 2 * sq_entries
  // Try IORING_SETUP_DEFER_TASKRUN (see ring.h); false uses COOP_TASKRUN.
  bool defer_taskrun = true;
};

// How many fork()s separate this process from the one that first asked:
// bumped in every child (pthread_atfork), so per-process io_uring state
// (a loop, a thread's wake ring) can tell it was inherited from a parent.
uint64_t ForkGeneration();

class EventLoop {
 public:
  // Creates a loop owned by the calling thread and makes it the thread's
  // Current(). Errors:
  //   InvalidArgument  bad options, in every mode, before any engine is
  //                    tried: sq_entries outside 2..32768 (a timed
  //                    futex wait is a linked pair of SQEs, never split), cq_entries not 0
  //                    and not within sq_entries..65536 (both after
  //                    rounding up to a power of two, as the kernel does),
  //                    a `mode` or `ring` that is no enumerator.
  //   Ring::Create's (no io_uring, EPERM, ENOMEM, io_uring_enter denied)
  //                    for RingMode::kIoUring; kAuto emulates instead.
  //   Unimplemented    FutexMode::kNative without the futex opcodes (always
  //                    when emulated, or when the opcode probe was denied),
  //                    or the fallback is needed but the kernel lacks
  //                    futex_waitv(2) (Linux < 5.16).
  //   the errno's code when a thread cannot be created (the fallback's
  //                    helper, or the futex-hash thread of futex_hash.h; e.g.
  //                    PermissionDenied when a seccomp filter denies clone),
  //                    and eventfd/epoll failures.
  // A failed Create leaves no fd, thread or memory behind.
  static absl::StatusOr<std::unique_ptr<EventLoop>> Create(
      EventLoopOptions options = {});

  // Cancels every in-flight operation and dispatches until all have
  // completed (each gets its real result or -ECANCELED); destroys detached
  // (Spawned) coroutines that are still suspended (their awaiters cancel
  // their operations). Must run on the owner thread. Post() must not be
  // called once destruction has begun.
  // Operations started once destruction has begun (e.g. from a completion
  // it dispatches) never reach the ring: each completes with -ECANCELED in
  // a later dispatch step. Code that retries on every error would so loop
  // forever; instead, an operation started from the completion of one that
  // was itself started during destruction, kMaxShutdownDepth deep, aborts
  // the process with a message. Stop retrying on -ECANCELED.
  ~EventLoop();
  static constexpr int kMaxShutdownDepth = 1000;

  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // The newest live loop owned by the calling thread in this process, or
  // nullptr (see "Model": several loops, fork()).
  static EventLoop* Current();

  // True if futex waits use io_uring's futex opcodes, false for the helper
  // thread fallback.
  bool native_futex() const { return native_; }
  // True if the loop emulates io_uring in userspace (see "Engine").
  bool emulated() const { return emu_ != nullptr; }
  // The loop's io_uring; nullptr when emulated().
  Ring* ring() { return ring_ ? &*ring_ : nullptr; }

  // ---- Generic operations ------------------------------------------------

  // Gets an SQE, lets `prep` fill it, and makes a fresh tag for this start
  // of `op` its user_data (any user_data `prep` wrote is overwritten; see
  // operation.h, "Identity"). Completes when the CQE arrives:
  // op->Complete(cqe->res). Linked chains: not through this call. `op` must
  // not be in flight already (aborts with a message).
  void StartOperation(Operation* op,
                      absl::FunctionRef<void(io_uring_sqe*)> prep);

  // Requests cancellation of an in-flight operation (IORING_OP_ASYNC_CANCEL,
  // or removal from the fallback helper). Completion still comes through
  // Complete, exactly once: with -ECANCELED, or with the real result if the
  // operation finished first. No-op if `op` is not in flight.
  void Cancel(Operation* op);

  // Like Cancel, but returns only once the kernel no longer uses the
  // operation's buffers (IORING_REGISTER_SYNC_CANCEL, Linux >= 6.0; older
  // kernels, or io_uring_register denied (Ring's probe().error): falls back
  // to Cancel, and buffers stay in use until Complete).
  // Complete still runs later, from a dispatch step. For awaiters whose
  // buffers die with a coroutine frame (io.h).
  void CancelSync(Operation* op);

  // ---- Futex waits -------------------------------------------------------

  // Waits asynchronously until `word` is woken while it holds `expected`.
  //   Completes with 0            woken by a FUTEX_WAKE / futex(2) wake
  //                  -EAGAIN      *word != expected when the wait was armed
  //                               (armed at the end of the current step; a
  //                               caller re-checks its word for 0 or -EAGAIN)
  //                  -ETIMEDOUT   `deadline` passed (native: IOSQE_IO_LINK +
  //                               IORING_OP_LINK_TIMEOUT on the
  //                               deadline's absolute CLOCK_MONOTONIC time,
  //                               the same clock as the futex(2) paths; the
  //                               timeout's own CQE is consumed by the loop)
  //                  -ECANCELED   CancelFutexWait / Cancel won the race, or
  //                               the loop is being destroyed
  //                  -ENOMEM      native only: the kernel could not allocate
  //                               the wait (transient; re-check and re-arm)
  //   `futex2_flags`: FUTEX2_* (kFutex2Private for process-private words;
  //   size bits default to U32). Private waits interoperate with futex(2)
  //   *_PRIVATE wakes and QueueFutexWake(kFutex2Private).
  //   Memory ordering: none by itself. The waker's stores before its wake are
  //   visible after Complete only through the word: load it with acquire
  //   (TSAN cannot see the kernel's ordering).
  //   Spurious completions: possible on the fallback path (futex_waitv(2)
  //   reports one woken index though several entries may have been woken,
  //   so the helper completes every wait that may have been, with 0; waits
  //   beyond its 127 words complete with 0 every 1 ms). Callers re-check
  //   their word after 0, as after any futex wake.
  //   Linux >= 6.16 private hash bug: handled (EnsurePrivateFutexHash()).
  //   `op` must stay alive until Complete runs.
  void StartFutexWait(FutexWaitOp* op, const std::atomic<uint32_t>* word,
                      uint32_t expected, uint32_t futex2_flags,
                      Deadline deadline = Deadline::Never());

  // Waits for the first of `entries` (1..kFutexWaitvMax; copied into `op`).
  // Completes with the index of the entry woken, -EAGAIN (some entry's word
  // differed when armed), -ETIMEDOUT, -ECANCELED, as StartFutexWait.
  void StartFutexWaitv(FutexWaitvOp* op, absl::Span<const FutexWaitv> entries,
                       Deadline deadline = Deadline::Never());

  // Cancels a futex wait; same contract as Cancel (a wake that won keeps
  // res 0 / the index).
  void CancelFutexWait(FutexWaitOp* op) { Cancel(op); }

  // ---- Futex wakes -------------------------------------------------------

  // Native: queues an IORING_OP_FUTEX_WAKE SQE (IOSQE_CQE_SKIP_SUCCESS) that
  // wakes up to `n` waiters of `word`; it leaves after the current dispatch
  // step (before the next one runs, or in the io_uring_enter that blocks), or
  // at FlushWakes(), whichever is first, together with all other queued SQEs
  // (one io_uring_enter).
  // Fallback: calls futex(2) FUTEX_WAKE now.
  // Ordering: stores made before this call are published by the submit.
  // `mask`: wake only waiters whose bitset intersects it (FUTEX_WAKE_BITSET).
  // `sqe_flags`: extra SQE flags, e.g. IOSQE_ASYNC to have an io-wq worker
  // do the wake instead of the submitting thread (native path only).
  void QueueFutexWake(const std::atomic<uint32_t>* word, uint32_t n,
                      uint32_t futex2_flags, uint64_t mask = kFutexBitsetMatchAny,
                      uint8_t sqe_flags = 0);
  // Submits all queued SQEs now.
  void FlushWakes();

  // ---- Running -----------------------------------------------------------

  // Dispatches until Stop() has been called and nothing is pending (no
  // in-flight operation, posted work or ready coroutine). Resets the stop
  // request on return.
  void Run();
  // Dispatches until done() returns true; done() is checked before blocking
  // and after every dispatch step, so it must become true through a step
  // (a completion or posted work); another thread flipping a flag must
  // also Post() to wake the loop. Re-entrant: a step may call RunUntil
  // (a thread blocked in a ring-blocking lock keeps completing its I/O).
  void RunUntil(absl::FunctionRef<bool()> done);
  // Dispatches what is ready now without blocking; true if anything ran.
  bool Poll();

  // Fairness: completions are dispatched before posted work and
  // resumptions, and the loop reaps its engine (without blocking: an
  // io_uring_enter with GETEVENTS, or a poll(2) with timeout 0 when
  // emulated) whenever it has run kMaxStepsWithoutReap posted functions or
  // resumptions in a row. So a coroutine that keeps yielding through
  // Schedule() delays a finished operation's Complete by at most that many
  // steps; it never starves completions.
  static constexpr int kMaxStepsWithoutReap = 64;
  // Runs `fn` on the loop thread in a later dispatch step. Thread-safe; wakes
  // a blocked loop (eventfd read armed on the ring).
  void Post(absl::AnyInvocable<void()> fn);
  // Thread-safe: asks Run() to return once nothing is pending.
  void Stop();

  // ---- Coroutines --------------------------------------------------------

  // Runs `task` detached on the loop (it starts in a later dispatch step).
  // Its frame is destroyed when it finishes, or by ~EventLoop.
  void Spawn(Task<void> task);
  // Starts `task` now and dispatches until it finishes; returns its value.
  template <typename T>
  T RunUntilComplete(Task<T> task);
  // Called on the loop's thread at the end of every dispatch step (and when
  // RunUntil starts), before the loop submits its queued SQEs or blocks: a
  // layer above sends what it holds for the thread then (ringlock's locks
  // send the thread's WakeBatch wakes, so a coroutine that suspends inside a
  // batch does not leave its wakes queued while the loop sleeps). One hook
  // per process; set once, before loops run.
  using StepEndHook = void (*)();
  static void SetStepEndHook(StepEndHook hook);

  // Queues a coroutine resumption as a dispatch step. Resumptions still
  // queued when ~EventLoop begins are dropped, never run: the destructor
  // destroys suspended spawned frames first.
  void Schedule(std::coroutine_handle<> h);
  // Queues fn(arg, false) as a dispatch step; once ~EventLoop has begun it
  // runs fn(arg, true) instead, which must resume nothing (the frames it
  // would resume may be gone). For steps whose target may die before they
  // run: fn finds it through `arg` (a coroutine handle cannot be recalled).
  void Schedule(void (*fn)(void* arg, bool loop_destroying), void* arg);

  // How many RunUntil / Run / RunUntilComplete calls are active on the
  // owner thread (nesting depth). Lets a blocked waiter tell whether its
  // completion arrived while a nested wait was running above it.
  int run_depth() const { return run_depth_; }

  // Number of operations in flight (for tests and diagnostics).
  size_t in_flight() const { return ops_count_; }

 private:
  class EventfdOp : public Operation {
   public:
    explicit EventfdOp(EventLoop* loop) : loop_(loop) {}
    void Complete(int32_t res) override;
    EventLoop* loop_;
    uint64_t buf_ = 0;
  };
  struct DetachedTask;
  friend struct DetachedTask;

  EventLoop(std::optional<Ring> ring,
            std::unique_ptr<internal::SqeEmulator> emu, bool native, int efd);
  // The engine: the Ring, or the emulator when there is no io_uring.
  io_uring_sqe* GetSqe() { return emu_ ? emu_->GetSqe() : ring_->GetSqe(); }
  void SubmitSqes();
  size_t SqReady();
  void Track(Operation* op);
  void Untrack(Operation* op);
  // The operation whose current start has tag `user_data`, or nullptr.
  Operation* Lookup(uint64_t user_data) const;
  // Queues an IORING_OP_ASYNC_CANCEL for the current start of `op`.
  void PrepCancel(Operation* op);
  void ArmEventfd();
  void WakeLoop();  // Thread-safe.
  void Dispatch(const Completion& c);
  bool DispatchOne();
  void AfterStep();
  void ReapAvailable();
  void WaitAndReap();
  // Submits and reaps what finished, without blocking (see Fairness).
  void PollEngine();
  // Completes `op` (tracked) with -ECANCELED without the ring, or
  // aborts past kMaxShutdownDepth (see ~EventLoop).
  void RefuseWhileDestroying(Operation* op);
  void StartFutex(FutexWaitOp* op, bool waitv,
                  absl::Span<const FutexWaitv> entries, uint32_t single_flags,
                  Deadline deadline);
  void CompleteLater(Operation* op, int32_t res);
  // Debug builds: aborts if called off the owner thread (the ring is
  // IORING_SETUP_SINGLE_ISSUER; the kernel would reject it with -EEXIST),
  // or in a fork()ed child.
  void CheckOwner() const;
  // False in a fork()ed child of the process that created the loop.
  bool InCreatorProcess() const;

  std::optional<Ring> ring_;
  std::unique_ptr<internal::SqeEmulator> emu_;
  const bool native_;
  const int efd_;
  const std::thread::id owner_ = std::this_thread::get_id();
  const uint64_t fork_generation_;  // the process's, at creation
  // The owner thread's stack of live loops (Current() is its newest).
  EventLoop* older_ = nullptr;
  EventLoop* newer_ = nullptr;
  EventfdOp efd_op_{this};
  bool efd_armed_ = false;
  bool destroying_ = false;
  int run_depth_ = 0;
  int steps_since_reap_ = 0;
  int dispatch_shutdown_depth_ = 0;  // shutdown_depth_ of the op being completed  // posted/resumption steps since the last reap
  std::atomic<bool> efd_signalled_{false};
  std::atomic<bool> stop_{false};

  std::mutex mu_;  // std::mutex: visible to TSAN (Debian's absl is not).
  std::vector<absl::AnyInvocable<void()>> posted_;  // guarded by mu_

  std::deque<Completion> cqes_;  // reaped, not yet dispatched
  // A dispatch step that is not a completion: fn(arg, destroying_). Plain
  // pointers, not a type-erased callable: a cohort handoff or a resumption
  // is a step, and costs no more than the call.
  struct LocalStep {
    void (*fn)(void* arg, bool loop_destroying);
    void* arg;
  };
  void PushLocal(absl::AnyInvocable<void()> fn);  // boxed: Post, Spawn
  std::deque<LocalStep> local_;  // posted work, resumptions, scheduled steps
  Operation* ops_head_ = nullptr;  // in-flight list (intrusive)
  size_t ops_count_ = 0;
  // Operation tags (operation.h, "Identity"): user_data of a start is
  // kTagBit | generation << 32 | slot. Bit 63 keeps tags apart from the
  // eventfd read's user_data (an address) and from 0.
  static constexpr uint64_t kTagBit = uint64_t{1} << 63;
  static constexpr uint32_t kGenMask = 0x7fffffff;
  struct Slot {
    Operation* op = nullptr;  // in flight in this slot, or nullptr
    uint32_t gen = 0;         // bumped at every start in this slot
  };
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_slots_;
  std::unordered_set<void*> spawned_;  // live detached coroutine frames
  std::unique_ptr<internal::FutexFallback> fallback_;
};

// ---- Implementation details ----------------------------------------------

struct EventLoop::DetachedTask {
  struct promise_type {
    EventLoop* loop = nullptr;
    DetachedTask get_return_object() {
      return {std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept {
      loop->spawned_.erase(
          std::coroutine_handle<promise_type>::from_promise(*this).address());
      return {};
    }
    void return_void() {}
    void unhandled_exception() { std::terminate(); }
  };
  std::coroutine_handle<promise_type> h;
};

template <typename T>
T EventLoop::RunUntilComplete(Task<T> task) {
  task.handle().resume();
  AfterStep();
  RunUntil([&] { return task.done(); });
  return task.TakeResult();
}

}  // namespace ringlock::uring

#endif  // RINGLOCK_URING_EVENT_LOOP_H_
