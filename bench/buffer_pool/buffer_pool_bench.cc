// bench/buffer_pool/buffer_pool_bench — the buffer pool of buffer_pool.h under
// a skewed read/update mix, designs (a) std, (b) futex, (c) ring in one run.
//
// Workers pick pages from a zipfian distribution over the data file and read
// (or, with probability --update, update and commit) them. (a) and (b) serve
// one request per worker thread at a time; (c) runs --inflight requests per
// worker as coroutines on the worker's EventLoop. Repetitions interleave the
// designs and worker counts; each run opens a fresh pool (cold frames) over
// the same data file, warms up, then measures for --seconds.
// Reported per run: ops/s, p50/p99 operation latency, voluntary and
// involuntary context switches per op (getrusage RUSAGE_SELF: every thread of
// the process), syscalls per op (perf tracepoint raw_syscalls:sys_enter,
// inherited by every thread the run starts: workers and the log flusher; -1
// without perf), hit rate, log flushes per second. Then medians and spread
// (min..max) over the repetitions, and the in-run ratios c/a.
//
//   --deadlock=MODE|all   instead: the deadlock demo (buffer_pool.h); `all`
//                         runs every mode in a child process and reports
//                         which hung (found by the watchdog) and which
//                         completed; exits 0 if the futex(2) modes hung and
//                         the ring modes completed.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench/buffer_pool/buffer_pool.h"
#include "bench/uring_bench_util.h"
#include "locks/mutex.h"
#include "uring/event_loop.h"
#include "uring/task.h"

namespace ringlock::buffer_pool {
namespace {

struct Config {
  std::string dir;
  uint32_t file_mb = 256;
  uint32_t frames = 4096;
  double seconds = 1.5;
  double warmup = 0.3;
  int reps = 3;
  std::vector<int> workers = {4, 16};
  std::string designs = "abc";
  int inflight = 4;
  double update = 0.2;
  double theta = 0.99;
};

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

class Zipf {
 public:
  Zipf(uint32_t n, double theta) : cdf_(n) {
    double sum = 0;
    for (uint32_t i = 0; i < n; ++i) sum += 1.0 / std::pow(i + 1.0, theta);
    double acc = 0;
    for (uint32_t i = 0; i < n; ++i) {
      acc += 1.0 / std::pow(i + 1.0, theta) / sum;
      cdf_[i] = acc;
    }
  }
  // `u` uniform in [0, 1): a page, hot ranks scattered over the file.
  uint32_t Page(double u) const {
    const auto it = std::lower_bound(cdf_.begin(), cdf_.end(), u);
    const uint64_t rank = std::min<uint64_t>(it - cdf_.begin(), cdf_.size() - 1);
    return static_cast<uint32_t>((rank * 2654435761u) % cdf_.size());
  }

 private:
  std::vector<double> cdf_;
};

struct Rng {
  uint64_t s;
  uint64_t Next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 2685821657736338717ull;
  }
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
};

struct Shared {
  const Zipf* zipf;
  double update;
  std::atomic<bool> stop{false};
  std::atomic<bool> measuring{false};
};

struct alignas(64) Worker {
  std::vector<int64_t> lat;
  std::atomic<int64_t> ops{0};
};

template <Design D>
uring::Task<void> Client(BufferPool<D>& pool, Shared& sh, Worker& w, uint64_t seed, int* done) {
  Rng rng{seed | 1};
  while (!sh.stop.load(std::memory_order_relaxed)) {
    const uint32_t page = sh.zipf->Page(rng.Uniform());
    const bool update = rng.Uniform() < sh.update;
    const int64_t t0 = NowNs();
    if (update) {
      (void)co_await pool.Update(page);
    } else {
      (void)co_await pool.Read(page);
    }
    if (sh.measuring.load(std::memory_order_relaxed)) {
      w.lat.push_back(NowNs() - t0);
      w.ops.fetch_add(1, std::memory_order_relaxed);
    }
  }
  ++*done;
}

struct Result {
  double ops_per_s = 0, p50_us = 0, p99_us = 0, vcs_per_op = 0, ivcs_per_op = 0,
         sys_per_op = 0, hit_rate = 0, flushes_per_s = 0;
  bool direct = false;
};

double Pct(std::vector<int64_t>& v, double p) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * (v.size() - 1) + 0.5));
  std::nth_element(v.begin(), v.begin() + k, v.end());
  return static_cast<double>(v[k]);
}

template <Design D>
Result RunOnce(const Config& cfg, const Zipf& zipf, int workers, const std::string& data_path) {
  bench::SyscallCounter sys(bench::SyscallCounter::kWithThreadsItCreates);  // before the run's threads
  Options o;
  o.dir = cfg.dir;
  o.file_pages = cfg.file_mb * (1024 * 1024 / kPageSize);
  o.frames = cfg.frames;
  o.ring_io = D == Design::kRing;
  o.async_waits = D == Design::kRing;
  o.verify_all = false;
  auto opened = BufferPool<D>::Open(data_path, o);
  if (!opened.ok()) Die(opened.status().ToString().c_str(), 0);
  BufferPool<D>& pool = **opened;
  Shared sh;
  sh.zipf = &zipf;
  sh.update = cfg.update;
  std::unique_ptr<Worker[]> w(new Worker[workers]);
  std::vector<std::thread> threads;
  for (int i = 0; i < workers; ++i) {
    w[i].lat.reserve(1 << 18);
    threads.emplace_back([&, i] {
      const uint64_t seed = 0x9E3779B97F4A7C15ull * (i + 1);
      int done = 0;
      if constexpr (D == Design::kRing) {
        auto loop = uring::EventLoop::Create();
        if (!loop.ok()) Die("worker EventLoop::Create", 0);
        for (int k = 0; k < cfg.inflight; ++k) {
          (*loop)->Spawn(Client<D>(pool, sh, w[i], seed + 7919 * k, &done));
        }
        (*loop)->RunUntil([&] { return done == cfg.inflight; });
      } else {
        RunSync(Client<D>(pool, sh, w[i], seed, &done));
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(cfg.warmup));
  const uint64_t h0 = pool.stats().hits, m0 = pool.stats().misses, f0 = pool.stats().flushes;
  rusage r0, r1;
  getrusage(RUSAGE_SELF, &r0);
  const int64_t s0 = sys.Read();
  const int64_t t0 = NowNs();
  sh.measuring.store(true);
  std::this_thread::sleep_for(std::chrono::duration<double>(cfg.seconds));
  sh.measuring.store(false);
  const int64_t t1 = NowNs();
  const int64_t s1 = sys.Read();
  getrusage(RUSAGE_SELF, &r1);
  const uint64_t h1 = pool.stats().hits, m1 = pool.stats().misses, f1 = pool.stats().flushes;
  sh.stop.store(true);
  for (auto& t : threads) t.join();

  std::vector<int64_t> lat;
  int64_t ops = 0;
  for (int i = 0; i < workers; ++i) {
    ops += w[i].ops.load();
    lat.insert(lat.end(), w[i].lat.begin(), w[i].lat.end());
  }
  Result r;
  const double secs = static_cast<double>(t1 - t0) * 1e-9;
  const double n = std::max<int64_t>(ops, 1);
  r.ops_per_s = static_cast<double>(ops) / secs;
  r.p50_us = Pct(lat, 50) * 1e-3;
  r.p99_us = Pct(lat, 99) * 1e-3;
  r.vcs_per_op = static_cast<double>(r1.ru_nvcsw - r0.ru_nvcsw) / n;
  r.ivcs_per_op = static_cast<double>(r1.ru_nivcsw - r0.ru_nivcsw) / n;
  r.sys_per_op = s0 < 0 ? -1 : static_cast<double>(s1 - s0) / n;
  r.hit_rate = static_cast<double>(h1 - h0) / std::max<double>(1, (h1 - h0) + (m1 - m0));
  r.flushes_per_s = static_cast<double>(f1 - f0) / secs;
  r.direct = pool.direct_io();
  return r;
}

Result Run(char design, const Config& cfg, const Zipf& zipf, int workers, const std::string& path) {
  switch (design) {
    case 'a':
      return RunOnce<Design::kStd>(cfg, zipf, workers, path);
    case 'b':
      return RunOnce<Design::kFutex>(cfg, zipf, workers, path);
    default:
      return RunOnce<Design::kRing>(cfg, zipf, workers, path);
  }
}

const char* Name(char d) {
  return d == 'a' ? DesignName(Design::kStd) : d == 'b' ? DesignName(Design::kFutex) : DesignName(Design::kRing);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

int DeadlockAll(const std::string& dir, const std::string& data_path) {
  bool as_expected = true;
  for (DemoMode m : {DemoMode::kStdMutex, DemoMode::kFutex, DemoMode::kRingBlocking, DemoMode::kAsync}) {
    std::fflush(nullptr);
    const pid_t pid = fork();
    if (pid == 0) _exit(RunDeadlockDemo(m, dir, data_path, 2000));
    int status = 0;
    waitpid(pid, &status, 0);
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    const bool hung = code == kDeadlockExitCode;
    const bool expect_hang = m == DemoMode::kStdMutex || m == DemoMode::kFutex;
    std::printf("deadlock demo %-24s %s\n", DemoModeName(m),
                hung ? "HUNG (watchdog reported it)" : code == 0 ? "completed" : "failed");
    as_expected &= hung == expect_hang && (hung || code == 0);
  }
  return as_expected ? 0 : 1;
}

int Main(int argc, char** argv) {
  Config cfg;
  const char* tmp = std::getenv("TMPDIR");
  cfg.dir = tmp ? tmp : "/tmp";
  std::string deadlock;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&](const char* name) -> const char* {
      const std::string p = std::string("--") + name + "=";
      return a.rfind(p, 0) == 0 ? argv[i] + p.size() : nullptr;
    };
    if (const char* v = val("dir")) cfg.dir = v;
    else if (const char* v = val("file_mb")) cfg.file_mb = std::atoi(v);
    else if (const char* v = val("frames")) cfg.frames = std::atoi(v);
    else if (const char* v = val("seconds")) cfg.seconds = std::atof(v);
    else if (const char* v = val("warmup")) cfg.warmup = std::atof(v);
    else if (const char* v = val("reps")) cfg.reps = std::atoi(v);
    else if (const char* v = val("designs")) cfg.designs = v;
    else if (const char* v = val("inflight")) cfg.inflight = std::atoi(v);
    else if (const char* v = val("update")) cfg.update = std::atof(v);
    else if (const char* v = val("theta")) cfg.theta = std::atof(v);
    else if (const char* v = val("deadlock")) deadlock = v;
    else if (const char* v = val("workers")) {
      cfg.workers.clear();
      for (const char* p = v; *p;) {
        cfg.workers.push_back(std::atoi(p));
        while (*p && *p != ',') ++p;
        if (*p == ',') ++p;
      }
    } else {
      std::fprintf(stderr, "unknown flag %s\n", argv[i]);
      return 2;
    }
  }
  char dir_template[4096];
  std::snprintf(dir_template, sizeof(dir_template), "%s/buffer_pool_bench.XXXXXX", cfg.dir.c_str());
  if (mkdtemp(dir_template) == nullptr) {
    std::perror("mkdtemp");
    return 2;
  }
  cfg.dir = dir_template;
  const std::string data_path = cfg.dir + "/data.db";
  auto cleanup = [&] {
    unlink(data_path.c_str());
    unlink((cfg.dir + "/wal.log").c_str());
    rmdir(cfg.dir.c_str());
  };

  if (!deadlock.empty()) {
    if (absl::Status s = CreateDataFile(data_path, 8); !s.ok()) Die(s.ToString().c_str(), 0);
    int rc = 2;
    if (deadlock == "all") {
      rc = DeadlockAll(cfg.dir, data_path);
    } else {
      for (DemoMode m : {DemoMode::kStdMutex, DemoMode::kFutex, DemoMode::kRingBlocking, DemoMode::kAsync}) {
        if (deadlock == DemoModeName(m)) {
          rc = RunDeadlockDemo(m, cfg.dir, data_path, 2000);  // a hang _exits from the watchdog
          std::printf("deadlock demo %s completed\n", DemoModeName(m));
        }
      }
    }
    cleanup();
    return rc;
  }

  std::printf("memory of 1M page locks: ringlock::Mutex %zu bytes each = %.1f MiB; std::mutex %zu "
              "bytes each = %.1f MiB\n",
              sizeof(ringlock::Mutex), sizeof(ringlock::Mutex) * 1048576.0 / 1048576.0,
              sizeof(std::mutex), sizeof(std::mutex) * 1048576.0 / 1048576.0);
  const uint32_t pages = cfg.file_mb * (1024 * 1024 / kPageSize);
  std::printf("data file %u MiB (%u pages of 8 KiB) in %s; %u frames (%.0f MiB); zipf theta %.2f; "
              "update fraction %.2f; (c) runs %d requests per worker\n",
              cfg.file_mb, pages, cfg.dir.c_str(), cfg.frames, cfg.frames * kPageSize / 1048576.0,
              cfg.theta, cfg.update, cfg.inflight);
  if (absl::Status s = CreateDataFile(data_path, pages); !s.ok()) Die(s.ToString().c_str(), 0);
  const Zipf zipf(pages, cfg.theta);

  std::map<std::pair<char, int>, std::vector<Result>> all;
  bool direct = false;
  std::printf("%-4s %-8s %-8s %10s %9s %9s %8s %8s %8s %6s %8s\n", "rep", "design", "workers",
              "ops/s", "p50_us", "p99_us", "vcs/op", "ivcs/op", "sys/op", "hit", "flush/s");
  for (int rep = 0; rep < cfg.reps; ++rep) {
    for (int wk : cfg.workers) {
      for (char d : cfg.designs) {
        const Result r = Run(d, cfg, zipf, wk, data_path);
        direct = r.direct;
        all[{d, wk}].push_back(r);
        std::printf("%-4d %-8s %-8d %10.0f %9.1f %9.1f %8.3f %8.3f %8.2f %6.3f %8.0f\n", rep, Name(d), wk,
                    r.ops_per_s, r.p50_us, r.p99_us, r.vcs_per_op, r.ivcs_per_op, r.sys_per_op,
                    r.hit_rate, r.flushes_per_s);
        std::fflush(stdout);
      }
    }
  }
  std::printf("\ndata file opened %s\n", direct ? "O_DIRECT" : "buffered (O_DIRECT refused)");
  std::printf("\nmedians over %d reps [min..max]\n", cfg.reps);
  std::printf("%-8s %-8s %-26s %-22s %-22s %-22s %-10s\n", "design", "workers", "ops/s", "p50_us",
              "p99_us", "csw/op (v+iv)", "sys/op");
  for (int wk : cfg.workers) {
    for (char d : cfg.designs) {
      auto& v = all[{d, wk}];
      auto stat = [&](auto f) {
        std::vector<double> x;
        for (auto& r : v) x.push_back(f(r));
        const auto [lo, hi] = std::minmax_element(x.begin(), x.end());
        char buf[64];
        std::snprintf(buf, sizeof(buf), "%.4g [%.4g..%.4g]", Median(x), *lo, *hi);
        return std::string(buf);
      };
      std::printf("%-8s %-8d %-26s %-22s %-22s %-22s %-10s\n", Name(d), wk,
                  stat([](const Result& r) { return r.ops_per_s; }).c_str(),
                  stat([](const Result& r) { return r.p50_us; }).c_str(),
                  stat([](const Result& r) { return r.p99_us; }).c_str(),
                  stat([](const Result& r) { return r.vcs_per_op + r.ivcs_per_op; }).c_str(),
                  stat([](const Result& r) { return r.sys_per_op; }).c_str());
    }
  }
  if (cfg.designs.find('a') != std::string::npos && cfg.designs.find('c') != std::string::npos) {
    std::printf("\nc vs a, per repetition (same run), median [min..max]\n");
    for (int wk : cfg.workers) {
      auto& a = all[{'a', wk}];
      auto& c = all[{'c', wk}];
      std::vector<double> thr, csw;
      for (size_t i = 0; i < a.size(); ++i) {
        thr.push_back(c[i].ops_per_s / a[i].ops_per_s);
        csw.push_back((c[i].vcs_per_op + c[i].ivcs_per_op) / (a[i].vcs_per_op + a[i].ivcs_per_op));
      }
      std::printf("workers %-3d throughput c/a %.3f [%.3f..%.3f]  context switches per op c/a %.3f "
                  "[%.3f..%.3f]\n",
                  wk, Median(thr), *std::min_element(thr.begin(), thr.end()),
                  *std::max_element(thr.begin(), thr.end()), Median(csw),
                  *std::min_element(csw.begin(), csw.end()), *std::max_element(csw.begin(), csw.end()));
    }
  }
  cleanup();
  return 0;
}

}  // namespace
}  // namespace ringlock::buffer_pool

int main(int argc, char** argv) { return ringlock::buffer_pool::Main(argc, argv); }
