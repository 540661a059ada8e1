// filecopy's behaviour, through ringlock's public labels only.
#include "filecopy.h"

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "locks/async.h"
#include "locks/mutex.h"
#include "uring/event_loop.h"
#include "uring/task.h"

namespace filecopy {
namespace {

namespace fs = std::filesystem;
using ringlock::uring::EventLoop;
using ringlock::uring::Task;

fs::path TestDir() {
  const char* tmp = std::getenv("TEST_TMPDIR");
  fs::path dir = fs::path(tmp ? tmp : "/tmp") / ("filecopy-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(CopyFiles, EveryByteAndExactCounters) {
  const fs::path dir = TestDir();
  constexpr size_t kChunk = 4096;
  // Edge sizes around the chunk, plus random ones.
  std::vector<size_t> sizes = {0, 1, kChunk - 1, kChunk, kChunk + 1, 3 * kChunk, 1 << 20};
  std::mt19937 rng(7);
  while (sizes.size() < 40) sizes.push_back(std::uniform_int_distribution<size_t>(0, 200000)(rng));

  std::vector<Job> jobs;
  int64_t bytes = 0, chunks = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    std::string data(sizes[i], '\0');
    for (char& c : data) c = static_cast<char>(rng());
    const fs::path src = dir / ("in" + std::to_string(i));
    std::ofstream(src, std::ios::binary) << data;
    jobs.push_back({src.string(), (dir / ("out" + std::to_string(i))).string()});
    bytes += static_cast<int64_t>(sizes[i]);
    chunks += static_cast<int64_t>((sizes[i] + kChunk - 1) / kChunk);
  }

  absl::StatusOr<Stats> stats = CopyFiles(jobs, /*workers=*/4, kChunk);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->files, static_cast<int64_t>(jobs.size()));
  EXPECT_EQ(stats->bytes, bytes);
  // One locked update per chunk read, from 4 threads: exact only if the
  // ringlock::Mutex excludes.
  EXPECT_EQ(stats->chunks, chunks);
  for (const Job& job : jobs) {
    EXPECT_EQ(fs::file_size(job.dst), fs::file_size(job.src)) << job.dst;
    EXPECT_TRUE(Slurp(job.src) == Slurp(job.dst)) << job.dst;
  }
}

TEST(CopyFiles, ReportsAMissingSource) {
  const fs::path dir = TestDir();
  std::vector<Job> jobs = {{(dir / "nope").string(), (dir / "out").string()}};
  absl::StatusOr<Stats> stats = CopyFiles(jobs, 2);
  EXPECT_TRUE(absl::IsNotFound(stats.status())) << stats.status();
}

// Coroutines on two loops and two plain threads share one ringlock::Mutex
// (where the program would have a std::mutex): the counter is exact.
Task<void> Count(EventLoop& loop, ringlock::Mutex& mu, int64_t& counter, int n) {
  for (int i = 0; i < n; ++i) {
    std::unique_lock<ringlock::Mutex> lock = co_await mu.lock_async(loop);
    ++counter;
  }
}

TEST(RinglockMutex, CounterIsExact) {
  ringlock::Mutex mu;
  int64_t counter = 0;
  constexpr int kIters = 5000;
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      auto loop = EventLoop::Create();
      ASSERT_TRUE(loop.ok()) << loop.status();
      for (int c = 0; c < 3; ++c) (*loop)->Spawn(Count(**loop, mu, counter, kIters));
      (*loop)->Stop();
      (*loop)->Run();
    });
    threads.emplace_back([&] {
      for (int i = 0; i < kIters; ++i) {
        std::lock_guard<ringlock::Mutex> lock(mu);
        ++counter;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(counter, int64_t{2 * 3 + 2} * kIters);
  EXPECT_FALSE(mu.is_locked());
}

// One loop waits for a lock and a read at once. `first` happens first (the
// other side waits until the loop has seen it), then the other one.
void RunLockOrRead(bool read_first) {
  auto loop = EventLoop::Create();
  ASSERT_TRUE(loop.ok()) << loop.status();
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  ringlock::Mutex mu;
  std::atomic<bool> held{false}, read_seen{false}, lock_seen{false};
  std::thread other([&] {
    mu.lock();
    held = true;
    if (read_first) {
      ASSERT_EQ(write(p[1], "data", 4), 4);
      while (!read_seen) std::this_thread::yield();
      EXPECT_FALSE(lock_seen);
      mu.unlock();
    } else {
      mu.unlock();
      while (!lock_seen) std::this_thread::yield();
      EXPECT_FALSE(read_seen);
      ASSERT_EQ(write(p[1], "data", 4), 4);
    }
  });
  while (!held) std::this_thread::yield();
  absl::StatusOr<LockOrReadResult> r =
      LockOrRead(**loop, mu, p[0], 16, [&](std::string_view what) {
        (what == "read" ? read_seen : lock_seen) = true;
      });
  other.join();
  close(p[0]);
  close(p[1]);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->data, "data");
  if (read_first) {
    EXPECT_EQ(r->order, (std::vector<std::string>{"read", "lock"}));
  } else {
    EXPECT_EQ(r->order, (std::vector<std::string>{"lock", "read"}));
  }
  EXPECT_FALSE(mu.is_locked());
}

TEST(LockOrRead, ReadFirst) { RunLockOrRead(/*read_first=*/true); }
TEST(LockOrRead, LockFirst) { RunLockOrRead(/*read_first=*/false); }

}  // namespace
}  // namespace filecopy
