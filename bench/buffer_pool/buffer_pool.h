// bench/buffer_pool/buffer_pool.h — a database-style buffer pool over a real
// file, built three ways, as a user of ringlock would build it.
//
// The pool caches `frames` pages of 8 KiB of a data file (opened O_DIRECT
// where the filesystem allows it: direct_io() says). Each frame is guarded by
// its own page lock, held while the frame's read (or the victim's write-back)
// is in flight, so a second request for the page waits for the I/O. A page
// table (page -> frame) under one short table lock maps pages; eviction is
// clock (second chance): a hit sets the frame's reference bit, the hand
// clears it and takes the first frame whose bit is clear and whose lock is
// free (try_lock: the table lock is never held across a wait). A dirty victim
// is written back before its page is unmapped, so a miss on it rereads what
// was written.
//
// Updates log a record in a write-ahead log and commit with group commit: one
// flusher thread takes everything appended so far, writes it, fdatasync()s
// the log, and publishes "flushed up to LSN"; a committer returns once the
// flushed LSN reaches its record.
//
// The designs (template parameter):
//   kStd    (a) std::mutex page/table/log locks, pread/pwrite,
//               committers wait on a std::condition_variable (notify_all per
//               flush): the usual design.
//   kFutex  (b) ringlock::Mutex locks, sleeping in futex(2), pread/pwrite,
//               committers wait on a ringlock::Watermark (futex(2) sleeps;
//               advance_to wakes exactly the reached ones, batched).
//   kRing   (c) ringlock::Mutex, each worker runs a uring::EventLoop and
//               several requests as coroutines; page reads and write-backs
//               go through the loop's io_uring; lock waits are async
//               (co_await lock_async) or ring-blocking (lock() on the loop
//               thread); committers co_await the Watermark; the flusher runs
//               a loop, so advance_to sends its wakes in one submit.
//
// Every operation is a uring::Task. With synchronous I/O and blocking waits
// it never suspends, and RunSync() runs it on any thread.
//
// Page format (for checking): 1024 64-bit words, [0] the page number, [1]
// its version (number of committed updates), [2..] Fill(page, version).
#ifndef RINGLOCK_BENCH_BUFFER_POOL_BUFFER_POOL_H_
#define RINGLOCK_BENCH_BUFFER_POOL_BUFFER_POOL_H_

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "locks/async.h"
#include "locks/condvar.h"
#include "locks/mutex.h"
#include "locks/watermark.h"
#include "uring/event_loop.h"
#include "uring/io.h"
#include "uring/task.h"

namespace ringlock::buffer_pool {

inline constexpr size_t kPageSize = 8192;
inline constexpr size_t kWords = kPageSize / sizeof(uint64_t);
inline constexpr uint32_t kNoPage = ~0u;

enum class Design { kStd, kFutex, kRing };
inline const char* DesignName(Design d) {
  switch (d) {
    case Design::kStd:
      return "a_std";
    case Design::kFutex:
      return "b_futex";
    case Design::kRing:
      return "c_ring";
  }
  return "?";
}

inline uint64_t Fill(uint32_t page, uint64_t version) {
  return (uint64_t{page} * 0x9E3779B97F4A7C15ull) ^ (version * 0xBF58476D1CE4E5B9ull);
}

// Fails the process with a message: the bench and tests treat an I/O error
// or a corrupt page as fatal.
[[noreturn]] inline void Die(const char* what, long value) {
  std::fprintf(stderr, "buffer_pool: %s (%ld)\n", what, value);
  std::fflush(stderr);
  std::abort();
}

struct Options {
  std::string dir;           // data and log files are created here
  uint32_t file_pages = 0;   // size of the data file
  uint32_t frames = 0;       // cached pages
  bool ring_io = false;      // page I/O through the thread's EventLoop (else pread/pwrite)
  bool async_waits = false;  // lock and commit waits co_await (needs a loop thread)
  bool direct = true;        // try O_DIRECT for the data file
  bool verify_all = true;    // check every word of a page on read (else 3 words)
};

struct Stats {
  std::atomic<uint64_t> hits{0}, misses{0}, evictions{0}, writebacks{0};
  std::atomic<uint64_t> flushes{0}, records{0};
};

// Writes `pages` initialized pages (version 0) to `path`. The bench creates
// the file once and reuses it across pools.
absl::Status CreateDataFile(const std::string& path, uint32_t pages);

// Opens `path` for the pool: O_DIRECT if asked and accepted. `*direct` says.
absl::StatusOr<int> OpenDataFile(const std::string& path, bool want_direct, bool* direct);

// Runs a Task that never suspends (synchronous I/O, blocking waits) to
// completion on the calling thread.
template <class T>
T RunSync(uring::Task<T> task) {
  task.handle().resume();
  if (!task.done()) Die("RunSync: the operation suspended (async waits need a loop)", 0);
  return task.TakeResult();
}

template <Design D>
class BufferPool {
 public:
  using Lock = std::conditional_t<D == Design::kStd, std::mutex, ringlock::Mutex>;

  // `data_path` must exist (CreateDataFile) with opts.file_pages pages; the
  // log is created in opts.dir.
  static absl::StatusOr<std::unique_ptr<BufferPool>> Open(const std::string& data_path,
                                                          Options opts) {
    if (opts.frames == 0 || opts.file_pages == 0) {
      return absl::InvalidArgumentError("frames and file_pages must be > 0");
    }
    if (D != Design::kRing && opts.async_waits) {
      return absl::InvalidArgumentError("async waits need design kRing");
    }
    std::unique_ptr<BufferPool> p(new BufferPool(opts));
    auto fd = OpenDataFile(data_path, opts.direct, &p->direct_);
    if (!fd.ok()) return fd.status();
    p->data_fd_ = *fd;
    const std::string log = opts.dir + "/wal.log";
    p->log_fd_ = ::open(log.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (p->log_fd_ < 0) return absl::ErrnoToStatus(errno, "open " + log);
    void* mem = std::aligned_alloc(4096, size_t{opts.frames} * kPageSize);
    if (mem == nullptr) return absl::ResourceExhaustedError("frames");
    p->mem_ = static_cast<uint8_t*>(mem);
    p->frames_ = std::make_unique<Frame[]>(opts.frames);
    for (uint32_t f = 0; f < opts.frames; ++f) p->frames_[f].data = p->mem_ + size_t{f} * kPageSize;
    p->frame_of_.assign(opts.file_pages, -1);
    p->flusher_ = std::thread([raw = p.get()] { raw->FlusherMain(); });
    return p;
  }

  ~BufferPool() {
    {
      std::unique_lock<Lock> g(log_mu_);
      stop_ = true;
    }
    log_cv_.notify_one();
    flusher_.join();
    if (data_fd_ >= 0) ::close(data_fd_);
    if (log_fd_ >= 0) ::close(log_fd_);
    std::free(mem_);
  }

  // Reads page `page`; returns its version. Checks the content.
  uring::Task<uint64_t> Read(uint32_t page) {
    const uint32_t f = co_await Fix(page);
    const uint64_t v = Check(f, page);
    Unfix(f);
    co_return v;
  }

  struct Committed {
    uint64_t version;  // the page's new version
    uint64_t lsn;      // the end of its log record
  };
  // Bumps page `page`'s version, logs it and commits: returns once the log
  // is flushed past its record.
  uring::Task<Committed> Update(uint32_t page) {
    const uint32_t f = co_await Fix(page);
    const uint64_t v = Check(f, page) + 1;
    Write(f, page, v);
    const uint64_t lsn = co_await Append(page, v);
    Unfix(f);
    co_await Commit(lsn);
    co_return Committed{v, lsn};
  }

  // Updates two pages in one transaction (a row moving between pages): locks
  // `first`, then `second` (callers that mix orders can deadlock, as with
  // any two-lock code; the deadlock demo locks in one order only).
  uring::Task<void> UpdateTwo(uint32_t first, uint32_t second) {
    const uint32_t f1 = co_await Fix(first);
    const uint32_t f2 = co_await Fix(second);
    const uint64_t v1 = Check(f1, first) + 1, v2 = Check(f2, second) + 1;
    Write(f1, first, v1);
    Write(f2, second, v2);
    (void)co_await Append(first, v1);
    const uint64_t lsn = co_await Append(second, v2);
    Unfix(f2);
    Unfix(f1);
    co_await Commit(lsn);
  }

  // Returns once the log is flushed up to `lsn`.
  uring::Task<void> Commit(uint64_t lsn) {
    if constexpr (D == Design::kStd) {
      std::unique_lock<std::mutex> g(flushed_mu_);
      flushed_cv_.wait(g, [&] { return flushed_ >= lsn; });
    } else if (wm_.position() < lsn) {
      if (opts_.async_waits) {
        co_await wm_.wait_until_reached_async(*uring::EventLoop::Current(), lsn);
      } else {
        wm_.wait_until_reached(lsn);
      }
    }
    if (FlushedLsn() < lsn) Die("commit returned before its LSN was flushed", static_cast<long>(lsn));
    co_return;
  }

  // Writes every dirty page back (pwrite). Only with no operation running.
  void FlushAll() {
    for (uint32_t f = 0; f < opts_.frames; ++f) {
      Frame& fr = frames_[f];
      if (fr.page != kNoPage && fr.dirty) {
        SyncIo(true, fr.data, fr.page);
        fr.dirty = false;
        stats_.writebacks.fetch_add(1, std::memory_order_relaxed);
      }
    }
  }

  uint64_t FlushedLsn() {
    if constexpr (D == Design::kStd) {
      std::lock_guard<std::mutex> g(flushed_mu_);
      return flushed_;
    } else {
      return wm_.position();
    }
  }

  // For tests: the frame holding `page` and whether its page lock is held
  // (racy by nature), or -1.
  int FrameOf(uint32_t page) {
    std::lock_guard<Lock> g(table_mu_);
    return frame_of_[page];
  }
  bool PageLockHeld(uint32_t page) {
    const int f = FrameOf(page);
    if (f < 0) return false;
    if constexpr (D == Design::kStd) {
      if (!frames_[f].mu.try_lock()) return true;
      frames_[f].mu.unlock();
      return false;
    } else {
      return frames_[f].mu.is_locked();
    }
  }

  const Stats& stats() const { return stats_; }
  bool direct_io() const { return direct_; }
  const Options& options() const { return opts_; }
  int log_fd() const { return log_fd_; }

  // One log record: the page and its new version; LSNs are byte offsets of
  // a record's end.
  struct Record {
    uint32_t page;
    uint32_t pad;
    uint64_t version;
  };

 private:
  struct Frame {
    Lock mu;                 // held while the frame's I/O is in flight
    uint32_t page = kNoPage;  // changed under table_mu_ and mu
    bool ref = false;        // clock bit, under table_mu_
    bool dirty = false;      // under mu
    uint8_t* data = nullptr;
  };

  explicit BufferPool(Options opts) : opts_(std::move(opts)) {}

  // Clang's lock analysis cannot follow these: a lock taken by co_await
  // Acquire (a coroutine), page locks taken in Fix or ClockVictim and released
  // by Unfix, in another call. They opt out (ABSL_NO_THREAD_SAFETY_ANALYSIS);
  // tests/buffer_pool checks the discipline at run time.

  // Takes `mu`: blocking, or (async waits) co_await on the thread's loop.
  uring::Task<void> Acquire(Lock& mu) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if constexpr (D == Design::kRing) {
      if (opts_.async_waits) {
        std::unique_lock<Lock> g = co_await mu.lock_async(*uring::EventLoop::Current());
        g.release();
        co_return;
      }
    }
    mu.lock();
    co_return;
  }

  // Returns the frame holding `page`, its lock held, content loaded.
  uring::Task<uint32_t> Fix(uint32_t page) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if (page >= opts_.file_pages) Die("page out of range", page);
    for (;;) {
      if (!table_mu_.try_lock()) co_await Acquire(table_mu_);
      int f = frame_of_[page];
      if (f >= 0) {  // hit (or its read is in flight: wait for it on the page lock)
        frames_[f].ref = true;
        table_mu_.unlock();
        Frame& fr = frames_[f];
        if (!fr.mu.try_lock()) co_await Acquire(fr.mu);
        if (fr.page == page) {
          stats_.hits.fetch_add(1, std::memory_order_relaxed);
          co_return static_cast<uint32_t>(f);
        }
        fr.mu.unlock();  // evicted while we waited
        continue;
      }
      f = ClockVictim();  // locked, still mapped to its old page
      table_mu_.unlock();
      if (f < 0) {  // every frame locked: more requests than frames
        if (uring::EventLoop* loop = uring::EventLoop::Current(); loop != nullptr && opts_.ring_io) {
          // The holders may be this thread's own suspended requests: let the
          // loop run them (a yield here would spin the loop thread forever).
          (void)co_await uring::Nop(*loop);
        } else {
          std::this_thread::yield();
        }
        continue;
      }
      Frame& fr = frames_[f];
      if (fr.dirty) {  // write back before unmapping: a miss on it rereads this
        co_await PageIo(/*write=*/true, fr.data, fr.page);
        fr.dirty = false;
        stats_.writebacks.fetch_add(1, std::memory_order_relaxed);
      }
      if (!table_mu_.try_lock()) co_await Acquire(table_mu_);
      if (frame_of_[page] >= 0) {  // another request loaded it meanwhile
        table_mu_.unlock();
        fr.mu.unlock();
        continue;
      }
      if (fr.page != kNoPage) {
        frame_of_[fr.page] = -1;
        stats_.evictions.fetch_add(1, std::memory_order_relaxed);
      }
      fr.page = page;
      fr.ref = true;
      frame_of_[page] = f;
      table_mu_.unlock();
      stats_.misses.fetch_add(1, std::memory_order_relaxed);
      co_await PageIo(/*write=*/false, fr.data, page);  // others wait on fr.mu meanwhile
      co_return static_cast<uint32_t>(f);
    }
  }

  void Unfix(uint32_t f) ABSL_NO_THREAD_SAFETY_ANALYSIS { frames_[f].mu.unlock(); }

  // Under table_mu_: the clock hand's next victim, locked (try_lock), or -1.
  int ClockVictim() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    for (uint32_t n = 0; n < 2 * opts_.frames + 1; ++n) {
      const uint32_t f = hand_;
      hand_ = (hand_ + 1) % opts_.frames;
      Frame& fr = frames_[f];
      if (fr.ref) {
        fr.ref = false;
        continue;
      }
      if (fr.mu.try_lock()) return static_cast<int>(f);
    }
    return -1;
  }

  void SyncIo(bool write, uint8_t* buf, uint32_t page) {
    const off_t off = static_cast<off_t>(page) * kPageSize;
    const ssize_t r = write ? ::pwrite(data_fd_, buf, kPageSize, off) : ::pread(data_fd_, buf, kPageSize, off);
    if (r != static_cast<ssize_t>(kPageSize)) Die(write ? "pwrite" : "pread", r < 0 ? -errno : r);
  }

  uring::Task<void> PageIo(bool write, uint8_t* buf, uint32_t page) {
    if (!opts_.ring_io) {
      SyncIo(write, buf, page);
      co_return;
    }
    uring::EventLoop* loop = uring::EventLoop::Current();
    if (loop == nullptr) Die("ring_io on a thread without an EventLoop", 0);
    const uint64_t off = uint64_t{page} * kPageSize;
    const int32_t r = write ? co_await uring::Write(*loop, data_fd_, buf, kPageSize, off)
                            : co_await uring::Read(*loop, data_fd_, buf, kPageSize, off);
    if (r != static_cast<int32_t>(kPageSize)) Die(write ? "io_uring write" : "io_uring read", r);
  }

  uint64_t Check(uint32_t f, uint32_t page) const {
    const auto* w = reinterpret_cast<const uint64_t*>(frames_[f].data);
    const uint64_t v = w[1];
    if (w[0] != page) Die("page holds another page's content", static_cast<long>(w[0]));
    const uint64_t want = Fill(page, v);
    if (opts_.verify_all) {
      for (size_t i = 2; i < kWords; ++i) {
        if (w[i] != want) Die("torn or stale page word", static_cast<long>(i));
      }
    } else if (w[2] != want || w[kWords - 1] != want) {
      Die("torn or stale page", page);
    }
    return v;
  }

  void Write(uint32_t f, uint32_t page, uint64_t v) {
    auto* w = reinterpret_cast<uint64_t*>(frames_[f].data);
    w[0] = page;
    w[1] = v;
    const uint64_t fill = Fill(page, v);
    for (size_t i = 2; i < kWords; ++i) w[i] = fill;
    frames_[f].dirty = true;
  }

  // Appends a record; returns its LSN (the log's end after it).
  uring::Task<uint64_t> Append(uint32_t page, uint64_t version) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if (!log_mu_.try_lock()) co_await Acquire(log_mu_);
    Record r{page, 0, version};
    const char* p = reinterpret_cast<const char*>(&r);
    log_buf_.insert(log_buf_.end(), p, p + sizeof(r));
    appended_ += sizeof(r);
    const uint64_t lsn = appended_;
    const bool wake = flusher_idle_;
    log_mu_.unlock();
    if (wake) log_cv_.notify_one();
    co_return lsn;
  }

  void FlusherMain() {
    std::unique_ptr<uring::EventLoop> loop;
    if constexpr (D == Design::kRing) {
      // advance_to's wakes then leave through this loop's ring, in one submit.
      auto l = uring::EventLoop::Create();
      if (!l.ok()) Die("flusher EventLoop::Create", 0);
      loop = *std::move(l);
    }
    std::vector<char> batch;
    uint64_t written = 0;
    for (;;) {
      uint64_t end;
      {
        std::unique_lock<Lock> g(log_mu_);
        while (log_buf_.empty() && !stop_) {
          flusher_idle_ = true;
          log_cv_.wait(g);
        }
        flusher_idle_ = false;
        if (log_buf_.empty()) return;  // stopped, all flushed
        batch.swap(log_buf_);
        log_buf_.clear();
        end = appended_;
      }
      const ssize_t r = ::pwrite(log_fd_, batch.data(), batch.size(), static_cast<off_t>(written));
      if (r != static_cast<ssize_t>(batch.size())) Die("log pwrite", r < 0 ? -errno : r);
      if (::fdatasync(log_fd_) != 0) Die("log fdatasync", -errno);
      written += batch.size();
      stats_.records.fetch_add(batch.size() / sizeof(Record), std::memory_order_relaxed);
      stats_.flushes.fetch_add(1, std::memory_order_relaxed);
      if constexpr (D == Design::kStd) {
        {
          std::lock_guard<std::mutex> g(flushed_mu_);
          flushed_ = end;
        }
        flushed_cv_.notify_all();
      } else {
        wm_.advance_to(end);  // wakes exactly the committers at or below `end`
      }
    }
  }

  const Options opts_;
  bool direct_ = false;
  int data_fd_ = -1;
  int log_fd_ = -1;
  uint8_t* mem_ = nullptr;
  std::unique_ptr<Frame[]> frames_;

  Lock table_mu_;
  std::vector<int32_t> frame_of_;  // under table_mu_
  uint32_t hand_ = 0;              // under table_mu_

  using LogCv = std::conditional_t<D == Design::kStd, std::condition_variable, ringlock::CondVar>;
  Lock log_mu_;
  LogCv log_cv_;
  std::vector<char> log_buf_;  // under log_mu_
  uint64_t appended_ = 0;      // under log_mu_
  bool flusher_idle_ = false;  // under log_mu_
  bool stop_ = false;          // under log_mu_

  // (a): the flushed LSN under a mutex, committers on a condition variable.
  std::mutex flushed_mu_;
  std::condition_variable flushed_cv_;
  uint64_t flushed_ = 0;
  // (b), (c)
  Watermark wm_;

  Stats stats_;
  std::thread flusher_;  // last: started once everything above exists
};

// ---- The deadlock demo ----------------------------------------------------
//
// Two threads, forced order, pages A and B of one pool whose page reads go
// through io_uring (the submitter reaps its own completions):
//   1. T1 (a loop thread) runs Read(A): a miss; it holds A's page lock with
//      A's read in flight on T1's ring.
//   2. T2 runs UpdateTwo(B, A): it loads and holds B, then waits for A.
//   3. T1 runs Read(B) and waits for B's page lock.
// If T1 waits in futex(2) it never reaps A's completion: A stays locked, T2
// waits for A forever, T1 for B. If T1 waits in its ring (ring-blocking or
// async), the wait dispatches A's completion, Read(A) finishes and unlocks A,
// T2 finishes and unlocks B, and T1 gets B.
enum class DemoMode {
  kStdMutex,     // (a)'s locks + io_uring reads: std::mutex sleeps in futex(2)
  kFutex,        // (b): ringlock::Mutex under ScopedFutexBlocking + io_uring reads
  kRingBlocking, // (c): the same blocking lock() calls, on the loop's ring
  kAsync,        // (c): co_await lock_async
};
const char* DemoModeName(DemoMode m);

// Exit status of a process whose demo the watchdog found hung.
inline constexpr int kDeadlockExitCode = 3;

// Runs the schedule. Returns 0 when it completes; if nothing completes
// within `watchdog_ms`, prints what hangs and _exit(kDeadlockExitCode)s (the
// hung threads cannot be joined). `data_path` must hold >= 8 pages.
// `loop` configures both threads' loops.
int RunDeadlockDemo(DemoMode mode, const std::string& dir, const std::string& data_path,
                    int watchdog_ms, uring::EventLoopOptions loop = {});

}  // namespace ringlock::buffer_pool

#endif  // RINGLOCK_BENCH_BUFFER_POOL_BUFFER_POOL_H_
