// ringlock in a process the kernel denies io_uring (seccomp, like container
// runtimes' default profiles or kernel.io_uring_disabled=2): Ring::Create
// reports it, EventLoop::Create falls back to the emulated loop (epoll plus
// a futex_waitv(2) helper thread) and says so once, and locks, coroutines
// and I/O awaitables still work on it.
//
// Each scenario runs in a forked child that first installs a seccomp filter
// making io_uring_setup, io_uring_enter and io_uring_register fail with
// EPERM or ENOSYS (a filter cannot be removed, so it must not touch the
// gtest process). The child's assertion failures travel back through a pipe
// and are reported by the parent; a child still running after
// kChildTimeLimit is killed (after gdb prints its stacks, where installed)
// and the test fails, so a hang is a failure.
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/io_uring.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iterator>
#include <memory>
#include <mutex>
#include <ostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "locks/async.h"
#include "locks/event.h"
#include "locks/mutex.h"
#include "locks/ring_wait_backend.h"
#include "uring/event_loop.h"
#include "uring/futex_hash.h"
#include "uring/io.h"
#include "uring/operation.h"
#include "uring/ring.h"
#include "uring/task.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

namespace ringlock {
namespace {

using std::chrono::milliseconds;
using uring::EventLoop;
using uring::Task;

constexpr auto kChildTimeLimit = std::chrono::seconds(20);
constexpr char kUnavailablePrefix[] = "ringlock: io_uring unavailable";

// How the kernel refuses io_uring, and what Ring::Create must make of it.
struct Denial {
  int err;
  const char* name;
  absl::StatusCode ring_status;
  bool no_futex_waitv = false;  // also deny futex_waitv(2): Linux < 5.16
  // Set: deny exactly these syscalls instead (partial denials, clone).
  std::vector<uint32_t> only = {};
  // Give the process its private futex hash (futex_hash.h) before the filter.
  bool futex_hash_first = false;
};

void PrintTo(const Denial& denial, std::ostream* os) { *os << denial.name; }

// ---- The child's side ------------------------------------------------------

// Makes io_uring_setup, io_uring_enter and io_uring_register (and, with
// `also_futex_waitv`, futex_waitv: a kernel older than 5.16) fail with `err`
// in this process and the threads it creates later. Returns "" or what went
// wrong.
// With `only`, exactly those syscalls are denied.
std::string DenyIoUring(int err, bool also_futex_waitv = false,
                        const std::vector<uint32_t>& only = {}) {
  const uint32_t deny = SECCOMP_RET_ERRNO | (static_cast<uint32_t>(err) & SECCOMP_RET_DATA);
  std::vector<uint32_t> denied = {__NR_io_uring_setup, __NR_io_uring_enter,
                                  __NR_io_uring_register};
  if (also_futex_waitv) denied.push_back(449);  // __NR_futex_waitv (x86_64)
  if (!only.empty()) denied = only;
  std::vector<sock_filter> filter = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      // Other ABIs number syscalls differently: nothing here uses them.
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
  };
  // x32 calls share the x86_64 arch value with the x32 bit set in nr: allow
  // (jump over the denied list and the deny).
  const auto n = static_cast<uint8_t>(denied.size());
  auto jump = [](uint16_t code, uint32_t k, int jt, int jf) {
    return sock_filter{code, static_cast<uint8_t>(jt), static_cast<uint8_t>(jf), k};
  };
  filter.push_back(jump(BPF_JMP | BPF_JGE | BPF_K, __X32_SYSCALL_BIT, n + 1, 0));
  for (int i = 0; i < n; ++i) {
    // Match: jump to the deny right after the list; else try the next.
    filter.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, denied[i], n - 1 - i, 0));
  }
  filter.back().jf = 1;  // the last mismatch skips the deny
  filter.push_back(BPF_STMT(BPF_RET | BPF_K, deny));
  filter.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  sock_fprog prog{static_cast<unsigned short>(filter.size()), filter.data()};
  // Lets an unprivileged process install a filter.
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return std::string("prctl(PR_SET_NO_NEW_PRIVS): ") + std::strerror(errno);
  }
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
    return std::string("prctl(PR_SET_SECCOMP): ") + std::strerror(errno);
  }
  // The filter itself, so a failure below is never the harness's. Each
  // call is one that fails harmlessly (EBADF, EINVAL) when allowed.
  for (uint32_t nr : denied) {
    io_uring_params params{};
    errno = 0;
    long r = 0;
    if (nr == __NR_io_uring_setup) {
      r = syscall(nr, 1, &params);
    } else if (nr == __NR_io_uring_enter || nr == __NR_io_uring_register) {
      r = syscall(nr, -1, 0, 0, 0, nullptr, 0);
    } else if (nr == __NR_clone3) {
      r = syscall(nr, nullptr, 0);
    } else {
      continue;  // no harmless call to try
    }
    if (r != -1 || errno != err) {
      return "the filter let syscall " + std::to_string(nr) + " through or gave " +
             std::strerror(errno);
    }
  }
  return "";
}

void WriteAll(int fd, const std::string& s) {
  for (size_t off = 0; off < s.size();) {
    const ssize_t n = write(fd, s.data() + off, s.size() - off);
    if (n <= 0 && errno != EINTR) return;
    if (n > 0) off += n;
  }
}

// Sends every assertion failure in the child to the parent.
class ForwardFailures : public ::testing::EmptyTestEventListener {
 public:
  explicit ForwardFailures(int fd) : fd_(fd) {}
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::ostringstream msg;
    msg << (result.file_name() ? result.file_name() : "?") << ":" << result.line_number() << ": "
        << result.message() << "\n";
    std::lock_guard<std::mutex> hold(mu_);  // failures may come from several threads
    WriteAll(fd_, msg.str());
  }

 private:
  const int fd_;
  std::mutex mu_;
};

[[noreturn]] void RunChild(const Denial& denial, absl::FunctionRef<void(const Denial&)> scenario,
                           int report_fd) {
  ::testing::TestEventListeners& listeners = ::testing::UnitTest::GetInstance()->listeners();
  delete listeners.Release(listeners.default_result_printer());  // the parent prints
  listeners.Append(new ForwardFailures(report_fd));
  if (denial.futex_hash_first) uring::EnsurePrivateFutexHash();
  if (std::string error = DenyIoUring(denial.err, denial.no_futex_waitv, denial.only);
      !error.empty()) {
    WriteAll(report_fd, "seccomp setup: " + error + "\n");
    _exit(2);
  }
  scenario(denial);
#if defined(__SANITIZE_ADDRESS__)
  // _exit skips LeakSanitizer's exit check: cancelled operations must have
  // freed their state by now. (The check needs a thread: not without clone.)
  if (std::find(denial.only.begin(), denial.only.end(), __NR_clone) == denial.only.end()) {
    EXPECT_EQ(__lsan_do_recoverable_leak_check(), 0) << "leaks in the child (report on stderr)";
  }
#endif
  _exit(::testing::Test::HasFailure() ? 1 : 0);
}

// ---- The parent's side -----------------------------------------------------

// Prints every thread's stack of a hung child to stderr (the test log), so a
// hang says where it is. Best effort: needs gdb.
void DumpStacks(pid_t pid) {
  if (access("/usr/bin/gdb", X_OK) != 0) return;
  std::fprintf(stderr, "stacks of the hung child %d:\n", static_cast<int>(pid));
  const std::string gdb = "timeout 60 /usr/bin/gdb -p " + std::to_string(pid) +
                          " -batch -ex 'thread apply all bt' 1>&2";
  if (std::system(gdb.c_str()) != 0) std::fprintf(stderr, "gdb could not read the stacks\n");
}

// Runs `scenario` in a child with io_uring denied as `denial` says; fails the
// current test if the child fails an assertion, dies or outlives
// kChildTimeLimit.
void RunWithIoUringDenied(const Denial& denial, absl::FunctionRef<void(const Denial&)> scenario) {
  int report[2];
  ASSERT_EQ(pipe2(report, O_CLOEXEC), 0) << std::strerror(errno);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0) << std::strerror(errno);
  if (pid == 0) {
    close(report[0]);
    RunChild(denial, scenario, report[1]);
  }
  close(report[1]);

  std::string failures;
  bool timed_out = false;
  const auto give_up = std::chrono::steady_clock::now() + kChildTimeLimit;
  for (;;) {  // until the child closes the pipe (exits) or time runs out
    const auto left =
        std::chrono::duration_cast<milliseconds>(give_up - std::chrono::steady_clock::now());
    pollfd p{report[0], POLLIN, 0};
    const int ready = poll(&p, 1, std::max<int>(0, left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      timed_out = true;
      DumpStacks(pid);
      kill(pid, SIGKILL);
      break;
    }
    char buf[4096];
    const ssize_t n = read(report[0], buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    failures.append(buf, n);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {  // keep what it reported before hanging
    char buf[4096];
    ssize_t n;
    while ((n = read(report[0], buf, sizeof(buf))) > 0) failures.append(buf, n);
  }
  close(report[0]);

  const std::string where = std::string("child with io_uring denied (") + denial.name + ")";
  EXPECT_FALSE(timed_out) << where << " did not finish within " << kChildTimeLimit.count()
                          << " s and was killed: a hang";
  EXPECT_TRUE(failures.empty()) << where << " failed:\n" << failures;
  if (!timed_out) {
    const bool exited_cleanly = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    EXPECT_TRUE(exited_cleanly) << where << " ended with "
                                << (WIFEXITED(status)
                                        ? "exit code " + std::to_string(WEXITSTATUS(status))
                                        : std::string("signal ") + strsignal(WTERMSIG(status)));
  }
}

// ---- Helpers for the scenarios ---------------------------------------------

// The default Create, which must fall back to the emulation; nullptr (and a
// failure) otherwise.
std::unique_ptr<EventLoop> CreateEmulatedLoop() {
  auto loop = EventLoop::Create();
  if (!loop.ok()) {
    ADD_FAILURE() << "EventLoop::Create() without io_uring: " << loop.status();
    return nullptr;
  }
  EXPECT_TRUE((*loop)->emulated());
  return *std::move(loop);
}

// Collects what this process writes to stderr while alive.
class StderrCapture {
 public:
  StderrCapture() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
      ADD_FAILURE() << "pipe2: " << std::strerror(errno);
      return;
    }
    std::fflush(stderr);
    read_fd_ = fds[0];
    saved_fd_ = dup(STDERR_FILENO);
    dup2(fds[1], STDERR_FILENO);
    close(fds[1]);
  }
  ~StderrCapture() { Finish(); }

  // Restores stderr and returns everything written to it meanwhile.
  std::string Finish() {
    if (saved_fd_ < 0) return text_;
    std::fflush(stderr);
    dup2(saved_fd_, STDERR_FILENO);  // closes the last write end: read sees EOF
    close(saved_fd_);
    saved_fd_ = -1;
    char buf[4096];
    ssize_t n;
    while ((n = read(read_fd_, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)) {
      if (n > 0) text_.append(buf, n);
    }
    close(read_fd_);
    return text_;
  }

 private:
  int read_fd_ = -1;
  int saved_fd_ = -1;
  std::string text_;
};

// ---- Scenarios (each runs in a child) --------------------------------------

// Ring::Create reports the denial; a loop that insists on io_uring fails
// with that status; the default loop is emulated and says so once.
void CreateScenario(const Denial& denial) {
  const absl::StatusOr<uring::Ring> ring = uring::Ring::Create();
  ASSERT_FALSE(ring.ok());
  EXPECT_EQ(ring.status().code(), denial.ring_status) << ring.status();

  StderrCapture captured;
  {
    auto strict = EventLoop::Create({.ring = uring::RingMode::kIoUring});
    ASSERT_FALSE(strict.ok()) << "RingMode::kIoUring created a loop without io_uring";
    EXPECT_EQ(strict.status().code(), ring.status().code()) << strict.status();
  }
  {
    std::unique_ptr<EventLoop> loop = CreateEmulatedLoop();
    ASSERT_NE(loop, nullptr);
    EXPECT_FALSE(loop->native_futex());
    EXPECT_EQ(loop->ring(), nullptr);
    EXPECT_EQ(EventLoop::Current(), loop.get());
  }
  // A second loop, on another thread: the notice is per process.
  std::thread second([] {
    std::unique_ptr<EventLoop> loop = CreateEmulatedLoop();
    ASSERT_NE(loop, nullptr);
    EXPECT_FALSE(loop->native_futex());
    EXPECT_EQ(loop->ring(), nullptr);
    bool ran = false;
    loop->Post([&] { ran = true; });
    loop->RunUntil([&] { return ran; });
  });
  second.join();
  const std::string err = captured.Finish();

  int notices = 0;
  std::istringstream lines(err);
  for (std::string line; std::getline(lines, line);) {
    if (line.find(kUnavailablePrefix) == std::string::npos) continue;
    ++notices;
    EXPECT_EQ(line.rfind(kUnavailablePrefix, 0), 0u) << "the notice must start its line: " << line;
    EXPECT_NE(line.find(std::string(ring.status().message())), std::string::npos)
        << "the notice does not give Ring::Create's reason: " << line;
  }
  EXPECT_EQ(notices, 1) << "stderr was:\n" << err;
}

// What the contenders share. `count` is not atomic, so only mutual
// exclusion keeps it exact; `inside` catches overlaps directly.
struct SharedCounter {
  Mutex mu;
  int64_t count = 0;
  std::atomic<int> inside{0};
  std::atomic<int> overlaps{0};

  // Call with `mu` held. `linger`: keep it a while, so that waiters outlast
  // their spinning and park.
  void Increment(bool linger) {
    if (inside.fetch_add(1) != 0) overlaps.fetch_add(1);
    ++count;
    if (linger) std::this_thread::sleep_for(std::chrono::microseconds(50));
    inside.fetch_sub(1);
  }
};

Task<void> LockAndCount(EventLoop& loop, SharedCounter& shared, int iters) {
  for (int i = 0; i < iters; ++i) {
    std::unique_lock<Mutex> guard = co_await shared.mu.lock_async(loop);
    shared.Increment(/*linger=*/false);  // never sleep on the loop thread
  }
}

Task<void> LockOnce(EventLoop& loop, Mutex& mu) { auto guard = co_await mu.lock_async(loop); }

// Coroutines on the emulated loop and plain threads share one Mutex.
void MutexScenario(const Denial&) {
  std::unique_ptr<EventLoop> loop = CreateEmulatedLoop();
  ASSERT_NE(loop, nullptr);
  SharedCounter shared;
  Mutex& mu = shared.mu;

  // First a lock_async that must really park: a thread holds the lock.
  Event held, release;
  std::thread holder([&] {
    mu.lock();
    held.set();
    release.wait();
    mu.unlock();
  });
  held.wait();
  Task<void> parked = LockOnce(*loop, mu);
  parked.handle().resume();
  loop->Poll();
  std::this_thread::sleep_for(milliseconds(20));
  loop->Poll();
  EXPECT_FALSE(parked.done()) << "lock_async returned while another thread held the lock";
  EXPECT_EQ(mu.word().load() / Mutex::kWaiterOne, 1u)
      << "the coroutine is not registered as a waiter";
  release.set();
  loop->RunUntil([&] { return parked.done(); });
  holder.join();

  // Then contention, the threads lingering now and then so that the
  // coroutines park on the emulated loop's futex helper.
  constexpr int kIters = 10000, kCoroutines = 2, kThreads = 2, kLingerEvery = 16;
  for (int c = 0; c < kCoroutines; ++c) loop->Spawn(LockAndCount(*loop, shared, kIters));
  std::thread threads[kThreads];
  for (auto& t : threads) {
    t = std::thread([&] {
      for (int i = 0; i < kIters; ++i) {
        std::lock_guard<Mutex> guard(mu);
        shared.Increment(/*linger=*/i % kLingerEvery == 0);
      }
    });
  }
  loop->Stop();
  loop->Run();  // returns once the coroutines have finished
  for (auto& t : threads) t.join();
  EXPECT_EQ(shared.count, int64_t{kCoroutines + kThreads} * kIters);
  EXPECT_EQ(shared.overlaps.load(), 0);
  EXPECT_EQ(mu.word().load(), 0u);
}

// Sets `done` when the loop dispatches the read's completion.
struct ReadA final : uring::Operation {
  Event* done = nullptr;
  char byte = 0;
  int32_t res = 0;
  void Complete(int32_t r) override {
    res = r;
    if (r == 1) done->set();
  }
};

// tests/locks/seed_deadlock_test.cc, ringlock variant: T1 holds B and waits
// for I/O A; T2's emulated loop issued A and blocks in lock(B). T2 must keep
// completing A while it waits, or neither thread moves.
void SeedDeadlockScenario(const Denial&) {
  Mutex b;
  Event b_held, a_done;
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  std::thread t1([&] {
    std::lock_guard<Mutex> hold(b);
    b_held.set();
    // Bounded, so a failure reports itself instead of only hanging.
    EXPECT_TRUE(a_done.wait_for(std::chrono::seconds(10)))
        << "T2 did not complete I/O A while it waited for lock B";
  });
  std::thread t2([&] {
    std::unique_ptr<EventLoop> loop = CreateEmulatedLoop();
    ASSERT_NE(loop, nullptr);
    ReadA a;
    a.done = &a_done;
    // Offset 0 as in seed_deadlock_test.cc: io_uring ignores offsets on
    // pipes (stream files), so the emulation must too.
    loop->StartOperation(
        &a, [&](io_uring_sqe* sqe) { io_uring_prep_read(sqe, fds[0], &a.byte, 1, 0); });
    loop->FlushWakes();  // submits A
    {
      ScopedFutexBlocking plain;  // wait for T1 without dispatching A early
      b_held.wait();
    }
    EXPECT_TRUE(a.in_flight());
    ASSERT_EQ(write(fds[1], "A", 1), 1);  // A completes
    std::lock_guard<Mutex> need(b);       // T2 needs B: waits in the loop
    loop->RunUntil([&] { return !a.in_flight(); });
    EXPECT_EQ(a.res, 1) << (a.res < 0 ? std::strerror(-a.res) : "");
    EXPECT_EQ(a.byte, 'A');
  });
  t1.join();
  t2.join();
  close(fds[0]);
  close(fds[1]);
  EXPECT_EQ(b.word().load(), 0u);
}

Task<int32_t> ReadSome(EventLoop& loop, int fd, char* buf, unsigned len) {
  co_return co_await uring::Read(loop, fd, buf, len);
}

Task<int32_t> WriteSome(EventLoop& loop, int fd, const char* buf, unsigned len) {
  co_return co_await uring::Write(loop, fd, buf, len);
}

Task<int32_t> Sleep(EventLoop& loop, absl::Duration d) {
  co_return co_await uring::SleepFor(loop, d);
}

Task<int32_t> RecvSome(EventLoop& loop, int fd, char* buf, size_t len) {
  co_return co_await uring::Recv(loop, fd, buf, len);
}

// The buffer lives in the frame: a recv that outlives it writes freed memory
// (ASAN).
Task<int32_t> RecvIntoFrame(EventLoop& loop, int fd) {
  char buf[16];
  co_return co_await uring::Recv(loop, fd, buf, sizeof(buf));
}

// Dispatches for a while so a started operation that can finish does.
void Settle(EventLoop& loop) {
  loop.Poll();
  std::this_thread::sleep_for(milliseconds(20));
  loop.Poll();
}

// Read/Write, SleepFor and a cancelled Recv on the emulated loop.
void IoScenario(const Denial&) {
  std::unique_ptr<EventLoop> loop = CreateEmulatedLoop();
  ASSERT_NE(loop, nullptr);

  // A read started on an empty pipe waits (without blocking the loop) until
  // the write.
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  char got[16] = {};
  Task<int32_t> reader = ReadSome(*loop, p[0], got, sizeof(got));
  reader.handle().resume();
  Settle(*loop);
  EXPECT_FALSE(reader.done()) << "the read completed before anything was written";
  EXPECT_EQ(loop->in_flight(), 1u);
  EXPECT_EQ(loop->RunUntilComplete(WriteSome(*loop, p[1], "hello", 5)), 5);
  loop->RunUntil([&] { return reader.done(); });
  EXPECT_EQ(reader.TakeResult(), 5);
  EXPECT_EQ(std::string(got), "hello");
  close(p[0]);
  close(p[1]);

  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(loop->RunUntilComplete(Sleep(*loop, absl::Milliseconds(50))), 0);
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(50));

  // Destroying a Task with a pending Recv cancels it; its state frees
  // itself when the cancellation completes.
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  Task<int32_t> pending = RecvIntoFrame(*loop, sv[0]);
  pending.handle().resume();
  Settle(*loop);
  EXPECT_FALSE(pending.done()) << "recv completed with nothing sent";
  EXPECT_EQ(loop->in_flight(), 1u);
  pending = Task<int32_t>();
  loop->RunUntil([&] { return loop->in_flight() == 0; });
  EXPECT_EQ(loop->in_flight(), 0u);
  // The cancelled recv must neither take this byte nor write it into the
  // dead frame: the next Recv gets it.
  ASSERT_EQ(send(sv[1], "x", 1, MSG_NOSIGNAL), 1);
  char byte[4] = {};
  EXPECT_EQ(loop->RunUntilComplete(RecvSome(*loop, sv[0], byte, sizeof(byte))), 1);
  EXPECT_EQ(byte[0], 'x');
  close(sv[0]);
  close(sv[1]);
}

Task<absl::Status> WaitAtMost(EventLoop& loop, Event& ev, milliseconds limit) {
  co_return co_await ev.wait_async_for(loop, limit);
}

// A timed wait_async on the emulated loop times out, and a set() ends it.
void EventTimeoutScenario(const Denial&) {
  std::unique_ptr<EventLoop> loop = CreateEmulatedLoop();
  ASSERT_NE(loop, nullptr);
  Event ev;
  const auto start = std::chrono::steady_clock::now();
  const absl::Status timed_out = loop->RunUntilComplete(WaitAtMost(*loop, ev, milliseconds(30)));
  EXPECT_EQ(timed_out.code(), absl::StatusCode::kDeadlineExceeded) << timed_out;
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(30));
  EXPECT_EQ(ev.word().load(), 0u) << "the timed-out waiter is still registered";

  std::thread setter([&] {
    std::this_thread::sleep_for(milliseconds(20));
    ev.set();
  });
  const absl::Status woken = loop->RunUntilComplete(WaitAtMost(*loop, ev, milliseconds(10000)));
  setter.join();
  EXPECT_TRUE(woken.ok()) << woken;
}

// ---- Tests -----------------------------------------------------------------

// Neither io_uring nor futex_waitv(2) (a kernel older than 5.16): a loop
// could not wait on futexes at all, so Create says so up front instead of
// failing every wait later; the synchronous locks need neither.
void NoFutexWaitvScenario(const Denial&) {
  absl::StatusOr<std::unique_ptr<EventLoop>> loop = EventLoop::Create();
  ASSERT_FALSE(loop.ok()) << "a loop without any way to wait on futexes";
  EXPECT_TRUE(absl::IsUnimplemented(loop.status())) << loop.status();
  EXPECT_NE(loop.status().message().find("futex_waitv"), absl::string_view::npos)
      << loop.status();
  Mutex mu;
  int64_t counter = 0;
  constexpr int kIters = 20000;
  std::thread threads[2];
  for (auto& t : threads) {
    t = std::thread([&] {
      for (int i = 0; i < kIters; ++i) {
        std::lock_guard<Mutex> guard(mu);
        ++counter;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(counter, 2 * kIters);
  EXPECT_EQ(mu.word().load(), 0u);
}

TEST(NoIoUringNoFutexWaitvTest, CreateFailsClearlyAndSyncLocksWork) {
  RunWithIoUringDenied(
      Denial{ENOSYS, "ENOSYS", absl::StatusCode::kUnimplemented, /*no_futex_waitv=*/true},
      NoFutexWaitvScenario);
}

// ---- Partial denials and no threads ---------------------------------------

#if defined(__x86_64__)
#define SKIP_UNLESS_X86_64() (void)0
#else
#define SKIP_UNLESS_X86_64() GTEST_SKIP() << "the seccomp filter is written for x86_64"
#endif

// The loop kinds a user can ask for (tests/locks/waiter_modes.h's, without
// the dependency).
struct Kind {
  const char* name;
  uring::EventLoopOptions options;
};
const Kind kKinds[] = {
    {"native", {}},
    {"fallback", {.mode = uring::FutexMode::kFallback}},
    {"emulated", {.mode = uring::FutexMode::kFallback, .ring = uring::RingMode::kEmulated}},
};

// The loop thread blocks in lock() while another thread holds the lock until
// it saw the loop dispatch posted work: the loop's futex path, wakes and
// eventfd all work.
void ExpectRingBlockingLockWorks(EventLoop& loop, const char* kind) {
  Mutex mu;
  Event held, posted_ran;
  std::thread holder([&] {
    mu.lock();
    held.set();
    EXPECT_TRUE(posted_ran.wait_for(std::chrono::seconds(5)))
        << kind << ": the loop did not dispatch while its thread waited for the lock";
    mu.unlock();
  });
  held.wait();
  loop.Post([&] { posted_ran.set(); });
  mu.lock();
  mu.unlock();
  holder.join();
  EXPECT_EQ(mu.word().load(), 0u) << kind;
}

int OpenFds() {
  int n = 0;
  for (int fd = 0; fd < 4096; ++fd) {
    if (fcntl(fd, F_GETFD) >= 0) ++n;
  }
  return n;
}

// Only io_uring_enter denied: io_uring_setup works, so the old Create chose
// native futexes and the first use aborted.
void EnterDeniedScenario(const Denial&) {
  const absl::StatusOr<uring::Ring> ring = uring::Ring::Create();
  ASSERT_FALSE(ring.ok()) << "a ring that cannot submit";
  EXPECT_TRUE(absl::IsPermissionDenied(ring.status())) << ring.status();
  EXPECT_NE(ring.status().message().find("io_uring_enter"), absl::string_view::npos)
      << ring.status();

  StderrCapture captured;
  auto strict = EventLoop::Create({.ring = uring::RingMode::kIoUring});
  ASSERT_FALSE(strict.ok());
  EXPECT_TRUE(absl::IsPermissionDenied(strict.status())) << strict.status();
  EXPECT_NE(strict.status().message().find("io_uring_enter"), absl::string_view::npos)
      << strict.status();
  for (const Kind& kind : kKinds) {
    auto loop = EventLoop::Create(kind.options);
    ASSERT_TRUE(loop.ok()) << kind.name << ": " << loop.status();
    EXPECT_TRUE((*loop)->emulated()) << kind.name;
    ExpectRingBlockingLockWorks(**loop, kind.name);
  }
  const std::string err = captured.Finish();
  const size_t at = err.find(kUnavailablePrefix);
  ASSERT_NE(at, std::string::npos) << err;
  const std::string line = err.substr(at, err.find('\n', at) - at);
  EXPECT_NE(line.find("io_uring_enter"), std::string::npos) << line;
  EXPECT_NE(line.find("EPERM"), std::string::npos) << line;
}

// Only io_uring_register denied: the opcode probe fails, which the old
// fallback line blamed on "kernel < 6.7".
void RegisterDeniedScenario(const Denial&) {
  const absl::StatusOr<uring::Ring> ring = uring::Ring::Create();
  ASSERT_TRUE(ring.ok()) << ring.status();
  EXPECT_EQ(ring->probe().error, EPERM);
  EXPECT_FALSE(ring->probe().futex());

  StderrCapture captured;
  auto strict = EventLoop::Create({.mode = uring::FutexMode::kNative});
  ASSERT_FALSE(strict.ok());
  EXPECT_TRUE(absl::IsUnimplemented(strict.status())) << strict.status();
  EXPECT_NE(strict.status().message().find("io_uring_register"), absl::string_view::npos)
      << strict.status();
  EXPECT_NE(strict.status().message().find("EPERM"), absl::string_view::npos) << strict.status();
  for (const Kind& kind : kKinds) {
    auto loop = EventLoop::Create(kind.options);
    ASSERT_TRUE(loop.ok()) << kind.name << ": " << loop.status();
    EXPECT_EQ((*loop)->emulated(), kind.options.ring == uring::RingMode::kEmulated) << kind.name;
    EXPECT_FALSE((*loop)->native_futex()) << kind.name;
    ExpectRingBlockingLockWorks(**loop, kind.name);
  }
  const std::string err = captured.Finish();
  const size_t at = err.find("ringlock: futex fallback");
  ASSERT_NE(at, std::string::npos) << err;
  const std::string line = err.substr(at, err.find('\n', at) - at);
  EXPECT_NE(line.find("io_uring_register"), std::string::npos) << line;
  EXPECT_NE(line.find("EPERM"), std::string::npos) << line;
  EXPECT_EQ(line.find("6.7"), std::string::npos) << "blames the kernel version: " << line;
}

TEST(PartialIoUringDenialTest, EnterDeniedIsReportedAndEmulatedNotAbortedOnFirstUse) {
  SKIP_UNLESS_X86_64();
  RunWithIoUringDenied(Denial{EPERM, "io_uring_enter EPERM", absl::StatusCode::kPermissionDenied,
                              false, {__NR_io_uring_enter}},
                       EnterDeniedScenario);
}

TEST(PartialIoUringDenialTest, RegisterDeniedFallbackSaysTheProbeFailedNotKernelVersion) {
  SKIP_UNLESS_X86_64();
  RunWithIoUringDenied(Denial{EPERM, "io_uring_register EPERM", absl::StatusCode::kOk, false,
                              {__NR_io_uring_register}},
                       RegisterDeniedScenario);
}

// No thread can be created (clone denied): the old Create threw
// std::system_error from the helper thread's or the futex hash's
// std::thread, and leaked an eventfd per attempt. Run twice: in a fresh
// process (the futex hash's thread fails first) and with the hash already
// made (the fallback's helper thread fails; native needs no thread).
void NoThreadsScenario(const Denial&) {
  const bool hash_needs_thread = uring::internal::PrivateFutexHashSlots() == 0;
  const int fds_before = OpenFds();
  for (const Kind& kind : kKinds) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      absl::StatusOr<std::unique_ptr<EventLoop>> loop = absl::UnknownError("threw");
      try {
        loop = EventLoop::Create(kind.options);
      } catch (const std::exception& e) {
        ADD_FAILURE() << kind.name << ": Create threw: " << e.what();
        continue;
      }
      if (loop.ok()) {
        // Only a native loop on a kernel without the private futex hash
        // needs no thread.
        EXPECT_TRUE((*loop)->native_futex() && !hash_needs_thread) << kind.name;
        continue;
      }
      EXPECT_TRUE(absl::IsPermissionDenied(loop.status())) << kind.name << ": " << loop.status();
      if (!hash_needs_thread) {
        EXPECT_NE(loop.status().message().find("helper thread"), absl::string_view::npos)
            << kind.name << ": " << loop.status();
      }
      EXPECT_NE(loop.status().message().find("thread"), absl::string_view::npos)
          << kind.name << ": " << loop.status();
      EXPECT_EQ(EventLoop::Current(), nullptr) << kind.name;
    }
  }
  EXPECT_EQ(OpenFds(), fds_before) << "fds leaked by failed Creates";
}

TEST(NoThreadsTest, CreateReturnsAStatusAndLeaksNoFd) {
  SKIP_UNLESS_X86_64();
  RunWithIoUringDenied(
      Denial{EPERM, "clone EPERM", absl::StatusCode::kOk, false, {__NR_clone, __NR_clone3}},
      NoThreadsScenario);
}

TEST(NoThreadsTest, CreateReturnsAStatusAndLeaksNoFdWhenOnlyTheHelperThreadFails) {
  SKIP_UNLESS_X86_64();
  RunWithIoUringDenied(Denial{EPERM, "clone EPERM, futex hash made", absl::StatusCode::kOk, false,
                              {__NR_clone, __NR_clone3}, /*futex_hash_first=*/true},
                       NoThreadsScenario);
}

class NoIoUringTest : public ::testing::TestWithParam<Denial> {
 protected:
  void SetUp() override {
#if !defined(__x86_64__)
    GTEST_SKIP() << "the seccomp filter is written for x86_64 syscall numbers";
#endif
  }
  void RunDenied(absl::FunctionRef<void(const Denial&)> scenario) {
    RunWithIoUringDenied(GetParam(), scenario);
  }
};

TEST_P(NoIoUringTest, CreateFallsBackToEmulationAndSaysSoOnce) { RunDenied(CreateScenario); }

TEST_P(NoIoUringTest, MutexSharedByCoroutinesAndThreads) { RunDenied(MutexScenario); }

TEST_P(NoIoUringTest, SeedDeadlockStillCannotHappen) { RunDenied(SeedDeadlockScenario); }

TEST_P(NoIoUringTest, ReadWriteSleepAndCancelledRecv) { RunDenied(IoScenario); }

TEST_P(NoIoUringTest, TimedEventWaitReportsDeadlineExceeded) { RunDenied(EventTimeoutScenario); }

INSTANTIATE_TEST_SUITE_P(
    Denied, NoIoUringTest,
    ::testing::Values(Denial{EPERM, "EPERM", absl::StatusCode::kPermissionDenied},
                      Denial{ENOSYS, "ENOSYS", absl::StatusCode::kUnimplemented}),
    [](const ::testing::TestParamInfo<Denial>& info) { return info.param.name; });

}  // namespace
}  // namespace ringlock
