// bench/watermark_bench — one advance releases N waiters (8, 64, 512).
//
// N threads each wait until a position reaches their target; each round the
// waker checks that all N are registered and asleep in the kernel
// (/proc/.../stat state S), then advances the position by one. Waiter i
// waits for 1 + i % G, then G more each time, so each advance reaches N / G
// of them: G = 1, every waiter (all_reached); G = 8, one eighth
// (eighth_reached: the others must stay asleep). Designs:
//   Watermark_futex      ringlock::Watermark, wakes by futex(2), one call per
//                        waiter (the //locks:core build, watermark_bench_core)
//   Watermark_ring       ringlock::Watermark, the waker a plain thread: its
//                        advance_to sends the N wakes through the per-thread
//                        wake ring, in one io_uring_enter per 128 wakes
//   Watermark_loop       the same, the waker owning a uring::EventLoop: the
//                        wakes go through the loop's ring
//   Watermark_offload    Watermark_ring inside the caller's
//                        WakeBatch(kOffload): an io_uring worker performs
//                        the wakes, the waker only submits them
//   CondVar_notify_all   std::mutex + std::condition_variable: set the
//                        position under the mutex, notify_all
//   Futex_per_waiter     one futex word per waiter, woken by separate
//                        futex(2) FUTEX_WAKE calls (the hand-rolled design)
// Reported per round:
//   waker_us_p50 / _p90    the waker's wall time for the advance
//   all_awake_us_p50 / _p90 from the advance to the last released waiter
//                          running
//   waker_syscalls         the waker's syscalls during the advance (exact:
//                          perf tracepoint raw_syscalls:sys_enter; -1 if
//                          perf is not permitted)
//   waker_nvcsw / nivcsw   the waker's voluntary / involuntary context
//                          switches during the advance (RUSAGE_THREAD)
//   waiters_nvcsw / _nivcsw the waiters' context switches from the advance
//                          until every waiter is asleep again (RUSAGE_SELF
//                          less the waker's RUSAGE_THREAD): a released
//                          waiter adds one voluntary switch, a waiter woken
//                          for nothing one more
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "benchmark/benchmark.h"
#include "bench/uring_bench_util.h"
#include "locks/futex.h"
#include "locks/wake_batch.h"
#include "locks/watermark.h"
#include "uring/event_loop.h"

namespace ringlock::bench {
namespace {

enum class Design { kWatermark, kWatermarkLoop, kWatermarkOffload, kCondVar, kFutexPerWaiter };


struct ProcessUsage {
  long nvcsw = 0, nivcsw = 0;
  static ProcessUsage Now() {
    rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return {ru.ru_nvcsw, ru.ru_nivcsw};
  }
};

struct alignas(64) Waiter {
  std::atomic<int64_t> awake_ns{0};
  std::atomic<pid_t> tid{0};
  std::atomic<uint32_t> word{0};  // Futex_per_waiter: 1 = released
  std::atomic<bool> registered{false};
};

struct Shared {
  Watermark wm;
  std::mutex mu;
  std::condition_variable cv;
  uint64_t cv_position = 0;  // guarded by mu
  int cv_waiting = 0;        // guarded by mu
};

void BM_Advance(benchmark::State& state, Design design) {
  const int n = static_cast<int>(state.range(0));
  const int groups = static_cast<int>(state.range(1));  // n % groups == 0
  auto released_by = [&](int i, uint64_t round) {
    return static_cast<uint64_t>(i % groups) == (round - 1) % groups;
  };
  std::unique_ptr<Waiter[]> w(new Waiter[n]);
  Shared sh;
  std::atomic<int64_t> woken{0};
  std::atomic<bool> quit{false};

  auto wait_round = [&](int i, uint64_t target) {
    switch (design) {
      case Design::kWatermark:
      case Design::kWatermarkLoop:
      case Design::kWatermarkOffload:
        sh.wm.wait_until_reached(target);
        break;
      case Design::kCondVar: {
        std::unique_lock<std::mutex> lock(sh.mu);
        ++sh.cv_waiting;
        while (sh.cv_position < target) sh.cv.wait(lock);
        --sh.cv_waiting;
        break;
      }
      case Design::kFutexPerWaiter:
        w[i].registered.store(true, std::memory_order_release);
        while (w[i].word.load(std::memory_order_acquire) == 0) {
          (void)futex::Wait(w[i].word, 0, Deadline::Never(), FutexScope::kPrivate,
                            futex::kMatchAny);
        }
        w[i].registered.store(false, std::memory_order_relaxed);
        w[i].word.store(0, std::memory_order_relaxed);  // the waker waits for all first
        break;
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      w[i].tid.store(static_cast<pid_t>(syscall(SYS_gettid)));
      for (uint64_t target = 1 + i % groups;; target += groups) {
        wait_round(i, target);
        w[i].awake_ns.store(NowNs(), std::memory_order_relaxed);
        woken.fetch_add(1, std::memory_order_release);
        if (quit.load(std::memory_order_acquire)) return;
      }
    });
  }

  std::unique_ptr<uring::EventLoop> loop;
  if (design == Design::kWatermarkLoop) loop = MakeLoopOrDie();

  uint64_t round = 0;
  auto registered = [&] {
    switch (design) {
      case Design::kWatermark:
      case Design::kWatermarkLoop:
      case Design::kWatermarkOffload:
        return sh.wm.waiters() == static_cast<size_t>(n);
      case Design::kCondVar: {
        std::lock_guard<std::mutex> lock(sh.mu);
        return sh.cv_waiting == n;
      }
      case Design::kFutexPerWaiter:
        for (int i = 0; i < n; ++i) {
          if (!w[i].registered.load(std::memory_order_acquire)) return false;
        }
        return true;
    }
    return false;
  };
  auto wait_all_asleep = [&] {
    while (woken.load(std::memory_order_acquire) < static_cast<int64_t>(round) * n / groups) {
      std::this_thread::yield();
    }
    for (;;) {
      while (!registered()) std::this_thread::yield();
      bool all = true;
      for (int i = 0; i < n && all; ++i) all = AsleepInKernel(w[i].tid.load());
      if (all) return;
      std::this_thread::yield();
    }
  };
  auto advance = [&] {
    ++round;
    switch (design) {
      case Design::kWatermark:
      case Design::kWatermarkLoop:
        sh.wm.advance_to(round);
        break;
      case Design::kWatermarkOffload: {
        WakeBatch batch(WakeBatch::Mode::kOffload);  // advance_to joins it
        sh.wm.advance_to(round);
        break;
      }
      case Design::kCondVar:
        {
          std::lock_guard<std::mutex> lock(sh.mu);
          sh.cv_position = round;
        }
        sh.cv.notify_all();
        break;
      case Design::kFutexPerWaiter:
        for (int i = 0; i < n; ++i) {
          if (!released_by(i, round)) continue;  // it knows every waiter's target
          w[i].word.store(1, std::memory_order_release);
          (void)futex::Wake(w[i].word, 1, FutexScope::kPrivate, futex::kMatchAny);
        }
        break;
    }
  };
  // Warm-up round (creates the per-thread wake ring, the Watermark's nodes).
  wait_all_asleep();
  advance();

  SyscallCounter sys;
  std::vector<int64_t> waker_ns, awake_ns;
  int64_t syscalls = 0, nvcsw = 0, nivcsw = 0, all_nvcsw = 0, all_nivcsw = 0;
  for (auto _ : state) {
    wait_all_asleep();
    const ProcessUsage p0 = ProcessUsage::Now();
    const ThreadUsage u0 = ThreadUsage::Now();
    const int64_t c0 = sys.Read();
    const int64_t t0 = NowNs();
    advance();
    const int64_t t1 = NowNs();
    const int64_t c1 = sys.Read();
    const ThreadUsage u1 = ThreadUsage::Now();
    while (woken.load(std::memory_order_acquire) < static_cast<int64_t>(round) * n / groups) {
      std::this_thread::yield();
    }
    int64_t last = 0;
    for (int i = 0; i < n; ++i) {
      if (released_by(i, round)) last = std::max(last, w[i].awake_ns.load(std::memory_order_relaxed));
    }
    state.SetIterationTime(static_cast<double>(t1 - t0) * 1e-9);
    waker_ns.push_back(t1 - t0);
    awake_ns.push_back(last - t0);
    syscalls += c1 - c0 - 1;  // minus the second Read itself
    nvcsw += u1.nvcsw - u0.nvcsw;
    nivcsw += u1.nivcsw - u0.nivcsw;
    // The waiters' switches until every one is asleep again (the process's
    // minus the waker's own, which polls /proc and yields meanwhile).
    wait_all_asleep();
    const ProcessUsage p1 = ProcessUsage::Now();
    const ThreadUsage u2 = ThreadUsage::Now();
    all_nvcsw += (p1.nvcsw - p0.nvcsw) - (u2.nvcsw - u0.nvcsw);
    all_nivcsw += (p1.nivcsw - p0.nivcsw) - (u2.nivcsw - u0.nivcsw);
  }

  wait_all_asleep();
  quit.store(true, std::memory_order_release);
  for (int g = 0; g < groups; ++g) advance();
  for (auto& t : threads) t.join();

  const double rounds = static_cast<double>(waker_ns.size());
  state.counters["waker_us_p50"] = Percentile(waker_ns, 50) * 1e-3;
  state.counters["waker_us_p90"] = Percentile(waker_ns, 90) * 1e-3;
  state.counters["all_awake_us_p50"] = Percentile(awake_ns, 50) * 1e-3;
  state.counters["all_awake_us_p90"] = Percentile(awake_ns, 90) * 1e-3;
  state.counters["waker_syscalls"] = sys.ok() ? static_cast<double>(syscalls) / rounds : -1;
  state.counters["waker_nvcsw"] = static_cast<double>(nvcsw) / rounds;
  state.counters["waker_nivcsw"] = static_cast<double>(nivcsw) / rounds;
  state.counters["waiters_nvcsw"] = static_cast<double>(all_nvcsw) / rounds;
  state.counters["waiters_nivcsw"] = static_cast<double>(all_nivcsw) / rounds;
}

// {N, G}: all reached at 8, 64, 512; one eighth reached at 64, 512.
void Sizes(benchmark::internal::Benchmark* b) {
  b->UseManualTime()->Unit(benchmark::kMicrosecond)->ArgNames({"waiters", "groups"});
  b->Args({8, 1})->Iterations(200);
}
void Sizes64(benchmark::internal::Benchmark* b) {
  b->UseManualTime()->Unit(benchmark::kMicrosecond)->ArgNames({"waiters", "groups"});
  b->Args({64, 1})->Args({64, 8})->Iterations(100);
}
void Sizes512(benchmark::internal::Benchmark* b) {
  b->UseManualTime()->Unit(benchmark::kMicrosecond)->ArgNames({"waiters", "groups"});
  b->Args({512, 1})->Args({512, 8})->Iterations(24);
}

#ifdef RINGLOCK_BENCH_CORE_ONLY
#define RINGLOCK_DESIGNS(X) X(Watermark_futex, Design::kWatermark)
#else
#define RINGLOCK_DESIGNS(X)                      \
  X(Watermark_ring, Design::kWatermark)          \
  X(Watermark_loop, Design::kWatermarkLoop)      \
  X(Watermark_offload, Design::kWatermarkOffload) \
  X(CondVar_notify_all, Design::kCondVar)        \
  X(Futex_per_waiter, Design::kFutexPerWaiter)
#endif
#define RINGLOCK_REGISTER(name, design)                          \
  BENCHMARK_CAPTURE(BM_Advance, name, design)->Apply(Sizes);     \
  BENCHMARK_CAPTURE(BM_Advance, name, design)->Apply(Sizes64);   \
  BENCHMARK_CAPTURE(BM_Advance, name, design)->Apply(Sizes512);
RINGLOCK_DESIGNS(RINGLOCK_REGISTER)

}  // namespace
}  // namespace ringlock::bench

BENCHMARK_MAIN();
