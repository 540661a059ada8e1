// libringlock_preload.so: ringlock's Mutex and CondVar protocols inside
// pthread_mutex_t and pthread_cond_t, for unmodified programs
// (LD_PRELOAD=libringlock_preload.so PROGRAM). What is taken over, where the
// words live and what misuse does: locks/preload/README.md.
//
// glibc 2.36, x86_64 layouts (checked below):
//   pthread_mutex_t (40 bytes): the ringlock::Mutex word is __lock (offset
//     0); __kind (offset 16) is left as glibc wrote it and decides, on every
//     call, whether the object is ringlock's or glibc's; debug builds keep
//     the holder's thread id in __owner (offset 8), as glibc does.
//   pthread_cond_t (48 bytes): a condvar becomes ringlock's at its first wait
//     with a ringlock mutex, by one 64-bit CAS of __wseq from 0 to a mark in
//     its high half; the ringlock::CondVar word is then the low half.
//     glibc's __wseq only grows (by 2 per wait), so a condvar glibc has
//     waited on never compares equal to 0, and the mark (top bit set) is a
//     value glibc would reach after 2^62 waits. __wrefs keeps the clock and
//     process-shared bits pthread_cond_init wrote.
#include "locks/preload/ringlock_preload.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "locks/condvar.h"
#include "locks/internal/check.h"
#include "locks/internal/tsan.h"
#include "locks/mutex.h"

namespace {

using ringlock::CondVar;
using ringlock::Deadline;
using ringlock::Mutex;
namespace rli = ringlock::internal;

static_assert(sizeof(pthread_mutex_t) == 40 && offsetof(pthread_mutex_t, __data.__lock) == 0 &&
                  offsetof(pthread_mutex_t, __data.__owner) == 8 &&
                  offsetof(pthread_mutex_t, __data.__kind) == 16,
              "glibc's x86_64 pthread_mutex_t layout");
static_assert(sizeof(pthread_cond_t) == 48 && offsetof(pthread_cond_t, __data.__wseq) == 0 &&
                  offsetof(pthread_cond_t, __data.__wrefs) == 36,
              "glibc's x86_64 pthread_cond_t layout");
static_assert(sizeof(Mutex) == 4 && sizeof(CondVar) == 4);

constexpr const char* kMutexName = "pthread_mutex_t (ringlock preload)";
constexpr const char* kCondName = "pthread_cond_t (ringlock preload)";

// ---- glibc's own functions, for the objects left to it ----

// dlsym, not dlvsym: the default version (the current pthread_cond_*), and
// a sanitizer runtime's unversioned interceptor when one comes next.
void* Next(const char* name) {
  void* p = dlsym(RTLD_NEXT, name);
  if (p == nullptr) {
    std::fprintf(stderr, "ringlock preload: %s not found in the C library\n", name);
    std::abort();
  }
  return p;
}

// Resolved at first use (another library's constructor may lock before ours
// runs). A racing first use resolves twice, to the same address.
#define RINGLOCK_REAL(name)                                                      \
  ([]() {                                                                                 \
    static std::atomic<void*> fn{nullptr};                                                \
    void* p = fn.load(std::memory_order_acquire);                                         \
    if (p == nullptr) {                                                                   \
      p = Next(#name);                                                                    \
      fn.store(p, std::memory_order_release);                                             \
    }                                                                                     \
    return reinterpret_cast<decltype(&::name)>(p);                                        \
  }())

// ---- counters: one block per thread, summed on request ----

struct ThreadCounters {
  ringlock_preload_stats s{};
  ThreadCounters* prev = nullptr;
  ThreadCounters* next = nullptr;
  bool registered = false;
  // For pthread_cancel (see "cancellation" below).
  pthread_t self{};
  std::atomic<uintptr_t> cond_waiting_on{0};  // pthread_cond_t*; bit 0: a canceller notifies it
  std::atomic<bool> cancel_requested{false};
};

// initial-exec: the library is loaded at startup (LD_PRELOAD), so its TLS is
// static and a counter is one %fs-relative add, no __tls_get_addr.
__attribute__((tls_model("initial-exec"))) thread_local ThreadCounters t_counters;
__attribute__((tls_model("initial-exec"))) thread_local int t_tid = 0;

// The registry's own lock is a ringlock::Mutex used directly (never through
// the interposed functions); fork handlers hold it across fork().
// Never destroyed: threads may lock after static destruction began.
union Registry {
  Mutex mu;
  constexpr Registry() : mu() {}
  ~Registry() {}
};
constinit Registry g_registry;
Mutex& g_registry_mu = g_registry.mu;
ThreadCounters* g_threads = nullptr;     // guarded by g_registry_mu
ringlock_preload_stats g_exited{};       // guarded by g_registry_mu
pthread_key_t g_exit_key;
pthread_once_t g_registry_once = PTHREAD_ONCE_INIT;

void Add(ringlock_preload_stats& to, const ringlock_preload_stats& from) {
  to.mutex_ringlock += from.mutex_ringlock;
  to.mutex_glibc += from.mutex_glibc;
  to.cond_wait_ringlock += from.cond_wait_ringlock;
  to.cond_wait_glibc += from.cond_wait_glibc;
  to.cond_notify_ringlock += from.cond_notify_ringlock;
  to.cond_notify_glibc += from.cond_notify_glibc;
}

// At thread exit: fold the thread's counts into g_exited.
void ThreadExit(void*) {
  ThreadCounters& c = t_counters;
  g_registry_mu.lock();
  Add(g_exited, c.s);
  c.s = {};
  if (c.prev != nullptr) c.prev->next = c.next; else g_threads = c.next;
  if (c.next != nullptr) c.next->prev = c.prev;
  c.prev = c.next = nullptr;
  c.registered = false;  // a lock taken later in this thread's exit registers again
  g_registry_mu.unlock();
}

// In a child of fork(), until it creates a thread, the waiters a mutex word
// counts are the parent's other threads, which do not exist here. A
// starving one would keep the lock from everyone forever (the word reserves
// it for starving waiters), so the child's lock calls drop them first.
std::atomic<bool> g_forked_child_alone{false};

void RegistryInit() { pthread_key_create(&g_exit_key, &ThreadExit); }

__attribute__((noinline)) void Register() {
  pthread_once(&g_registry_once, &RegistryInit);
  ThreadCounters& c = t_counters;
  g_registry_mu.lock();
  c.next = g_threads;
  if (g_threads != nullptr) g_threads->prev = &c;
  g_threads = &c;
  c.registered = true;
  c.self = pthread_self();
  g_registry_mu.unlock();
  pthread_setspecific(g_exit_key, &c);
}

inline void Count(uint64_t ringlock_preload_stats::*field) {
  ThreadCounters& c = t_counters;
  if (__builtin_expect(!c.registered, 0)) Register();
  // Only this thread writes its block; readers sum it racily (relaxed).
  __atomic_store_n(&(c.s.*field), c.s.*field + 1, __ATOMIC_RELAXED);
}

const char* g_stats_path = nullptr;  // RINGLOCK_PRELOAD_STATS=/path

void PrintStatsAtExit() {
  ringlock_preload_stats all{};
  ringlock_preload_get_stats(&all, nullptr);
  // A file is appended to: some programs (xz) close stderr before exit.
  FILE* f = g_stats_path != nullptr ? std::fopen(g_stats_path, "a") : stderr;
  if (f == nullptr) return;
  std::fprintf(f,
               "ringlock preload: mutex locks %llu ringlock, %llu glibc; cond waits %llu "
               "ringlock, %llu glibc; cond notifies %llu ringlock, %llu glibc\n",
               (unsigned long long)all.mutex_ringlock, (unsigned long long)all.mutex_glibc,
               (unsigned long long)all.cond_wait_ringlock, (unsigned long long)all.cond_wait_glibc,
               (unsigned long long)all.cond_notify_ringlock,
               (unsigned long long)all.cond_notify_glibc);
  if (f != stderr) std::fclose(f);
}

__attribute__((constructor)) void PreloadInit() {
  pthread_atfork([] { g_registry_mu.lock(); }, [] { g_registry_mu.unlock(); },
                 [] {
                   // Alone in the child: drop the parent's waiters, then unlock.
                   rli::WordAccess::Of(g_registry_mu).store(Mutex::kLocked, std::memory_order_relaxed);
                   g_registry_mu.unlock();
                   g_forked_child_alone.store(true, std::memory_order_relaxed);
                 });
  // RINGLOCK_PRELOAD_STATS=1 prints the counts to stderr at exit;
  // RINGLOCK_PRELOAD_STATS=/path appends them to that file.
  const char* e = std::getenv("RINGLOCK_PRELOAD_STATS");
  if (e != nullptr && e[0] != '\0' && std::strcmp(e, "0") != 0) {
    if (e[0] == '/') g_stats_path = e;
    std::atexit(&PrintStatsAtExit);
  }
}

// ---- time ----

bool ValidTimespec(const timespec* ts) {
  return ts != nullptr && ts->tv_nsec >= 0 && ts->tv_nsec < 1'000'000'000;
}

// An absolute time on `clock` (CLOCK_REALTIME or CLOCK_MONOTONIC) as
// CLOCK_MONOTONIC nanoseconds; INT64_MAX: too far to represent (never).
// Realtime converts by the time remaining, as std::chrono does.
int64_t MonotonicNanos(clockid_t clock, const timespec& ts) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  auto to_ns = [](const timespec& t) -> int64_t {
    if (t.tv_sec < 0) return 0;
    if (t.tv_sec >= kMax / 1'000'000'000 - 1) return kMax;
    return t.tv_sec * 1'000'000'000 + t.tv_nsec;
  };
  const int64_t ns = to_ns(ts);
  if (clock == CLOCK_MONOTONIC || ns == kMax) return ns;
  timespec now_rt;
  clock_gettime(CLOCK_REALTIME, &now_rt);
  const int64_t left = ns - to_ns(now_rt);  // both in [0, kMax): no overflow
  const int64_t now_mono = Deadline::NowNanos();
  if (left <= 0) return now_mono;
  return left >= kMax - now_mono ? kMax : now_mono + left;
}

// ---- mutexes ----

// glibc's kind bits besides the type: lock elision hints (pthreadP.h).
constexpr int kElisionFlags = 256 | 512;

// Normal (the default, PTHREAD_MUTEX_INITIALIZER) and adaptive mutexes are
// ringlock's; recursive, error-checking, robust, PI, PP and process-shared
// ones, and destroyed ones (kind -1), are glibc's.
bool Ours(const pthread_mutex_t* m) {
  const int kind = __atomic_load_n(&m->__data.__kind, __ATOMIC_RELAXED) & ~kElisionFlags;
  return kind == PTHREAD_MUTEX_NORMAL || kind == PTHREAD_MUTEX_ADAPTIVE_NP;
}

Mutex& Rl(pthread_mutex_t* m) { return *reinterpret_cast<Mutex*>(&m->__data.__lock); }

// See g_forked_child_alone: only this thread touches the word, so a plain
// store that keeps just the locked bit is safe.
__attribute__((always_inline)) inline void DropGhostWaiters(pthread_mutex_t* m) {
  if (__builtin_expect(g_forked_child_alone.load(std::memory_order_relaxed), 0)) {
    rli::FutexWord& w = rli::WordAccess::Of(Rl(m));
    const uint32_t v = w.load(std::memory_order_relaxed);
    if (v & ~Mutex::kLocked) w.store(v & Mutex::kLocked, std::memory_order_relaxed);
  }
}

[[maybe_unused]] int SelfTid() {
  if (__builtin_expect(t_tid == 0, 0)) t_tid = static_cast<int>(gettid());
  return t_tid;
}
[[maybe_unused]] int Owner(const pthread_mutex_t* m) { return __atomic_load_n(&m->__data.__owner, __ATOMIC_RELAXED); }
// Debug builds: the holder's thread id (cached per thread: the forking
// thread keeps its identity in a child, so a mutex it held unlocks there).
void SetOwner(pthread_mutex_t* m) {
  if constexpr (rli::kDebugChecks) __atomic_store_n(&m->__data.__owner, SelfTid(), __ATOMIC_RELAXED);
}

void RlLock(pthread_mutex_t* m) {
  RINGLOCK_MISUSE_IF(Owner(m) == SelfTid(), kMutexName,
                     "pthread_mutex_lock by the thread that holds it (a normal mutex deadlocks)");
  DropGhostWaiters(m);
  Rl(m).lock();
  SetOwner(m);
}

int RlTimedLock(pthread_mutex_t* m, clockid_t clock, const timespec* abstime) {
  DropGhostWaiters(m);
  if (Rl(m).try_lock()) {
    SetOwner(m);
    return 0;
  }
  if (!ValidTimespec(abstime)) return EINVAL;
  if (!Rl(m).try_lock_until_deadline(Deadline::FromMonotonicNanos(MonotonicNanos(clock, *abstime))))
    return ETIMEDOUT;
  SetOwner(m);
  return 0;
}

int RlUnlock(pthread_mutex_t* m) {
  Mutex& mu = Rl(m);
  if (!mu.is_locked()) {
    RINGLOCK_MISUSE_IF(true, kMutexName, "pthread_mutex_unlock of a mutex that is not locked");
    return EPERM;  // release builds: leave the word alone rather than corrupt it
  }
  if constexpr (rli::kDebugChecks) {
    RINGLOCK_MISUSE_IF(Owner(m) != SelfTid(), kMutexName,
                       "pthread_mutex_unlock by a thread that does not hold it");
    __atomic_store_n(&m->__data.__owner, 0, __ATOMIC_RELAXED);
  }
  mu.unlock();
  return 0;
}

// ---- condition variables ----

// The mark in __wseq's high half: top bit set (see the top of the file).
constexpr uint32_t kCondMark = 0xc1e9b00cu;

unsigned long long* Wseq(pthread_cond_t* c) { return &c->__data.__wseq.__value64; }
// __wseq's low half (offset 0).
CondVar& Rlc(pthread_cond_t* c) { return *reinterpret_cast<CondVar*>(c); }
bool CondIsOurs(pthread_cond_t* c) {
  return (__atomic_load_n(Wseq(c), __ATOMIC_ACQUIRE) >> 32) == kCondMark;
}
// pthread_cond_init's bits in __wrefs: bit 0 process-shared, bit 1 monotonic clock.
unsigned CondFlags(pthread_cond_t* c) { return __atomic_load_n(&c->__data.__wrefs, __ATOMIC_RELAXED); }

enum class CondMode { kRinglock, kGlibc, kMixed };

// The first wait decides: a ringlock mutex marks the condvar ringlock's,
// unless glibc has already waited on it (or it is process-shared).
CondMode ModeForWait(pthread_cond_t* c, pthread_mutex_t* m) {
  const bool mutex_ours = Ours(m);
  if (CondIsOurs(c)) return mutex_ours ? CondMode::kRinglock : CondMode::kMixed;
  if (!mutex_ours) return CondMode::kGlibc;
  if (CondFlags(c) & 1) return CondMode::kMixed;
  unsigned long long expected = 0;
  if (__atomic_compare_exchange_n(Wseq(c), &expected, static_cast<unsigned long long>(kCondMark) << 32, false,
                                  __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
    return CondMode::kRinglock;
  }
  return (expected >> 32) == kCondMark ? CondMode::kRinglock : CondMode::kMixed;
}

int Mixed() {
  RINGLOCK_MISUSE_IF(true, kCondName,
                     "one condition variable waited on with a mutex ringlock runs and with one "
                     "glibc runs (recursive, error-checking, robust, PI/PP or process-shared), "
                     "or a process-shared condition variable with a normal mutex");
  return EINVAL;
}

// ---- cancellation ----
//
// pthread_cond_wait / timedwait / clockwait are cancellation points. glibc
// 2.36 makes a blocking syscall cancellable by switching to asynchronous
// cancellation around it, which ringlock's futex wait (deep in the CondVar
// protocol) cannot safely do. Instead a wait publishes the condvar it sleeps
// on, and pthread_cancel (interposed) wakes it with a notify_all (a spurious
// wakeup for the others, as POSIX allows); the wait then returns with the
// mutex held again and acts on the cancel with pthread_testcancel(), so the
// cleanup handlers run with the mutex held, as POSIX requires.
// The one race: the cancel arrives after the wait's entry check but before
// it registered on the CondVar word, so its notify finds nobody. The wait
// closes it in the callback CondVar runs after registering (HeldMutex::
// unlock): it reads the thread's cancel_requested there and notifies the
// condvar itself if set, so its own sleep fails at once. All seq_cst: the
// waiter publishes, registers, does an RMW on the published word and reads
// the request; the canceller writes the request and claims the published
// word. Either the waiter reads the request, or the claim reads the RMW and
// so sees the registration, and its notify wakes the waiter.

// Publishes `c` as the condvar this thread is about to wait on.
void PublishCondWait(ThreadCounters& self, pthread_cond_t* c) {
  self.cond_waiting_on.store(reinterpret_cast<uintptr_t>(c), std::memory_order_seq_cst);
}

// Withdraws it; waits out a canceller that is notifying it right now (one
// futex wake), so the condvar may be destroyed once the wait returns.
void WithdrawCondWait(ThreadCounters& self) {
  for (;;) {
    uintptr_t v = self.cond_waiting_on.load(std::memory_order_acquire);
    if (v & 1) {
      sched_yield();
    } else if (self.cond_waiting_on.compare_exchange_weak(v, 0, std::memory_order_acq_rel)) {
      return;
    }
  }
}

// What CondVar releases (after registering the waiter) and retakes around
// its wait.
struct HeldMutex {
  pthread_mutex_t* m;
  pthread_cond_t* c;
  ThreadCounters* cancellable;  // null when this wait is no cancellation point
  void unlock() {
    RlUnlock(m);
    if (cancellable != nullptr) {
      // An RMW on the published word after registering: a canceller whose
      // claim reads it also sees the registration (see "cancellation").
      cancellable->cond_waiting_on.fetch_add(0, std::memory_order_seq_cst);
      if (cancellable->cancel_requested.load(std::memory_order_seq_cst)) Rlc(c).notify_all();
    }
  }
  void lock() {
    DropGhostWaiters(m);
    Rl(m).lock();
    SetOwner(m);
  }
};

int RlCondWait(pthread_cond_t* c, pthread_mutex_t* m, clockid_t clock, const timespec* abstime) {
  RINGLOCK_MISUSE_IF(Owner(m) != SelfTid(), kCondName,
                     "pthread_cond_wait with a mutex the calling thread does not hold");
  // A cancellation point only while cancellation is enabled.
  int state = PTHREAD_CANCEL_DISABLE;
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
  pthread_setcancelstate(state, nullptr);
  ThreadCounters* cancellable = nullptr;
  if (state == PTHREAD_CANCEL_ENABLE) {
    pthread_testcancel();  // a cancel already pending acts now (the mutex is held)
    cancellable = &t_counters;  // registered: the caller counted this wait
    PublishCondWait(*cancellable, c);
  }
  HeldMutex held{m, c, cancellable};
  int rc = 0;
  if (abstime == nullptr) {
    Rlc(c).wait(held);
  } else {
    const std::chrono::steady_clock::time_point t{
        std::chrono::nanoseconds(MonotonicNanos(clock, *abstime))};
    if (Rlc(c).wait_until(held, t) == std::cv_status::timeout) rc = ETIMEDOUT;
  }
  if (cancellable != nullptr) {
    WithdrawCondWait(*cancellable);
    pthread_testcancel();  // the mutex is held again: cleanup handlers see it held
  }
  return rc;
}

// After glibc recorded the cancel: wakes the target if it is in a ringlock
// condvar wait (or tells it, through cancel_requested, before it sleeps).
void WakeCancelledCondWait(pthread_t target) {
  g_registry_mu.lock();  // keeps the target's block alive (it unregisters at exit)
  for (ThreadCounters* t = g_threads; t != nullptr; t = t->next) {
    if (!pthread_equal(t->self, target)) continue;
    t->cancel_requested.store(true, std::memory_order_seq_cst);
    uintptr_t c = t->cond_waiting_on.load(std::memory_order_seq_cst);
    // Claim it (bit 0) so the waiter cannot return and free it meanwhile.
    while (c != 0 && !(c & 1) &&
           !t->cond_waiting_on.compare_exchange_weak(c, c | 1, std::memory_order_seq_cst)) {
    }
    if (c != 0 && !(c & 1)) {
      Rlc(reinterpret_cast<pthread_cond_t*>(c)).notify_all();
      t->cond_waiting_on.store(c, std::memory_order_release);
    }
    break;
  }
  g_registry_mu.unlock();
}

}  // namespace

// ---- the interposed functions ----

extern "C" {

void ringlock_preload_get_stats(ringlock_preload_stats* all, ringlock_preload_stats* self) {
  if (self != nullptr) *self = t_counters.s;
  if (all == nullptr) return;
  pthread_once(&g_registry_once, &RegistryInit);
  ringlock_preload_stats sum{};
  g_registry_mu.lock();
  Add(sum, g_exited);
  for (ThreadCounters* c = g_threads; c != nullptr; c = c->next) {
    ringlock_preload_stats s;
    s.mutex_ringlock = __atomic_load_n(&c->s.mutex_ringlock, __ATOMIC_RELAXED);
    s.mutex_glibc = __atomic_load_n(&c->s.mutex_glibc, __ATOMIC_RELAXED);
    s.cond_wait_ringlock = __atomic_load_n(&c->s.cond_wait_ringlock, __ATOMIC_RELAXED);
    s.cond_wait_glibc = __atomic_load_n(&c->s.cond_wait_glibc, __ATOMIC_RELAXED);
    s.cond_notify_ringlock = __atomic_load_n(&c->s.cond_notify_ringlock, __ATOMIC_RELAXED);
    s.cond_notify_glibc = __atomic_load_n(&c->s.cond_notify_glibc, __ATOMIC_RELAXED);
    Add(sum, s);
  }
  g_registry_mu.unlock();
  *all = sum;
}

// Only to note that a forked child is no longer alone (DropGhostWaiters).
int pthread_create(pthread_t* t, const pthread_attr_t* attr, void* (*fn)(void*), void* arg) {
  g_forked_child_alone.store(false, std::memory_order_relaxed);
  return RINGLOCK_REAL(pthread_create)(t, attr, fn, arg);
}

int pthread_cancel(pthread_t t) {
  const int rc = RINGLOCK_REAL(pthread_cancel)(t);
  if (rc == 0) WakeCancelledCondWait(t);
  return rc;
}

int pthread_mutex_init(pthread_mutex_t* m, const pthread_mutexattr_t* attr) {
  // glibc writes the kind and zeroes the rest: a zero word is a free Mutex.
  return RINGLOCK_REAL(pthread_mutex_init)(m, attr);
}

int pthread_mutex_destroy(pthread_mutex_t* m) {
  if (Ours(m)) {
    if (__atomic_load_n(&m->__data.__lock, __ATOMIC_RELAXED) != 0) {
      RINGLOCK_MISUSE_IF(true, kMutexName, "pthread_mutex_destroy of a locked mutex or one with waiters");
      return EBUSY;
    }
    rli::TsanMutexDestroyed(&Rl(m));
  }
  // glibc marks it destroyed (kind -1): later use goes to glibc, which says EINVAL.
  return RINGLOCK_REAL(pthread_mutex_destroy)(m);
}

int pthread_mutex_lock(pthread_mutex_t* m) {
  if (Ours(m)) {
    Count(&ringlock_preload_stats::mutex_ringlock);
    RlLock(m);
    return 0;
  }
  Count(&ringlock_preload_stats::mutex_glibc);
  return RINGLOCK_REAL(pthread_mutex_lock)(m);
}

int pthread_mutex_trylock(pthread_mutex_t* m) {
  if (Ours(m)) {
    Count(&ringlock_preload_stats::mutex_ringlock);
    DropGhostWaiters(m);
    if (!Rl(m).try_lock()) return EBUSY;
    SetOwner(m);
    return 0;
  }
  Count(&ringlock_preload_stats::mutex_glibc);
  return RINGLOCK_REAL(pthread_mutex_trylock)(m);
}

int pthread_mutex_timedlock(pthread_mutex_t* m, const struct timespec* abstime) {
  if (Ours(m)) {
    Count(&ringlock_preload_stats::mutex_ringlock);
    return RlTimedLock(m, CLOCK_REALTIME, abstime);
  }
  Count(&ringlock_preload_stats::mutex_glibc);
  return RINGLOCK_REAL(pthread_mutex_timedlock)(m, abstime);
}

int pthread_mutex_clocklock(pthread_mutex_t* m, clockid_t clock, const struct timespec* abstime) {
  if (Ours(m)) {
    Count(&ringlock_preload_stats::mutex_ringlock);
    if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC) return EINVAL;
    return RlTimedLock(m, clock, abstime);
  }
  Count(&ringlock_preload_stats::mutex_glibc);
  return RINGLOCK_REAL(pthread_mutex_clocklock)(m, clock, abstime);
}

int pthread_mutex_unlock(pthread_mutex_t* m) {
  if (Ours(m)) return RlUnlock(m);
  return RINGLOCK_REAL(pthread_mutex_unlock)(m);
}

int pthread_cond_init(pthread_cond_t* c, const pthread_condattr_t* attr) {
  // glibc zeroes it (undecided) and keeps the clock and pshared bits.
  return RINGLOCK_REAL(pthread_cond_init)(c, attr);
}

int pthread_cond_destroy(pthread_cond_t* c) {
  if (CondIsOurs(c)) {
    if constexpr (rli::kDebugChecks) {
      // W alone may be stale; a wake that finds a sleeper is proof.
      auto& word = rli::WordAccess::Of(Rlc(c));
      if (word.load(std::memory_order_relaxed) & rli::kCondWaiters) {
        RINGLOCK_MISUSE_IF(rli::CondVarHasSleepers(word, ringlock::FutexScope::kPrivate),
                           kCondName, "pthread_cond_destroy with waiters");
      }
    }
    return 0;
  }
  return RINGLOCK_REAL(pthread_cond_destroy)(c);
}

int pthread_cond_wait(pthread_cond_t* c, pthread_mutex_t* m) {
  switch (ModeForWait(c, m)) {
    case CondMode::kRinglock:
      Count(&ringlock_preload_stats::cond_wait_ringlock);
      return RlCondWait(c, m, CLOCK_REALTIME, nullptr);
    case CondMode::kGlibc:
      Count(&ringlock_preload_stats::cond_wait_glibc);
      return RINGLOCK_REAL(pthread_cond_wait)(c, m);
    case CondMode::kMixed:
      break;
  }
  return Mixed();
}

int pthread_cond_timedwait(pthread_cond_t* c, pthread_mutex_t* m, const struct timespec* abstime) {
  switch (ModeForWait(c, m)) {
    case CondMode::kRinglock:
      Count(&ringlock_preload_stats::cond_wait_ringlock);
      if (!ValidTimespec(abstime)) return EINVAL;
      return RlCondWait(c, m, (CondFlags(c) & 2) ? CLOCK_MONOTONIC : CLOCK_REALTIME, abstime);
    case CondMode::kGlibc:
      Count(&ringlock_preload_stats::cond_wait_glibc);
      return RINGLOCK_REAL(pthread_cond_timedwait)(c, m, abstime);
    case CondMode::kMixed:
      break;
  }
  return Mixed();
}

int pthread_cond_clockwait(pthread_cond_t* c, pthread_mutex_t* m, clockid_t clock,
                           const struct timespec* abstime) {
  switch (ModeForWait(c, m)) {
    case CondMode::kRinglock:
      Count(&ringlock_preload_stats::cond_wait_ringlock);
      if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC) return EINVAL;
      if (!ValidTimespec(abstime)) return EINVAL;
      return RlCondWait(c, m, clock, abstime);
    case CondMode::kGlibc:
      Count(&ringlock_preload_stats::cond_wait_glibc);
      return RINGLOCK_REAL(pthread_cond_clockwait)(c, m, clock, abstime);
    case CondMode::kMixed:
      break;
  }
  return Mixed();
}

int pthread_cond_signal(pthread_cond_t* c) {
  if (CondIsOurs(c)) {
    Count(&ringlock_preload_stats::cond_notify_ringlock);
    Rlc(c).notify_one();
    return 0;
  }
  Count(&ringlock_preload_stats::cond_notify_glibc);
  return RINGLOCK_REAL(pthread_cond_signal)(c);
}

int pthread_cond_broadcast(pthread_cond_t* c) {
  if (CondIsOurs(c)) {
    Count(&ringlock_preload_stats::cond_notify_ringlock);
    Rlc(c).notify_all();
    return 0;
  }
  Count(&ringlock_preload_stats::cond_notify_glibc);
  return RINGLOCK_REAL(pthread_cond_broadcast)(c);
}

}  // extern "C"
