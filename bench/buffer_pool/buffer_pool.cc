#include "bench/buffer_pool/buffer_pool.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <functional>
#include <optional>

#include "locks/ring_wait_backend.h"

namespace ringlock::buffer_pool {

absl::Status CreateDataFile(const std::string& path, uint32_t pages) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::ErrnoToStatus(errno, "open " + path);
  constexpr uint32_t kChunk = 128;
  std::vector<uint64_t> buf(kChunk * kWords);
  for (uint32_t first = 0; first < pages; first += kChunk) {
    const uint32_t n = std::min(kChunk, pages - first);
    for (uint32_t i = 0; i < n; ++i) {
      uint64_t* w = &buf[size_t{i} * kWords];
      w[0] = first + i;
      w[1] = 0;
      std::fill(w + 2, w + kWords, Fill(first + i, 0));
    }
    const size_t len = size_t{n} * kPageSize;
    if (::pwrite(fd, buf.data(), len, static_cast<off_t>(first) * kPageSize) !=
        static_cast<ssize_t>(len)) {
      const int e = errno;
      ::close(fd);
      return absl::ErrnoToStatus(e, "pwrite " + path);
    }
  }
  if (::fsync(fd) != 0) {
    const int e = errno;
    ::close(fd);
    return absl::ErrnoToStatus(e, "fsync " + path);
  }
  ::close(fd);
  return absl::OkStatus();
}

absl::StatusOr<int> OpenDataFile(const std::string& path, bool want_direct, bool* direct) {
  *direct = false;
  if (want_direct) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | O_DIRECT);
    if (fd >= 0) {
      *direct = true;
      return fd;
    }
    if (errno != EINVAL) return absl::ErrnoToStatus(errno, "open O_DIRECT " + path);
    // EINVAL: the filesystem refuses O_DIRECT (e.g. an old tmpfs): buffered.
  }
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, "open " + path);
  return fd;
}

const char* DemoModeName(DemoMode m) {
  switch (m) {
    case DemoMode::kStdMutex:
      return "std_mutex";
    case DemoMode::kFutex:
      return "ringlock_futex";
    case DemoMode::kRingBlocking:
      return "ringlock_ring_blocking";
    case DemoMode::kAsync:
      return "ringlock_async";
  }
  return "?";
}

namespace {

constexpr uint32_t kPageA = 5;
constexpr uint32_t kPageB = 3;

void WaitFor(const std::function<bool()>& cond) {
  while (!cond()) std::this_thread::yield();
}

template <Design D>
int Demo(DemoMode mode, const std::string& dir, const std::string& data_path, int watchdog_ms,
         uring::EventLoopOptions loop_options) {
  Options o;
  o.dir = dir;
  o.file_pages = 8;
  o.frames = 4;
  o.ring_io = true;  // the submitter reaps its own completions
  o.async_waits = mode == DemoMode::kAsync;
  auto opened = BufferPool<D>::Open(data_path, o);
  if (!opened.ok()) {
    std::fprintf(stderr, "deadlock demo: %s\n", opened.status().ToString().c_str());
    return 2;
  }
  BufferPool<D>& pool = **opened;
  const bool futex = mode == DemoMode::kStdMutex || mode == DemoMode::kFutex;

  std::atomic<int> stage{0};  // 1: T1 holds A, read in flight; 2: T1 waits for B
  std::atomic<int> finished{0};
  std::mutex wd_mu;
  std::condition_variable wd_cv;
  std::thread watchdog([&] {
    std::unique_lock<std::mutex> g(wd_mu);
    if (wd_cv.wait_for(g, std::chrono::milliseconds(watchdog_ms),
                       [&] { return finished.load() == 2; })) {
      return;
    }
    std::fprintf(stderr,
                 "DEADLOCK (%s, page waits in %s): no progress for %d ms. T1 holds page A=%u "
                 "with A's read in flight on T1's own io_uring (completion not reaped) and %s "
                 "for page B=%u; T2 holds page B and waits for page A. Watchdog exits %d.\n",
                 DemoModeName(mode), futex ? "futex(2)" : "the ring", watchdog_ms, kPageA,
                 stage.load() >= 2 ? "waits" : "is about to wait", kPageB, kDeadlockExitCode);
    std::fflush(stderr);
    _exit(kDeadlockExitCode);
  });

  std::thread t1([&] {
    auto loop = uring::EventLoop::Create(loop_options);
    if (!loop.ok()) Die("T1 EventLoop::Create", 0);
    // Until T1 asks for B, its waits (the probes' table lock) must not
    // dispatch the loop: completing A early would let T2 through and B
    // would be held only for a moment (the order would not be forced).
    auto plain = std::make_unique<ScopedFutexBlocking>();
    uring::Task<uint64_t> read_a = pool.Read(kPageA);
    read_a.handle().resume();  // misses: locks A, queues A's read, suspends
    (*loop)->FlushWakes();     // submits the read
    if (read_a.done() || !pool.PageLockHeld(kPageA) || (*loop)->in_flight() == 0) {
      Die("deadlock demo: A's read is not in flight under A's lock", 0);
    }
    stage.store(1);
    WaitFor([&] { return pool.PageLockHeld(kPageB); });  // T2 holds B (and waits for A)
    stage.store(2);
    if (mode != DemoMode::kFutex) plain.reset();
    const uint64_t vb = (*loop)->RunUntilComplete(pool.Read(kPageB));
    (*loop)->RunUntil([&] { return read_a.done(); });
    (void)read_a.TakeResult();
    if (vb != 1) Die("deadlock demo: T1 read B before T2's update", static_cast<long>(vb));
    finished.fetch_add(1);
  });
  std::thread t2([&] {
    WaitFor([&] { return stage.load() >= 1; });
    auto loop = uring::EventLoop::Create(loop_options);
    if (!loop.ok()) Die("T2 EventLoop::Create", 0);
    std::optional<ScopedFutexBlocking> plain;
    if (mode == DemoMode::kFutex) plain.emplace();
    (*loop)->RunUntilComplete(pool.UpdateTwo(kPageB, kPageA));
    finished.fetch_add(1);
  });
  t1.join();
  t2.join();
  {
    std::lock_guard<std::mutex> g(wd_mu);
  }
  wd_cv.notify_all();
  watchdog.join();
  return 0;
}

}  // namespace

int RunDeadlockDemo(DemoMode mode, const std::string& dir, const std::string& data_path,
                    int watchdog_ms, uring::EventLoopOptions loop) {
  switch (mode) {
    case DemoMode::kStdMutex:
      return Demo<Design::kStd>(mode, dir, data_path, watchdog_ms, loop);
    case DemoMode::kFutex:
      return Demo<Design::kFutex>(mode, dir, data_path, watchdog_ms, loop);
    case DemoMode::kRingBlocking:
    case DemoMode::kAsync:
      return Demo<Design::kRing>(mode, dir, data_path, watchdog_ms, loop);
  }
  return 2;
}

}  // namespace ringlock::buffer_pool
