// uring/ring.h — Ring: an owned io_uring instance with deliberate setup
// flags, a capability probe, and submission/reaping that never drop work.
//
// Overview
//   Ring is RAII over liburing's struct io_uring. It is movable, not
//   copyable. One thread uses a Ring (see "Threading").
//
// Setup flags, tried in this order (the kernel rejects unknown flags with
// EINVAL; Create falls back to the next set and records what it got):
//   1. SINGLE_ISSUER | DEFER_TASKRUN | SUBMIT_ALL   (Linux >= 6.1)
//      One thread submits and reaps (EventLoop's model anyway). DEFER_TASKRUN
//      runs completion task work only when the owner enters the kernel to
//      wait, so futex wakes from other threads never interrupt the owner
//      with IPIs/task-work in the middle of its own work; it batches instead.
//      SUBMIT_ALL keeps submitting past an SQE that fails early, so one bad
//      SQE never leaves the rest stranded in the SQ.
//   2. SINGLE_ISSUER | COOP_TASKRUN | SUBMIT_ALL     (Linux >= 6.0)
//   3. COOP_TASKRUN | SUBMIT_ALL                     (Linux >= 5.19)
//      Same idea without deferral: no forced IPI to the owner; task work
//      runs at its next kernel entry.
//   4. no flags                                       (Linux >= 5.5)
//   RingOptions can disable SINGLE_ISSUER/DEFER_TASKRUN (e.g. when a ring is
//   created on one thread and driven from another).
//
// Never dropping work
//   * Full SQ: GetSqe() submits what is queued and retries; it never returns
//     nullptr.
//   * CQ overflow: Create requires IORING_FEAT_NODROP (Linux >= 5.5), so the
//     kernel keeps overflowed CQEs on its overflow list; reaping flushes them.
//     When io_uring_enter reports -EBUSY (completions backed up), the ring
//     moves the visible CQEs into an internal backlog and retries; Reap()
//     hands the backlog out first, in order.
//   * EINTR from io_uring_enter is retried.
//
// Threading: not thread-safe. With SINGLE_ISSUER (the default), only the
// thread that created the ring may submit; other threads get -EEXIST.
#ifndef RINGLOCK_URING_RING_H_
#define RINGLOCK_URING_RING_H_

#include <liburing.h>

#include <bitset>
#include <cstdint>
#include <deque>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"

namespace ringlock::uring {

struct RingOptions {
  // SQ entries (rounded up to a power of two by the kernel). 256 holds a
  // burst of 128 wakes (the FUTEX_WAITV maximum) plus the I/O in flight
  // without an early submit; a full SQ only costs an extra submit.
  uint32_t sq_entries = 256;
  // CQ entries; 0 = kernel default (2 * sq_entries).
  uint32_t cq_entries = 0;
  // Try IORING_SETUP_SINGLE_ISSUER (+ DEFER_TASKRUN). Turn off when the
  // ring is created on one thread and used on another.
  bool single_issuer = true;
  bool defer_taskrun = true;
};

// Which opcodes the running kernel supports (IORING_REGISTER_PROBE).
struct Probe {
  uint8_t last_op = 0;
  std::bitset<256> ops;
  // 0, or the errno IORING_REGISTER_PROBE failed with (e.g. EPERM: a
  // seccomp profile denies io_uring_register): then no opcode is known and
  // every Supports() is false. Why() says which.
  int error = 0;
  bool Supports(uint8_t op) const { return ops.test(op); }
  bool futex_wait() const;   // IORING_OP_FUTEX_WAIT, Linux >= 6.7
  bool futex_wake() const;   // IORING_OP_FUTEX_WAKE, Linux >= 6.7
  bool futex_waitv() const;  // IORING_OP_FUTEX_WAITV, Linux >= 6.7
  // All three futex opcodes: what EventLoop's native mode needs.
  bool futex() const { return futex_wait() && futex_wake() && futex_waitv(); }
  // Why futex() is false: the probe's failure, or the kernel's version.
  std::string WhyNoFutex() const;
};

// The kernel's limits on ring sizes (IORING_MAX_ENTRIES, IORING_MAX_CQ_ENTRIES;
// both rounded up to a power of two): sq_entries 1..32768, cq_entries 0
// (2 * sq_entries) or sq_entries..65536. InvalidArgument naming the bad one.
absl::Status ValidateRingSizes(uint32_t sq_entries, uint32_t cq_entries);

// One reaped completion.
struct Completion {
  uint64_t user_data;
  int32_t res;
  uint32_t flags;
};

class Ring {
 public:
  // Sets up a ring and checks that it works: a NOP is submitted and reaped
  // through io_uring_enter, and the opcodes are probed (a denied probe is
  // recorded in probe().error, not an error). Errors (absl::Status codes):
  //   InvalidArgument     sizes outside ValidateRingSizes's limits.
  //   Unimplemented       io_uring_setup ENOSYS: kernel without io_uring.
  //   PermissionDenied    EPERM: kernel.io_uring_disabled or seccomp.
  //   PermissionDenied /  io_uring_enter fails the NOP (EPERM / ENOSYS: a
  //   Unimplemented       seccomp profile that denies only io_uring_enter).
  //   ResourceExhausted   ENOMEM: RLIMIT_MEMLOCK too low for the ring
  //                       (kernels < 5.12 charge rings to memlock).
  //   FailedPrecondition  kernel lacks IORING_FEAT_NODROP (< 5.5).
  static absl::StatusOr<Ring> Create(const RingOptions& options = {});

  Ring(Ring&& other) noexcept;
  Ring& operator=(Ring&& other) noexcept;
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;
  ~Ring();

  // A zeroed-by-prep SQE slot. When the SQ is full, submits and retries
  // (reaping into the backlog if the kernel reports -EBUSY). Never nullptr.
  io_uring_sqe* GetSqe();

  // Submits queued SQEs without waiting. Returns the number submitted or a
  // fatal -errno (EINTR/EBUSY/EAGAIN are handled internally).
  int Submit();

  // Submits and blocks until at least one completion can be reaped. Returns
  // 0 or a fatal -errno. EINTR is retried.
  int SubmitAndWait();

  // Submits and enters the kernel with GETEVENTS without blocking, so that
  // completion task work deferred by DEFER_TASKRUN/COOP_TASKRUN runs and
  // overflowed CQEs are flushed: everything finished becomes reapable.
  int SubmitAndGetEvents();

  // Calls `fn` for up to `max` completions (backlog first, then the CQ) and
  // returns how many it delivered. `fn` must not call Reap on this ring.
  size_t Reap(absl::FunctionRef<void(const Completion&)> fn,
              size_t max = ~size_t{0});

  // True if a completion is ready to be reaped without entering the kernel.
  bool HasCompletions() const;

  const Probe& probe() const { return probe_; }
  uint32_t setup_flags() const { return setup_flags_; }
  uint32_t features() const { return features_; }
  uint32_t sq_entries() const { return ring_.sq.ring_entries; }
  uint32_t cq_entries() const { return ring_.cq.ring_entries; }
  int fd() const { return ring_.ring_fd; }
  io_uring* raw() { return &ring_; }

 private:
  Ring() = default;
  // Moves every visible CQE into backlog_ (to let the kernel post more).
  void DrainToBacklog();
  enum class SubmitMode { kSubmit, kGetEvents, kWait };
  int SubmitImpl(SubmitMode mode);

  io_uring ring_{};
  bool valid_ = false;
  uint32_t setup_flags_ = 0;
  uint32_t features_ = 0;
  Probe probe_;
  std::deque<Completion> backlog_;
};

}  // namespace ringlock::uring

#endif  // RINGLOCK_URING_RING_H_
