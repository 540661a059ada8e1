// Torture: randomised schedules of every waiter kind on every primitive,
// with faults injected, and invariants checked throughout. See README.md.
//
// Each run is a series of rounds. A round draws its configuration from the
// seed (each loop's engine: native futex SQEs, futex_waitv(2) fallback, or
// emulated io_uring; tiny SQ of 2 entries, small CQ; fault rates) and runs,
// for a slice of time, at once:
//   * 2 futex(2) threads and 2 ring-blocking threads (own EventLoop) doing a
//     random mix: Mutex lock / try_lock_for, Semaphore acquire /
//     try_acquire_for, an auto-reset Event used as a token, a manual-reset
//     Event used as a gate, WaitAny over Mutex + Semaphore + token, CondVar
//     ticket produce / consume (timed), releases inside WakeBatch scopes;
//   * 2 loop threads with 3 coroutines each doing the async forms of the
//     same (lock_async(_for), acquire_async(_for), wait_async(_for),
//     WaitAnyAsync, cv.wait_async(_for)) and cancelling waits by destroying
//     their coroutine, plus one CondVar consumer coroutine per loop;
//   * a thread that makes loops with coroutine waits pending on the shared
//     primitives (and on ones nobody will release) and destroys them;
//   * a signaller: pthread_kill(SIGUSR1) to blocked workers (no-op handler
//     without SA_RESTART);
//   * once per round, fork() while waits are pending: the child uses fresh
//     primitives (and a fresh loop) and exits with _exit.
// Faults injected through uring/fault_hooks.h and futex::SetSyscallFaultHook:
// -EINTR / -EAGAIN / -ENOMEM on futex wait completions, the same errnos on
// futex(2) / futex_waitv(2) syscalls, delays in the futex_waitv(2) helper.
//
// Invariants: mutual exclusion (Mutex, token), at most kPermits Semaphore
// holders, exact counters (Mutex counter == acquisitions; tickets produced ==
// consumed + left), no timed wait failing before its deadline, every worker
// and coroutine finished, every word idle at the end of each round. A stall
// watchdog fails the test instead of hanging.
//
// RINGLOCK_TORTURE_SECONDS: total duration (default: the short CI form);
// RINGLOCK_TORTURE_SEED: replay a seed (printed at start).
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "locks/async.h"
#include "locks/condvar.h"
#include "locks/event.h"
#include "locks/mutex.h"
#include "locks/semaphore.h"
#include "locks/wait_any.h"
#include "locks/wake_batch.h"
#include "tests/locks/stall_watchdog.h"
#include "tests/locks/waiter_modes.h"
#include "uring/event_loop.h"
#include "uring/fault_hooks.h"
#include "uring/io.h"
#include "uring/sys/futex.h"
#include "uring/task.h"

#if defined(__SANITIZE_THREAD__)
#define RINGLOCK_TORTURE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RINGLOCK_TORTURE_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define RINGLOCK_TORTURE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RINGLOCK_TORTURE_ASAN 1
#endif
#endif
// The fork()ed child runs an EventLoop only where allocating after a
// multi-threaded fork is safe: TSAN cannot start threads there, and GCC 12's
// ASAN allocator has no fork handler, so the child can block forever on an
// allocator lock another thread held at fork() (seen: operator new in the
// child's lock_async).
#if !defined(RINGLOCK_TORTURE_TSAN) && !defined(RINGLOCK_TORTURE_ASAN)
#define RINGLOCK_TORTURE_CHILD_LOOP 1
#endif

namespace ringlock {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using uring::EventLoop;
using uring::Task;

constexpr uint32_t kPermits = 3;

// ---- Configuration ----------------------------------------------------------

int TotalSeconds() {
  const char* s = std::getenv("RINGLOCK_TORTURE_SECONDS");
  return s ? std::max(1, std::atoi(s)) : 0;  // 0: the short CI form
}

uint64_t Seed() {
  if (const char* s = std::getenv("RINGLOCK_TORTURE_SEED")) return std::strtoull(s, nullptr, 0);
  return std::random_device{}() * uint64_t{0x100000001} ^ std::random_device{}();
}

// ---- Fault injection --------------------------------------------------------

struct Faults {
  std::atomic<int64_t> completion_eintr{0}, completion_eagain{0}, completion_enomem{0};
  std::atomic<int64_t> syscall_eintr{0}, syscall_eagain{0}, syscall_enomem{0};
  std::atomic<int64_t> helper_delays{0}, signals{0};
  std::atomic<int64_t> tiny_sq_loops{0}, small_cq_loops{0}, cq_floods{0};
  std::atomic<int64_t> fallback_loops{0}, emulated_loops{0};
  std::atomic<int64_t> loops_destroyed{0}, waits_lost_with_loop{0}, forks{0};
};
Faults g_faults;

// Per mille; set per round, read by the hooks on any thread.
std::atomic<uint32_t> g_completion_rate{0}, g_syscall_rate{0}, g_delay_rate{0};
std::atomic<uint64_t> g_hook_seed{0};
std::atomic<uint64_t> g_hook_threads{0};

uint64_t HookRand() {
  thread_local uint64_t x = 0;
  if (x == 0) {
    x = (g_hook_seed.load() + 0x9e3779b97f4a7c15ull * (g_hook_threads.fetch_add(1) + 1)) | 1;
  }
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return x;
}

int32_t CompletionFault(int32_t res) {
  if (HookRand() % 1000 >= g_completion_rate.load(std::memory_order_relaxed)) return res;
  switch (HookRand() % 3) {
    case 0:
      g_faults.completion_eintr.fetch_add(1, std::memory_order_relaxed);
      return -EINTR;
    case 1:
      g_faults.completion_eagain.fetch_add(1, std::memory_order_relaxed);
      return -EAGAIN;
    default:
      g_faults.completion_enomem.fetch_add(1, std::memory_order_relaxed);
      return -ENOMEM;
  }
}

int SyscallFault(futex::SyscallKind kind) {
  if (HookRand() % 1000 >= g_syscall_rate.load(std::memory_order_relaxed)) return 0;
  // futex(2) FUTEX_WAIT allocates nothing: ENOMEM only for futex_waitv(2).
  switch (HookRand() % (kind == futex::SyscallKind::kWaitv ? 3 : 2)) {
    case 0:
      g_faults.syscall_eintr.fetch_add(1, std::memory_order_relaxed);
      return EINTR;
    case 1:
      g_faults.syscall_eagain.fetch_add(1, std::memory_order_relaxed);
      return EAGAIN;
    default:
      g_faults.syscall_enomem.fetch_add(1, std::memory_order_relaxed);
      return ENOMEM;
  }
}

void HelperDelay() {
  if (HookRand() % 1000 >= g_delay_rate.load(std::memory_order_relaxed)) return;
  g_faults.helper_delays.fetch_add(1, std::memory_order_relaxed);
  std::this_thread::sleep_for(microseconds(HookRand() % 500));
}

void OnSignal(int) {}

// ---- Shared state of a round ------------------------------------------------

struct Shared {
  Mutex mu;
  int64_t counter = 0;  // guarded by mu
  std::atomic<int> inside{0};
  Semaphore sem{kPermits};
  std::atomic<int> sem_holders{0};
  Event token{EventMode::kAutoReset, /*initially_set=*/true};  // a binary token
  std::atomic<int> token_holders{0};
  Event gate{EventMode::kManualReset};  // toggled by the round's driver

  Mutex qmu;
  CondVar cv;
  int64_t tickets = 0;  // guarded by qmu
  bool q_stop = false;  // guarded by qmu
  std::atomic<int64_t> produced{0}, consumed{0};

  std::atomic<bool> stop{false};
  std::atomic<int64_t> acquisitions{0}, sem_takes{0}, token_takes{0}, gate_passes{0};
  std::atomic<int64_t> wait_any_takes{0}, timeouts{0}, early_timeouts{0}, cancels{0};
  std::atomic<int64_t> ops{0}, checks{0}, violations{0};
  std::atomic<int64_t> coroutines_started{0}, coroutines_finished{0};
  std::atomic<int64_t>* progress = nullptr;

  void Progress() {
    ops.fetch_add(1, std::memory_order_relaxed);
    progress->fetch_add(1, std::memory_order_relaxed);
  }
  // `what` names the invariant; the first one violated is reported.
  void Check(bool ok, const char* what = "") {
    checks.fetch_add(1, std::memory_order_relaxed);
    if (!ok && violations.fetch_add(1) == 0) first_violation.store(what);
  }
  std::atomic<const char*> first_violation{""};
  void TimedOut(std::chrono::steady_clock::time_point start, microseconds timeout) {
    timeouts.fetch_add(1, std::memory_order_relaxed);
    Check(std::chrono::steady_clock::now() - start >= timeout);
    if (std::chrono::steady_clock::now() - start < timeout) early_timeouts.fetch_add(1);
  }
  // With mu held.
  void InMutex() {
    Check(inside.exchange(1) == 0);
    ++counter;
    inside.store(0);
    acquisitions.fetch_add(1, std::memory_order_relaxed);
  }
  // With a permit held.
  void InSemaphore() {
    Check(sem_holders.fetch_add(1) + 1 <= static_cast<int>(kPermits));
    sem_holders.fetch_sub(1);
    sem_takes.fetch_add(1, std::memory_order_relaxed);
  }
  // With the token held; gives it back (the auto-reset event's set()).
  void InToken(bool batched) {
    Check(token_holders.fetch_add(1) == 0);
    token_holders.fetch_sub(1);
    token_takes.fetch_add(1, std::memory_order_relaxed);
    if (batched) {
      WakeBatch b;
      token.set();
    } else {
      token.set();
    }
  }
  void Unlock(bool batched) {
    if (batched) {
      WakeBatch b;
      mu.unlock();
    } else {
      mu.unlock();
    }
  }
  void Release(bool batched) {
    if (batched) {
      WakeBatch b;
      sem.release();
    } else {
      sem.release();
    }
  }
  // After WaitAny took primitive `i` of {mu, sem, token}.
  void AfterWaitAny(int i, bool batched) {
    wait_any_takes.fetch_add(1, std::memory_order_relaxed);
    if (i == 0) {
      InMutex();
      Unlock(batched);
    } else if (i == 1) {
      InSemaphore();
      Release(batched);
    } else {
      InToken(batched);
    }
  }
  void Produce(bool batched) {
    {
      std::lock_guard<Mutex> g(qmu);
      ++tickets;
    }
    produced.fetch_add(1, std::memory_order_relaxed);
    if (batched) {
      WakeBatch b;
      cv.notify_one();
    } else {
      cv.notify_one();
    }
  }

  std::string Describe() const {
    char buf[512];
    std::snprintf(buf, sizeof(buf),
                  "mu=%#x sem=%#x token=%#x gate=%#x qmu=%#x cv=%#x ops=%" PRId64
                  " coroutines %" PRId64 "/%" PRId64,
                  mu.word().load(), sem.word().load(), token.word().load(), gate.word().load(),
                  qmu.word().load(), cv.word().load(), ops.load(), coroutines_finished.load(),
                  coroutines_started.load());
    return buf;
  }
};

// ---- Blocking workers (futex(2) threads and ring-blocking threads) ---------

void BlockingStep(Shared& s, std::mt19937_64& rng) {
  const int op = static_cast<int>(rng() % 11);
  const bool batched = rng() % 4 == 0;
  const auto timeout = microseconds(rng() % 400);
  const auto start = std::chrono::steady_clock::now();
  switch (op) {
    case 0:
      s.mu.lock();
      s.InMutex();
      s.Unlock(batched);
      break;
    case 1:
      if (s.mu.try_lock_for(timeout)) {
        s.InMutex();
        s.Unlock(batched);
      } else {
        s.TimedOut(start, timeout);
      }
      break;
    case 2:
      s.sem.acquire();
      s.InSemaphore();
      s.Release(batched);
      break;
    case 3:
      if (s.sem.try_acquire_for(timeout)) {
        s.InSemaphore();
        s.Release(batched);
      } else {
        s.TimedOut(start, timeout);
      }
      break;
    case 4:
      s.token.wait();
      s.InToken(batched);
      break;
    case 5:
      if (s.token.wait_for(timeout)) {
        s.InToken(batched);
      } else {
        s.TimedOut(start, timeout);
      }
      break;
    case 6:
      if (s.gate.wait_for(timeout)) {
        s.gate_passes.fetch_add(1, std::memory_order_relaxed);
      } else {
        s.TimedOut(start, timeout);
      }
      break;
    case 7: {
      const int i = rng() % 2 ? WaitAny({Lock(s.mu), Acquire(s.sem), Take(s.token)})
                              : WaitAny({Lock(s.mu), Acquire(s.sem), Take(s.token)},
                                        Deadline::AfterDuration(timeout));
      if (i >= 0) {
        s.AfterWaitAny(i, batched);
      } else {
        s.TimedOut(start, timeout);
      }
      break;
    }
    case 8:
      s.Produce(batched);
      break;
    default: {  // consume a ticket, waiting a little for one
      std::unique_lock<Mutex> lock(s.qmu);
      if (s.cv.wait_for(lock, timeout, [&] { return s.tickets > 0; })) {
        --s.tickets;
        s.consumed.fetch_add(1, std::memory_order_relaxed);
      } else {
        s.TimedOut(start, timeout);
      }
      break;
    }
  }
  s.Progress();
}

// ---- Coroutines ---------------------------------------------------------------

Task<void> LockOnce(EventLoop& loop, Shared& s) {
  auto g = co_await s.mu.lock_async(loop);
  s.InMutex();
}
Task<void> AcquireOnce(EventLoop& loop, Shared& s) {
  co_await s.sem.acquire_async(loop);
  s.InSemaphore();
  s.sem.release();
}
Task<void> TakeTokenOnce(EventLoop& loop, Shared& s) {
  co_await s.token.wait_async(loop);
  s.InToken(false);
}
Task<void> WaitAnyOnce(EventLoop& loop, Shared& s) {
  std::vector<Waitable> w{Lock(s.mu), Acquire(s.sem), Take(s.token)};
  absl::StatusOr<int> i = co_await WaitAnyAsync(loop, w);
  if (i.ok()) s.AfterWaitAny(*i, false);
}
Task<void> GateOnce(EventLoop& loop, Shared& s) {
  co_await s.gate.wait_async(loop);
  s.gate_passes.fetch_add(1, std::memory_order_relaxed);
}
Task<void> WaitOnce(EventLoop& loop, Shared& s, int which) {
  switch (which) {
    case 0:
      return LockOnce(loop, s);
    case 1:
      return AcquireOnce(loop, s);
    case 2:
      return TakeTokenOnce(loop, s);
    case 3:
      return WaitAnyOnce(loop, s);
    default:
      return GateOnce(loop, s);
  }
}

Task<void> AsyncWorker(EventLoop& loop, Shared& s, uint64_t seed) {
  s.coroutines_started.fetch_add(1);
  std::mt19937_64 rng(seed);
  while (!s.stop.load(std::memory_order_relaxed)) {
    const int op = static_cast<int>(rng() % 13);
    const auto timeout = microseconds(rng() % 400);
    const auto start = std::chrono::steady_clock::now();
    switch (op) {
      case 0:
      case 1:
      case 2:
      case 3:
      case 4:
        co_await WaitOnce(loop, s, op);
        break;
      case 5: {
        auto r = co_await s.mu.lock_async_for(loop, timeout);
        if (r.ok()) {
          s.InMutex();
        } else {
          s.Check(r.status().code() == absl::StatusCode::kDeadlineExceeded);
          s.TimedOut(start, timeout);
        }
        break;
      }
      case 6: {
        absl::Status st = co_await s.sem.acquire_async_for(loop, timeout);
        if (st.ok()) {
          s.InSemaphore();
          s.sem.release();
        } else {
          s.Check(st.code() == absl::StatusCode::kDeadlineExceeded);
          s.TimedOut(start, timeout);
        }
        break;
      }
      case 7: {
        absl::Status st = co_await s.token.wait_async_for(loop, timeout);
        if (st.ok()) {
          s.InToken(rng() % 2);
        } else {
          s.Check(st.code() == absl::StatusCode::kDeadlineExceeded);
          s.TimedOut(start, timeout);
        }
        break;
      }
      case 8: {
        std::vector<Waitable> w{Lock(s.mu), Acquire(s.sem), Take(s.token)};
        absl::StatusOr<int> i = co_await WaitAnyAsync(loop, w, Deadline::AfterDuration(timeout));
        if (i.ok()) {
          s.AfterWaitAny(*i, rng() % 2);
        } else {
          s.Check(i.status().code() == absl::StatusCode::kDeadlineExceeded);
          s.TimedOut(start, timeout);
        }
        break;
      }
      case 9: {
        std::unique_lock<Mutex> lock = co_await s.qmu.lock_async(loop);
        auto r = co_await s.cv.wait_async_for(lock, loop, timeout);
        s.Check(r.ok() && lock.owns_lock());
        if (s.tickets > 0) {
          --s.tickets;
          s.consumed.fetch_add(1, std::memory_order_relaxed);
        }
        break;
      }
      case 10:
        s.Produce(rng() % 2);
        break;
      default: {
        // Cancel: start a wait, let the loop run a little, destroy it.
        Task<void> waiter = WaitOnce(loop, s, static_cast<int>(rng() % 5));
        waiter.handle().resume();
        co_await uring::SleepFor(loop, absl::Microseconds(rng() % 300));
        if (!waiter.done()) s.cancels.fetch_add(1, std::memory_order_relaxed);
        waiter = Task<void>();
        break;
      }
    }
    s.Progress();
  }
  s.coroutines_finished.fetch_add(1);
}

// Takes tickets until the round stops (untimed CondVar waits).
Task<void> AsyncConsumer(EventLoop& loop, Shared& s) {
  s.coroutines_started.fetch_add(1);
  for (;;) {
    std::unique_lock<Mutex> lock = co_await s.qmu.lock_async(loop);
    while (s.tickets == 0 && !s.q_stop) co_await s.cv.wait_async(lock, loop);
    if (s.tickets == 0) break;
    --s.tickets;
    s.consumed.fetch_add(1, std::memory_order_relaxed);
    lock.unlock();
    s.Progress();
  }
  s.coroutines_finished.fetch_add(1);
}

// ---- Loops of a round -----------------------------------------------------------

struct LoopConfig {
  uring::EventLoopOptions options;
  const char* name = "native";
};

LoopConfig DrawLoop(std::mt19937_64& rng) {
  LoopConfig c;
  switch (rng() % 4) {
    case 0:
      c.options = testing::LoopOptions(testing::LoopKind::kFallback);
      c.name = "fallback";
      break;
    case 1:
      c.options = testing::LoopOptions(testing::LoopKind::kEmulated);
      c.name = "emulated";
      break;
    default:
      c.options = testing::LoopOptions(testing::LoopKind::kNative);
      break;
  }
  switch (rng() % 3) {
    case 0:  // a tiny SQ that fills, and a CQ as small as the kernel allows
      c.options.sq_entries = 2;
      c.options.cq_entries = 2;
      break;
    case 1:  // a small CQ that overflows under many pending waits
      c.options.sq_entries = 4;
      c.options.cq_entries = 4;
      break;
    default:
      break;
  }
  return c;
}

std::unique_ptr<EventLoop> MakeLoop(const LoopConfig& c) {
  auto loop = EventLoop::Create(c.options);
  if (!loop.ok()) {
    ADD_FAILURE() << "EventLoop::Create(" << c.name << "): " << loop.status();
    return nullptr;
  }
  if ((*loop)->emulated()) {
    g_faults.emulated_loops.fetch_add(1);
  } else if (!(*loop)->native_futex()) {
    g_faults.fallback_loops.fetch_add(1);
  }
  if (c.options.sq_entries == 2) g_faults.tiny_sq_loops.fetch_add(1);
  if (c.options.cq_entries != 0) g_faults.small_cq_loops.fetch_add(1);
  return *std::move(loop);
}


// ---- Signals to blocked threads ------------------------------------------------

class Signaller {
 public:
  void Add(pthread_t t) {
    std::lock_guard<std::mutex> g(mu_);
    threads_.push_back(t);
  }
  void Remove(pthread_t t) {
    std::lock_guard<std::mutex> g(mu_);
    std::erase_if(threads_, [&](pthread_t x) { return pthread_equal(x, t); });
  }
  void SendOne(std::mt19937_64& rng) {
    std::lock_guard<std::mutex> g(mu_);  // a listed thread has not exited
    if (threads_.empty()) return;
    pthread_kill(threads_[rng() % threads_.size()], SIGUSR1);
    g_faults.signals.fetch_add(1, std::memory_order_relaxed);
  }

 private:
  std::mutex mu_;
  std::vector<pthread_t> threads_;
};

// Registers the calling thread for signals while alive.
class Signalled {
 public:
  explicit Signalled(Signaller& s) : s_(s) { s_.Add(pthread_self()); }
  ~Signalled() { s_.Remove(pthread_self()); }

 private:
  Signaller& s_;
};

// ---- Loop destroyed while waits are pending -------------------------------------

// Waits nobody will satisfy until the loop is gone.
struct Stuck {
  Mutex held;
  Semaphore empty{0};
  Event never;
  CondVar cv;
};

Task<void> StuckLock(EventLoop& loop, Stuck& k) { auto g = co_await k.held.lock_async(loop); }
Task<void> StuckAcquire(EventLoop& loop, Stuck& k) { co_await k.empty.acquire_async(loop); }
Task<void> StuckEvent(EventLoop& loop, Stuck& k) { co_await k.never.wait_async(loop); }
Task<void> StuckTimed(EventLoop& loop, Stuck& k, std::atomic<int>& cancelled) {
  absl::Status st = co_await k.never.wait_async_for(loop, std::chrono::hours(1));
  if (st.code() == absl::StatusCode::kCancelled) cancelled.fetch_add(1);
}
Task<void> StuckCondVar(EventLoop& loop, Stuck& k, Mutex& mu) {
  std::unique_lock<Mutex> lock = co_await mu.lock_async(loop);
  co_await k.cv.wait_async(lock, loop);
}
Task<void> StuckWaitAny(EventLoop& loop, Stuck& k) {
  std::vector<Waitable> w{Lock(k.held), Acquire(k.empty), Take(k.never)};
  (void)co_await WaitAnyAsync(loop, w);
}

Task<void> FloodWaiter(EventLoop& loop, Event& ev, int& done) {
  co_await ev.wait_async(loop);
  ++done;
}

// More waits completing at once than the loop's CQ holds: the kernel keeps
// the rest on its overflow list (IORING_FEAT_NODROP) and the loop must
// still complete every one.
void FloodCq(EventLoop& loop, uint32_t cq_entries, Shared& s) {
  const int n = static_cast<int>(3 * cq_entries);
  Event ev;
  int done = 0;
  for (int i = 0; i < n; ++i) loop.Spawn(FloodWaiter(loop, ev, done));
  while (ev.word().load() < static_cast<uint32_t>(n) * internal::kEventWaiterOne) loop.Poll();
  loop.FlushWakes();
  ev.set();  // from this thread, not a step: every wake lands in the CQ at once
  loop.RunUntil([&] { return done == n; });
  s.Check(ev.word().load() == internal::kEventSet, "CQ flood: an Event waiter left behind");
  g_faults.cq_floods.fetch_add(1, std::memory_order_relaxed);
}

// Destroys loops whose coroutines wait on stuck primitives and on the shared
// ones; afterwards the stuck words must hold no waiter and the shared
// invariants (checked at the end of the round) must hold.
void DestroyLoopsWithPendingWaits(Shared& s, std::mt19937_64 rng) {
  while (!s.stop.load(std::memory_order_relaxed)) {
    Stuck k;
    Mutex cv_mu;
    k.held.lock();
    std::atomic<int> cancelled{0};
    {
      // Owned here, not spawned: ~EventLoop destroys spawned frames, but
      // resumes an owned timed wait with Cancelled.
      Task<void> timed;
      const LoopConfig config = DrawLoop(rng);
      std::unique_ptr<EventLoop> loop = MakeLoop(config);
      if (loop == nullptr) return;
      if (config.options.cq_entries != 0) FloodCq(*loop, config.options.cq_entries, s);
      timed = StuckTimed(*loop, k, cancelled);
      timed.handle().resume();
      loop->Spawn(StuckLock(*loop, k));
      loop->Spawn(StuckAcquire(*loop, k));
      loop->Spawn(StuckEvent(*loop, k));
      loop->Spawn(StuckCondVar(*loop, k, cv_mu));
      loop->Spawn(StuckWaitAny(*loop, k));
      for (int i = 0; i < 4; ++i) loop->Spawn(WaitOnce(*loop, s, static_cast<int>(rng() % 5)));
      for (int i = 0; i < 20; ++i) loop->Poll();
      std::this_thread::sleep_for(microseconds(rng() % 500));
      loop->Poll();
      g_faults.waits_lost_with_loop.fetch_add(static_cast<int64_t>(loop->in_flight()));
      loop.reset();  // with waits pending
      g_faults.loops_destroyed.fetch_add(1);
      s.Check(timed.done(), "an owned timed wait on a destroyed loop is resumed");
    }
    s.Check(cancelled.load() == 1, "a timed wait on a destroyed loop reports Cancelled");
    s.Check(k.held.word().load() == 1, "destroyed loop: a Mutex waiter left behind");
    s.Check(k.empty.word().load() == 0, "destroyed loop: a Semaphore waiter left behind");
    s.Check(k.never.word().load() == 0, "destroyed loop: an Event waiter left behind");
    s.Check(cv_mu.word().load() == 0, "destroyed loop: CondVar's Mutex left locked");
    k.held.unlock();
    k.cv.notify_all();
    s.Check((k.cv.word().load() & internal::kCondWaiters) == 0, "destroyed loop: CondVar waiter");
    s.Progress();
  }
}

// ---- fork() while waits are pending -------------------------------------------

#ifdef RINGLOCK_TORTURE_CHILD_LOOP
Task<void> ChildHolder(EventLoop& loop, Mutex& mu, int& done) {
  auto g = co_await mu.lock_async(loop);
  co_await uring::SleepFor(loop, absl::Milliseconds(2));
  ++done;
}
Task<void> ChildWaiter(EventLoop& loop, Mutex& mu, Semaphore& sem, int& done) {
  auto g = co_await mu.lock_async(loop);
  absl::Status st = co_await sem.acquire_async_for(loop, std::chrono::milliseconds(2));
  if (st.code() == absl::StatusCode::kDeadlineExceeded) ++done;
}
#endif

// In the child: fresh primitives work (futex(2) paths; a fresh loop too,
// except under TSAN and ASAN: RINGLOCK_TORTURE_CHILD_LOOP above). Exit
// status: 0, or the number of the first check that failed.
[[noreturn]] void ChildBody() {
  if (EventLoop::Current() != nullptr) _exit(2);
  Mutex mu;
  Semaphore sem{1};
  Event ev{EventMode::kAutoReset};
  CondVar cv;
  mu.lock();
  if (mu.try_lock_for(milliseconds(2))) _exit(3);  // times out
  mu.unlock();
  if (!sem.try_acquire_for(milliseconds(1)) || sem.try_acquire_for(milliseconds(2))) _exit(4);
  sem.release();
  ev.set();
  if (!ev.wait_for(milliseconds(1)) || ev.wait_for(milliseconds(1))) _exit(5);
  {
    std::unique_lock<Mutex> lock(mu);
    if (cv.wait_for(lock, milliseconds(2)) != std::cv_status::timeout) _exit(6);
  }
#ifdef RINGLOCK_TORTURE_CHILD_LOOP
  auto loop = EventLoop::Create();
  if (!loop.ok()) _exit(7);
  int done = 0;
  (*loop)->Spawn(ChildHolder(**loop, mu, done));
  (*loop)->Spawn(ChildWaiter(**loop, mu, sem, done));
  if (!sem.try_acquire()) _exit(8);  // the waiter's acquire must time out
  (*loop)->RunUntil([&] { return done == 2; });
  sem.release();
  loop->reset();
#endif
  if (mu.word().load() != 0 || sem.word().load() != 1 || ev.word().load() != internal::kEventAuto) {
    _exit(9);
  }
  _exit(0);
}

// Forks now (waits are pending on other threads); fails the test if the
// child fails or does not finish within 20 s.
void ForkAndCheckChild() {
  const pid_t pid = fork();
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << std::strerror(errno);
    return;
  }
  if (pid == 0) ChildBody();
  g_faults.forks.fetch_add(1);
  int status = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > until) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      ADD_FAILURE() << "fork()ed child did not finish in 20 s";
      return;
    }
    std::this_thread::sleep_for(milliseconds(2));
  }
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "fork()ed child failed: status " << status << " (exit " << WEXITSTATUS(status)
      << ": the number of the check in ChildBody)";
}

// ---- A round ------------------------------------------------------------------

struct Totals {
  int64_t rounds = 0, ops = 0, checks = 0, acquisitions = 0, sem_takes = 0, token_takes = 0;
  int64_t gate_passes = 0, wait_any_takes = 0, timeouts = 0, cancels = 0, tickets = 0;
};

void RunRound(uint64_t seed, milliseconds slice, std::atomic<int64_t>& progress, Totals& totals) {
  std::mt19937_64 rng(seed);
  Shared s;
  s.progress = &progress;
  // Fault rates for the round (per mille).
  g_completion_rate = static_cast<uint32_t>(rng() % 60);
  g_syscall_rate = static_cast<uint32_t>(rng() % 30);
  g_delay_rate = static_cast<uint32_t>(rng() % 200);
  g_hook_seed = rng();

  Signaller signaller;
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    const bool ring = i >= 2;
    const LoopConfig config = DrawLoop(rng);
    threads.emplace_back([&, ring, config, seed = rng()] {
      Signalled reg(signaller);
      std::unique_ptr<EventLoop> loop = ring ? MakeLoop(config) : nullptr;
      std::mt19937_64 r(seed);
      while (!s.stop.load(std::memory_order_relaxed)) BlockingStep(s, r);
    });
  }
  for (int i = 0; i < 2; ++i) {
    const LoopConfig config = DrawLoop(rng);
    threads.emplace_back([&, config, seed = rng()] {
      Signalled reg(signaller);
      std::unique_ptr<EventLoop> loop = MakeLoop(config);
      if (loop == nullptr) return;
      for (uint64_t c = 0; c < 3; ++c) loop->Spawn(AsyncWorker(*loop, s, seed + c));
      loop->Spawn(AsyncConsumer(*loop, s));
      loop->Stop();
      loop->Run();
    });
  }
  threads.emplace_back([&, seed = rng()] {
    Signalled reg(signaller);
    DestroyLoopsWithPendingWaits(s, std::mt19937_64(seed));
  });

  // The driver: toggles the gate, signals blocked threads, forks once.
  const auto start = std::chrono::steady_clock::now();
  const auto fork_at = start + slice / 2;
  bool forked = false;
  while (std::chrono::steady_clock::now() - start < slice) {
    if (rng() % 8 == 0) {
      if (s.gate.is_set()) {
        s.gate.reset();
      } else {
        s.gate.set();
      }
    }
    if (rng() % 2 == 0) signaller.SendOne(rng);
    if (!forked && std::chrono::steady_clock::now() >= fork_at) {
      forked = true;
      ForkAndCheckChild();
    }
    std::this_thread::sleep_for(microseconds(200 + rng() % 800));
  }

  // Stop: open the gate for good, end the ticket queue, join everyone.
  s.stop = true;
  s.gate.set();
  {
    std::lock_guard<Mutex> g(s.qmu);
    s.q_stop = true;
  }
  s.cv.notify_all();
  for (auto& t : threads) t.join();

  // Every worker finished; every word idle; exact counters.
  EXPECT_EQ(s.violations.load(), 0) << "invariant violations (round seed " << seed
                                    << "), the first: " << s.first_violation.load();
  EXPECT_EQ(s.early_timeouts.load(), 0) << "timed waits failed before their deadline";
  EXPECT_EQ(s.coroutines_finished.load(), s.coroutines_started.load());
  EXPECT_EQ(s.counter, s.acquisitions.load());
  EXPECT_EQ(s.produced.load(), s.consumed.load() + s.tickets);
  EXPECT_EQ(s.mu.word().load(), 0u) << s.Describe();
  EXPECT_EQ(s.qmu.word().load(), 0u) << s.Describe();
  EXPECT_EQ(s.sem.word().load(), kPermits) << s.Describe();
  EXPECT_EQ(s.token.word().load(), internal::kEventAuto | internal::kEventSet) << s.Describe();
  EXPECT_LT(s.gate.word().load(), internal::kEventWaiterOne) << s.Describe();
  s.cv.notify_all();  // a CondVar's W may outlive its last waiter
  EXPECT_EQ(s.cv.word().load() & internal::kCondWaiters, 0u) << s.Describe();

  ++totals.rounds;
  totals.ops += s.ops.load();
  totals.checks += s.checks.load() + 11;
  totals.acquisitions += s.acquisitions.load();
  totals.sem_takes += s.sem_takes.load();
  totals.token_takes += s.token_takes.load();
  totals.gate_passes += s.gate_passes.load();
  totals.wait_any_takes += s.wait_any_takes.load();
  totals.timeouts += s.timeouts.load();
  totals.cancels += s.cancels.load();
  totals.tickets += s.consumed.load();
}

TEST(TortureTest, RandomSchedulesWithInjectedFaults) {
  const uint64_t seed = Seed();
  const int total = TotalSeconds();
  std::printf("torture: seed %" PRIu64 " (replay: RINGLOCK_TORTURE_SEED=%" PRIu64 "), %s\n", seed,
              seed, total ? (std::to_string(total) + " s").c_str() : "short CI form");
  std::fflush(stdout);

  struct sigaction sa {};
  sa.sa_handler = &OnSignal;  // no SA_RESTART: blocked syscalls see EINTR
  sigemptyset(&sa.sa_mask);
  ASSERT_EQ(sigaction(SIGUSR1, &sa, nullptr), 0);
  uring::fault::SetFutexWaitResultHook(&CompletionFault);
  uring::fault::SetFallbackDelayHook(&HelperDelay);
  futex::SetSyscallFaultHook(&SyscallFault);

  std::atomic<int64_t> progress{0};
  std::string where = "starting";
  std::mutex where_mu;
  testing::StallWatchdog watchdog(progress, std::chrono::seconds(30), [&] {
    std::lock_guard<std::mutex> g(where_mu);
    return "seed " + std::to_string(seed) + ", " + where;
  });

  // Short form: 4 rounds of 1.5 s. Long form: 3 s rounds for `total` s.
  const milliseconds slice(total ? 3000 : 1500);
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(total ? total : 6);
  std::mt19937_64 rng(seed);
  Totals totals;
  while (!::testing::Test::HasFailure()) {
    const uint64_t round_seed = rng();
    {
      std::lock_guard<std::mutex> g(where_mu);
      where = "round " + std::to_string(totals.rounds) + " (round seed " +
              std::to_string(round_seed) + ")";
    }
    RunRound(round_seed, slice, progress, totals);
    if (std::chrono::steady_clock::now() + slice > until) break;
  }

  uring::fault::SetFutexWaitResultHook(nullptr);
  uring::fault::SetFallbackDelayHook(nullptr);
  futex::SetSyscallFaultHook(nullptr);
  signal(SIGUSR1, SIG_DFL);

  const Faults& f = g_faults;
  std::printf(
      "torture: seed %" PRIu64 ": %" PRId64 " rounds, %" PRId64 " iterations (%" PRId64
      " Mutex, %" PRId64 " Semaphore, %" PRId64 " token, %" PRId64 " gate, %" PRId64
      " WaitAny, %" PRId64 " tickets; %" PRId64 " timeouts, %" PRId64 " cancelled waits)\n"
      "torture: faults: %" PRId64 " signals; futex wait completions -EINTR %" PRId64
      " -EAGAIN %" PRId64 " -ENOMEM %" PRId64 "; futex syscalls EINTR %" PRId64 " EAGAIN %" PRId64
      " ENOMEM %" PRId64 "; %" PRId64 " helper delays; %" PRId64 " tiny-SQ loops, %" PRId64
      " small-CQ loops, %" PRId64 " CQ floods (3x the CQ at once); %" PRId64 " fallback, %" PRId64
      " emulated loops; %" PRId64 " loops destroyed with %" PRId64 " waits pending; %" PRId64
      " forks\n"
      "torture: %" PRId64 " invariant checks; %s\n",
      seed, totals.rounds, totals.ops, totals.acquisitions, totals.sem_takes, totals.token_takes,
      totals.gate_passes, totals.wait_any_takes, totals.tickets, totals.timeouts, totals.cancels,
      f.signals.load(), f.completion_eintr.load(), f.completion_eagain.load(),
      f.completion_enomem.load(), f.syscall_eintr.load(), f.syscall_eagain.load(),
      f.syscall_enomem.load(), f.helper_delays.load(), f.tiny_sq_loops.load(),
      f.small_cq_loops.load(), f.cq_floods.load(), f.fallback_loops.load(),
      f.emulated_loops.load(), f.loops_destroyed.load(), f.waits_lost_with_loop.load(),
      f.forks.load(), totals.checks,
      ::testing::Test::HasFailure() ? "FAILED (see above)" : "nothing lost");
  std::fflush(stdout);
  EXPECT_GT(totals.ops, 0);
  EXPECT_GT(f.signals.load(), 0);
  EXPECT_GT(f.loops_destroyed.load(), 0);
  EXPECT_GT(f.forks.load(), 0);
  EXPECT_GT(f.completion_eintr.load() + f.completion_eagain.load() + f.completion_enomem.load(), 0);
}

// ---- A process-shared Mutex whose holder process is killed ---------------------
//
// Semantics: the Mutex stays locked. The word records only "locked" and its
// waiters, not an owner, and robust futexes (the kernel's robust list, which
// marks a dead owner's word FUTEX_OWNER_DIED) need the owner's TID in the
// word and are not reachable through io_uring's futex opcodes, so ringlock
// cannot detect that the holder died. Untimed waiters in other processes
// wait forever; timed ones time out. Recovery is the application's: one
// that learns of the death by its own means (waitpid, a pidfd) may unlock()
// on the dead holder's behalf (any thread may unlock; no owner is recorded),
// after repairing whatever the lock protected.

struct SharedHolder {
  ProcessSharedMutex mu;
  std::atomic<uint32_t> child_holds{0};
};

Task<bool> TryLockAsync(EventLoop& loop, ProcessSharedMutex& mu) {
  auto r = co_await mu.lock_async_for(loop, milliseconds(150));
  co_return r.ok();
}

TEST(TortureTest, ProcessSharedMutexHolderKilledStaysLocked) {
  void* p = mmap(nullptr, sizeof(SharedHolder), PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(p, MAP_FAILED);
  auto* shared = new (p) SharedHolder;
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    shared->mu.lock();
    shared->child_holds.store(1);
    for (;;) pause();  // killed holding the lock
  }
  while (shared->child_holds.load() == 0) std::this_thread::sleep_for(milliseconds(1));

  // Waiters of every kind parked while the holder dies: each times out.
  std::atomic<int> took{0};
  std::vector<std::thread> waiters;
  for (testing::WaiterMode mode : {testing::WaiterMode::kFutex, testing::WaiterMode::kRing,
                                   testing::WaiterMode::kRingFallback}) {
    waiters.push_back(testing::StartThread(mode, [&] {
      if (shared->mu.try_lock_for(milliseconds(150))) {
        took.fetch_add(1);
        shared->mu.unlock();
      }
    }));
  }
  waiters.emplace_back([&] {
    auto loop = testing::MakeLoop(testing::LoopKind::kNative);
    if (loop != nullptr && loop->RunUntilComplete(TryLockAsync(*loop, shared->mu))) {
      took.fetch_add(1);
      shared->mu.unlock();
    }
  });
  std::this_thread::sleep_for(milliseconds(30));
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  for (auto& t : waiters) t.join();
  EXPECT_EQ(took.load(), 0) << "a waiter took a Mutex whose holder was killed holding it";
  EXPECT_FALSE(shared->mu.try_lock());
  EXPECT_TRUE(shared->mu.is_locked());
  EXPECT_EQ(shared->mu.word().load() & ~1u, 0u) << "waiters left registered";

#ifndef RINGLOCK_TORTURE_TSAN  // TSAN never saw this process lock it
  // The application's recovery: unlock on the dead holder's behalf.
  shared->mu.unlock();
  EXPECT_TRUE(shared->mu.try_lock_for(milliseconds(100)));
  shared->mu.unlock();
  EXPECT_EQ(shared->mu.word().load(), 0u);
  shared->~SharedHolder();
#endif
  munmap(p, sizeof(SharedHolder));
}

}  // namespace
}  // namespace ringlock
