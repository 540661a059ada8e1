// bench/async_mutex_bench — two EventLoops on two threads, K coroutines each,
// contending ONE lock with a short critical section (10 LCG steps inside,
// 20 outside, as bench/mutex_bench). items_per_second = lock acquisitions/s.
//
// Peers, all in this run:
//   Ringlock_LockAsync       co_await mu.lock_async(loop) on a ringlock::Mutex
//                            (IORING_OP_FUTEX_WAIT when contended)
//   Ringlock_RingBlocking    std::lock_guard<ringlock::Mutex> inside the
//                            coroutines: the loop thread blocks in its ring
//   EventfdMutex_Handoff     the obvious pre-6.7 async mutex: std::mutex-guarded
//                            FIFO of waiters, each parked on its own eventfd
//                            through uring::Read; unlock pops one, hands it the
//                            lock and write(2)s its eventfd
//   EventfdMutex_Barging     same, but unlock frees the lock and the woken
//                            waiter retries (newcomers may barge)
//   StdMutex_Blocking        std::lock_guard<std::mutex> inside the coroutines:
//                            the loop thread blocks in futex(2)
// Arg: K coroutines per loop. Each iteration runs both loops for a fixed
// window (kWindow) and counts acquisitions; manual time is from both loops
// ready to both done.
//
// Ringlock_RingBlocking with K>1 nests ring waits: a coroutine blocked in
// lock() dispatches the loop's other coroutines, which block in lock() again
// above it. This benchmark once hung there (an outer waiter's wake stuck
// under an inner wait); the ring wait backend now completes outer waits under
// nested ones (RingBlockingTest.NestedWaitsOnOneMutex, README_uring.md).
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "benchmark/benchmark.h"
#include "bench/mutex_stats_counters.h"
#include "bench/uring_bench_util.h"
#include "locks/async.h"
#include "locks/mutex.h"
#include "uring/event_loop.h"
#include "uring/io.h"
#include "uring/task.h"

namespace ringlock::bench {
namespace {

using uring::EventLoop;
using uring::Task;

constexpr int kInsideSteps = 10;
constexpr int kOutsideSteps = 20;
// How long both loops contend per benchmark iteration.
constexpr auto kWindow = std::chrono::milliseconds(100);

// Data the lock protects.
struct Protected {
  uint64_t x = 1;
  int64_t count = 0;
};

std::atomic<uint64_t> g_sink{0};

// ---- The eventfd-based async mutex (the pre-6.7 design) --------------------
class EventfdAsyncMutex {
 public:
  explicit EventfdAsyncMutex(bool handoff) : handoff_(handoff) {}

  // True: the caller owns the lock. False: the caller was queued and must
  // wait for its eventfd; with handoff it then owns the lock, without it
  // must call TryLockOrEnqueue again.
  bool TryLockOrEnqueue(int efd) {
    std::lock_guard<std::mutex> g(mu_);
    if (!locked_) {
      locked_ = true;
      return true;
    }
    waiters_.push_back(efd);
    return false;
  }

  void Unlock() {
    int efd;
    {
      std::lock_guard<std::mutex> g(mu_);
      if (waiters_.empty()) {
        locked_ = false;
        return;
      }
      efd = waiters_.front();
      waiters_.pop_front();
      if (!handoff_) locked_ = false;  // else: ownership passes to the waiter
    }
    const uint64_t one = 1;
    if (write(efd, &one, sizeof(one)) != sizeof(one)) std::abort();
  }

  bool handoff() const { return handoff_; }

 private:
  const bool handoff_;
  std::mutex mu_;
  bool locked_ = false;
  std::deque<int> waiters_;
};

// ---- Workers ---------------------------------------------------------------

Task<void> LockAsyncWorker(EventLoop& loop, Mutex& mu, Protected& p, const std::atomic<bool>& stop,
                           uint64_t seed, int64_t& mine) {
  uint64_t local = seed;
  while (!stop.load(std::memory_order_relaxed)) {
    {
      AsyncMutexLock g = co_await mu.lock_async(loop);
      p.x = Lcg(p.x, kInsideSteps);
      ++p.count;
    }
    ++mine;
    local = Lcg(local, kOutsideSteps);
  }
  g_sink.fetch_add(local, std::memory_order_relaxed);
}

template <class Lock>
Task<void> BlockingWorker(Lock& mu, Protected& p, const std::atomic<bool>& stop, uint64_t seed,
                          int64_t& mine) {
  uint64_t local = seed;
  while (!stop.load(std::memory_order_relaxed)) {
    {
      std::lock_guard<Lock> g(mu);
      p.x = Lcg(p.x, kInsideSteps);
      ++p.count;
    }
    ++mine;
    local = Lcg(local, kOutsideSteps);
  }
  g_sink.fetch_add(local, std::memory_order_relaxed);
  co_return;
}

Task<void> EventfdWorker(EventLoop& loop, EventfdAsyncMutex& mu, Protected& p,
                         const std::atomic<bool>& stop, uint64_t seed, int64_t& mine) {
  const int efd = eventfd(0, EFD_CLOEXEC);
  if (efd < 0) std::abort();
  uint64_t local = seed;
  while (!stop.load(std::memory_order_relaxed)) {
    while (!mu.TryLockOrEnqueue(efd)) {
      uint64_t buf;
      if (co_await uring::Read(loop, efd, &buf, sizeof(buf)) != sizeof(buf)) std::abort();
      if (mu.handoff()) break;  // woken = owner
    }
    p.x = Lcg(p.x, kInsideSteps);
    ++p.count;
    mu.Unlock();
    ++mine;
    local = Lcg(local, kOutsideSteps);
  }
  close(efd);
  g_sink.fetch_add(local, std::memory_order_relaxed);
}

enum class Kind {
  kLockAsync,
  kLockAsyncEmulated,  // lock_async on loops that emulate io_uring (epoll)
  kRingBlocking,
  kEventfdHandoff,
  kEventfdBarging,
  kStdMutex,
};

// Runs one benchmark iteration: two loop threads, K coroutines each.
// Returns the seconds between both loops being ready and both being done.
int64_t ThreadCpuNs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// Adds both loop threads' CPU time during the window to *cpu_ns.
double RunOnce(Kind kind, int loops, int k, Protected& p, Mutex& rmu, std::mutex& smu,
               EventfdAsyncMutex& emu, int64_t* cpu_ns, int64_t* minority_ops) {
  std::atomic<int> ready{0};
  std::atomic<bool> stop{false};
  int64_t start[2] = {}, end[2] = {}, cpu[2] = {}, mine[2] = {};
  auto body = [&](int t) {
    std::unique_ptr<EventLoop> owned = MakeLoopOrDie(kind == Kind::kLockAsyncEmulated);
    EventLoop& loop = *owned;
    for (int c = 0; c < k; ++c) {
      const uint64_t seed = 1000u * t + c + 1;
      switch (kind) {
        case Kind::kLockAsync:
        case Kind::kLockAsyncEmulated:
          loop.Spawn(LockAsyncWorker(loop, rmu, p, stop, seed, mine[t]));
          break;
        case Kind::kRingBlocking:
          loop.Spawn(BlockingWorker(rmu, p, stop, seed, mine[t]));
          break;
        case Kind::kStdMutex:
          loop.Spawn(BlockingWorker(smu, p, stop, seed, mine[t]));
          break;
        case Kind::kEventfdHandoff:
        case Kind::kEventfdBarging:
          loop.Spawn(EventfdWorker(loop, emu, p, stop, seed, mine[t]));
          break;
      }
    }
    ready.fetch_add(1);
    while (ready.load() < loops) std::this_thread::yield();
    start[t] = NowNs();
    cpu[t] = ThreadCpuNs();
    loop.Stop();
    loop.Run();
    end[t] = NowNs();
    cpu[t] = ThreadCpuNs() - cpu[t];
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < loops; ++t) threads.emplace_back(body, t);
  while (ready.load() < loops) std::this_thread::yield();
  std::this_thread::sleep_for(kWindow);
  stop.store(true);
  for (auto& t : threads) t.join();
  *minority_ops += loops == 2 ? std::min(mine[0], mine[1]) : 0;
  int64_t first = start[0], last = end[0];
  for (int t = 0; t < loops; ++t) {
    *cpu_ns += cpu[t];
    first = std::min(first, start[t]);
    last = std::max(last, end[t]);
  }
  return static_cast<double>(last - first) * 1e-9;
}

// loops = 2: the contended benchmark. loops = 1: one loop alone (K=1), the
// uncontended cost of each design's fast path, for reference.
void Run(benchmark::State& state, Kind kind, int loops) {
  const int k = static_cast<int>(state.range(0));
  Protected p;
  Mutex rmu;
  std::mutex smu;
  EventfdAsyncMutex emu(/*handoff=*/kind == Kind::kEventfdHandoff);
  int64_t cpu_ns = 0, minority_ops = 0;
  double wall = 0;
  for (auto _ : state) {
    const double t = RunOnce(kind, loops, k, p, rmu, smu, emu, &cpu_ns, &minority_ops);
    wall += t;
    state.SetIterationTime(t);
  }
  state.SetItemsProcessed(p.count);
  // CPUs the loop threads got on average (2.0 = both ran all the time):
  // well below 2 they rarely ran at once, so rarely contended.
  state.counters["loop_cpus"] = wall > 0 ? static_cast<double>(cpu_ns) * 1e-9 / wall : 0;
  // Share of the acquisitions made by the loop that made fewer (0.5 = even).
  state.counters["minority_share"] =
      p.count > 0 ? static_cast<double>(minority_ops) / static_cast<double>(p.count) : 0;
  // Acquisitions per CPU-second of the loop threads: the cost per lock
  // acquisition, less sensitive than ops/s to what else the machine runs.
  state.counters["ops_per_cpu_s"] =
      cpu_ns > 0 ? static_cast<double>(p.count) / (static_cast<double>(cpu_ns) * 1e-9) : 0;
  state.counters["coroutines_per_loop"] = k;
  ReportMutexStats(state, static_cast<double>(p.count));  // bench-only builds
}

void BM_Contended(benchmark::State& state, Kind kind) { Run(state, kind, 2); }
void BM_OneLoop(benchmark::State& state, Kind kind) { Run(state, kind, 1); }

void Args(benchmark::internal::Benchmark* b) {
  b->ArgName("K")->Arg(1)->Arg(4)->Arg(16);
}
void Common(benchmark::internal::Benchmark* b) {
  b->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(5);
}

BENCHMARK_CAPTURE(BM_Contended, Ringlock_LockAsync, Kind::kLockAsync)->Apply(Args)->Apply(Common);
BENCHMARK_CAPTURE(BM_Contended, Ringlock_LockAsync_Emulated, Kind::kLockAsyncEmulated)
    ->Apply(Args)->Apply(Common);
BENCHMARK_CAPTURE(BM_Contended, Ringlock_RingBlocking, Kind::kRingBlocking)
    ->Apply(Args)->Apply(Common);
BENCHMARK_CAPTURE(BM_Contended, EventfdMutex_Handoff, Kind::kEventfdHandoff)
    ->Apply(Args)->Apply(Common);
BENCHMARK_CAPTURE(BM_Contended, EventfdMutex_Barging, Kind::kEventfdBarging)
    ->Apply(Args)->Apply(Common);
BENCHMARK_CAPTURE(BM_Contended, StdMutex_Blocking, Kind::kStdMutex)->Apply(Args)->Apply(Common);

#define ONE_LOOP(name, kind) \
  BENCHMARK_CAPTURE(BM_OneLoop, name, kind)->ArgName("K")->Arg(1)->Apply(Common)
ONE_LOOP(Ringlock_LockAsync, Kind::kLockAsync);
ONE_LOOP(Ringlock_LockAsync_Emulated, Kind::kLockAsyncEmulated);
ONE_LOOP(Ringlock_RingBlocking, Kind::kRingBlocking);
ONE_LOOP(EventfdMutex_Handoff, Kind::kEventfdHandoff);
ONE_LOOP(EventfdMutex_Barging, Kind::kEventfdBarging);
ONE_LOOP(StdMutex_Blocking, Kind::kStdMutex);

}  // namespace
}  // namespace ringlock::bench

BENCHMARK_MAIN();
