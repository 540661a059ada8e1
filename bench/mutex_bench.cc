// ringlock/bench/mutex_bench.cc — ringlock::Mutex against its peers, one run.
//
// The suite's runner (bench/suite.py, `./bazelw run //bench:suite`) runs this
// binary once per repetition and turns its Google Benchmark JSON into the
// tables, CSV and plots; bench/README.md describes the method. Run alone it is
// an ordinary Google Benchmark binary (its flags work) with a few of its own:
//
//   --ringlock_workloads=pair,short,long,striped,condvar,semaphore
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
//
// Every figure is a Google Benchmark counter: items_per_second and mops
// (acquisitions per second of wall time, all threads; queues: items
// consumed), ns_per_op (pair: thread CPU time per pair), cpu_ns_per_op (all threads' CPU time per acquisition, spinning
// included), share_cv (stddev of the per-thread acquisition counts over their
// mean), worst_share (the least served thread's count over the fair share,
// 1 = fair), wait_p50/p99/p999/max_ns (time inside lock(), one acquisition in
// 64 sampled per thread), vcsw_per_kop / ivcsw_per_kop (the process's
// voluntary / involuntary context switches per 1000 operations).
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
#include <memory>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <semaphore>
#include <string>
#include <type_traits>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "benchmark/benchmark.h"
#include "locks/condvar.h"
#include "locks/mutex.h"
#include "locks/semaphore.h"
#include "locks/wake_batch.h"
#include "uring/event_loop.h"

#ifdef RINGLOCK_BENCH_HAVE_TBB
#include "oneapi/tbb/mutex.h"
#include "oneapi/tbb/queuing_mutex.h"
#endif
#ifdef RINGLOCK_BENCH_HAVE_CK
#include "bench/ck_mcs.h"
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
// flag is raised: it wakes threads a workload may have put to sleep.
template <class Op, class OnStop>
RunResult RunFixed(int n, bool sample, Op op, OnStop on_stop) {
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
      while (!stop.load(std::memory_order_relaxed)) {
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
#ifdef RINGLOCK_MUTEX_STATS
  // ringlock::Mutex's slow-path counts since the previous run, per 1000 ops.
  auto& st = ringlock::internal::g_mutex_stats;
  for (auto [name, c] : {std::pair<const char*, std::atomic<uint64_t>*>{"rl_spins", &st.spins},
                         {"rl_spin_wins", &st.spin_wins}, {"rl_spin_parked", &st.spin_parked},
                         {"rl_registers", &st.registers}, {"rl_on_wakes", &st.on_wakes},
                         {"rl_reparks", &st.reparks}, {"rl_wakes", &st.wakes}}) {
    state.counters[name] = static_cast<double>(c->exchange(0)) * 1000 / ops;
  }
#endif
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
};

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
      FamilyEntry<RinglockMutex, RinglockFamily>("RinglockMutex", "ringlock::Mutex"),
      FamilyEntry<StdMutex, StdFamily>("StdMutex", "std::mutex"),
      Entry<AdaptiveMutex>("AdaptiveMutex", "glibc adaptive mutex"),
      FamilyEntry<AbslMutex, AbslFamily>("AbslMutex", "absl::Mutex"),
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
  };
  return v;
}

// Peers this build lacks, and the package that brings each.
std::vector<std::pair<std::string, std::string>> MissingPeers() {
  std::vector<std::pair<std::string, std::string>> v;
#ifndef RINGLOCK_BENCH_HAVE_TBB
  v.push_back({"tbb::mutex, tbb::queuing_mutex", "libtbb-dev"});
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
    "pair,short,long,striped,condvar,semaphore,readmostly,groupcommit";

// Registers every selected (workload, threads, lock). All locks of one
// (workload, threads) cell run back to back, so their ratios come from one
// machine state; the lock order is rotated by --ringlock_rotate.
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
  for (const auto& w : g_options.workloads) {
    const bool pair = w == "pair";
    const bool queue = w == "condvar" || w == "semaphore";
    if (!pair && !queue && w != "short" && w != "long" && w != "striped" && w != "readmostly" &&
        w != "groupcommit") {
      std::fprintf(stderr, "mutex_bench: unknown workload '%s' (%s)\n", w.c_str(), kWorkloads);
      std::exit(2);
    }
    const std::vector<int> threads = pair ? std::vector<int>{1} : g_options.threads;
    for (int t : threads) {
      if (queue && t < 2) continue;  // a producer and a consumer at least
      for (const auto& e : locks) {
        if (!pair && !e.contended) continue;
        auto fn = pair              ? e.pair
                  : w == "short"    ? e.shortcs
                  : w == "long"     ? e.longcs
                  : w == "striped"  ? e.striped
                  : w == "condvar"  ? e.condvar
                  : w == "readmostly" ? e.readmostly
                  : w == "groupcommit" ? e.groupcommit
                                    : e.semaphore;
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
      for (const auto& [name, fn] : {std::pair{"pair", e.pair}, {"short", e.shortcs},
                                     {"long", e.longcs}, {"striped", e.striped},
                                     {"condvar", e.condvar}, {"semaphore", e.semaphore},
                                     {"readmostly", e.readmostly},
                                     {"groupcommit", e.groupcommit}}) {
        if (fn == nullptr || (!e.contended && std::string(name) != "pair")) continue;
        w += (w.empty() ? "" : ",") + std::string(name);
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
