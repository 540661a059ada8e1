// bench/pingpong_bench — round-trip latency through two auto-reset
// ringlock::Events: A sets `ping` and waits for `pong`; B waits for `ping`
// and sets `pong`. Three kinds of waiter, both parties the same kind:
//   Sync          plain threads: wait() sleeps in futex(2)
//   RingBlocking  each thread owns a uring::EventLoop and calls the plain
//                 wait(): it sleeps in IORING_OP_FUTEX_WAIT on its ring
//   Async         coroutines on two loops: co_await ev.wait_async(loop)
// Wakes are set() = futex(2) FUTEX_WAKE in all three (no WakeBatch).
// Experiment_*Spin: the same, but each wait first spins on try_wait() for up
// to 20 us (env RINGLOCK_BENCH_SPIN_NS overrides): what a spin-before-park
// in Event::wait / wait_async would do (the library does not spin for
// Events today).
// Arg "cpus": 0 = threads unpinned (the scheduler decides; on a busy 2-vCPU
// VM the result is bimodal), 1 = both pinned to CPU 0 (wake = context switch
// on one CPU), 2 = pinned to CPUs 0 and 1 (wake = cross-CPU, IPI).
// Every round trip is timed; p50_us / p99_us are counters (Time = mean).
#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include "benchmark/benchmark.h"
#include "bench/uring_bench_util.h"
#include "locks/async.h"
#include "locks/event.h"
#include "uring/event_loop.h"
#include "uring/task.h"

namespace ringlock::bench {
namespace {

using uring::EventLoop;
using uring::Task;

enum class Kind { kSync, kRingBlocking, kAsync, kAsyncEmulated };

// Spin budget of the experiments; RINGLOCK_BENCH_SPIN_NS overrides it.
int64_t SpinNs() {
  static const int64_t ns = [] {
    const char* env = std::getenv("RINGLOCK_BENCH_SPIN_NS");
    return env != nullptr ? std::atoll(env) : int64_t{20000};
  }();
  return ns;
}

// True if `ev` was taken while spinning (spin > 0 only in the experiments).
bool SpinTake(Event& ev, bool spin) {
  if (!spin) return false;
  const int64_t until = NowNs() + SpinNs();
  do {
    for (int i = 0; i < 16; ++i) {
      if (ev.try_wait()) return true;
      __builtin_ia32_pause();
    }
  } while (NowNs() < until);
  return false;
}


struct Pair {
  Event ping{EventMode::kAutoReset};
  Event pong{EventMode::kAutoReset};
  std::atomic<bool> quit{false};
};

Task<void> AsyncEcho(EventLoop& loop, Pair& p, bool spin) {
  for (;;) {
    if (!SpinTake(p.ping, spin)) co_await p.ping.wait_async(loop);
    if (p.quit.load(std::memory_order_acquire)) co_return;
    p.pong.set();
  }
}

Task<void> AsyncPinger(EventLoop& loop, Pair& p, benchmark::State& state,
                       std::vector<int64_t>& rtt, bool spin) {
  for (auto _ : state) {
    const int64_t t0 = NowNs();
    p.ping.set();
    if (!SpinTake(p.pong, spin)) co_await p.pong.wait_async(loop);
    rtt.push_back(NowNs() - t0);
  }
}

void PinTo(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

void BM_PingPong(benchmark::State& state, Kind kind, bool spin) {
  const int cpus = static_cast<int>(state.range(0));
  cpu_set_t saved;
  pthread_getaffinity_np(pthread_self(), sizeof(saved), &saved);
  if (cpus > 0) PinTo(0);
  Pair p;
  std::vector<int64_t> rtt;
  rtt.reserve(static_cast<size_t>(state.max_iterations));
  std::thread echo([&] {
    if (cpus > 0) PinTo(cpus == 1 ? 0 : 1);
    std::unique_ptr<EventLoop> loop;
    if (kind != Kind::kSync) loop = MakeLoopOrDie(kind == Kind::kAsyncEmulated);
    if (kind == Kind::kAsync || kind == Kind::kAsyncEmulated) {
      loop->RunUntilComplete(AsyncEcho(*loop, p, spin));
      return;
    }
    for (;;) {
      if (!SpinTake(p.ping, spin)) p.ping.wait();
      if (p.quit.load(std::memory_order_acquire)) return;
      p.pong.set();
    }
  });

  std::unique_ptr<EventLoop> loop;
  if (kind != Kind::kSync) loop = MakeLoopOrDie(kind == Kind::kAsyncEmulated);
  if (kind == Kind::kAsync || kind == Kind::kAsyncEmulated) {
    loop->RunUntilComplete(AsyncPinger(*loop, p, state, rtt, spin));
  } else {
    for (auto _ : state) {
      const int64_t t0 = NowNs();
      p.ping.set();
      if (!SpinTake(p.pong, spin)) p.pong.wait();
      rtt.push_back(NowNs() - t0);
    }
  }
  p.quit.store(true, std::memory_order_release);
  p.ping.set();
  echo.join();
  pthread_setaffinity_np(pthread_self(), sizeof(saved), &saved);

  state.counters["p50_us"] = Percentile(rtt, 50) * 1e-3;
  state.counters["p99_us"] = Percentile(rtt, 99) * 1e-3;
}

void Common(benchmark::internal::Benchmark* b) {
  b->ArgName("cpus")->Arg(0)->Arg(1)->Arg(2);
  b->UseRealTime()->Unit(benchmark::kMicrosecond)->Iterations(20000);
}

BENCHMARK_CAPTURE(BM_PingPong, Sync, Kind::kSync, false)->Apply(Common);
BENCHMARK_CAPTURE(BM_PingPong, RingBlocking, Kind::kRingBlocking, false)->Apply(Common);
BENCHMARK_CAPTURE(BM_PingPong, Async, Kind::kAsync, false)->Apply(Common);
BENCHMARK_CAPTURE(BM_PingPong, Async_Emulated, Kind::kAsyncEmulated, false)->Apply(Common);
BENCHMARK_CAPTURE(BM_PingPong, Experiment_SyncSpin, Kind::kSync, true)->Apply(Common);
BENCHMARK_CAPTURE(BM_PingPong, Experiment_AsyncSpin, Kind::kAsync, true)->Apply(Common);

}  // namespace
}  // namespace ringlock::bench

BENCHMARK_MAIN();
