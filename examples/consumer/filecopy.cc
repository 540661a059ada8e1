#include "filecopy.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "locks/async.h"
#include "locks/mutex.h"
#include "uring/event_loop.h"
#include "uring/io.h"
#include "uring/task.h"

namespace filecopy {
namespace {

using ringlock::uring::EventLoop;
using ringlock::uring::Task;

absl::Status Errno(int err, std::string_view what, const std::string& path) {
  return absl::ErrnoToStatus(err, std::string(what) + " " + path);
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// What the workers share, all under `mu`.
struct Shared {
  explicit Shared(const std::vector<Job>& j) : jobs(j) {}
  const std::vector<Job>& jobs;
  ringlock::Mutex mu;
  size_t next = 0;  // next job to take
  Stats stats;
  absl::Status error;  // first error; stops the pool
};

Task<absl::Status> CopyOne(EventLoop& loop, Shared& shared, const Job& job,
                           std::vector<char>& buf) {
  Fd in(open(job.src.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.get() < 0) co_return Errno(errno, "open", job.src);
  Fd out(open(job.dst.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (out.get() < 0) co_return Errno(errno, "create", job.dst);
  uint64_t offset = 0;
  for (;;) {
    const int32_t n = co_await ringlock::uring::Read(
        loop, in.get(), buf.data(), static_cast<unsigned>(buf.size()), offset);
    if (n < 0) co_return Errno(-n, "read", job.src);
    if (n == 0) break;
    for (int32_t done = 0; done < n;) {
      const int32_t w = co_await ringlock::uring::Write(
          loop, out.get(), buf.data() + done, static_cast<unsigned>(n - done),
          offset + done);
      if (w < 0) co_return Errno(-w, "write", job.dst);
      if (w == 0) co_return absl::DataLossError("short write to " + job.dst);
      done += w;
    }
    offset += static_cast<uint64_t>(n);
    std::unique_lock<ringlock::Mutex> lock = co_await shared.mu.lock_async(loop);
    shared.stats.bytes += n;
    ++shared.stats.chunks;
  }
  co_return absl::OkStatus();
}

Task<void> Worker(EventLoop& loop, Shared& shared, size_t chunk) {
  std::vector<char> buf(chunk);
  for (;;) {
    const Job* job = nullptr;
    {
      std::unique_lock<ringlock::Mutex> lock = co_await shared.mu.lock_async(loop);
      if (!shared.error.ok() || shared.next == shared.jobs.size()) co_return;
      job = &shared.jobs[shared.next++];
    }
    absl::Status s = co_await CopyOne(loop, shared, *job, buf);
    std::unique_lock<ringlock::Mutex> lock = co_await shared.mu.lock_async(loop);
    if (s.ok()) {
      ++shared.stats.files;
    } else if (shared.error.ok()) {
      shared.error = std::move(s);
    }
  }
}

Task<void> ReadInto(EventLoop& loop, int fd, size_t max_len, LockOrReadResult& r,
                    const std::function<void(std::string_view)>& on_event,
                    int32_t& res) {
  std::string buf(max_len, '\0');
  res = co_await ringlock::uring::Read(loop, fd, buf.data(),
                                       static_cast<unsigned>(buf.size()));
  if (res > 0) r.data.assign(buf.data(), static_cast<size_t>(res));
  r.order.push_back("read");
  if (on_event) on_event("read");
}

Task<void> TakeLock(EventLoop& loop, ringlock::Mutex& mu, LockOrReadResult& r,
                    const std::function<void(std::string_view)>& on_event) {
  std::unique_lock<ringlock::Mutex> lock = co_await mu.lock_async(loop);
  r.order.push_back("lock");
  if (on_event) on_event("lock");
}

}  // namespace

absl::StatusOr<Stats> CopyFiles(const std::vector<Job>& jobs, int workers,
                                size_t chunk) {
  if (workers < 1) return absl::InvalidArgumentError("workers must be >= 1");
  if (chunk == 0 || chunk > (1u << 30)) return absl::InvalidArgumentError("bad chunk size");
  Shared shared(jobs);
  std::vector<absl::Status> loop_errors(static_cast<size_t>(workers));
  std::vector<std::thread> threads;
  for (int i = 0; i < workers; ++i) {
    threads.emplace_back([&, i] {
      absl::StatusOr<std::unique_ptr<EventLoop>> loop = EventLoop::Create();
      if (!loop.ok()) {
        loop_errors[static_cast<size_t>(i)] = loop.status();
        return;
      }
      (*loop)->RunUntilComplete(Worker(**loop, shared, chunk));
    });
  }
  for (std::thread& t : threads) t.join();
  for (const absl::Status& s : loop_errors) {
    if (!s.ok()) return s;
  }
  if (!shared.error.ok()) return shared.error;
  return shared.stats;
}

absl::StatusOr<LockOrReadResult> LockOrRead(
    EventLoop& loop, ringlock::Mutex& mu, int fd, size_t max_len,
    std::function<void(std::string_view)> on_event) {
  LockOrReadResult r;
  int32_t res = 0;
  loop.Spawn(ReadInto(loop, fd, max_len, r, on_event, res));
  loop.Spawn(TakeLock(loop, mu, r, on_event));
  loop.RunUntil([&] { return r.order.size() == 2; });
  if (res < 0) return absl::ErrnoToStatus(-res, "read");
  return r;
}

}  // namespace filecopy
