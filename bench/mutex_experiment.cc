// ringlock/bench/mutex_experiment.cc — spin-policy experiments on a private
// copy of ringlock::Mutex's protocol (locks/mutex.{h,cc} at 8f2c7c8).
//
// Not a product benchmark: bench/ may not edit locks/, so hypotheses about
// ringlock::Mutex's spin policy are tested here on ExpMutex<Policy>, a copy of
// its word protocol (same bits, same Arm/OnWake, same wake rule; starvation
// bookkeeping kept; timeouts and the async backends left out) whose policy
// knobs are template parameters. Each variant runs beside ringlock::Mutex,
// std::mutex and the spinlock in the same run, and reports futex waits and
// wakes per lock acquisition (counted in the copy's futex calls).
//
//   ./bazelw run //bench:mutex_experiment -- --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true   (one line)
#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "absl/synchronization/mutex.h"
#include "benchmark/benchmark.h"
#include "locks/mutex.h"

namespace {

thread_local uint64_t t_waits = 0;  // FUTEX_WAIT calls by this thread
thread_local uint64_t t_wakes = 0;  // FUTEX_WAKE calls by this thread

inline void CpuRelax() { __builtin_ia32_pause(); }
inline int64_t Nanos() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

void FutexWait(std::atomic<uint32_t>& w, uint32_t expected, uint32_t bitset) {
  ++t_waits;
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&w), FUTEX_WAIT_BITSET_PRIVATE, expected,
          nullptr, nullptr, bitset);
}
void FutexWake(std::atomic<uint32_t>& w, uint32_t bitset) {
  ++t_wakes;
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&w), FUTEX_WAKE_BITSET_PRIVATE, 1, nullptr,
          nullptr, bitset);
}

// Policy knobs.
//   kSpin        spin iterations (load + pause) before registering (ringlock: 100)
//   kWakeSpin    after a wake finds the lock held: spin this many iterations,
//                keeping W set so unlockers do not wake another, before
//                sleeping again (ringlock: 0)
//   kSubUnlock   unlock with `lock sub` and test for zero, reloading the word
//                only on the slow path, instead of `lock xadd` (ringlock: xadd)
//   kSpinIfSleepers  keep spinning when waiters are already asleep (ringlock:
//                yes); false: a newcomer that sees N>0 parks at once
//   kBackoffCap  0: one pause per spin iteration (ringlock). n > 0: the pauses
//                between two looks at the word double from 1 up to n, and
//                kSpin counts pauses (the spin time budget) instead of looks:
//                fewer reads of the contended line while it is held.
template <int kSpin, int kWakeSpin, bool kSubUnlock, bool kSpinIfSleepers = true,
          int kBackoffCap = 0>
struct Policy {
  static constexpr int backoff_cap = kBackoffCap;
  static constexpr int spin = kSpin;
  static constexpr int wake_spin = kWakeSpin;
  static constexpr bool sub_unlock = kSubUnlock;
  static constexpr bool spin_if_sleepers = kSpinIfSleepers;
};

template <class P>
class ExpMutex {
 public:
  static constexpr uint32_t kLocked = 1u << 0;
  static constexpr uint32_t kWaking = 1u << 1;
  static constexpr uint32_t kStarvingOne = 1u << 2;
  static constexpr uint32_t kStarvingMask = 0xffu << 2;
  static constexpr uint32_t kWaiterOne = 1u << 10;
  static constexpr uint32_t kWaiterMask = ~0u << 10;
  static constexpr uint32_t kAnyBit = 1u << 0;
  static constexpr uint32_t kStarvingBit = 1u << 1;
  static constexpr int64_t kStarvationAfterNs = 1000000;

  void lock() {
    uint32_t expected = 0;
    if (!word_.compare_exchange_strong(expected, kLocked, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
      LockSlow();
    }
  }

  void unlock() {
    if constexpr (P::sub_unlock) {
      // fetch_sub(...) != kLocked compiles to `lock sub; jne` when the old
      // value is not otherwise used.
      if (word_.fetch_sub(kLocked, std::memory_order_release) != kLocked) {
        WakeOneIfUnattended(word_.load(std::memory_order_relaxed));
      }
    } else {
      const uint32_t old = word_.fetch_sub(kLocked, std::memory_order_release);
      if (old != kLocked) WakeOneIfUnattended(old - kLocked);
    }
  }

 private:
  __attribute__((noinline)) void LockSlow() {
    int pauses = 1;
    for (int spent = 0; spent < P::spin;) {
      uint32_t w = word_.load(std::memory_order_relaxed);
      if (w & kStarvingMask) break;
      if (!P::spin_if_sleepers && (w & kWaiterMask)) break;
      if ((w & kLocked) == 0 &&
          word_.compare_exchange_weak(w, w | kLocked, std::memory_order_acquire,
                                      std::memory_order_relaxed)) {
        return;
      }
      for (int k = 0; k < pauses; ++k) CpuRelax();
      spent += pauses;
      if (P::backoff_cap > 0 && pauses < P::backoff_cap) pauses *= 2;
    }
    uint32_t expected;
    if (Arm(&expected)) return;
    for (;;) {
      FutexWait(word_, expected, starving_bitset_ ? kAnyBit | kStarvingBit : kAnyBit);
      if (OnWake(&expected)) return;
    }
  }

  void WakeOneIfUnattended(uint32_t w) {
    for (;;) {
      if ((w & (kLocked | kWaking)) != 0 || (w & kWaiterMask) == 0) return;
      if (word_.compare_exchange_weak(w, w | kWaking, std::memory_order_relaxed)) {
        FutexWake(word_, (w & kStarvingMask) ? kStarvingBit : kAnyBit);
        return;
      }
    }
  }

  // Per-acquisition state; a real lock keeps it on the waiter's stack. Only
  // one thread at a time is between Arm and return here per acquisition, but
  // several waiters coexist, so it is thread_local.
  static thread_local int64_t registered_at_ns_;
  static thread_local bool starving_;
  static thread_local bool starving_bitset_;

  bool Arm(uint32_t* expected) {
    uint32_t w = word_.load(std::memory_order_relaxed);
    starving_ = false;
    starving_bitset_ = false;
    for (;;) {
      if ((w & (kLocked | kStarvingMask)) == 0) {
        if (word_.compare_exchange_weak(w, w | kLocked, std::memory_order_acquire,
                                        std::memory_order_relaxed)) {
          return true;
        }
        continue;
      }
      const uint32_t registered = w + kWaiterOne;
      if (word_.compare_exchange_weak(w, registered, std::memory_order_relaxed)) {
        registered_at_ns_ = Nanos();
        *expected = registered;
        return false;
      }
    }
  }

  bool OnWake(uint32_t* expected) {
    const bool waited_long = !starving_ && Nanos() - registered_at_ns_ >= kStarvationAfterNs;
    uint32_t w = word_.load(std::memory_order_relaxed);
    int spins = 0;
    for (;;) {
      const bool starving_room = (w & kStarvingMask) != kStarvingMask;
      const bool become_starving = waited_long && starving_room;
      if ((w & kLocked) == 0 && (starving_ || become_starving || (w & kStarvingMask) == 0)) {
        uint32_t taken = (w | kLocked) - kWaiterOne;
        if (starving_) taken -= kStarvingOne;
        taken &= ~kWaking;
        if (word_.compare_exchange_weak(w, taken, std::memory_order_acquire,
                                        std::memory_order_relaxed)) {
          starving_ = false;
          return true;
        }
        continue;
      }
      if ((w & kLocked) && !starving_ && !become_starving && spins < P::wake_spin &&
          (w & kWaking)) {
        // Held, we are the awake waiter (W is ours): spin a little before
        // giving W back and sleeping; unlockers meanwhile wake nobody.
        ++spins;
        CpuRelax();
        w = word_.load(std::memory_order_relaxed);
        continue;
      }
      uint32_t again = w + (become_starving ? kStarvingOne : 0);
      if (w & kLocked) {
        again &= ~kWaking;
        if (word_.compare_exchange_weak(w, again, std::memory_order_relaxed)) {
          starving_ = starving_ || become_starving;
          starving_bitset_ = starving_;
          *expected = again;
          return false;
        }
        continue;
      }
      again |= kWaking;
      if (word_.compare_exchange_weak(w, again, std::memory_order_relaxed)) {
        starving_ = starving_ || become_starving;
        starving_bitset_ = starving_;
        FutexWake(word_, kStarvingBit);
        *expected = again;
        return false;
      }
    }
  }

  std::atomic<uint32_t> word_{0};
};
template <class P>
thread_local int64_t ExpMutex<P>::registered_at_ns_ = 0;
template <class P>
thread_local bool ExpMutex<P>::starving_ = false;
template <class P>
thread_local bool ExpMutex<P>::starving_bitset_ = false;

class SpinLock {
 public:
  SpinLock() { pthread_spin_init(&lock_, PTHREAD_PROCESS_PRIVATE); }
  void lock() { pthread_spin_lock(&lock_); }
  void unlock() { pthread_spin_unlock(&lock_); }

 private:
  pthread_spinlock_t lock_;
};

class AbslMutex {
 public:
  // A thin adapter: the lock is held across calls, beyond static analysis.
  void lock() ABSL_NO_THREAD_SAFETY_ANALYSIS { mu_.Lock(); }
  void unlock() ABSL_NO_THREAD_SAFETY_ANALYSIS { mu_.Unlock(); }

 private:
  absl::Mutex mu_;
};

inline uint64_t Lcg(uint64_t x, int steps) {
  for (int i = 0; i < steps; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    asm volatile("" : "+r"(x));
  }
  return x;
}

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

template <class L>
struct alignas(64) Shared {
  L mu;
  uint64_t state = 1;
  uint64_t count = 0;
  int last_owner = -1;     // thread index of the previous holder
  uint64_t handoffs = 0;   // acquisitions by another thread than the previous
};

template <class L, int kInside, int kOutside>
void BM_Contended(benchmark::State& state) {
  static Shared<L> shared;
  if (state.thread_index() == 0) {
    shared.state = 1;
    shared.count = 0;
    shared.last_owner = -1;
    shared.handoffs = 0;
  }
  const int me = state.thread_index();
  t_waits = t_wakes = 0;
  uint64_t local = 0x9e3779b97f4a7c15ull + static_cast<uint64_t>(state.thread_index());
  for (auto _ : state) {
    shared.mu.lock();
    shared.state = Lcg(shared.state, kInside);
    ++shared.count;
    if (shared.last_owner != me) {  // a handoff: the line moved to this CPU (or thread)
      shared.last_owner = me;
      ++shared.handoffs;
    }
    shared.mu.unlock();
    local = Lcg(local, kOutside);
  }
  benchmark::DoNotOptimize(local);
  state.SetItemsProcessed(state.iterations());
  const double n = static_cast<double>(state.iterations());
  state.counters["waits/op"] = benchmark::Counter(t_waits / n, benchmark::Counter::kAvgThreads);
  state.counters["wakes/op"] = benchmark::Counter(t_wakes / n, benchmark::Counter::kAvgThreads);
  if (me == 0) {
    // Reported by thread 0 only; kAvgThreads would divide it, so scale up.
    state.counters["handoffs/op"] = benchmark::Counter(
        static_cast<double>(shared.handoffs) / (n * state.threads()) * state.threads(),
        benchmark::Counter::kAvgThreads);
  }
  if (state.thread_index() == 0 &&
      shared.count != static_cast<uint64_t>(state.iterations()) * state.threads()) {
    std::fprintf(stderr, "mutual exclusion violated\n");
    std::abort();
  }
}

#define EXP(L)                                                                   \
  BENCHMARK_TEMPLATE(BM_Pair, L);                                                \
  BENCHMARK_TEMPLATE(BM_Contended, L, 10, 20)->ThreadRange(1, 8)->UseRealTime(); \
  BENCHMARK_TEMPLATE(BM_Contended, L, 200, 20)->ThreadRange(1, 8)->UseRealTime()

using RinglockMutex = ringlock::Mutex;
using StdMutex = std::mutex;
// The copy as ringlock has it: must measure like RinglockMutex.
using Copy = ExpMutex<Policy<100, 0, false>>;
using SubUnlock = ExpMutex<Policy<100, 0, true>>;
using WakeSpin = ExpMutex<Policy<100, 100, true>>;
using Spin400 = ExpMutex<Policy<400, 0, true>>;
using Spin30 = ExpMutex<Policy<30, 0, true>>;
using Spin10 = ExpMutex<Policy<10, 0, true>>;
using Spin0 = ExpMutex<Policy<0, 0, true>>;
using NoSpinIfSleepers = ExpMutex<Policy<100, 100, true, false>>;
using Backoff16 = ExpMutex<Policy<100, 0, true, true, 16>>;
using Backoff16x400 = ExpMutex<Policy<400, 0, true, true, 16>>;
using Backoff64x400 = ExpMutex<Policy<400, 0, true, true, 64>>;

EXP(RinglockMutex);
EXP(StdMutex);
EXP(SpinLock);
EXP(AbslMutex);
EXP(Copy);
EXP(SubUnlock);
EXP(WakeSpin);
EXP(Spin400);
EXP(Spin30);
EXP(Spin10);
EXP(Spin0);
EXP(NoSpinIfSleepers);
EXP(Backoff16);
EXP(Backoff16x400);
EXP(Backoff64x400);

}  // namespace

BENCHMARK_MAIN();
