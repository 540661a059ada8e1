#include "uring/internal/sqe_emulator.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace ringlock::uring::internal {
namespace {

constexpr uint64_t kTimerfdTag = ~uint64_t{0};
constexpr uint8_t kUnsupportedFlags = IOSQE_FIXED_FILE | IOSQE_IO_DRAIN |
                                      IOSQE_IO_LINK | IOSQE_IO_HARDLINK |
                                      IOSQE_BUFFER_SELECT;

int64_t NowNs(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// Retries EINTR; returns the result or -errno.
template <typename F>
int32_t Sys(F f) {
  for (;;) {
    long r = f();
    if (r >= 0) return static_cast<int32_t>(r);
    if (errno != EINTR) return -errno;
  }
}

void* Ptr(uint64_t addr) { return reinterpret_cast<void*>(static_cast<uintptr_t>(addr)); }

// What an operation's fd is, found once per operation (one fstat).
//   kDisk    regular file, block device, directory: always "ready" (poll says
//            so too, and epoll refuses them); the syscall blocks on the
//            disk, not on a peer, so it runs at once
//   kSocket  read/write become recv/send with MSG_DONTWAIT
//   kOther   pipes, eventfds, ttys, or a bad fd (epoll then reports it)
enum class FdKind : uint8_t { kDisk, kSocket, kOther };

FdKind Classify(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return FdKind::kOther;
  if (S_ISSOCK(st.st_mode)) return FdKind::kSocket;
  if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode) || S_ISDIR(st.st_mode)) return FdKind::kDisk;
  return FdKind::kOther;
}

bool PollReady(int fd, short events) {
  pollfd p{fd, events, 0};
  int r;
  do {
    r = poll(&p, 1, 0);
  } while (r < 0 && errno == EINTR);
  // An error or hang-up is "ready": the syscall reports it.
  return r != 0;
}

bool UsesFdIn(uint8_t op) {
  return op == IORING_OP_READ || op == IORING_OP_READV || op == IORING_OP_RECV ||
         op == IORING_OP_ACCEPT;
}
bool UsesFdOut(uint8_t op) {
  return op == IORING_OP_WRITE || op == IORING_OP_WRITEV || op == IORING_OP_SEND ||
         op == IORING_OP_CONNECT;
}

// The operation's syscall, once its fd is ready. -EAGAIN: not ready after all.
int32_t RunIo(const io_uring_sqe& s, bool socket) {
  const int fd = s.fd;
  const off_t off = static_cast<off_t>(s.off);
  // io_uring ignores the offset of stream files (pipes, sockets): so do we,
  // by falling back to the positionless call when the file cannot seek.
  const bool at_pos = s.off == ~uint64_t{0};
  auto positioned = [&](auto with_off, auto without_off) {
    if (at_pos) return Sys(without_off);
    int32_t r = Sys(with_off);
    return r == -ESPIPE ? Sys(without_off) : r;
  };
  void* buf = Ptr(s.addr);
  auto* iov = static_cast<const iovec*>(buf);
  const int iovcnt = static_cast<int>(s.len);
  switch (s.opcode) {
    case IORING_OP_READ:
      if (socket) return Sys([&] { return recv(fd, buf, s.len, MSG_DONTWAIT); });
      return positioned([&] { return pread(fd, buf, s.len, off); },
                        [&] { return read(fd, buf, s.len); });
    case IORING_OP_WRITE:
      if (socket) return Sys([&] { return send(fd, buf, s.len, MSG_DONTWAIT); });
      return positioned([&] { return pwrite(fd, buf, s.len, off); },
                        [&] { return write(fd, buf, s.len); });
    case IORING_OP_READV:
      return positioned([&] { return preadv(fd, iov, iovcnt, off); },
                        [&] { return readv(fd, iov, iovcnt); });
    case IORING_OP_WRITEV:
      return positioned([&] { return pwritev(fd, iov, iovcnt, off); },
                        [&] { return writev(fd, iov, iovcnt); });
    case IORING_OP_RECV:
      return Sys([&] { return recv(fd, buf, s.len, s.msg_flags | MSG_DONTWAIT); });
    case IORING_OP_SEND:
      return Sys([&] { return send(fd, buf, s.len, s.msg_flags | MSG_DONTWAIT); });
    case IORING_OP_ACCEPT:
      return Sys([&] {
        return accept4(fd, static_cast<sockaddr*>(buf), static_cast<socklen_t*>(Ptr(s.addr2)),
                       static_cast<int>(s.accept_flags));
      });
    default:
      return -EINVAL;
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<SqeEmulator>> SqeEmulator::Create() {
  int epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) {
    return absl::InternalError(absl::StrCat("io_uring emulation: epoll_create1: ",
                                            std::strerror(errno)));
  }
  int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  if (tfd < 0) {
    int err = errno;
    close(epfd);
    return absl::InternalError(absl::StrCat("io_uring emulation: timerfd_create: ",
                                            std::strerror(err)));
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kTimerfdTag;
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &ev) != 0) {
    int err = errno;
    close(tfd);
    close(epfd);
    return absl::InternalError(absl::StrCat("io_uring emulation: epoll_ctl: ",
                                            std::strerror(err)));
  }
  return std::unique_ptr<SqeEmulator>(new SqeEmulator(epfd, tfd));
}

SqeEmulator::SqeEmulator(int epfd, int timerfd) : epfd_(epfd), timerfd_(timerfd) {}

SqeEmulator::~SqeEmulator() {
  close(timerfd_);
  close(epfd_);
}

io_uring_sqe* SqeEmulator::GetSqe() {
  io_uring_sqe& s = sq_.emplace_back();
  std::memset(&s, 0, sizeof(s));
  return &s;
}

void SqeEmulator::Submit() {
  // Execute never queues SQEs itself; taking the queue first keeps it
  // consistent all the same.
  std::deque<io_uring_sqe> batch;
  batch.swap(sq_);
  for (const io_uring_sqe& s : batch) Execute(s);
}

void SqeEmulator::SubmitAndGetEvents() {
  Submit();
  WaitEvents(0);
}

void SqeEmulator::SubmitAndWait() {
  Submit();
  while (cq_.empty()) WaitEvents(-1);
}

size_t SqeEmulator::Reap(absl::FunctionRef<void(const Completion&)> fn) {
  size_t n = 0;
  while (!cq_.empty()) {
    Completion c = cq_.front();
    cq_.pop_front();
    fn(c);
    ++n;
  }
  return n;
}

void SqeEmulator::Post(const io_uring_sqe& sqe, int32_t res) {
  if (res >= 0 && (sqe.flags & IOSQE_CQE_SKIP_SUCCESS)) return;
  cq_.push_back({sqe.user_data, res, 0});
}

void SqeEmulator::Execute(const io_uring_sqe& sqe) {
  if (sqe.flags & kUnsupportedFlags) {
    Post(sqe, -EINVAL);
    return;
  }
  switch (sqe.opcode) {
    case IORING_OP_NOP:
      Post(sqe, 0);
      return;
    case IORING_OP_ASYNC_CANCEL: {
      const bool all = sqe.cancel_flags & IORING_ASYNC_CANCEL_ALL;
      if (sqe.cancel_flags & ~IORING_ASYNC_CANCEL_ALL) {
        Post(sqe, -EINVAL);
        return;
      }
      int32_t n = 0;
      for (auto it = pending_.begin(); it != pending_.end();) {
        auto next = std::next(it);
        if (it->sqe.user_data == sqe.addr) {
          Finish(it, -ECANCELED);
          ++n;
          if (!all) break;
        }
        it = next;
      }
      Post(sqe, n == 0 ? -ENOENT : (all ? n : 0));
      return;
    }
    case IORING_OP_TIMEOUT: {
      if (sqe.off != 0 || (sqe.timeout_flags & ~(IORING_TIMEOUT_ABS |
                                                 IORING_TIMEOUT_CLOCK_MASK))) {
        Post(sqe, -EINVAL);  // Completion-count timeouts, updates: not emulated.
        return;
      }
      auto* ts = static_cast<const __kernel_timespec*>(Ptr(sqe.addr));
      int64_t ns = int64_t{ts->tv_sec} * 1'000'000'000 + ts->tv_nsec;
      if (sqe.timeout_flags & IORING_TIMEOUT_ABS) {
        clockid_t clock = (sqe.timeout_flags & IORING_TIMEOUT_REALTIME) ? CLOCK_REALTIME
                          : (sqe.timeout_flags & IORING_TIMEOUT_BOOTTIME)
                              ? CLOCK_BOOTTIME
                              : CLOCK_MONOTONIC;
        ns -= NowNs(clock);  // Into the monotonic timeline.
      }
      if (ns < 0) ns = 0;
      pending_.push_back({sqe});
      PendingIt it = std::prev(pending_.end());
      it->deadline_ns = NowNs(CLOCK_MONOTONIC) + ns;
      timers_.emplace(it->deadline_ns, it);
      ArmTimerfd();
      return;
    }
    case IORING_OP_CONNECT: {
      const int fd = sqe.fd;
      const int fl = fcntl(fd, F_GETFL);
      if (fl < 0) {
        Post(sqe, -errno);
        return;
      }
      // Non-blocking for the call only: the handshake goes on without it,
      // and writability reports its end.
      if (!(fl & O_NONBLOCK)) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
      int32_t r = Sys([&] {
        return connect(fd, static_cast<const sockaddr*>(Ptr(sqe.addr)),
                       static_cast<socklen_t>(sqe.off));
      });
      if (!(fl & O_NONBLOCK)) fcntl(fd, F_SETFL, fl);
      if (r != -EINPROGRESS && r != -EAGAIN) {
        Post(sqe, r);
        return;
      }
      pending_.push_back({sqe});
      PendingIt it = std::prev(pending_.end());
      it->dir = Dir::kOut;
      it->connecting = true;
      Park(it);
      return;
    }
    default:
      break;
  }
  if (!UsesFdIn(sqe.opcode) && !UsesFdOut(sqe.opcode)) {
    Post(sqe, -EINVAL);
    return;
  }
  const FdKind kind = Classify(sqe.fd);
  if (kind == FdKind::kDisk) {
    Post(sqe, RunIo(sqe, /*socket=*/false));
    return;
  }
  pending_.push_back({sqe});
  PendingIt it = std::prev(pending_.end());
  it->socket = kind == FdKind::kSocket;
  it->dir = UsesFdIn(sqe.opcode) ? Dir::kIn : Dir::kOut;
  // Run now if ready, unless earlier operations already wait on this fd in
  // this direction (they go first, as on one io_uring file).
  auto w = fds_.find(sqe.fd);
  bool queued_behind = w != fds_.end() &&
                       !(it->dir == Dir::kIn ? w->second.in : w->second.out).empty();
  if (!queued_behind && TryComplete(*it)) {
    pending_.erase(it);
    return;
  }
  Park(it);
}

bool SqeEmulator::TryComplete(Pending& p) {
  const io_uring_sqe& s = p.sqe;
  if (p.connecting) {
    if (!PollReady(s.fd, POLLOUT)) return false;
    int err = 0;
    socklen_t len = sizeof(err);
    int32_t r = getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 ? -err : -errno;
    Post(s, r);
    return true;
  }
  const bool dontwait = (s.opcode == IORING_OP_RECV || s.opcode == IORING_OP_SEND) &&
                        (s.msg_flags & MSG_DONTWAIT);
  if (!dontwait && !PollReady(s.fd, p.dir == Dir::kIn ? POLLIN : POLLOUT)) return false;
  int32_t r = RunIo(s, p.socket);
  // Raced with another reader (or a spurious readiness): wait again, unless
  // the caller asked for MSG_DONTWAIT semantics.
  if (r == -EAGAIN && !dontwait) return false;
  Post(s, r);
  return true;
}

void SqeEmulator::Park(PendingIt it) {
  FdWaiters& w = fds_[it->sqe.fd];
  (it->dir == Dir::kIn ? w.in : w.out).push_back(it);
  UpdateEpoll(it->sqe.fd, w);
}

void SqeEmulator::UpdateEpoll(int fd, FdWaiters& w) {
  uint32_t want = (w.in.empty() ? 0u : uint32_t{EPOLLIN | EPOLLRDHUP}) |
                  (w.out.empty() ? 0u : uint32_t{EPOLLOUT});
  if (want == w.registered) {
    if (want == 0) fds_.erase(fd);
    return;
  }
  epoll_event ev{};
  ev.events = want;
  ev.data.u64 = static_cast<uint32_t>(fd);
  int op = want == 0 ? EPOLL_CTL_DEL : (w.registered == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD);
  int r = epoll_ctl(epfd_, op, fd, &ev);
  if (r != 0 && op == EPOLL_CTL_MOD && errno == ENOENT) {
    r = epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev);  // fd was closed and reused
  }
  if (want == 0) {
    fds_.erase(fd);
    return;
  }
  if (r == 0) {
    w.registered = want;
    return;
  }
  // epoll refuses the fd (EPERM: not pollable; EBADF: closed). Run every
  // waiter now: the syscall gives the real answer (or the error).
  const int err = errno;
  std::deque<PendingIt> all;
  for (PendingIt p : w.in) all.push_back(p);
  for (PendingIt p : w.out) all.push_back(p);
  fds_.erase(fd);
  for (PendingIt p : all) {
    int32_t res = err == EPERM ? (p->connecting ? 0 : RunIo(p->sqe, p->socket)) : -err;
    Post(p->sqe, res);
    pending_.erase(p);
  }
}

void SqeEmulator::Unpark(PendingIt it) {
  auto f = fds_.find(it->sqe.fd);
  if (f == fds_.end()) return;
  std::deque<PendingIt>& q = it->dir == Dir::kIn ? f->second.in : f->second.out;
  for (auto q_it = q.begin(); q_it != q.end(); ++q_it) {
    if (*q_it == it) {
      q.erase(q_it);
      break;
    }
  }
  UpdateEpoll(it->sqe.fd, f->second);
}

void SqeEmulator::Finish(PendingIt it, int32_t res) {
  if (it->sqe.opcode == IORING_OP_TIMEOUT) {
    auto [b, e] = timers_.equal_range(it->deadline_ns);
    for (auto t = b; t != e; ++t) {
      if (t->second == it) {
        timers_.erase(t);
        break;
      }
    }
    ArmTimerfd();
  } else if (it->dir != Dir::kNone) {
    Unpark(it);
  }
  Post(it->sqe, res);
  pending_.erase(it);
}

void SqeEmulator::OnReady(int fd, uint32_t events) {
  auto f = fds_.find(fd);
  if (f == fds_.end()) return;
  const bool err = events & (EPOLLERR | EPOLLHUP);
  for (Dir dir : {Dir::kIn, Dir::kOut}) {
    if (!err && !(events & (dir == Dir::kIn ? EPOLLIN | EPOLLRDHUP : EPOLLOUT))) continue;
    // Look the fd up again each time: completing can erase its entry.
    for (;;) {
      f = fds_.find(fd);
      if (f == fds_.end()) return;
      std::deque<PendingIt>& q = dir == Dir::kIn ? f->second.in : f->second.out;
      if (q.empty()) break;
      PendingIt it = q.front();
      if (!TryComplete(*it)) break;
      q.pop_front();
      pending_.erase(it);
      UpdateEpoll(fd, f->second);
    }
  }
}

void SqeEmulator::ExpireTimers() {
  uint64_t ticks;
  while (read(timerfd_, &ticks, sizeof(ticks)) > 0) {
  }
  const int64_t now = NowNs(CLOCK_MONOTONIC);
  while (!timers_.empty() && timers_.begin()->first <= now) {
    PendingIt it = timers_.begin()->second;
    timers_.erase(timers_.begin());
    Post(it->sqe, -ETIME);
    pending_.erase(it);
  }
  timerfd_armed_ns_ = 0;
  ArmTimerfd();
}

void SqeEmulator::ArmTimerfd() {
  int64_t next = timers_.empty() ? 0 : timers_.begin()->first;
  if (next == timerfd_armed_ns_) return;
  itimerspec spec{};
  if (next != 0) {
    spec.it_value.tv_sec = next / 1'000'000'000;
    spec.it_value.tv_nsec = next % 1'000'000'000;
    if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0) spec.it_value.tv_nsec = 1;
  }
  timerfd_settime(timerfd_, TFD_TIMER_ABSTIME, &spec, nullptr);
  timerfd_armed_ns_ = next;
}

void SqeEmulator::WaitEvents(int timeout_ms) {
  epoll_event events[64];
  int n = epoll_wait(epfd_, events, 64, timeout_ms);
  if (n < 0) return;  // EINTR: the caller loops.
  for (int i = 0; i < n; ++i) {
    if (events[i].data.u64 == kTimerfdTag) {
      ExpireTimers();
    } else {
      OnReady(static_cast<int>(events[i].data.u64), events[i].events);
    }
  }
}

bool SqeEmulator::CancelNow(uint64_t user_data) {
  Submit();  // It may still be queued.
  for (auto it = pending_.begin(); it != pending_.end(); ++it) {
    if (it->sqe.user_data == user_data) {
      Finish(it, -ECANCELED);
      return true;
    }
  }
  return false;
}

}  // namespace ringlock::uring::internal
