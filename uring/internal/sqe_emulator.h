// uring/internal/sqe_emulator.h — runs io_uring SQEs in userspace, for an
// EventLoop on a machine where io_uring is unavailable (io_uring_setup fails:
// ENOSYS, EPERM from kernel.io_uring_disabled or a seccomp profile, ENOMEM).
//
// The loop keeps writing SQEs with liburing's prep helpers and reaping
// Completions; only the engine changes. SQEs are queued until Submit(),
// then executed in order on the calling (owner) thread:
//
//   opcode                 how                                    result
//   NOP                    nothing                                0
//   READ(V) / WRITE(V)     regular file or block device: the      bytes / -errno
//                          syscall now (like io-wq, but inline);
//                          anything else: when poll(2) says the
//                          fd is ready (epoll while it is not)
//   RECV / SEND            recv/send with MSG_DONTWAIT when ready bytes / -errno
//   ACCEPT                 accept4 when the socket is readable    fd / -errno
//   CONNECT                non-blocking connect, then SO_ERROR    0 / -errno
//                          when writable
//   TIMEOUT (count 0)      timerfd on CLOCK_MONOTONIC (relative,  -ETIME
//                          ABS, REALTIME and BOOTTIME clocks)
//   ASYNC_CANCEL           by user_data (IORING_ASYNC_CANCEL_ALL) 0 / -ENOENT;
//                                                                 target -ECANCELED
//   anything else, links,  not emulated                           -EINVAL
//   fixed files, buffer
//   selection, drain
//
// IOSQE_CQE_SKIP_SUCCESS is honoured; IOSQE_ASYNC is ignored. Futex opcodes
// are not emulated: an emulated EventLoop uses its futex_waitv(2) helper
// thread (futex_fallback.h) and plain futex(2) wakes.
//
// Limits (documented for users in event_loop.h): an operation runs its
// syscall once the fd polled ready, so a blocking fd that another thread
// drains in between, or a blocking pipe write larger than the free space,
// can block the loop; give the loop O_NONBLOCK descriptors where that
// matters (every fd the library itself uses is). Completions are queued in
// memory, so none is ever dropped.
#ifndef RINGLOCK_URING_INTERNAL_SQE_EMULATOR_H_
#define RINGLOCK_URING_INTERNAL_SQE_EMULATOR_H_

#include <liburing.h>

#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <unordered_map>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "uring/ring.h"

namespace ringlock::uring::internal {

class SqeEmulator {
 public:
  static absl::StatusOr<std::unique_ptr<SqeEmulator>> Create();
  ~SqeEmulator();  // Pending operations are dropped without a completion.

  SqeEmulator(const SqeEmulator&) = delete;
  SqeEmulator& operator=(const SqeEmulator&) = delete;

  // A zeroed SQE slot, queued until Submit; it stays valid (and in place)
  // until then. Never nullptr.
  io_uring_sqe* GetSqe();
  // SQEs queued and not yet submitted.
  size_t sq_ready() const { return sq_.size(); }

  // Executes or registers every queued SQE, in order.
  void Submit();
  // Submit, then collect what became ready without blocking.
  void SubmitAndGetEvents();
  // Submit, then block until at least one completion can be reaped.
  void SubmitAndWait();
  // Calls `fn` for each queued completion, in order; returns how many.
  size_t Reap(absl::FunctionRef<void(const Completion&)> fn);
  bool HasCompletions() const { return !cq_.empty(); }

  // Cancels the pending operations with `user_data` now (their -ECANCELED
  // completions are queued); false if none was pending. After it returns
  // the emulator no longer touches their buffers.
  bool CancelNow(uint64_t user_data);

  // Operations registered and not yet completed (tests).
  size_t pending() const { return pending_.size(); }

 private:
  enum class Dir : uint8_t { kNone, kIn, kOut };
  struct Pending {
    io_uring_sqe sqe;
    Dir dir = Dir::kNone;
    int64_t deadline_ns = 0;   // TIMEOUT: absolute CLOCK_MONOTONIC
    bool connecting = false;   // CONNECT: waiting for writability
    bool socket = false;       // its fd is a socket (found once, at submit)
  };
  using PendingIt = std::list<Pending>::iterator;
  struct FdWaiters {
    std::deque<PendingIt> in, out;
    uint32_t registered = 0;  // epoll events currently registered
  };

  SqeEmulator(int epfd, int timerfd);
  void Execute(const io_uring_sqe& sqe);
  void Post(const io_uring_sqe& sqe, int32_t res);
  // Runs `p`'s syscall if its fd is ready; false if it must wait.
  bool TryComplete(Pending& p);
  // Parks `p` until its fd is ready (or runs it now if epoll refuses the fd).
  void Park(PendingIt it);
  void Unpark(PendingIt it);
  void UpdateEpoll(int fd, FdWaiters& w);
  void OnReady(int fd, uint32_t events);
  void ExpireTimers();
  void ArmTimerfd();
  void Finish(PendingIt it, int32_t res);
  // epoll_wait and handle events; timeout_ms as epoll_wait.
  void WaitEvents(int timeout_ms);

  const int epfd_;
  const int timerfd_;
  std::deque<io_uring_sqe> sq_;  // deque: GetSqe's pointers stay valid
  std::deque<Completion> cq_;
  std::list<Pending> pending_;
  std::unordered_map<int, FdWaiters> fds_;
  std::multimap<int64_t, PendingIt> timers_;
  int64_t timerfd_armed_ns_ = 0;  // 0: disarmed
};

}  // namespace ringlock::uring::internal

#endif  // RINGLOCK_URING_INTERNAL_SQE_EMULATOR_H_
