// uring/io.h — I/O awaitables for Task<T> coroutines on an EventLoop.
//
//   int32_t n = co_await Read(loop, fd, buf, len);
//
// Each function returns an awaiter whose co_await submits one SQE (it leaves
// at the end of the current dispatch step, see event_loop.h) and resumes the
// coroutine from the dispatch step of its CQE, yielding the CQE result:
// >= 0 on success (bytes, new fd, 0), -errno on failure, -ECANCELED if
// cancelled.
//
// Completes when: the kernel posts the operation's CQE.
// Threading: co_await on the loop's thread only (the coroutine runs there).
// Buffers and addresses: must stay valid until the co_await returns.
// Cancellation and lifetime: if the awaiting coroutine's frame is destroyed
// while the operation is pending (Task destroyed, loop destroyed), the
// awaiter *orphans* its heap state: it cancels with EventLoop::CancelSync
// (so the kernel stops writing into buffers owned by the dead frame) and the
// state frees itself when its CQE arrives. No use-after-free, no leak.
// Availability: every op here exists since Linux 5.5-5.6 (accept/connect
// 5.5; send/recv/read/write/timeout 5.6).
#ifndef RINGLOCK_URING_IO_H_
#define RINGLOCK_URING_IO_H_

#include <liburing.h>
#include <linux/time_types.h>
#include <sys/socket.h>

#include <coroutine>
#include <cstdint>
#include <memory>
#include <utility>

#include "absl/time/time.h"
#include "uring/event_loop.h"
#include "uring/internal/resuming_op.h"
#include "uring/operation.h"

namespace ringlock::uring {

// Offset meaning "the file's current position" for Read/Write.
inline constexpr uint64_t kCurrentPosition = ~uint64_t{0};

namespace internal {

struct IoState final : ResumingOp<Operation> {
  __kernel_timespec ts{};  // for timeouts: read by the kernel at submit
};

// Prep: void(io_uring_sqe*, IoState&). Map: int32_t(int32_t res).
template <typename Prep, typename Map>
class [[nodiscard]] IoAwaiter {
 public:
  IoAwaiter(EventLoop& loop, Prep prep, Map map)
      : loop_(&loop), prep_(std::move(prep)), map_(std::move(map)) {}
  IoAwaiter(IoAwaiter&&) = default;
  IoAwaiter(const IoAwaiter&) = delete;
  ~IoAwaiter() {
    if (state_ && !state_->done) {  // Frame destroyed while pending.
      internal::IoState* s = state_.release();
      s->orphaned = true;
      loop_->CancelSync(s);
    }
  }

  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    state_ = std::make_unique<IoState>();
    state_->waiter = h;
    loop_->StartOperation(state_.get(),
                          [this](io_uring_sqe* sqe) { prep_(sqe, *state_); });
  }
  int32_t await_resume() { return map_(state_->res); }

 private:
  EventLoop* loop_;
  Prep prep_;
  Map map_;
  std::unique_ptr<IoState> state_;
};

inline int32_t Identity(int32_t r) { return r; }

template <typename Prep>
auto MakeIo(EventLoop& loop, Prep prep) {
  return IoAwaiter<Prep, int32_t (*)(int32_t)>(loop, std::move(prep), &Identity);
}

}  // namespace internal

// IORING_OP_NOP: yields 0. A cheap way to reschedule through the ring.
inline auto Nop(EventLoop& loop) {
  return internal::MakeIo(
      loop, [](io_uring_sqe* s, internal::IoState&) { io_uring_prep_nop(s); });
}

// read(2)/pread(2): yields bytes read (0 at EOF).
inline auto Read(EventLoop& loop, int fd, void* buf, unsigned len,
                 uint64_t offset = kCurrentPosition) {
  return internal::MakeIo(loop, [=](io_uring_sqe* s, internal::IoState&) {
    io_uring_prep_read(s, fd, buf, len, offset);
  });
}

// write(2)/pwrite(2): yields bytes written.
inline auto Write(EventLoop& loop, int fd, const void* buf, unsigned len,
                  uint64_t offset = kCurrentPosition) {
  return internal::MakeIo(loop, [=](io_uring_sqe* s, internal::IoState&) {
    io_uring_prep_write(s, fd, buf, len, offset);
  });
}

// recv(2): yields bytes received (0: peer closed).
inline auto Recv(EventLoop& loop, int fd, void* buf, size_t len,
                 int flags = 0) {
  return internal::MakeIo(loop, [=](io_uring_sqe* s, internal::IoState&) {
    io_uring_prep_recv(s, fd, buf, len, flags);
  });
}

// send(2): yields bytes sent. MSG_NOSIGNAL is always added.
inline auto Send(EventLoop& loop, int fd, const void* buf, size_t len,
                 int flags = 0) {
  return internal::MakeIo(loop, [=](io_uring_sqe* s, internal::IoState&) {
    io_uring_prep_send(s, fd, buf, len, flags | MSG_NOSIGNAL);
  });
}

// accept4(2): yields the new descriptor. `addr`/`addrlen` may be null.
inline auto Accept(EventLoop& loop, int fd, sockaddr* addr = nullptr,
                   socklen_t* addrlen = nullptr, int flags = SOCK_CLOEXEC) {
  return internal::MakeIo(loop, [=](io_uring_sqe* s, internal::IoState&) {
    io_uring_prep_accept(s, fd, addr, addrlen, flags);
  });
}

// connect(2): yields 0. The kernel copies `addr` at submit.
inline auto Connect(EventLoop& loop, int fd, const sockaddr* addr,
                    socklen_t addrlen) {
  return internal::MakeIo(loop, [=](io_uring_sqe* s, internal::IoState&) {
    io_uring_prep_connect(s, fd, addr, addrlen);
  });
}

// IORING_OP_TIMEOUT (relative, CLOCK_MONOTONIC): yields 0 when the time has
// passed (the kernel's -ETIME is mapped to 0), -ECANCELED if cancelled.
inline auto SleepFor(EventLoop& loop, absl::Duration d) {
  if (d < absl::ZeroDuration()) d = absl::ZeroDuration();
  const int64_t ns = absl::ToInt64Nanoseconds(d);
  auto prep = [ns](io_uring_sqe* s, internal::IoState& st) {
    st.ts.tv_sec = ns / 1'000'000'000;
    st.ts.tv_nsec = ns % 1'000'000'000;
    io_uring_prep_timeout(s, &st.ts, 0, 0);
  };
  auto map = [](int32_t r) { return r == -ETIME ? 0 : r; };
  return internal::IoAwaiter<decltype(prep), decltype(map)>(loop, prep, map);
}

}  // namespace ringlock::uring

#endif  // RINGLOCK_URING_IO_H_
