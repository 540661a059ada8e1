// `bazel run //:filecopy` (no flags): copies a generated tree of files with a
// ringlock-guarded worker pool, checks every byte, then shows one event loop
// waiting for a lock and a read at once.
//
// `bazel run //:filecopy -- DST_DIR SRC...` copies real files into DST_DIR.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "filecopy.h"
#include "locks/mutex.h"
#include "uring/event_loop.h"

namespace fs = std::filesystem;

namespace {

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

int CopyDemo() {
  const fs::path dir = fs::temp_directory_path() /
                       ("ringlock-filecopy-" + std::to_string(getpid()));
  fs::create_directories(dir / "src");
  fs::create_directories(dir / "dst");
  std::mt19937 rng(42);
  std::vector<filecopy::Job> jobs;
  int64_t total = 0;
  for (int i = 0; i < 32; ++i) {
    const size_t size = std::uniform_int_distribution<size_t>(0, 512 * 1024)(rng);
    std::string data(size, '\0');
    for (char& c : data) c = static_cast<char>(rng());
    const std::string name = "file" + std::to_string(i);
    std::ofstream(dir / "src" / name, std::ios::binary) << data;
    jobs.push_back({(dir / "src" / name).string(), (dir / "dst" / name).string()});
    total += static_cast<int64_t>(size);
  }
  absl::StatusOr<filecopy::Stats> stats = filecopy::CopyFiles(jobs, /*workers=*/4);
  if (!stats.ok()) {
    std::fprintf(stderr, "copy failed: %s\n", stats.status().ToString().c_str());
    return 1;
  }
  int mismatches = 0;
  for (const filecopy::Job& job : jobs) mismatches += Slurp(job.src) != Slurp(job.dst);
  fs::remove_all(dir);
  std::printf("copied %lld files, %lld bytes in %lld chunks with 4 workers "
              "(expected %zu files, %lld bytes); %d mismatches\n",
              static_cast<long long>(stats->files), static_cast<long long>(stats->bytes),
              static_cast<long long>(stats->chunks), jobs.size(),
              static_cast<long long>(total), mismatches);
  return mismatches == 0 && stats->bytes == total &&
                 stats->files == static_cast<int64_t>(jobs.size())
             ? 0
             : 1;
}

int LockOrReadDemo() {
  auto loop = ringlock::uring::EventLoop::Create();
  if (!loop.ok()) {
    std::fprintf(stderr, "no event loop: %s\n", loop.status().ToString().c_str());
    return 1;
  }
  int p[2];
  if (pipe(p) != 0) return 1;
  ringlock::Mutex mu;
  std::atomic<bool> held{false};
  // Another thread holds the lock, then feeds the pipe, then (once the read
  // has been seen) lets the lock go.
  std::atomic<bool> read_done{false};
  std::thread other([&] {
    mu.lock();
    held = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (write(p[1], "ping", 4) != 4) std::abort();
    while (!read_done) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    mu.unlock();
  });
  while (!held) std::this_thread::yield();
  auto r = filecopy::LockOrRead(**loop, mu, p[0], 64, [&](std::string_view what) {
    std::printf("  loop: %.*s finished\n", static_cast<int>(what.size()), what.data());
    if (what == "read") read_done = true;
  });
  other.join();
  close(p[0]);
  close(p[1]);
  if (!r.ok()) {
    std::fprintf(stderr, "lock-or-read failed: %s\n", r.status().ToString().c_str());
    return 1;
  }
  std::printf("lock-or-read: read \"%s\" first, then got the lock\n", r->data.c_str());
  return r->order == std::vector<std::string>{"read", "lock"} && r->data == "ping" ? 0 : 1;
}

int CopyArgs(int argc, char** argv) {
  const fs::path dst = argv[1];
  std::vector<filecopy::Job> jobs;
  for (int i = 2; i < argc; ++i) {
    jobs.push_back({argv[i], (dst / fs::path(argv[i]).filename()).string()});
  }
  absl::StatusOr<filecopy::Stats> stats = filecopy::CopyFiles(jobs, /*workers=*/4);
  if (!stats.ok()) {
    std::fprintf(stderr, "%s\n", stats.status().ToString().c_str());
    return 1;
  }
  std::printf("copied %lld files, %lld bytes\n", static_cast<long long>(stats->files),
              static_cast<long long>(stats->bytes));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3) return CopyArgs(argc, argv);
  if (argc == 2) {
    std::fprintf(stderr, "usage: %s [DST_DIR SRC...]\n", argv[0]);
    return 2;
  }
  const int copy = CopyDemo();
  const int race = LockOrReadDemo();
  return copy != 0 || race != 0 ? 1 : 0;
}
