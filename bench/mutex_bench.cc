// ringlock/bench/mutex_bench.cc — ringlock::Mutex against its peers, one run.
//
// The suite's runner (bench/suite.py, `./bazelw run //bench:suite`) runs this
// binary once per repetition and turns its Google Benchmark JSON into the
// tables, CSV and plots; bench/README.md describes the method. Run alone it is
// an ordinary Google Benchmark binary (its flags work) with a few of its own:
//
//   --ringlock_workloads=pair,short,long,striped,condvar,semaphore,...
//                                                  (a workload may carry its own
//                                                  threads: rw95@1:2:8:32)
//   --ringlock_threads=1,2,4,8,16,32               thread counts (not pair)
//   --ringlock_locks=RinglockMutex,StdMutex,...    which locks (default all)
//   --ringlock_duration=0.25                       seconds per run
//   --ringlock_rotate=N                            start each workload's lock
//                                                  order at lock N (the runner
//                                                  rotates it per repetition)
//   --ringlock_progress                            a stderr line after each run
//   --ringlock_list                                print locks and workloads
//
// Workloads (each run: fixed duration, every thread loops until told to stop):
//   pair      one thread, uncontended lock()+unlock() of a private lock.
//   short     n threads share one lock: lock, 10 LCG steps on the shared state,
//             unlock, 20 LCG steps on thread-local state.
//   long      the same with 200 steps inside: waiters must park.
//   striped   n threads, a table of 1024 stripes {lock, state, count}, each
//             operation on a random stripe: 4-byte locks pack the table.
//   condvar   n/2 producers, n - n/2 consumers, a ring of 64 items guarded by
//             the library's mutex with two condition variables (ringlock,
//             std, absl); the figure is items consumed per second.
//   semaphore the same ring bounded by two counting semaphores (ringlock's
//             with ringlock::Mutex, std::counting_semaphore with std::mutex).
//   readmostly a key-value store's reads: pin the version under the lock,
//             look up outside, unpin; one operation in 16 a longer write.
//   groupcommit a key-value store's writes: writers queue under the mutex, a
//             leader appends a group to the log with the mutex released,
//             followers wait on their own condition variables (see below).
//   rw95, rw99, rw50  reader/writer locks: n threads, a small table under one
//             lock, 5% / 1% / 50% of operations writes (lock), the rest reads
//             (lock_shared); waits reported per role (see BM_ReadWrite).
//   latch     n threads (2-8) meet once per round on a fresh latch.
//   barrier   n threads (2-8), one barrier phase per operation.
//   once      n threads (up to 8) call call_once on a flag already run.
//
// Every figure is a Google Benchmark counter: items_per_second and mops
// (acquisitions per second of wall time, all threads; queues: items
// consumed), ns_per_op (pair: thread CPU time per pair), cpu_ns_per_op (all threads' CPU time per acquisition, spinning
// included), share_cv (stddev of the per-thread acquisition counts over their
// mean), worst_share (the least served thread's count over the fair share,
// 1 = fair), wait_p50/p99/p999/max_ns (time inside lock(), one acquisition in
// 64 sampled per thread), vcsw_per_kop / ivcsw_per_kop (the process's
// voluntary / involuntary context switches per 1000 operations); the
// reader/writer workloads add read_wait_* / write_wait_* (p50, p99, max,
// samples: each role's wait) and write_fraction (0 elsewhere).
//
// Mutual exclusion is checked on every run: each critical section increments
// a plain (non-atomic) counter, and after the run the total must equal the
// acquisitions counted, else the binary aborts.
#include <linux/futex.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <barrier>
#include <memory>
#include <condition_variable>
#include <latch>
#include <mutex>
#include <optional>
#include <semaphore>
#include <shared_mutex>
#include <string>
#include <type_traits>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "benchmark/benchmark.h"
#include "locks/barrier.h"
#include "locks/condvar.h"
#include "locks/latch.h"
#include "locks/mutex.h"
#include "locks/once.h"
#include "locks/semaphore.h"
#include "locks/shared_mutex.h"
#include "locks/wake_batch.h"
#include "uring/event_loop.h"

#ifdef RINGLOCK_BENCH_HAVE_TBB
#include "oneapi/tbb/mutex.h"
#include "oneapi/tbb/queuing_mutex.h"
#include "oneapi/tbb/queuing_rw_mutex.h"
#include "oneapi/tbb/spin_rw_mutex.h"
#endif
#ifdef RINGLOCK_BENCH_HAVE_CK
#include "bench/ck_mcs.h"
#include "bench/mutex_stats_counters.h"
#endif

namespace {

// ---------------------------------------------------------------------------
// Peers, each adapted to lock()/unlock().

// glibc's mutex with PTHREAD_MUTEX_ADAPTIVE_NP: spins a bounded time before
// sleeping (std::mutex is the plain, non-spinning kind).
class AdaptiveMutex {
 public:
  AdaptiveMutex() {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ADAPTIVE_NP);
    pthread_mutex_init(&mu_, &a);
    pthread_mutexattr_destroy(&a);
  }
  ~AdaptiveMutex() { pthread_mutex_destroy(&mu_); }
  AdaptiveMutex(const AdaptiveMutex&) = delete;
  AdaptiveMutex& operator=(const AdaptiveMutex&) = delete;
  void lock() { pthread_mutex_lock(&mu_); }
  void unlock() { pthread_mutex_unlock(&mu_); }

 private:
  pthread_mutex_t mu_;
};

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
// Two atomic RMWs per uncontended pair, like ringlock::Mutex. kSpins = 0 is
// the paper's: a contended locker goes straight to FUTEX_WAIT. kSpins > 0
// adds the spin real implementations add: up to kSpins tries (a load and a
// pause each) before it sleeps, whoever else is asleep.
template <int kSpins>
class TextbookFutexMutex {
 public:
  void lock() {
    uint32_t c = 0;
    if (word_.compare_exchange_strong(c, 1, std::memory_order_acquire,
                                      std::memory_order_relaxed)) {
      return;
    }
    for (int i = 0; i < kSpins; ++i) {
      uint32_t free = 0;
      if (word_.load(std::memory_order_relaxed) == 0 &&
          word_.compare_exchange_strong(free, 1, std::memory_order_acquire,
                                        std::memory_order_relaxed)) {
        return;
      }
      __builtin_ia32_pause();
    }
    // After a spin the value seen first is stale: mark waiters regardless.
    if (kSpins > 0 || c != 2) c = word_.exchange(2, std::memory_order_acquire);
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
using DrepperMutex = TextbookFutexMutex<0>;
using DrepperSpinMutex = TextbookFutexMutex<100>;

// The physical floor of an uncontended pair for a lock whose unlock can see
// waiters: one CAS to lock, one atomic decrement to unlock (its result is
// what a real lock would test for waiters). Runs in the pair workload only:
// contended, it is a bare spinlock with no way to sleep.
class FloorLock {
 public:
  void lock() {
    uint32_t z = 0;
    while (!word_.compare_exchange_weak(z, 1, std::memory_order_acquire,
                                        std::memory_order_relaxed)) {
      z = 0;
      __builtin_ia32_pause();
    }
  }
  void unlock() {
    if (word_.fetch_sub(1, std::memory_order_release) != 1) std::abort();
  }

 private:
  std::atomic<uint32_t> word_{0};
};

#ifdef RINGLOCK_BENCH_HAVE_TBB
// oneTBB's queuing_mutex is a FIFO queue lock (MCS): the queue node lives in a
// scoped_lock, one per thread here (a thread holds one lock at a time).
class TbbQueuingMutex {
 public:
  void lock() { Node().acquire(mu_); }
  void unlock() { Node().release(); }

 private:
  static tbb::queuing_mutex::scoped_lock& Node() {
    static thread_local tbb::queuing_mutex::scoped_lock node;
    return node;
  }
  tbb::queuing_mutex mu_;
};
using TbbMutex = tbb::mutex;
#endif

#ifdef RINGLOCK_BENCH_HAVE_CK
// Concurrency Kit's MCS lock: FIFO, every waiter spins on its own node, one
// per thread here. Called out of line (ck_mcs.c: ck's headers are C only).
class CkMcsLock {
 public:
  void lock() { ringlock_ck_mcs_lock(&queue_, &Node()); }
  void unlock() { ringlock_ck_mcs_unlock(&queue_, &Node()); }

 private:
  static ringlock_ck_mcs_node& Node() {
    static thread_local ringlock_ck_mcs_node node;
    return node;
  }
  void* queue_ = nullptr;
};
#endif

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

inline int64_t Nanos(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// ---------------------------------------------------------------------------
// The fixed-duration engine. Threads start together, loop until `stop`, and
// count their own operations; the main thread sleeps through the run.

struct Options {
  double duration_s = 0.25;
  std::vector<int> threads = {1, 2, 4, 8, 16, 32};
  std::vector<std::string> workloads = {"pair", "short", "long", "striped", "condvar", "semaphore"};
  std::vector<std::string> locks;  // empty: all
  int rotate = 0;
  bool progress = false;
  bool list = false;
};
Options g_options;

constexpr int kSampleMask = 63;  // time one acquisition in 64
constexpr size_t kMaxSamplesPerThread = size_t{1} << 18;

struct alignas(64) PerThread {
  uint64_t ops = 0;
  int64_t cpu_ns = 0;
  std::vector<int64_t> waits;
};

struct RunResult {
  double seconds = 0;
  uint64_t ops = 0;
  int64_t voluntary_cs = 0;    // context switches of the whole process
  int64_t involuntary_cs = 0;  // during the run
  std::vector<PerThread> threads;
};

// Runs `n` threads for the configured duration; each calls
// op(thread_index, sample) until stopped, where sample says whether to time
// the acquisition (op returns the ns spent inside lock(), or 0; or -1 when it
// gave up because the run is over: not counted). on_stop runs after the stop
// flag is raised: it wakes threads a workload may have put to sleep. With
// op_stops, threads ignore the flag and loop until op returns -1 (a
// rendezvous whose threads must all agree on the last round; on_stop tells
// them the run is over).
template <class Op, class OnStop>
RunResult RunFixed(int n, bool sample, Op op, OnStop on_stop, bool op_stops = false) {
  RunResult r;
  r.threads.resize(static_cast<size_t>(n));
  std::atomic<int> ready{0};
  std::atomic<int> go{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  workers.reserve(static_cast<size_t>(n));
  for (int t = 0; t < n; ++t) {
    workers.emplace_back([&, t] {
      PerThread& me = r.threads[static_cast<size_t>(t)];
      if (sample) me.waits.reserve(kMaxSamplesPerThread);
      ready.fetch_add(1);
      go.wait(0);
      const int64_t cpu0 = Nanos(CLOCK_THREAD_CPUTIME_ID);
      uint64_t ops = 0;
      while (op_stops || !stop.load(std::memory_order_relaxed)) {
        const bool s = sample && (ops & kSampleMask) == 0 && me.waits.size() < kMaxSamplesPerThread;
        const int64_t w = op(t, s);
        if (w < 0) break;
        if (s) me.waits.push_back(w);
        ++ops;
      }
      me.cpu_ns = Nanos(CLOCK_THREAD_CPUTIME_ID) - cpu0;
      me.ops = ops;
    });
  }
  while (ready.load() != n) std::this_thread::yield();
  rusage ru0;
  getrusage(RUSAGE_SELF, &ru0);
  const int64_t start = Nanos(CLOCK_MONOTONIC);
  go.store(1);
  go.notify_all();
  const int64_t want = static_cast<int64_t>(g_options.duration_s * 1e9);
  timespec ts{static_cast<time_t>(want / 1000000000), static_cast<long>(want % 1000000000)};
  while (nanosleep(&ts, &ts) != 0) {
  }
  stop.store(true);
  const int64_t end = Nanos(CLOCK_MONOTONIC);
  on_stop();
  for (auto& w : workers) w.join();
  rusage ru1;
  getrusage(RUSAGE_SELF, &ru1);
  r.voluntary_cs = ru1.ru_nvcsw - ru0.ru_nvcsw;
  r.involuntary_cs = ru1.ru_nivcsw - ru0.ru_nivcsw;
  r.seconds = static_cast<double>(end - start) / 1e9;
  for (const auto& t : r.threads) r.ops += t.ops;
  return r;
}

template <class Op>
RunResult RunFixed(int n, bool sample, Op op) {
  return RunFixed(n, sample, op, [] {});
}

// Lock and unlock through these two: the analysis cannot pair a lock taken
// in one call with its release in another.
template <class L>
inline int64_t TimedLock(L& mu, bool sample) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  if (!sample) {
    mu.lock();
    return 0;
  }
  const int64_t t0 = Nanos(CLOCK_MONOTONIC);
  mu.lock();
  return Nanos(CLOCK_MONOTONIC) - t0;
}

template <class L>
inline void Unlock(L& mu) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  mu.unlock();
}

double Pct(const std::vector<int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t idx = static_cast<size_t>(p / 100.0 * static_cast<double>(sorted.size() - 1) + 0.5);
  return static_cast<double>(sorted[std::min(idx, sorted.size() - 1)]);
}

// items: what the throughput counts (default: every thread's operations).
void Report(benchmark::State& state, const RunResult& r, bool pair, uint64_t items = 0) {
  if (items == 0) items = r.ops;
  state.SetIterationTime(r.seconds);
  state.SetItemsProcessed(static_cast<int64_t>(items));
  const double n = static_cast<double>(r.threads.size());
  double cpu = 0, mean = static_cast<double>(r.ops) / n, var = 0, worst = 1e300;
  std::vector<int64_t> waits;
  for (const auto& t : r.threads) {
    cpu += static_cast<double>(t.cpu_ns);
    const double d = static_cast<double>(t.ops) - mean;
    var += d * d;
    worst = std::min(worst, static_cast<double>(t.ops));
    waits.insert(waits.end(), t.waits.begin(), t.waits.end());
  }
  const double ops = std::max<double>(1, static_cast<double>(r.ops));
  state.counters["threads"] = n;
  state.counters["mops"] = static_cast<double>(items) / r.seconds / 1e6;
  state.counters["cpu_ns_per_op"] = cpu / ops;
  // Every run sets every counter (Google Benchmark's CSV output needs one set).
  state.counters["ns_per_op"] = cpu / ops;
  state.counters["wall_ns_per_op"] = r.seconds * 1e9 / ops;
  if (pair) waits.clear();  // the pair times nothing
  state.counters["share_cv"] = mean > 0 ? std::sqrt(var / n) / mean : 0;
  state.counters["worst_share"] = mean > 0 ? worst / mean : 0;
  std::sort(waits.begin(), waits.end());
  state.counters["wait_p50_ns"] = Pct(waits, 50);
  state.counters["wait_p99_ns"] = Pct(waits, 99);
  state.counters["wait_p999_ns"] = Pct(waits, 99.9);
  state.counters["wait_max_ns"] = waits.empty() ? 0 : static_cast<double>(waits.back());
  state.counters["wait_samples"] = static_cast<double>(waits.size());
  state.counters["vcsw_per_kop"] = static_cast<double>(r.voluntary_cs) * 1000 / ops;
  state.counters["ivcsw_per_kop"] = static_cast<double>(r.involuntary_cs) * 1000 / ops;
  // Per-role waits: set by the reader/writer workloads (BM_ReadWrite).
  for (const char* role : {"read", "write"}) {
    for (const char* k : {"_wait_p50_ns", "_wait_p99_ns", "_wait_max_ns", "_wait_samples"}) {
      state.counters[std::string(role) + k] = 0;
    }
  }
  state.counters["write_fraction"] = 0;
  ringlock::bench::ReportMutexStats(state, ops);  // bench-only builds
}

void CheckCount(uint64_t counted, uint64_t expected, const char* what) {
  if (counted != expected) {
    std::fprintf(stderr, "%s: mutual exclusion violated: %llu critical sections counted, %llu run\n",
                 what, static_cast<unsigned long long>(counted),
                 static_cast<unsigned long long>(expected));
    std::abort();
  }
}

// ---------------------------------------------------------------------------
// Workloads.

template <class L>
void BM_Pair(benchmark::State& state) {
  for (auto _ : state) {
    auto mu = std::make_unique<L>();
    RunResult r = RunFixed(1, false, [&](int, bool) -> int64_t {
      mu->lock();
      benchmark::ClobberMemory();
      mu->unlock();
      return 0;
    });
    Report(state, r, true);
  }
}

// The lock and the state it guards share a cache line as they would in real
// code; the line is aligned so neighbours do not false-share with it.
template <class L>
struct alignas(64) Shared {
  L mu;
  uint64_t state = 1;  // guarded by mu: the LCG the critical section advances
  uint64_t count = 0;  // guarded by mu: plain counter, checks mutual exclusion
};

template <class L, int kInside, int kOutside>
void BM_Contended(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  for (auto _ : state) {
    auto shared = std::make_unique<Shared<L>>();
    std::vector<uint64_t> local(static_cast<size_t>(n) * 8);
    RunResult r = RunFixed(n, true, [&](int t, bool sample) -> int64_t {
      const int64_t w = TimedLock(shared->mu, sample);
      shared->state = Lcg(shared->state, kInside);
      ++shared->count;
      Unlock(shared->mu);
      uint64_t& mine = local[static_cast<size_t>(t) * 8];
      mine = Lcg(mine + 1, kOutside);
      return w;
    });
    CheckCount(shared->count, r.ops, "contended");
    benchmark::DoNotOptimize(local.data());
    Report(state, r, false);
  }
}

constexpr int kStripes = 1024;

// A striped table as a service would have one: lock and data side by side,
// no padding: a stripe of a 4-byte lock is 16 bytes (4 to a cache line),
// of std::mutex 56.
template <class L>
struct Stripe {
  L mu;
  uint32_t count = 0;  // guarded by mu
  uint64_t state = 1;  // guarded by mu
};

template <class L>
void BM_Striped(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  for (auto _ : state) {
    auto table = std::make_unique<Stripe<L>[]>(kStripes);
    std::vector<uint64_t> rng(static_cast<size_t>(n) * 8);
    for (int t = 0; t < n; ++t) rng[static_cast<size_t>(t) * 8] = 0x9e3779b97f4a7c15ull * (t + 1);
    RunResult r = RunFixed(n, true, [&](int t, bool sample) -> int64_t {
      uint64_t& x = rng[static_cast<size_t>(t) * 8];
      x = Lcg(x, 20);  // the work outside, and the next stripe's hash
      Stripe<L>& s = table[(x >> 33) % kStripes];
      const int64_t w = TimedLock(s.mu, sample);
      s.state = Lcg(s.state, 10);
      ++s.count;
      Unlock(s.mu);
      return w;
    });
    uint64_t total = 0;
    for (int i = 0; i < kStripes; ++i) total += table[i].count;
    CheckCount(total, r.ops, "striped");
    Report(state, r, false);
  }
}

// ---------------------------------------------------------------------------
// Queues: n/2 producers and n - n/2 consumers pass items through a bounded
// ring of kQueueCap, one item per operation; the figure is items consumed
// per second. Each family is a library's own mutex with its own condition
// variable or semaphore.

constexpr int kQueueCap = 64;

struct StdFamily {
  using Mutex = std::mutex;
  using CondVar = std::condition_variable;
  using Semaphore = std::counting_semaphore<65535>;
  static void Lock(Mutex& mu) { mu.lock(); }
  static void Unlock(Mutex& mu) { mu.unlock(); }
  static void Wait(CondVar& cv, Mutex& mu) {
    std::unique_lock<std::mutex> lk(mu, std::adopt_lock);
    cv.wait(lk);
    lk.release();
  }
  static void Notify(CondVar& cv) { cv.notify_one(); }
  static void NotifyAll(CondVar& cv) { cv.notify_all(); }
};

struct RinglockFamily {
  using Mutex = ringlock::Mutex;
  using CondVar = ringlock::CondVar;
  using Semaphore = ringlock::Semaphore;
  static void Lock(Mutex& mu) ABSL_NO_THREAD_SAFETY_ANALYSIS { mu.lock(); }
  static void Unlock(Mutex& mu) ABSL_NO_THREAD_SAFETY_ANALYSIS { mu.unlock(); }
  static void Wait(CondVar& cv, Mutex& mu) ABSL_NO_THREAD_SAFETY_ANALYSIS { cv.wait(mu); }
  static void Notify(CondVar& cv) { cv.notify_one(); }
  static void NotifyAll(CondVar& cv) { cv.notify_all(); }
};

// ringlock's Mutex and CondVar, with the notifies made under the mutex held
// in a WakeBatch until the unlock: the notified waiter wakes with the mutex
// free instead of waking only to find it held (group commit only).
struct RinglockBatchedFamily : RinglockFamily {
  static inline thread_local std::optional<ringlock::WakeBatch> batch;
  static void Unlock(Mutex& mu) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    mu.unlock();
    batch.reset();  // the held wakes leave now
  }
  static void Notify(CondVar& cv) {
    if (!batch) batch.emplace();
    cv.notify_one();
  }
};

struct AbslFamily {
  using Mutex = absl::Mutex;
  using CondVar = absl::CondVar;
  using Semaphore = void;  // abseil has none
  static void Lock(Mutex& mu) ABSL_NO_THREAD_SAFETY_ANALYSIS { mu.Lock(); }
  static void Unlock(Mutex& mu) ABSL_NO_THREAD_SAFETY_ANALYSIS { mu.Unlock(); }
  static void Wait(CondVar& cv, Mutex& mu) ABSL_NO_THREAD_SAFETY_ANALYSIS { cv.Wait(&mu); }
  static void Notify(CondVar& cv) { cv.Signal(); }
  static void NotifyAll(CondVar& cv) { cv.SignalAll(); }
};

// Any mutex with std::condition_variable_any: how a user pairs a lock that
// has no condition variable of its own (or ringlock's Mutex, to compare
// ringlock::CondVar against the standard one over the same lock).
template <class L>
struct CvAnyFamily {
  using Mutex = L;
  using CondVar = std::condition_variable_any;
  using Semaphore = void;
  static void Lock(Mutex& mu) ABSL_NO_THREAD_SAFETY_ANALYSIS { mu.lock(); }
  static void Unlock(Mutex& mu) ABSL_NO_THREAD_SAFETY_ANALYSIS { mu.unlock(); }
  static void Wait(CondVar& cv, Mutex& mu) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    std::unique_lock<L> lk(mu, std::adopt_lock);
    cv.wait(lk);
    lk.release();
  }
  static void Notify(CondVar& cv) { cv.notify_one(); }
  static void NotifyAll(CondVar& cv) { cv.notify_all(); }
};

// The ring; every field guarded by the family's mutex.
struct Ring {
  uint64_t buf[kQueueCap] = {};
  int head = 0, size = 0;
  uint64_t pushed = 0, popped = 0;
  bool closing = false;  // the run is over: waiters give up
  void Push(uint64_t v) {
    buf[(head + size) % kQueueCap] = Lcg(v, 10);
    ++size;
    ++pushed;
  }
  void Pop() {
    benchmark::DoNotOptimize(buf[head]);
    head = (head + 1) % kQueueCap;
    --size;
    ++popped;
  }
};

inline void CheckRing(const Ring& q, const char* what) {
  if (q.size < 0 || q.size > kQueueCap || q.pushed - q.popped != static_cast<uint64_t>(q.size)) {
    std::fprintf(stderr, "%s: queue corrupted: %llu pushed, %llu popped, size %d\n", what,
                 static_cast<unsigned long long>(q.pushed), static_cast<unsigned long long>(q.popped),
                 q.size);
    std::abort();
  }
}

template <class F>
struct CondVarQueue {
  typename F::Mutex mu;
  typename F::CondVar not_full, not_empty;
  Ring q;
};

template <class F>
void BM_CondVarQueue(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const int producers = n / 2;
  for (auto _ : state) {
    auto cq = std::make_unique<CondVarQueue<F>>();
    RunResult r = RunFixed(
        n, true,
        [&](int t, bool sample) ABSL_NO_THREAD_SAFETY_ANALYSIS -> int64_t {
          const int64_t t0 = sample ? Nanos(CLOCK_MONOTONIC) : 0;
          F::Lock(cq->mu);
          if (t < producers) {
            while (cq->q.size == kQueueCap && !cq->q.closing) F::Wait(cq->not_full, cq->mu);
            if (cq->q.closing) {
              F::Unlock(cq->mu);
              return -1;
            }
            cq->q.Push(static_cast<uint64_t>(t));
            F::Notify(cq->not_empty);
          } else {
            while (cq->q.size == 0 && !cq->q.closing) F::Wait(cq->not_empty, cq->mu);
            if (cq->q.closing) {
              F::Unlock(cq->mu);
              return -1;
            }
            cq->q.Pop();
            F::Notify(cq->not_full);
          }
          F::Unlock(cq->mu);
          return sample ? Nanos(CLOCK_MONOTONIC) - t0 : 0;
        },
        [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
          F::Lock(cq->mu);
          cq->q.closing = true;
          F::NotifyAll(cq->not_full);
          F::NotifyAll(cq->not_empty);
          F::Unlock(cq->mu);
        });
    CheckRing(cq->q, "condvar queue");
    Report(state, r, false, cq->q.popped);
  }
}

template <class F>
struct SemaphoreQueue {
  typename F::Mutex mu;
  typename F::Semaphore slots{kQueueCap};
  typename F::Semaphore items{0};
  std::atomic<bool> closing{false};
  Ring q;
};

template <class F>
void BM_SemaphoreQueue(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const int producers = n / 2;
  for (auto _ : state) {
    auto sq = std::make_unique<SemaphoreQueue<F>>();
    RunResult r = RunFixed(
        n, true,
        [&](int t, bool sample) ABSL_NO_THREAD_SAFETY_ANALYSIS -> int64_t {
          const int64_t t0 = sample ? Nanos(CLOCK_MONOTONIC) : 0;
          const bool producer = t < producers;
          (producer ? sq->slots : sq->items).acquire();
          // A permit released by on_stop carries no slot or item.
          if (sq->closing.load(std::memory_order_acquire)) return -1;
          F::Lock(sq->mu);
          if (producer) {
            sq->q.Push(static_cast<uint64_t>(t));
          } else {
            sq->q.Pop();
          }
          F::Unlock(sq->mu);
          (producer ? sq->items : sq->slots).release();
          return sample ? Nanos(CLOCK_MONOTONIC) - t0 : 0;
        },
        [&] {
          sq->closing.store(true, std::memory_order_release);
          sq->slots.release(n);
          sq->items.release(n);
        });
    CheckRing(sq->q, "semaphore queue");
    Report(state, r, false, sq->q.popped);
  }
}

// ---------------------------------------------------------------------------
// A key-value store's paths (an LSM tree's, as LevelDB's DBImpl::Write and
// Get run them).
//
// groupcommit: every thread is a writer. It queues itself under the mutex and
// waits on its own condition variable until it is at the front (the leader)
// or a leader committed it. The leader takes up to kGroupMax queued writers,
// releases the mutex to "append to the log" (kLogSteps LCG steps), re-takes
// it, marks its followers done and signals each, and signals the next front.
// The figure is writes committed per second.
constexpr int kGroupMax = 8;
constexpr int kLogSteps = 200;

template <class F>
struct GroupWriter {
  typename F::CondVar cv;
  bool done = false;  // guarded by the mutex
};

template <class F>
struct GroupCommit {
  typename F::Mutex mu;
  std::deque<GroupWriter<F>*> queue;  // guarded by mu
  uint64_t committed = 0;             // guarded by mu
};

template <class F>
void BM_GroupCommit(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  for (auto _ : state) {
    auto gc = std::make_unique<GroupCommit<F>>();
    std::vector<uint64_t> log(static_cast<size_t>(n) * 8);
    RunResult r = RunFixed(n, true, [&](int t, bool sample) ABSL_NO_THREAD_SAFETY_ANALYSIS -> int64_t {
      GroupWriter<F> w;
      const int64_t t0 = sample ? Nanos(CLOCK_MONOTONIC) : 0;
      F::Lock(gc->mu);
      gc->queue.push_back(&w);
      while (!w.done && gc->queue.front() != &w) F::Wait(w.cv, gc->mu);
      if (!w.done) {
        const size_t group = std::min<size_t>(gc->queue.size(), kGroupMax);
        F::Unlock(gc->mu);
        uint64_t& mine = log[static_cast<size_t>(t) * 8];
        mine = Lcg(mine + group, kLogSteps);  // the log append, mutex released
        F::Lock(gc->mu);
        gc->committed += group;
        for (size_t i = 0; i < group; ++i) {
          GroupWriter<F>* x = gc->queue.front();
          gc->queue.pop_front();
          if (x != &w) {
            x->done = true;
            F::Notify(x->cv);
          }
        }
        if (!gc->queue.empty()) F::Notify(gc->queue.front()->cv);
      }
      F::Unlock(gc->mu);
      return sample ? Nanos(CLOCK_MONOTONIC) - t0 : 0;
    });
    CheckCount(gc->committed, r.ops, "group commit");
    benchmark::DoNotOptimize(log.data());
    Report(state, r, false);
  }
}

// readmostly: a read pins the current version under the mutex (a reference
// count), looks up outside it (kLookupSteps), and unpins under it again; one
// operation in kWriteEvery is a write that holds the mutex longer
// (kInstallSteps: installing a new version). The figure is operations per
// second.
constexpr int kLookupSteps = 60;
constexpr int kInstallSteps = 40;
constexpr int kWriteEvery = 16;

template <class L>
struct alignas(64) Versioned {
  L mu;
  uint64_t version = 1;  // guarded by mu
  int64_t refs = 0;      // guarded by mu
  uint64_t writes = 0;   // guarded by mu
};

template <class L>
void BM_ReadMostly(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  for (auto _ : state) {
    auto db = std::make_unique<Versioned<L>>();
    std::vector<uint64_t> local(static_cast<size_t>(n) * 8);
    std::vector<uint64_t> writes(static_cast<size_t>(n) * 8);
    RunResult r = RunFixed(n, true, [&](int t, bool sample) -> int64_t {
      uint64_t& mine = local[static_cast<size_t>(t) * 8];
      mine = Lcg(mine + 1, 1);
      if ((mine >> 40) % kWriteEvery == 0) {
        const int64_t w = TimedLock(db->mu, sample);
        db->version = Lcg(db->version, kInstallSteps);
        ++db->writes;
        Unlock(db->mu);
        ++writes[static_cast<size_t>(t) * 8];
        return w;
      }
      const int64_t w = TimedLock(db->mu, sample);
      const uint64_t v = db->version;
      ++db->refs;
      Unlock(db->mu);
      mine = Lcg(mine ^ v, kLookupSteps);
      TimedLock(db->mu, false);
      --db->refs;
      Unlock(db->mu);
      return w;
    });
    uint64_t total_writes = 0;
    for (int t = 0; t < n; ++t) total_writes += writes[static_cast<size_t>(t) * 8];
    CheckCount(db->writes, total_writes, "read-mostly");
    if (db->refs != 0) {
      std::fprintf(stderr, "read-mostly: %lld references left\n", static_cast<long long>(db->refs));
      std::abort();
    }
    Report(state, r, false);
  }
}

// ---------------------------------------------------------------------------
// Reader/writer locks: each peer adapted to lock()/unlock() (writers) and
// lock_shared()/unlock_shared() (readers), the std::shared_mutex interface
// (std::shared_mutex has it already).

// absl::Mutex in shared mode.
class AbslRwMutex {
 public:
  void lock() ABSL_NO_THREAD_SAFETY_ANALYSIS { mu_.WriterLock(); }
  void unlock() ABSL_NO_THREAD_SAFETY_ANALYSIS { mu_.WriterUnlock(); }
  void lock_shared() ABSL_NO_THREAD_SAFETY_ANALYSIS { mu_.ReaderLock(); }
  void unlock_shared() ABSL_NO_THREAD_SAFETY_ANALYSIS { mu_.ReaderUnlock(); }

 private:
  absl::Mutex mu_;
};

// glibc's pthread_rwlock_t: the default prefers readers (a stream of readers
// can starve a writer); PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP makes
// new readers wait behind a waiting writer.
template <bool kPreferWriter>
class PthreadRwlock {
 public:
  PthreadRwlock() {
    pthread_rwlockattr_t a;
    pthread_rwlockattr_init(&a);
    if (kPreferWriter) {
      pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    }
    pthread_rwlock_init(&rw_, &a);
    pthread_rwlockattr_destroy(&a);
  }
  ~PthreadRwlock() { pthread_rwlock_destroy(&rw_); }
  PthreadRwlock(const PthreadRwlock&) = delete;
  PthreadRwlock& operator=(const PthreadRwlock&) = delete;
  void lock() { pthread_rwlock_wrlock(&rw_); }
  void unlock() { pthread_rwlock_unlock(&rw_); }
  void lock_shared() { pthread_rwlock_rdlock(&rw_); }
  void unlock_shared() { pthread_rwlock_unlock(&rw_); }

 private:
  pthread_rwlock_t rw_;
};

// A plain mutex taken exclusively by readers too: what shared mode buys.
template <class L>
class ExclusiveForBoth {
 public:
  void lock() ABSL_NO_THREAD_SAFETY_ANALYSIS { mu_.lock(); }
  void unlock() ABSL_NO_THREAD_SAFETY_ANALYSIS { mu_.unlock(); }
  void lock_shared() ABSL_NO_THREAD_SAFETY_ANALYSIS { mu_.lock(); }
  void unlock_shared() ABSL_NO_THREAD_SAFETY_ANALYSIS { mu_.unlock(); }

 private:
  L mu_;
};

#ifdef RINGLOCK_BENCH_HAVE_TBB
// oneTBB's queuing_rw_mutex: FIFO queue of readers and writers (a node per
// thread, as TbbQueuingMutex). spin_rw_mutex has the std interface itself.
class TbbQueuingRwMutex {
 public:
  void lock() { Node().acquire(mu_, /*write=*/true); }
  void unlock() { Node().release(); }
  void lock_shared() { Node().acquire(mu_, /*write=*/false); }
  void unlock_shared() { Node().release(); }

 private:
  static tbb::queuing_rw_mutex::scoped_lock& Node() {
    static thread_local tbb::queuing_rw_mutex::scoped_lock node;
    return node;
  }
  tbb::queuing_rw_mutex mu_;
};
using TbbSpinRwMutex = tbb::spin_rw_mutex;
#endif

// The reader/writer workloads (rw95, rw99, rw50): n threads share a small
// table of kRwSlots words under one reader/writer lock. Each operation is a
// write with probability W% (5, 1, 50), else a read. A read takes the lock
// shared, reads every slot (they must all be equal: a write in progress
// would show as a torn table, and the binary aborts) and runs kRwInside LCG
// steps on them; a write takes it exclusive, runs kRwInside steps and sets
// every slot to the result. Both then run kRwOutside steps on thread-local
// state. Waits are timed per role: one read in 64, and writes at a rate that
// gives about as many samples (every write at 1%).
constexpr int kRwSlots = 16;  // two cache lines of data
constexpr int kRwInside = 10;
constexpr int kRwOutside = 20;

template <class L>
struct alignas(64) RwTable {
  L mu;
  uint64_t slot[kRwSlots] = {};  // guarded by mu: a write sets all to one value
  uint64_t writes = 0;           // guarded by mu, exclusive: checks writer exclusion
};

struct alignas(64) RwThread {
  uint64_t x = 0;
  uint64_t reads = 0;
  uint64_t writes = 0;
  std::vector<int64_t> read_waits, write_waits;
};

template <class L>
inline void LockShared(L& mu) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  mu.lock_shared();
}
template <class L>
inline void UnlockShared(L& mu) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  mu.unlock_shared();
}

void SetRoleWaits(benchmark::State& state, const char* role, std::vector<int64_t>& waits) {
  std::sort(waits.begin(), waits.end());
  const std::string r = role;
  state.counters[r + "_wait_p50_ns"] = Pct(waits, 50);
  state.counters[r + "_wait_p99_ns"] = Pct(waits, 99);
  state.counters[r + "_wait_max_ns"] = waits.empty() ? 0 : static_cast<double>(waits.back());
  state.counters[r + "_wait_samples"] = static_cast<double>(waits.size());
}

template <class L, int kWritePercent>
void BM_ReadWrite(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  constexpr uint64_t kWriteSampleEvery = std::max(1, 64 * kWritePercent / 100);
  for (auto _ : state) {
    auto table = std::make_unique<RwTable<L>>();
    std::vector<RwThread> per(static_cast<size_t>(n));
    for (int t = 0; t < n; ++t) {
      per[static_cast<size_t>(t)].x = 0x9e3779b97f4a7c15ull * static_cast<uint64_t>(t + 1);
      per[static_cast<size_t>(t)].read_waits.reserve(kMaxSamplesPerThread / 2);
      per[static_cast<size_t>(t)].write_waits.reserve(kMaxSamplesPerThread / 2);
    }
    RunResult r = RunFixed(n, false, [&](int t, bool) -> int64_t {
      RwThread& me = per[static_cast<size_t>(t)];
      me.x = Lcg(me.x, kRwOutside);  // the work outside, and the role's coin
      if ((me.x >> 33) % 100 < static_cast<uint64_t>(kWritePercent)) {
        const bool s = me.writes % kWriteSampleEvery == 0 &&
                       me.write_waits.size() < kMaxSamplesPerThread / 2;
        const int64_t w = TimedLock(table->mu, s);
        const uint64_t v = Lcg(table->slot[0] ^ me.x, kRwInside);
        for (uint64_t& slot : table->slot) slot = v;
        ++table->writes;
        Unlock(table->mu);
        if (s) me.write_waits.push_back(w);
        ++me.writes;
        return 0;
      }
      const bool s = (me.reads & kSampleMask) == 0 && me.read_waits.size() < kMaxSamplesPerThread / 2;
      const int64_t t0 = s ? Nanos(CLOCK_MONOTONIC) : 0;
      LockShared(table->mu);
      const int64_t w = s ? Nanos(CLOCK_MONOTONIC) - t0 : 0;
      uint64_t torn = 0;
      const uint64_t v = table->slot[0];
      for (const uint64_t slot : table->slot) torn |= slot ^ v;
      me.x ^= Lcg(v, kRwInside);
      UnlockShared(table->mu);
      if (torn != 0) {
        std::fprintf(stderr, "read/write: a reader saw a write in progress: exclusion violated\n");
        std::abort();
      }
      if (s) me.read_waits.push_back(w);
      ++me.reads;
      return 0;
    });
    uint64_t writes = 0;
    std::vector<int64_t> reads_all, writes_all;
    for (int t = 0; t < n; ++t) {
      RwThread& me = per[static_cast<size_t>(t)];
      writes += me.writes;
      reads_all.insert(reads_all.end(), me.read_waits.begin(), me.read_waits.end());
      writes_all.insert(writes_all.end(), me.write_waits.begin(), me.write_waits.end());
      // The generic wait figures: every sampled acquisition, both roles.
      r.threads[static_cast<size_t>(t)].waits = me.read_waits;
      r.threads[static_cast<size_t>(t)].waits.insert(r.threads[static_cast<size_t>(t)].waits.end(),
                                                      me.write_waits.begin(), me.write_waits.end());
    }
    CheckCount(table->writes, writes, "read/write");
    Report(state, r, false);
    SetRoleWaits(state, "read", reads_all);
    SetRoleWaits(state, "write", writes_all);
    state.counters["write_fraction"] = static_cast<double>(writes) /
                                       std::max<double>(1, static_cast<double>(r.ops));
  }
}

// ---------------------------------------------------------------------------
// Latch, Barrier and Once against std::latch, std::barrier, std::call_once.
// Runs are fixed-duration like the others, but a rendezvous cannot stop at
// each thread's own moment (the others would wait for it forever): every
// thread runs until all agree the round is the last (RunFixed's op_stops).

// latch: n threads meet once per round on a single-use latch of n
// (arrive_and_wait). Rounds use kLatchSlots latches in turn; thread 0
// re-creates the latch of round r-1 for round r-1+kLatchSlots once round r
// opened (every thread then has left round r-1's wait, and none can reach
// round r-1+kLatchSlots before thread 0 arrives at round r+1 or later). The
// figure is rounds per second; the wait is the time in arrive_and_wait.
constexpr uint64_t kLatchSlots = 4;

template <class L>
struct alignas(64) LatchSlot {
  std::optional<L> latch;
};

template <class L>
void BM_Latch(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  for (auto _ : state) {
    std::vector<LatchSlot<L>> slots(kLatchSlots);
    for (auto& s : slots) s.latch.emplace(n);
    std::atomic<bool> quit{false};
    std::atomic<uint64_t> last{~uint64_t{0}};  // the last round, once thread 0 chose it
    std::vector<uint64_t> rounds(static_cast<size_t>(n) * 8);
    RunResult r = RunFixed(
        n, true,
        [&](int t, bool sample) -> int64_t {
          uint64_t& round = rounds[static_cast<size_t>(t) * 8];
          if (t == 0 && quit.load(std::memory_order_relaxed) &&
              last.load(std::memory_order_relaxed) == ~uint64_t{0}) {
            last.store(round, std::memory_order_relaxed);  // published by the latch
          }
          L& latch = *slots[round % kLatchSlots].latch;
          const int64_t t0 = sample ? Nanos(CLOCK_MONOTONIC) : 0;
          latch.arrive_and_wait();
          const int64_t w = sample ? Nanos(CLOCK_MONOTONIC) - t0 : 0;
          if (t == 0 && round >= 1) slots[(round - 1) % kLatchSlots].latch.emplace(n);
          if (round++ >= last.load(std::memory_order_relaxed)) return -1;
          return w;
        },
        [&] { quit.store(true, std::memory_order_relaxed); }, /*op_stops=*/true);
    for (const auto& th : r.threads) CheckCount(th.ops, r.threads[0].ops, "latch rounds per thread");
    Report(state, r, false, r.threads[0].ops);
  }
}

// barrier: n threads arrive_and_wait on one barrier of n, one phase per
// operation; the completion function counts phases and decides, once the run
// is over, that this phase is the last (every thread sees its decision: the
// completion happens-before the phase's waits return).
struct BarrierRun {
  std::atomic<bool> quit{false};
  uint64_t phases = 0;  // written by the completion only
  bool done = false;    // written by the completion, read after the phase
};

struct CountPhases {
  BarrierRun* run;
  void operator()() noexcept {
    ++run->phases;
    run->done = run->quit.load(std::memory_order_relaxed);
  }
};

template <class B>
void BM_Barrier(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  for (auto _ : state) {
    auto run = std::make_unique<BarrierRun>();
    auto barrier = std::make_unique<B>(n, CountPhases{run.get()});
    RunResult r = RunFixed(
        n, true,
        [&](int, bool sample) -> int64_t {
          const int64_t t0 = sample ? Nanos(CLOCK_MONOTONIC) : 0;
          barrier->arrive_and_wait();
          const int64_t w = sample ? Nanos(CLOCK_MONOTONIC) - t0 : 0;
          return run->done ? -1 : w;
        },
        [&] { run->quit.store(true, std::memory_order_relaxed); }, /*op_stops=*/true);
    // Every thread made every phase but the last (not counted).
    for (const auto& th : r.threads) CheckCount(th.ops + 1, run->phases, "barrier phases");
    Report(state, r, false, r.threads[0].ops);
  }
}

// once: n threads call call_once on a flag whose callable already ran: the
// path every caller after the first takes. Figure: calls per second.
struct StdOnce {
  std::once_flag flag;
  template <class F>
  void Call(F&& f) {
    std::call_once(flag, std::forward<F>(f));
  }
};
struct RinglockOnce {
  ringlock::Once flag;
  template <class F>
  void Call(F&& f) {
    ringlock::call_once(flag, std::forward<F>(f));
  }
};

template <class O>
void BM_Once(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  for (auto _ : state) {
    auto once = std::make_unique<O>();
    std::atomic<int> runs{0};
    once->Call([&] { runs.fetch_add(1); });
    RunResult r = RunFixed(n, true, [&](int, bool sample) -> int64_t {
      const int64_t t0 = sample ? Nanos(CLOCK_MONOTONIC) : 0;
      once->Call([&] { runs.fetch_add(1); });
      return sample ? Nanos(CLOCK_MONOTONIC) - t0 : 0;
    });
    CheckCount(static_cast<uint64_t>(runs.load()), 1, "call_once runs");
    Report(state, r, false);
  }
}

// ---------------------------------------------------------------------------
// Registration.

struct LockEntry {
  const char* key;
  const char* display;
  size_t size;
  bool contended;  // runs in the contended workloads (FloorLock does not)
  void (*pair)(benchmark::State&);
  void (*shortcs)(benchmark::State&);
  void (*longcs)(benchmark::State&);
  void (*striped)(benchmark::State&);
  void (*condvar)(benchmark::State&) = nullptr;    // the lock's library has a condvar
  void (*semaphore)(benchmark::State&) = nullptr;  // ... and a semaphore
  void (*readmostly)(benchmark::State&) = nullptr;
  void (*groupcommit)(benchmark::State&) = nullptr;  // with a condition variable
  // Reader/writer locks (lock_shared for reads): 5%, 1%, 50% writes.
  void (*rw95)(benchmark::State&) = nullptr;
  void (*rw99)(benchmark::State&) = nullptr;
  void (*rw50)(benchmark::State&) = nullptr;
  // Latch, Barrier, Once and their std peers.
  void (*latch)(benchmark::State&) = nullptr;
  void (*barrier)(benchmark::State&) = nullptr;
  void (*once)(benchmark::State&) = nullptr;
};

using BenchFn = void (*)(benchmark::State&);

// `kv`: runs the key-value store workloads (readmostly, groupcommit); the
// locks that spin without bound or hand off in FIFO order are left out there
// (they collapse once threads outnumber CPUs; the short workload shows it).
template <class L>
LockEntry Entry(const char* key, const char* display, bool contended = true, bool kv = true) {
  LockEntry e{key,
          display,
          sizeof(L),
          contended,
          &BM_Pair<L>,
          &BM_Contended<L, 10, 20>,
          &BM_Contended<L, 200, 20>,
          &BM_Striped<L>,
          nullptr,
          nullptr,
          &BM_ReadMostly<L>,
          &BM_GroupCommit<CvAnyFamily<L>>};
  if (!kv) e.readmostly = e.groupcommit = nullptr;
  return e;
}

// A lock that runs only the group commit, with another condition variable.
template <class F>
LockEntry GroupCommitEntry(const char* key, const char* display) {
  LockEntry e{key, display, sizeof(typename F::Mutex), true, nullptr, nullptr, nullptr, nullptr};
  e.groupcommit = &BM_GroupCommit<F>;
  return e;
}

using RinglockMutex = ringlock::Mutex;
using StdMutex = std::mutex;

// Adds the reader/writer workloads, with L's lock_shared() for reads.
template <class L>
LockEntry WithRw(LockEntry e) {
  e.rw95 = &BM_ReadWrite<L, 5>;
  e.rw99 = &BM_ReadWrite<L, 1>;
  e.rw50 = &BM_ReadWrite<L, 50>;
  return e;
}

// A reader/writer lock: runs only the reader/writer workloads.
template <class L>
LockEntry RwEntry(const char* key, const char* display) {
  return WithRw<L>(LockEntry{key, display, sizeof(L), true, nullptr, nullptr, nullptr, nullptr});
}

// A primitive that runs one workload only (latch, barrier, once).
LockEntry OnlyEntry(const char* key, const char* display, size_t size, BenchFn LockEntry::*workload,
                    BenchFn fn) {
  LockEntry e{key, display, size, true, nullptr, nullptr, nullptr, nullptr};
  e.*workload = fn;
  return e;
}

template <class L, class F>
LockEntry FamilyEntry(const char* key, const char* display) {
  LockEntry e = Entry<L>(key, display);
  e.condvar = &BM_CondVarQueue<F>;
  e.groupcommit = &BM_GroupCommit<F>;
  if constexpr (!std::is_void_v<typename F::Semaphore>) e.semaphore = &BM_SemaphoreQueue<F>;
  return e;
}

std::vector<LockEntry> AllLocks() {
  std::vector<LockEntry> v = {
      // In the reader/writer workloads ringlock::Mutex takes reads exclusively
      // too (the baseline of what shared mode buys); absl::Mutex runs in
      // shared mode (ReaderLock).
      WithRw<ExclusiveForBoth<RinglockMutex>>(
          FamilyEntry<RinglockMutex, RinglockFamily>("RinglockMutex", "ringlock::Mutex")),
      FamilyEntry<StdMutex, StdFamily>("StdMutex", "std::mutex"),
      Entry<AdaptiveMutex>("AdaptiveMutex", "glibc adaptive mutex"),
      WithRw<AbslRwMutex>(FamilyEntry<AbslMutex, AbslFamily>("AbslMutex", "absl::Mutex")),
      Entry<SpinLock>("SpinLock", "pthread spinlock", true, /*kv=*/false),
#ifdef RINGLOCK_BENCH_HAVE_TBB
      Entry<TbbMutex>("TbbMutex", "tbb::mutex", true, /*kv=*/false),
      Entry<TbbQueuingMutex>("TbbQueuingMutex", "tbb::queuing_mutex", true, /*kv=*/false),
#endif
#ifdef RINGLOCK_BENCH_HAVE_CK
      Entry<CkMcsLock>("CkMcs", "ck MCS lock", true, /*kv=*/false),
#endif
      Entry<DrepperMutex>("DrepperMutex", "textbook futex mutex"),
      Entry<DrepperSpinMutex>("DrepperSpinMutex", "textbook spinning futex mutex"),
      GroupCommitEntry<CvAnyFamily<RinglockMutex>>("RinglockMutexCvAny",
                                                   "ringlock::Mutex + condition_variable_any"),
      GroupCommitEntry<RinglockBatchedFamily>("RinglockMutexBatched",
                                              "ringlock::Mutex + CondVar, notify held in a WakeBatch"),
      Entry<FloorLock>("Floor", "floor: CAS + decrement", /*contended=*/false),
      // Reader/writer locks (rw95, rw99, rw50); the suite takes the key
      // RinglockSharedMutex as the lock under test.
      RwEntry<ringlock::SharedMutex>("RinglockSharedMutex", "ringlock::SharedMutex"),
      RwEntry<std::shared_mutex>("StdSharedMutex", "std::shared_mutex"),
      RwEntry<PthreadRwlock<false>>("PthreadRwlock", "pthread_rwlock"),
      RwEntry<PthreadRwlock<true>>("PthreadRwlockPreferWriter", "pthread_rwlock, writer preferred"),
#ifdef RINGLOCK_BENCH_HAVE_TBB
      RwEntry<TbbSpinRwMutex>("TbbSpinRwMutex", "tbb::spin_rw_mutex"),
      RwEntry<TbbQueuingRwMutex>("TbbQueuingRwMutex", "tbb::queuing_rw_mutex"),
#endif
      // Latch, Barrier, Once against std.
      OnlyEntry("RinglockLatch", "ringlock::Latch", sizeof(ringlock::Latch), &LockEntry::latch,
                &BM_Latch<ringlock::Latch>),
      OnlyEntry("StdLatch", "std::latch", sizeof(std::latch), &LockEntry::latch,
                &BM_Latch<std::latch>),
      // Sizes without the run's phase-counting completion (a pointer).
      OnlyEntry("RinglockBarrier", "ringlock::Barrier", sizeof(ringlock::Barrier<>),
                &LockEntry::barrier, &BM_Barrier<ringlock::Barrier<CountPhases>>),
      OnlyEntry("StdBarrier", "std::barrier", sizeof(std::barrier<>), &LockEntry::barrier,
                &BM_Barrier<std::barrier<CountPhases>>),
      OnlyEntry("RinglockOnce", "ringlock::Once", sizeof(ringlock::Once), &LockEntry::once,
                &BM_Once<RinglockOnce>),
      OnlyEntry("StdOnce", "std::call_once", sizeof(std::once_flag), &LockEntry::once,
                &BM_Once<StdOnce>),
  };
  return v;
}

// Peers this build lacks, and the package that brings each.
std::vector<std::pair<std::string, std::string>> MissingPeers() {
  std::vector<std::pair<std::string, std::string>> v;
#ifndef RINGLOCK_BENCH_HAVE_TBB
  v.push_back({"tbb::mutex, tbb::queuing_mutex, tbb::spin_rw_mutex, tbb::queuing_rw_mutex",
               "libtbb-dev"});
#endif
#ifndef RINGLOCK_BENCH_HAVE_CK
  v.push_back({"ck MCS lock", "libck-dev"});
#endif
  return v;
}

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = s.find(',', i);
    if (j == std::string::npos) j = s.size();
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

// Removes this binary's own flags from argv (the rest go to Google Benchmark).
void ParseFlags(int* argc, char** argv) {
  int out = 1;
  for (int i = 1; i < *argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* name) -> const char* {
      const size_t len = std::strlen(name);
      if (a.compare(0, len, name) == 0 && a.size() > len && a[len] == '=') return argv[i] + len + 1;
      return nullptr;
    };
    if (const char* v = value("--ringlock_duration")) {
      g_options.duration_s = std::atof(v);
    } else if (const char* v = value("--ringlock_threads")) {
      g_options.threads.clear();
      for (const auto& t : Split(v)) g_options.threads.push_back(std::atoi(t.c_str()));
    } else if (const char* v = value("--ringlock_workloads")) {
      g_options.workloads = Split(v);
    } else if (const char* v = value("--ringlock_locks")) {
      g_options.locks = Split(v);
    } else if (const char* v = value("--ringlock_rotate")) {
      g_options.rotate = std::atoi(v);
    } else if (a == "--ringlock_progress") {
      g_options.progress = true;
    } else if (a == "--ringlock_list") {
      g_options.list = true;
    } else {
      argv[out++] = argv[i];
    }
  }
  *argc = out;
  argv[out] = nullptr;
}

constexpr const char* kWorkloads =
    "pair,short,long,striped,condvar,semaphore,readmostly,groupcommit,rw95,rw99,rw50,latch,"
    "barrier,once";

// A workload's function for one lock (nullptr: the lock does not run it);
// nullopt for a name that is no workload.
std::optional<BenchFn> WorkloadFn(const LockEntry& e, const std::string& w) {
  if (w == "pair") return e.pair;
  if (!e.contended) return BenchFn{nullptr};
  for (const auto& [name, fn] :
       {std::pair{"short", e.shortcs}, {"long", e.longcs}, {"striped", e.striped},
        {"condvar", e.condvar}, {"semaphore", e.semaphore}, {"readmostly", e.readmostly},
        {"groupcommit", e.groupcommit}, {"rw95", e.rw95}, {"rw99", e.rw99}, {"rw50", e.rw50},
        {"latch", e.latch}, {"barrier", e.barrier}, {"once", e.once}}) {
    if (w == name) return fn;
  }
  return std::nullopt;
}

// The thread counts a workload runs at, of those asked for: the pair one;
// the queues 2 and up; latch and barrier 2 to 8 and once up to 8 (a
// rendezvous of more threads than CPUs measures the scheduler).
std::vector<int> WorkloadThreads(const std::string& w, const std::vector<int>& asked) {
  if (w == "pair") return {1};
  std::vector<int> out;
  for (int t : asked) {
    if ((w == "condvar" || w == "semaphore") && t < 2) continue;
    if ((w == "latch" || w == "barrier") && (t < 2 || t > 8)) continue;
    if (w == "once" && t > 8) continue;
    out.push_back(t);
  }
  return out;
}

// Registers every selected (workload, threads, lock). All locks of one
// (workload, threads) cell run back to back, so their ratios come from one
// machine state; the lock order is rotated by --ringlock_rotate. A workload
// may carry its own thread counts: "rw95@1:2:8:32".
void Register() {
  std::vector<LockEntry> locks;
  for (const auto& e : AllLocks()) {
    if (g_options.locks.empty() ||
        std::find(g_options.locks.begin(), g_options.locks.end(), e.key) != g_options.locks.end()) {
      locks.push_back(e);
    }
  }
  if (!locks.empty()) {
    const size_t k = static_cast<size_t>(g_options.rotate) % locks.size();
    std::rotate(locks.begin(), locks.begin() + static_cast<std::ptrdiff_t>(k), locks.end());
  }
  for (const auto& spec : g_options.workloads) {
    const std::string w = spec.substr(0, spec.find('@'));
    std::vector<int> asked = g_options.threads;
    if (w.size() < spec.size()) {
      asked.clear();
      std::string ts = spec.substr(w.size() + 1);
      std::replace(ts.begin(), ts.end(), ':', ',');
      for (const auto& t : Split(ts)) asked.push_back(std::atoi(t.c_str()));
    }
    if (!WorkloadFn(AllLocks()[0], w).has_value()) {
      std::fprintf(stderr, "mutex_bench: unknown workload '%s' (%s)\n", w.c_str(), kWorkloads);
      std::exit(2);
    }
    for (int t : WorkloadThreads(w, asked)) {
      for (const auto& e : locks) {
        const BenchFn fn = WorkloadFn(e, w).value_or(nullptr);
        if (fn == nullptr) continue;
        std::string name = w + "/" + e.key + "/threads:" + std::to_string(t);
        auto* b = benchmark::RegisterBenchmark(name.c_str(), fn);
        b->Arg(t)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
      }
    }
  }
}

// Prints "ringlock_progress <name>" to stderr after each run: the runner's
// progress (after, not before: with --benchmark_filter only Google Benchmark
// knows which run comes next).
class ProgressReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    benchmark::ConsoleReporter::ReportRuns(runs);
    if (!runs.empty() && runs[0].run_type == Run::RT_Iteration) {
      std::fprintf(stderr, "ringlock_progress %s\n", runs[0].run_name.function_name.c_str());
      std::fflush(stderr);
    }
  }
};

// How this kernel serves io_uring futex operations for an EventLoop: native
// (FUTEX_WAIT/WAKE SQEs), fallback (a futex_waitv(2) helper thread) or
// emulated (no io_uring).
std::string UringFutexPath() {
  auto loop = ringlock::uring::EventLoop::Create();
  if (!loop.ok()) return "unavailable: " + std::string(loop.status().message());
  if ((*loop)->emulated()) return "emulated";
  return (*loop)->native_futex() ? "native" : "fallback";
}

}  // namespace

int main(int argc, char** argv) {
  // glibc skips atomics in a process that has never created a thread; every
  // service is multi-threaded, so measure that state from the first run on.
  std::thread([] {}).join();
  ParseFlags(&argc, argv);
  if (g_options.list) {
    for (const auto& e : AllLocks()) {
      std::string w;
      for (const auto& name : Split(kWorkloads)) {
        if (WorkloadFn(e, name).value_or(nullptr) == nullptr) continue;
        w += (w.empty() ? "" : ",") + name;
      }
      std::printf("lock %s\t%s\t%zu\t%s\n", e.key, e.display, e.size, w.c_str());
    }
    for (const auto& [what, pkg] : MissingPeers()) {
      std::printf("missing %s\t%s\n", what.c_str(), pkg.c_str());
    }
    std::printf("workloads %s\n", kWorkloads);
    std::printf("io_uring_futex %s\n", UringFutexPath().c_str());
    return 0;
  }
  Register();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("io_uring_futex", UringFutexPath());
  benchmark::AddCustomContext("ringlock_duration_s", std::to_string(g_options.duration_s));
  benchmark::AddCustomContext("ringlock_rotate", std::to_string(g_options.rotate));
  for (const auto& e : AllLocks()) {
    benchmark::AddCustomContext(std::string("sizeof_") + e.key, std::to_string(e.size));
  }
  std::string missing;
  for (const auto& [what, pkg] : MissingPeers()) {
    missing += (missing.empty() ? "" : "; ") + what + ": install " + pkg;
  }
  if (!missing.empty()) benchmark::AddCustomContext("not_built", missing);
  if (g_options.progress) {
    ProgressReporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
  } else {
    benchmark::RunSpecifiedBenchmarks();
  }
  benchmark::Shutdown();
  return 0;
}
