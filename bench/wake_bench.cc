// bench/wake_bench — one waker wakes 64 sleepers on 64 distinct futex words.
//
// 64 threads each sleep in wait() on their own auto-reset ringlock::Event
// (futex(2) FUTEX_WAIT_BITSET). Each round the waker checks that all 64 are
// registered on their words and asleep in the kernel (/proc/.../stat state S),
// then calls set() on all 64 events:
//   Futex64                 64 set() calls, each one futex(2) FUTEX_WAKE
//   WakeBatch_ThreadRing    the same calls inside one ringlock::WakeBatch on a
//                           thread without a loop: one io_uring_enter with 64
//                           FUTEX_WAKE SQEs (IOSQE_CQE_SKIP_SUCCESS) through
//                           the per-thread wake ring
//   WakeBatch_EventLoop     the same, the waker owning a uring::EventLoop: the
//                           wakes are queued on the loop's ring and flushed
//                           once
// Experiments (not library API; they show what a library change would do):
//   Experiment_RawRing       the batched wake done by hand on a private
//                            uring::Ring (set S on each word, one FUTEX_WAKE
//                            SQE per word, one submit): checks WakeBatch adds
//                            no overhead of its own
//   WakeBatch_Offload       WakeBatch(WakeBatch::Mode::kOffload): the same SQEs
//                            with IOSQE_ASYNC, performed by an io-wq worker
//   Experiment_RawRingAsync  the same SQEs with IOSQE_ASYNC: the kernel's
//                            io-wq worker performs the 64 wakes, so the waker
//                            only pays for the submit
// Reported per round (manual time = the waker's wall time for the 64 wakes):
//   waker_us_p50            median waker wall time
//   all_awake_us / _p50     from the first wake to the last sleeper running
//   waker_syscalls          the waker's syscalls during the wakes (exact:
//                           perf tracepoint raw_syscalls:sys_enter; -1 if
//                           perf is not permitted)
//   waker_nvcsw / nivcsw    the waker's voluntary / involuntary context
//                           switches during the wakes (getrusage RUSAGE_THREAD)
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "benchmark/benchmark.h"
#include "bench/uring_bench_util.h"
#include "locks/event.h"
#include "locks/wake_batch.h"
#include "uring/event_loop.h"
#include "uring/futex_sqe.h"
#include "uring/ring.h"

namespace ringlock::bench {
namespace {

constexpr int kSleepers = 64;

enum class Mode { kFutex, kBatchThreadRing, kBatchEventLoop, kBatchOffload, kRawRing, kRawRingAsync };

struct alignas(64) Sleeper {
  Event ev{EventMode::kAutoReset};
  std::atomic<int64_t> awake_ns{0};
  std::atomic<pid_t> tid{0};
};


void BM_Wake64(benchmark::State& state, Mode mode) {
  std::unique_ptr<Sleeper[]> s(new Sleeper[kSleepers]);
  std::atomic<int64_t> woken{0};
  std::atomic<bool> quit{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < kSleepers; ++i) {
    threads.emplace_back([&, i] {
      s[i].tid.store(static_cast<pid_t>(syscall(SYS_gettid)));
      for (;;) {
        s[i].ev.wait();
        s[i].awake_ns.store(NowNs(), std::memory_order_relaxed);
        woken.fetch_add(1, std::memory_order_release);
        if (quit.load(std::memory_order_acquire)) return;
      }
    });
  }

  std::unique_ptr<uring::EventLoop> loop;
  if (mode == Mode::kBatchEventLoop) {
    auto l = uring::EventLoop::Create();
    if (!l.ok()) {
      state.SkipWithError(std::string(l.status().message()).c_str());
      quit.store(true);
      for (auto& t : threads) s[&t - &threads[0]].ev.set();
      for (auto& t : threads) t.join();
      return;
    }
    loop = *std::move(l);
  }

  std::optional<uring::Ring> raw;
  if (mode == Mode::kRawRing || mode == Mode::kRawRingAsync) {
    uring::RingOptions options;
    options.sq_entries = 128;
    auto r = uring::Ring::Create(options);
    if (!r.ok() || !r->probe().futex_wake()) std::abort();
    raw.emplace(*std::move(r));
  }
  // Event::set() on a private auto-reset event, with the wake as an SQE.
  auto raw_wake_all = [&](bool async) {
    for (int i = 0; i < kSleepers; ++i) {
      std::atomic<uint32_t>& w = internal::WordAccess::Of(s[i].ev);
      const uint32_t old = w.fetch_or(internal::kEventSet, std::memory_order_release);
      if ((old & internal::kEventSet) || old < internal::kEventWaiterOne) continue;
      io_uring_sqe* sqe = raw->GetSqe();
      uring::PrepFutexWake(sqe, &w, 1, uring::kFutex2Private);
      sqe->flags |= IOSQE_CQE_SKIP_SUCCESS | (async ? IOSQE_ASYNC : 0);
      sqe->user_data = 0;
    }
    raw->Submit();
    raw->Reap([](const uring::Completion&) {});
  };

  SyscallCounter sys;
  int64_t round = 0;
  auto wait_all_asleep = [&] {
    while (woken.load(std::memory_order_acquire) < round * kSleepers) std::this_thread::yield();
    for (int i = 0; i < kSleepers; ++i) {
      // Registered on the word (N >= 1) and asleep in the kernel.
      while (s[i].ev.word().load(std::memory_order_relaxed) < internal::kEventWaiterOne ||
             !AsleepInKernel(s[i].tid.load())) {
        std::this_thread::yield();
      }
    }
  };
  auto wake_all = [&] {
    if (mode == Mode::kFutex) {
      for (int i = 0; i < kSleepers; ++i) s[i].ev.set();
    } else if (mode == Mode::kRawRing || mode == Mode::kRawRingAsync) {
      raw_wake_all(mode == Mode::kRawRingAsync);
    } else {
      WakeBatch batch(mode == Mode::kBatchOffload ? WakeBatch::Mode::kOffload
                                                  : WakeBatch::Mode::kInline);
      for (int i = 0; i < kSleepers; ++i) s[i].ev.set();
    }
  };
  // Warm-up round (creates the per-thread wake ring if any).
  wait_all_asleep();
  wake_all();
  ++round;

  std::vector<int64_t> waker_ns, awake_ns;
  int64_t syscalls = 0, nvcsw = 0, nivcsw = 0;
  for (auto _ : state) {
    wait_all_asleep();
    const ThreadUsage u0 = ThreadUsage::Now();
    const int64_t c0 = sys.Read();
    const int64_t t0 = NowNs();
    wake_all();
    const int64_t t1 = NowNs();
    const int64_t c1 = sys.Read();
    const ThreadUsage u1 = ThreadUsage::Now();
    ++round;
    while (woken.load(std::memory_order_acquire) < round * kSleepers) std::this_thread::yield();
    int64_t last = 0;
    for (int i = 0; i < kSleepers; ++i) {
      last = std::max(last, s[i].awake_ns.load(std::memory_order_relaxed));
    }
    state.SetIterationTime(static_cast<double>(t1 - t0) * 1e-9);
    waker_ns.push_back(t1 - t0);
    awake_ns.push_back(last - t0);
    syscalls += c1 - c0 - 1;  // minus the second Read itself
    nvcsw += u1.nvcsw - u0.nvcsw;
    nivcsw += u1.nivcsw - u0.nivcsw;
  }

  wait_all_asleep();
  quit.store(true, std::memory_order_release);
  for (int i = 0; i < kSleepers; ++i) s[i].ev.set();
  for (auto& t : threads) t.join();

  const double rounds = static_cast<double>(waker_ns.size());
  double awake_sum = 0;
  for (int64_t v : awake_ns) awake_sum += static_cast<double>(v);
  state.counters["waker_us_p50"] = Percentile(waker_ns, 50) * 1e-3;
  state.counters["all_awake_us"] = awake_sum / rounds * 1e-3;
  state.counters["all_awake_us_p50"] = Percentile(awake_ns, 50) * 1e-3;
  state.counters["waker_syscalls"] = sys.ok() ? static_cast<double>(syscalls) / rounds : -1;
  state.counters["waker_nvcsw"] = static_cast<double>(nvcsw) / rounds;
  state.counters["waker_nivcsw"] = static_cast<double>(nivcsw) / rounds;
}

void Common(benchmark::internal::Benchmark* b) {
  b->UseManualTime()->Unit(benchmark::kMicrosecond)->Iterations(300);
}

BENCHMARK_CAPTURE(BM_Wake64, Futex64, Mode::kFutex)->Apply(Common);
BENCHMARK_CAPTURE(BM_Wake64, WakeBatch_ThreadRing, Mode::kBatchThreadRing)->Apply(Common);
BENCHMARK_CAPTURE(BM_Wake64, WakeBatch_EventLoop, Mode::kBatchEventLoop)->Apply(Common);
BENCHMARK_CAPTURE(BM_Wake64, WakeBatch_Offload, Mode::kBatchOffload)->Apply(Common);
BENCHMARK_CAPTURE(BM_Wake64, Experiment_RawRing, Mode::kRawRing)->Apply(Common);
BENCHMARK_CAPTURE(BM_Wake64, Experiment_RawRingAsync, Mode::kRawRingAsync)->Apply(Common);

}  // namespace
}  // namespace ringlock::bench

BENCHMARK_MAIN();
