// bench/pingpong_bench — round-trip latency through two auto-reset
// ringlock::Events: A sets `ping` and waits for `pong`; B waits for `ping`
// and sets `pong`. Three kinds of waiter, both parties the same kind:
//   Sync          plain threads: wait() sleeps in futex(2)
//   RingBlocking  each thread owns a uring::EventLoop and calls the plain
//                 wait(): it sleeps in IORING_OP_FUTEX_WAIT on its ring
//   Async         coroutines on two loops: co_await ev.wait_async(loop)
// Wakes are set() = futex(2) FUTEX_WAKE in all three (no WakeBatch).
// Every round trip is timed; p50_us / p99_us are counters (Time = mean).
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include "benchmark/benchmark.h"
#include "bench/uring_bench_util.h"
#include "locks/event.h"
#include "uring/event_loop.h"
#include "uring/task.h"

namespace ringlock::bench {
namespace {

using uring::EventLoop;
using uring::Task;

enum class Kind { kSync, kRingBlocking, kAsync };

std::unique_ptr<EventLoop> MakeLoop() {
  auto l = EventLoop::Create();
  if (!l.ok()) {
    std::fprintf(stderr, "EventLoop::Create: %s\n", l.status().ToString().c_str());
    std::abort();
  }
  return *std::move(l);
}

struct Pair {
  Event ping{EventMode::kAutoReset};
  Event pong{EventMode::kAutoReset};
  std::atomic<bool> quit{false};
};

Task<void> AsyncEcho(EventLoop& loop, Pair& p) {
  for (;;) {
    co_await p.ping.wait_async(loop);
    if (p.quit.load(std::memory_order_acquire)) co_return;
    p.pong.set();
  }
}

Task<void> AsyncPinger(EventLoop& loop, Pair& p, benchmark::State& state,
                       std::vector<int64_t>& rtt) {
  for (auto _ : state) {
    const int64_t t0 = NowNs();
    p.ping.set();
    co_await p.pong.wait_async(loop);
    rtt.push_back(NowNs() - t0);
  }
}

void BM_PingPong(benchmark::State& state, Kind kind) {
  Pair p;
  std::vector<int64_t> rtt;
  rtt.reserve(static_cast<size_t>(state.max_iterations));
  std::thread echo([&] {
    std::unique_ptr<EventLoop> loop;
    if (kind != Kind::kSync) loop = MakeLoop();
    if (kind == Kind::kAsync) {
      loop->RunUntilComplete(AsyncEcho(*loop, p));
      return;
    }
    for (;;) {
      p.ping.wait();
      if (p.quit.load(std::memory_order_acquire)) return;
      p.pong.set();
    }
  });

  std::unique_ptr<EventLoop> loop;
  if (kind != Kind::kSync) loop = MakeLoop();
  if (kind == Kind::kAsync) {
    loop->RunUntilComplete(AsyncPinger(*loop, p, state, rtt));
  } else {
    for (auto _ : state) {
      const int64_t t0 = NowNs();
      p.ping.set();
      p.pong.wait();
      rtt.push_back(NowNs() - t0);
    }
  }
  p.quit.store(true, std::memory_order_release);
  p.ping.set();
  echo.join();

  state.counters["p50_us"] = Percentile(rtt, 50) * 1e-3;
  state.counters["p99_us"] = Percentile(rtt, 99) * 1e-3;
}

void Common(benchmark::internal::Benchmark* b) {
  b->UseRealTime()->Unit(benchmark::kMicrosecond)->Iterations(30000);
}

BENCHMARK_CAPTURE(BM_PingPong, Sync, Kind::kSync)->Apply(Common);
BENCHMARK_CAPTURE(BM_PingPong, RingBlocking, Kind::kRingBlocking)->Apply(Common);
BENCHMARK_CAPTURE(BM_PingPong, Async, Kind::kAsync)->Apply(Common);

}  // namespace
}  // namespace ringlock::bench

BENCHMARK_MAIN();
