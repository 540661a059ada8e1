// ringlock/bench/mutex_bench.cc — ringlock::Mutex against its peers, one run.
//
// Every lock runs the same benchmarks in the same process, so the ratios the
// report script prints (bench/run_mutex_bench.py) come from one run on one
// machine state (method and latest results: bench/README.md).
//
//   BM_Pair<L>                uncontended lock()+unlock() on a private lock,
//                             one thread: ns per pair.
//   BM_Contended<L, 10, 20>   n threads (1, 2, 4, 8) share one lock; each
//                             iteration locks, runs 10 LCG steps on shared
//                             state, unlocks, then runs 20 LCG steps on
//                             thread-local state. items_per_second = lock
//                             acquisitions per second of wall time, all
//                             threads together, as Google Benchmark computes
//                             it: over the *mean* of the threads' wall times
//                             (the brief's methodology). span_Mops = the same
//                             acquisitions over the span from the first
//                             thread's start to the last thread's end: with an
//                             unfair lock, threads finish their fixed
//                             iteration counts at different times and the
//                             mean understates the real duration, by up to
//                             (n+1)/2n when the threads ran one after another.
//   BM_Contended<L, 200, 20>  the same with a 200-step critical section: long
//                             enough that waiters must park (the futex
//                             sleep/wake regime), not just spin.
//
// Mutual exclusion is checked on every contended run: each critical section
// increments a plain (non-atomic) counter, and after the run the total must
// equal iterations x threads, else the binary aborts.
//
// Locks: ringlock::Mutex, std::mutex, absl::Mutex, pthread_spinlock_t, and
// DrepperMutex below (the textbook 3-state futex mutex with no spinning, as a
// baseline for what a futex lock costs without any policy).
#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "absl/synchronization/mutex.h"
#include "benchmark/benchmark.h"
#include "locks/mutex.h"

namespace {

// ---------------------------------------------------------------------------
// Peers, each adapted to lock()/unlock().

// pthread_spinlock_t: the best case for short critical sections without
// oversubscription, and the worst with it.
class SpinLock {
 public:
  SpinLock() { pthread_spin_init(&lock_, PTHREAD_PROCESS_PRIVATE); }
  ~SpinLock() { pthread_spin_destroy(&lock_); }
  SpinLock(const SpinLock&) = delete;
  SpinLock& operator=(const SpinLock&) = delete;
  void lock() { pthread_spin_lock(&lock_); }
  void unlock() { pthread_spin_unlock(&lock_); }

 private:
  pthread_spinlock_t lock_;
};

// absl::Mutex spells its methods Lock()/Unlock() in abseil 20220623.
class AbslMutex {
 public:
  // A thin adapter: the lock is held across calls, beyond static analysis.
  void lock() ABSL_NO_THREAD_SAFETY_ANALYSIS { mu_.Lock(); }
  void unlock() ABSL_NO_THREAD_SAFETY_ANALYSIS { mu_.Unlock(); }

 private:
  absl::Mutex mu_;
};

// The 3-state futex mutex of Ulrich Drepper, "Futexes Are Tricky" (2011),
// section 6 ("mutex3"): 0 free, 1 locked, 2 locked with possible waiters.
// No spinning: a contended locker goes straight to FUTEX_WAIT. Two atomic
// RMWs per uncontended pair, like ringlock::Mutex.
class DrepperMutex {
 public:
  void lock() {
    uint32_t c = 0;
    if (word_.compare_exchange_strong(c, 1, std::memory_order_acquire,
                                      std::memory_order_relaxed)) {
      return;
    }
    if (c != 2) c = word_.exchange(2, std::memory_order_acquire);
    while (c != 0) {
      Futex(FUTEX_WAIT_PRIVATE, 2);
      c = word_.exchange(2, std::memory_order_acquire);
    }
  }
  void unlock() {
    if (word_.fetch_sub(1, std::memory_order_release) != 1) {
      word_.store(0, std::memory_order_release);
      Futex(FUTEX_WAKE_PRIVATE, 1);
    }
  }

 private:
  void Futex(int op, uint32_t val) {
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word_), op, val, nullptr, nullptr, 0);
  }
  std::atomic<uint32_t> word_{0};
};
static_assert(sizeof(std::atomic<uint32_t>) == 4);

// ---------------------------------------------------------------------------
// Work: a 64-bit LCG (Knuth's MMIX constants). Each step is a dependent
// multiply-add, so the compiler cannot collapse or vectorize a run of steps.
inline uint64_t Lcg(uint64_t x, int steps) {
  for (int i = 0; i < steps; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    // An empty asm that "changes" x: keeps the steps as written (GCC would
    // otherwise be free to fold an affine recurrence), costs no instruction.
    asm volatile("" : "+r"(x));
  }
  return x;
}

// ---------------------------------------------------------------------------
// Benchmarks.

template <class L>
void BM_Pair(benchmark::State& state) {
  L mu;
  for (auto _ : state) {
    mu.lock();
    benchmark::ClobberMemory();
    mu.unlock();
  }
  state.SetItemsProcessed(state.iterations());
}

// One shared instance per (lock, critical section) instantiation. The lock
// and the state it guards share a cache line as they would in real code; the
// line is aligned so neighbours do not false-share with it.
template <class L>
struct alignas(64) Shared {
  L mu;
  uint64_t state = 1;  // guarded by mu: the LCG the critical section advances
  uint64_t count = 0;  // guarded by mu: plain counter, checks mutual exclusion
  // Span of the timed loop over all threads (steady_clock ns), and how many
  // threads have posted theirs; thread 0 reads and resets them after a run.
  std::atomic<int64_t> first_start{INT64_MAX};
  std::atomic<int64_t> last_end{0};
  std::atomic<int> posted{0};
};

inline int64_t SteadyNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

template <class L, int kInside, int kOutside>
void BM_Contended(benchmark::State& state) {
  static Shared<L> shared;
  // Before the loop only thread 0 resets; Google Benchmark starts all
  // threads' loops at a barrier after this, and ends them at another.
  if (state.thread_index() == 0) {
    shared.state = 1;
    shared.count = 0;
  }
  uint64_t local = 0x9e3779b97f4a7c15ull + static_cast<uint64_t>(state.thread_index());
  int64_t start = 0, end = 0;
  benchmark::IterationCount i = 0;
  for (auto _ : state) {
    // Timestamps of this thread's first and last iteration, inside the loop:
    // after it, the threads wait for each other at Google Benchmark's barrier.
    if (i == 0) start = SteadyNanos();
    shared.mu.lock();
    shared.state = Lcg(shared.state, kInside);
    ++shared.count;
    shared.mu.unlock();
    local = Lcg(local, kOutside);
    if (++i == state.max_iterations) end = SteadyNanos();
  }
  benchmark::DoNotOptimize(local);
  state.SetItemsProcessed(state.iterations());
  {
    int64_t v = shared.first_start.load();
    while (start < v && !shared.first_start.compare_exchange_weak(v, start)) {
    }
    v = shared.last_end.load();
    while (end > v && !shared.last_end.compare_exchange_weak(v, end)) {
    }
    shared.posted.fetch_add(1);
  }
  if (state.thread_index() == 0) {
    while (shared.posted.load() != state.threads()) {
    }
    const double span_s = static_cast<double>(shared.last_end.load() - shared.first_start.load()) / 1e9;
    // Set by thread 0 only; the default counter flag sums over threads.
    state.counters["span_Mops"] =
        static_cast<double>(state.iterations()) * state.threads() / span_s / 1e6;
    shared.first_start.store(INT64_MAX);
    shared.last_end.store(0);
    shared.posted.store(0);
    // The closing barrier has passed: every thread's increments are done.
    const uint64_t expected = static_cast<uint64_t>(state.iterations()) * state.threads();
    if (shared.count != expected) {
      std::fprintf(stderr, "mutual exclusion violated: %llu critical sections counted, %llu run\n",
                   static_cast<unsigned long long>(shared.count),
                   static_cast<unsigned long long>(expected));
      std::abort();
    }
  }
}

#define RINGLOCK_BENCH_LOCK(L)                                                   \
  BENCHMARK_TEMPLATE(BM_Pair, L);                                                \
  BENCHMARK_TEMPLATE(BM_Contended, L, 10, 20)->ThreadRange(1, 8)->UseRealTime(); \
  BENCHMARK_TEMPLATE(BM_Contended, L, 200, 20)->ThreadRange(1, 8)->UseRealTime()

using RinglockMutex = ringlock::Mutex;
using StdMutex = std::mutex;

RINGLOCK_BENCH_LOCK(RinglockMutex);
RINGLOCK_BENCH_LOCK(StdMutex);
RINGLOCK_BENCH_LOCK(AbslMutex);
RINGLOCK_BENCH_LOCK(SpinLock);
RINGLOCK_BENCH_LOCK(DrepperMutex);

}  // namespace

BENCHMARK_MAIN();
