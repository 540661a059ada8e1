// bench/uring_bench_util.h — small helpers shared by the io_uring benchmarks:
// percentiles, per-thread rusage, an exact per-thread syscall counter, and
// the calling thread's event loop.
#ifndef RINGLOCK_BENCH_URING_BENCH_UTIL_H_
#define RINGLOCK_BENCH_URING_BENCH_UTIL_H_

#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <vector>

#include "uring/event_loop.h"

namespace ringlock::bench {

// The calling thread's EventLoop; `emulated`: one that emulates io_uring (as
// where io_uring is unavailable). A benchmark cannot run without it: abort.
inline std::unique_ptr<uring::EventLoop> MakeLoopOrDie(bool emulated = false) {
  uring::EventLoopOptions options;
  if (emulated) options.ring = uring::RingMode::kEmulated;
  auto loop = uring::EventLoop::Create(options);
  if (!loop.ok()) {
    std::fprintf(stderr, "EventLoop::Create: %s\n", loop.status().ToString().c_str());
    std::abort();
  }
  return *std::move(loop);
}

inline int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// p in [0, 100]; sorts `v` in place. Nearest-rank.
inline double Percentile(std::vector<int64_t>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t idx = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return static_cast<double>(v[std::min(idx, v.size() - 1)]);
}

// True while the thread `tid` of this process is asleep in the kernel
// (state S in /proc/self/task/<tid>/stat).
inline bool AsleepInKernel(pid_t tid) {
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/self/task/%d/stat", static_cast<int>(tid));
  FILE* f = std::fopen(path, "r");
  if (f == nullptr) return false;
  char buf[512];
  const size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
  std::fclose(f);
  buf[n] = 0;
  const char* p = std::strrchr(buf, ')');
  return p != nullptr && p[1] == ' ' && p[2] == 'S';
}

struct ThreadUsage {
  long nvcsw = 0, nivcsw = 0;
  static ThreadUsage Now() {
    rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return {ru.ru_nvcsw, ru.ru_nivcsw};
  }
};

// Counts the calling thread's system calls (tracepoint raw_syscalls:sys_enter
// through perf_event_open), and with kWithThreadsItCreates also those of every
// thread it creates afterwards (perf's inherit: open it before starting them).
// Needs root or perf_event_paranoid <= -1 and tracefs; ok() is false
// otherwise and the count reads -1.
class SyscallCounter {
 public:
  enum Scope { kThisThread, kWithThreadsItCreates };
  explicit SyscallCounter(Scope scope = kThisThread) {
    int id = ReadTracepointId();
    if (id < 0) return;
    perf_event_attr attr{};
    attr.type = PERF_TYPE_TRACEPOINT;
    attr.size = sizeof(attr);
    attr.config = static_cast<uint64_t>(id);
    attr.disabled = 1;
    attr.inherit = scope == kWithThreadsItCreates ? 1 : 0;
    attr.exclude_hv = 1;
    fd_ = static_cast<int>(syscall(SYS_perf_event_open, &attr, 0 /*this thread*/, -1, -1, 0));
    if (fd_ >= 0) ioctl(fd_, PERF_EVENT_IOC_ENABLE, 0);
  }
  ~SyscallCounter() {
    if (fd_ >= 0) close(fd_);
  }
  SyscallCounter(const SyscallCounter&) = delete;
  SyscallCounter& operator=(const SyscallCounter&) = delete;
  bool ok() const { return fd_ >= 0; }
  // Syscalls so far (each read is itself one syscall, counted in the next).
  int64_t Read() const {
    if (fd_ < 0) return -1;
    uint64_t v = 0;
    if (read(fd_, &v, sizeof(v)) != sizeof(v)) return -1;
    return static_cast<int64_t>(v);
  }

 private:
  static int ReadTracepointId() {
    for (const char* path : {"/sys/kernel/tracing/events/raw_syscalls/sys_enter/id",
                             "/sys/kernel/debug/tracing/events/raw_syscalls/sys_enter/id"}) {
      if (FILE* f = std::fopen(path, "r")) {
        int id = -1;
        if (std::fscanf(f, "%d", &id) != 1) id = -1;
        std::fclose(f);
        if (id >= 0) return id;
      }
    }
    return -1;
  }
  int fd_ = -1;
};

// The short critical section of bench/mutex_bench: LCG steps.
inline uint64_t Lcg(uint64_t x, int steps) {
  for (int i = 0; i < steps; ++i) x = x * 6364136223846793005ull + 1442695040888963407ull;
  return x;
}

}  // namespace ringlock::bench

#endif  // RINGLOCK_BENCH_URING_BENCH_UTIL_H_
