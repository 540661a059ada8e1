// The buffer pool of bench/buffer_pool: clock eviction counted exactly on a
// scripted sequence, every read returning the last committed content under
// concurrency, and committers returning only once the log holds their record
// on disk. Each runs for every build: (a) std, (b) futex, (c) io_uring I/O
// with async waits (native, fallback and emulated loops) and with
// ring-blocking waits.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "bench/buffer_pool/buffer_pool.h"
#include "gtest/gtest.h"
#include "tests/locks/stall_watchdog.h"
#include "tests/locks/waiter_modes.h"
#include "uring/event_loop.h"
#include "uring/task.h"

// TSAN's lock-order check keeps one lock set per thread; in (c) several
// requests on one thread each hold their own page lock across suspensions, so
// the thread's set mixes independent requests and reports orders no request
// takes (page X held by a suspended request while another request locks page
// Y). One request's order is page -> table/log, and table -> page only by
// try_lock. The (a) and (b) builds pass with the check on.
extern "C" const char* __tsan_default_options() { return "detect_deadlocks=0"; }

namespace ringlock::buffer_pool {
namespace {

using ringlock::testing::LoopKind;

struct Config {
  const char* name;
  Design design;
  bool ring_io;
  bool async_waits;
  LoopKind loop;
  int per_thread;  // concurrent requests per thread (coroutines on its loop)
};

const Config kConfigs[] = {
    {"a_std", Design::kStd, false, false, LoopKind::kNative, 1},
    {"b_futex", Design::kFutex, false, false, LoopKind::kNative, 1},
    {"c_async", Design::kRing, true, true, LoopKind::kNative, 3},
    {"c_async_fallback", Design::kRing, true, true, LoopKind::kFallback, 3},
    {"c_async_emulated", Design::kRing, true, true, LoopKind::kEmulated, 3},
    {"c_ring_blocking", Design::kRing, true, false, LoopKind::kNative, 2},
};

void PrintTo(const Config& c, std::ostream* os) { *os << c.name; }

bool NeedsLoop(const Config& c) { return c.ring_io || c.async_waits; }

// A fresh directory with a data file of `pages` pages.
class TempDir {
 public:
  explicit TempDir(uint32_t pages) {
    const char* base = std::getenv("TEST_TMPDIR");
    std::string t = std::string(base ? base : "/tmp") + "/pool.XXXXXX";
    std::vector<char> buf(t.begin(), t.end());
    buf.push_back(0);
    if (mkdtemp(buf.data()) == nullptr) std::abort();
    dir_ = buf.data();
    const absl::Status s = CreateDataFile(data(), pages);
    if (!s.ok()) {
      ADD_FAILURE() << s;
    }
  }
  ~TempDir() {
    unlink(data().c_str());
    unlink((dir_ + "/wal.log").c_str());
    rmdir(dir_.c_str());
  }
  const std::string& dir() const { return dir_; }
  std::string data() const { return dir_ + "/data.db"; }

 private:
  std::string dir_;
};

template <Design D>
std::unique_ptr<BufferPool<D>> OpenPool(const Config& c, const TempDir& dir, uint32_t pages,
                                        uint32_t frames) {
  Options o;
  o.dir = dir.dir();
  o.file_pages = pages;
  o.frames = frames;
  o.ring_io = c.ring_io;
  o.async_waits = c.async_waits;
  auto p = BufferPool<D>::Open(dir.data(), o);
  if (!p.ok()) {
    ADD_FAILURE() << p.status();
    return nullptr;
  }
  return *std::move(p);
}

template <class T>
T RunOn(uring::EventLoop* loop, uring::Task<T> t) {
  if (loop != nullptr) return loop->RunUntilComplete(std::move(t));
  return RunSync(std::move(t));
}

// Reads page `p` of the data file directly; checks its content; its version.
uint64_t VersionOnDisk(int fd, uint32_t p) {
  std::vector<uint64_t> w(kWords);
  EXPECT_EQ(pread(fd, w.data(), kPageSize, static_cast<off_t>(p) * kPageSize),
            static_cast<ssize_t>(kPageSize));
  EXPECT_EQ(w[0], p);
  for (size_t i = 2; i < kWords; ++i) {
    if (w[i] != Fill(p, w[1])) {
      ADD_FAILURE() << "page " << p << " word " << i << " torn";
      break;
    }
  }
  return w[1];
}

// Frames 3, clock: every step's outcome is fixed (worked out in comments).
template <Design D>
void ScriptedClockCounts(const Config& c) {
  TempDir dir(8);
  std::unique_ptr<uring::EventLoop> loop;
  if (NeedsLoop(c)) loop = ringlock::testing::MakeLoop(c.loop);
  auto pool = OpenPool<D>(c, dir, 8, 3);
  ASSERT_NE(pool, nullptr);
  auto read = [&](uint32_t p) { return RunOn(loop.get(), pool->Read(p)); };
  const auto& st = pool->stats();
  EXPECT_EQ(read(0), 0u);  // miss -> frame 0
  EXPECT_EQ(read(1), 0u);  // miss -> frame 1
  EXPECT_EQ(read(2), 0u);  // miss -> frame 2; all reference bits set, hand at 0
  const auto u = RunOn(loop.get(), pool->Update(0));  // hit; frame 0 dirty
  EXPECT_EQ(u.version, 1u);
  EXPECT_EQ(st.hits.load(), 1u);
  EXPECT_EQ(st.misses.load(), 3u);
  EXPECT_EQ(read(3), 0u);  // miss: the hand clears 0,1,2, takes frame 0: writes page 0 back
  EXPECT_EQ(st.evictions.load(), 1u);
  EXPECT_EQ(st.writebacks.load(), 1u);
  EXPECT_EQ(read(0), 1u);  // miss: frame 1 (bit clear) evicts page 1; page 0 reread from disk
  EXPECT_EQ(read(2), 0u);  // hit: frame 2's bit set again
  EXPECT_EQ(read(1), 0u);  // miss: clears 2, 0, 1, takes frame 2 (page 2)
  EXPECT_EQ(read(3), 0u);  // hits
  EXPECT_EQ(read(0), 1u);
  EXPECT_EQ(read(1), 0u);
  EXPECT_EQ(st.hits.load(), 5u);
  EXPECT_EQ(st.misses.load(), 6u);
  EXPECT_EQ(st.evictions.load(), 3u);
  EXPECT_EQ(st.writebacks.load(), 1u);
  EXPECT_EQ(st.records.load(), 1u);
  EXPECT_EQ(pool->FrameOf(3), 0);
  EXPECT_EQ(pool->FrameOf(0), 1);
  EXPECT_EQ(pool->FrameOf(1), 2);
  EXPECT_EQ(pool->FrameOf(2), -1);
  EXPECT_GE(pool->FlushedLsn(), u.lsn);
}

// Threads (each with its requests) read and update a skewed set of pages
// through a pool much smaller than the file, so pages are evicted, written
// back and reread while others wait for them.
template <Design D>
void ReadsSeeLastCommit(const Config& c) {
  constexpr uint32_t kPages = 24, kFrames = 5;
  constexpr int kThreads = 4, kOpsPerRequest = 60;
  TempDir dir(kPages);
  auto pool = OpenPool<D>(c, dir, kPages, kFrames);
  ASSERT_NE(pool, nullptr);
  std::vector<std::atomic<uint64_t>> committed(kPages), started(kPages);
  std::atomic<int64_t> progress{0};
  std::atomic<int> failures{0};
  ringlock::testing::StallWatchdog watchdog(progress, std::chrono::seconds(20), [&] {
    return std::string(c.name) + ": pool operations stopped progressing";
  });
  using Committed = typename BufferPool<D>::Committed;
  using Record = typename BufferPool<D>::Record;
  const int log_fd = pool->log_fd();

  struct Ops {
    static uring::Task<void> Request(BufferPool<D>& pool, uint64_t seed, int n,
                                     std::vector<std::atomic<uint64_t>>& committed,
                                     std::vector<std::atomic<uint64_t>>& started,
                                     std::atomic<int64_t>& progress, std::atomic<int>& failures,
                                     int log_fd, int* done) {
      uint64_t x = seed;
      for (int i = 0; i < n; ++i) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        const uint32_t r = static_cast<uint32_t>(x >> 33);
        const uint32_t p = (r % 4 == 0) ? r % kPages : r % 6;  // hot pages 0..5
        if ((r >> 8) % 5 < 2) {
          started[p].fetch_add(1);
          const Committed u = co_await pool.Update(p);
          committed[p].fetch_add(1);
          Record rec{};
          // Returned only once the log on disk holds the record.
          if (pool.FlushedLsn() < u.lsn ||
              pread(log_fd, &rec, sizeof(rec), static_cast<off_t>(u.lsn - sizeof(rec))) !=
                  sizeof(rec) ||
              rec.page != p || rec.version != u.version) {
            failures.fetch_add(1);
          }
        } else {
          const uint64_t lo = committed[p].load();
          const uint64_t v = co_await pool.Read(p);
          const uint64_t hi = started[p].load();
          if (v < lo || v > hi) failures.fetch_add(1);  // a lost or phantom update
        }
        progress.fetch_add(1);
      }
      ++*done;
    }
  };

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      int done = 0;
      if (!NeedsLoop(c)) {
        RunSync(Ops::Request(*pool, 17 + t, kOpsPerRequest, committed, started, progress, failures,
                             log_fd, &done));
        return;
      }
      auto loop = ringlock::testing::MakeLoop(c.loop);
      if (loop == nullptr) return;
      for (int k = 0; k < c.per_thread; ++k) {
        loop->Spawn(Ops::Request(*pool, 1000 * t + 31 * k + 5, kOpsPerRequest, committed, started,
                                 progress, failures, log_fd, &done));
      }
      loop->RunUntil([&] { return done == c.per_thread; });
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0) << "a read missed a committed update, or a commit returned "
                                   "before its record was on disk";

  const int requests = kThreads * (NeedsLoop(c) ? c.per_thread : 1);
  const uint64_t ops = static_cast<uint64_t>(requests) * kOpsPerRequest;
  uint64_t updates = 0;
  for (uint32_t p = 0; p < kPages; ++p) updates += committed[p].load();
  const auto& st = pool->stats();
  EXPECT_EQ(st.hits.load() + st.misses.load(), ops);  // one fix per operation
  EXPECT_GT(st.evictions.load(), 0u);
  EXPECT_GT(st.writebacks.load(), 0u);
  EXPECT_EQ(st.records.load(), updates);

  // The log holds every page's versions 1, 2, ... in order.
  std::vector<uint64_t> last(kPages, 0);
  for (uint64_t i = 0; i < updates; ++i) {
    Record rec{};
    ASSERT_EQ(pread(log_fd, &rec, sizeof(rec), static_cast<off_t>(i * sizeof(rec))),
              static_cast<ssize_t>(sizeof(rec)));
    ASSERT_LT(rec.page, kPages);
    ASSERT_EQ(rec.version, last[rec.page] + 1) << "page " << rec.page;
    last[rec.page] = rec.version;
  }
  // Written back, the file holds the last committed version of every page.
  pool->FlushAll();
  const int fd = open(dir.data().c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  for (uint32_t p = 0; p < kPages; ++p) {
    EXPECT_EQ(VersionOnDisk(fd, p), committed[p].load()) << "page " << p;
    EXPECT_EQ(last[p], committed[p].load()) << "page " << p;
  }
  close(fd);
}

class BufferPoolTest : public ::testing::TestWithParam<Config> {};

template <template <Design> class F>
void Dispatch(const Config& c) {
  switch (c.design) {
    case Design::kStd:
      return F<Design::kStd>::Run(c);
    case Design::kFutex:
      return F<Design::kFutex>::Run(c);
    case Design::kRing:
      return F<Design::kRing>::Run(c);
  }
}
template <Design D>
struct Scripted {
  static void Run(const Config& c) { ScriptedClockCounts<D>(c); }
};
template <Design D>
struct Concurrent {
  static void Run(const Config& c) { ReadsSeeLastCommit<D>(c); }
};

TEST_P(BufferPoolTest, ClockEvictionCountsOnAScriptedSequence) { Dispatch<Scripted>(GetParam()); }

TEST_P(BufferPoolTest, ReadsSeeTheLastCommitAndCommitsWaitForTheLog) {
  Dispatch<Concurrent>(GetParam());
}

INSTANTIATE_TEST_SUITE_P(Builds, BufferPoolTest, ::testing::ValuesIn(kConfigs),
                         [](const ::testing::TestParamInfo<Config>& i) { return i.param.name; });

}  // namespace
}  // namespace ringlock::buffer_pool
