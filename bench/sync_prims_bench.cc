// bench/sync_prims_bench — ringlock::Latch, Barrier and Once against their
// std peers (std::latch, std::barrier, std::call_once), plain threads, futex
// waits on both sides:
//   LatchRendezvous  T threads meet once per iteration on a fresh single-use
//                    latch of T (arrive_and_wait): one latch per iteration,
//                    all built before the timed loop
//   BarrierPhase     T threads arrive_and_wait on one barrier of T (with an
//                    empty completion), one phase per iteration
//   CallOnceDone     call_once on a flag whose callable already ran: the
//                    fast path every later caller takes, T threads at once
// Time is per iteration per thread (Google Benchmark's real time, UseRealTime).
#include <atomic>
#include <barrier>
#include <cstdint>
#include <latch>
#include <memory>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#include "benchmark/benchmark.h"
#include "locks/barrier.h"
#include "locks/latch.h"
#include "locks/once.h"

namespace ringlock::bench {
namespace {

// A run of `n` single-use latches of `count`, constructed in place.
template <class L>
class Latches {
 public:
  Latches(int64_t n, std::ptrdiff_t count)
      : n_(n), mem_(static_cast<L*>(::operator new(sizeof(L) * n))) {
    for (int64_t i = 0; i < n; ++i) new (&mem_[i]) L(count);
  }
  ~Latches() {
    for (int64_t i = 0; i < n_; ++i) mem_[i].~L();
    ::operator delete(mem_);
  }
  L& operator[](int64_t i) { return mem_[i]; }

 private:
  int64_t n_;
  L* mem_;
};

template <class L>
void BM_LatchRendezvous(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  const int64_t n = state.max_iterations;
  Latches<L> latches(n, threads);
  std::vector<std::thread> others;
  for (int t = 1; t < threads; ++t) {
    others.emplace_back([&] {
      for (int64_t i = 0; i < n; ++i) latches[i].arrive_and_wait();
    });
  }
  int64_t i = 0;
  for (auto _ : state) latches[i++].arrive_and_wait();
  for (auto& t : others) t.join();
}
BENCHMARK_TEMPLATE(BM_LatchRendezvous, std::latch)->Name("LatchRendezvous/std::latch")->Arg(2)->Arg(4)->UseRealTime();
BENCHMARK_TEMPLATE(BM_LatchRendezvous, ringlock::Latch)->Name("LatchRendezvous/ringlock::Latch")->Arg(2)->Arg(4)->UseRealTime();

struct NoOp {
  void operator()() noexcept {}
};

template <class B>
void BM_BarrierPhase(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  const int64_t n = state.max_iterations;
  B barrier(threads, NoOp{});
  std::vector<std::thread> others;
  for (int t = 1; t < threads; ++t) {
    others.emplace_back([&] {
      for (int64_t i = 0; i < n; ++i) barrier.arrive_and_wait();
    });
  }
  for (auto _ : state) barrier.arrive_and_wait();
  for (auto& t : others) t.join();
}
BENCHMARK_TEMPLATE(BM_BarrierPhase, std::barrier<NoOp>)->Name("BarrierPhase/std::barrier")->Arg(2)->Arg(4)->UseRealTime();
BENCHMARK_TEMPLATE(BM_BarrierPhase, ringlock::Barrier<NoOp>)->Name("BarrierPhase/ringlock::Barrier")->Arg(2)->Arg(4)->UseRealTime();

std::once_flag g_std_once;
ringlock::Once g_ringlock_once;
std::atomic<int64_t> g_runs{0};

void BM_CallOnceDoneStd(benchmark::State& state) {
  for (auto _ : state) std::call_once(g_std_once, [] { g_runs.fetch_add(1); });
}
void BM_CallOnceDoneRinglock(benchmark::State& state) {
  for (auto _ : state) ringlock::call_once(g_ringlock_once, [] { g_runs.fetch_add(1); });
}
BENCHMARK(BM_CallOnceDoneStd)->Name("CallOnceDone/std::call_once")->Threads(1)->Threads(4)->UseRealTime();
BENCHMARK(BM_CallOnceDoneRinglock)->Name("CallOnceDone/ringlock::Once")->Threads(1)->Threads(4)->UseRealTime();

}  // namespace
}  // namespace ringlock::bench

BENCHMARK_MAIN();
