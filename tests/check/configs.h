// Configurations shared by the model-checked protocol tests and by the
// mutant tests (a fixed bug put back must make the same configuration fail).
#ifndef RINGLOCK_TESTS_CHECK_CONFIGS_H_
#define RINGLOCK_TESTS_CHECK_CONFIGS_H_

#include <atomic>
#include <coroutine>
#include <exception>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "locks/check/model_loop.h"
#include "locks/check/scheduler.h"
#include "locks/barrier.h"
#include "locks/condvar.h"
#include "locks/event.h"
#include "locks/internal/mutex_cohort.h"
#include "locks/internal/wait_backend.h"
#include "locks/internal/word_access.h"
#include "locks/latch.h"
#include "locks/mutex.h"
#include "locks/once.h"
#include "locks/shared_mutex.h"
#include "locks/wake_batch.h"
#include "locks/watermark.h"
#include "tests/check/protocol_checks.h"

namespace ringlock::testing {

// ---- Mutex: three lockers ------------------------------------------------

struct MutexState {
  Mutex mu;
  int inside = 0;     // threads in the critical section (plain: between steps)
  int acquired = 0;   // critical sections completed
  int timed_out = 0;  // timed lockers that gave up
  bool saw_starving = false;
  MutexState() { check::NameWord(&mu.word(), "mu"); }
};

// Executions in which some state had a starving waiter (S > 0).
inline std::atomic<int64_t> g_mutex_starving_executions{0};

inline void CriticalSection(MutexState& s) {
  ++s.inside;
  check::Choose(1, "inside");  // a scheduling point while holding the lock
  --s.inside;
  ++s.acquired;
}

inline void Locker(MutexState& s) {
  s.mu.lock();
  CriticalSection(s);
  s.mu.unlock();
}

// Gives up at 3 ms of virtual time (a timeout is also a scheduler choice).
inline void TimedLocker(MutexState& s) {
  if (s.mu.try_lock_until_deadline(Deadline::FromMonotonicNanos(3'000'000))) {
    CriticalSection(s);
    s.mu.unlock();
  } else {
    ++s.timed_out;
  }
}

// A coroutine on this thread's loop: co_await lock_async through the real
// async driver; the thread dispatches its completions until it is done.
inline void CoroutineLocker(MutexState& s) {
  check::ModelLoop loop;
  bool done = false;
  [](MutexState& s, check::ModelLoop& loop, bool& done) -> check::Detached {
    std::unique_lock<Mutex> guard = co_await s.mu.lock_async(loop);
    CriticalSection(s);
    guard.unlock();
    done = true;
  }(s, loop, done);
  loop.RunUntil([&] { return done; });
}

// A coroutine the scheduler may destroy while it waits (its owner gives up
// on it): the awaiter orphans the pending wait, which must pass on a wake it
// already consumed (Leave) when its completion is dispatched.
struct OwnedCoroutine {
  struct promise_type {
    OwnedCoroutine get_return_object() {
      return {std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_always final_suspend() noexcept { return {}; }
    void return_void() {}
    void unhandled_exception() { std::terminate(); }
  };
  std::coroutine_handle<promise_type> handle;
};

// Runs `c`'s loop until the coroutine is done, or (a scheduler choice, while
// it still waits) destroys it, orphaning its wait, and calls on_destroy. Then
// dispatches until every orphaned op of this thread is gone.
template <class OnDestroy>
void FinishOrDestroy(OwnedCoroutine& c, check::ModelLoop& loop, const bool& done,
                     OnDestroy on_destroy) {
  if (!done && check::Choose(2, "destroy the waiting coroutine") == 1) {
    c.handle.destroy();
    on_destroy();
  } else {
    loop.RunUntil([&] { return done; });
    c.handle.destroy();
  }
  using Op = internal::AsyncLoop<check::ModelLoop>::Op;
  loop.RunUntil([] { return Op::live_on_this_thread() == 0; });
}

inline void CancellableCoroutineLocker(MutexState& s) {
  check::ModelLoop loop;
  bool done = false;
  OwnedCoroutine c = [](MutexState& s, check::ModelLoop& loop, bool& done) -> OwnedCoroutine {
    std::unique_lock<Mutex> guard = co_await s.mu.lock_async(loop);
    CriticalSection(s);
    guard.unlock();
    done = true;
  }(s, loop, done);
  FinishOrDestroy(c, loop, done, [&] { ++s.timed_out; });  // a locker that gave up
}

// A thread that runs a loop and calls the blocking lock(): it sleeps in the
// ring (an armed FUTEX_WAIT op), as ring-blocking threads do.
inline void RingBlockingLocker(MutexState& s) {
  check::RingBlockingScope ring;
  Locker(s);
}

inline std::string MutexSleepCheck(MutexState& s, const void* word, uint32_t expected,
                                   uint32_t bitset) {
  return word == &s.mu.word() ? MutexSleepRow(expected, bitset) : "";
}

// Mutual exclusion and a legal word (state table and INV1..INV5) at every step.
template <uint32_t kMaxWaiters>
std::string MutexInvariant(MutexState& s) {
  if (s.inside > 1) return "mutual exclusion: " + std::to_string(s.inside) + " threads inside";
  const uint32_t w = s.mu.word().load();
  if ((w & Mutex::kStarvingMask) != 0) s.saw_starving = true;
  return MutexStateRow(w, kMaxWaiters);
}

inline check::Model<MutexState> MutexThreeLockers(void (*third)(MutexState&),
                                                  void (*second)(MutexState&) = TimedLocker) {
  check::Model<MutexState> m;
  m.threads = {Locker, second, third};
  m.invariant = MutexInvariant<3>;
  m.sleep_check = MutexSleepCheck;
  m.final_check = [](MutexState& s) -> std::string {
    if (s.saw_starving) ++g_mutex_starving_executions;
    const uint32_t w = s.mu.word().load();
    if (w != 0) return "mutex word not idle at the end: " + Hex(w);
    if (s.acquired + s.timed_out != 3) return "acquisitions + timeouts != 3";
    return "";
  };
  return m;
}

inline check::Options MutexOptions() {
  check::Options o;
  o.preemption_bound = PreemptionBound(1);
  o.max_spurious_wakeups = 0;
  // Re-arms by the futex_waitv helper (max_requeues) multiply this config
  // 25x (1.3M executions); a smaller dedicated one is still to come.
  o.max_requeues = 0;
  o.max_clock_advances = 1;  // one jump of 1 ms: a waiter may turn starving
  o.clock_tick_ns = 1'000'000;
  o.max_executions = 5'000'000;
  return o;
}

// ---- Mutex: the holder barges back while a waiter turns starving ---------
//
// T1 holds the mutex from the start and runs unlock, lock, unlock; T2 and T3
// lock once each, and the clock may jump 1 ms once. Small enough to explore at
// preemption bound 2, it reaches the starving handoff's corners: T1 barges
// back after waking T2, so T2 turns starving with the lock held; T3's sleep
// then fails with the lock free but reserved for T2, and T3 sends T2's wake
// while T2 may already be awake.

struct MutexBargeState : MutexState {
  MutexBargeState() { internal::WordAccess::Of(mu).store(Mutex::kLocked); }
};

inline check::Model<MutexBargeState> MutexHolderBargesBack() {
  check::Model<MutexBargeState> m;
  m.threads = {
      [](MutexBargeState& s) {
        s.mu.unlock();
        Locker(s);
      },
      [](MutexBargeState& s) { Locker(s); },
      [](MutexBargeState& s) { Locker(s); },
  };
  m.invariant = [](MutexBargeState& s) -> std::string {
    if (s.inside > 1) return "mutual exclusion: " + std::to_string(s.inside) + " threads inside";
    const uint32_t w = s.mu.word().load();
    if ((w & Mutex::kStarvingMask) != 0) s.saw_starving = true;
    return MutexStateRow(w, /*max_waiters=*/3);
  };
  m.sleep_check = [](MutexBargeState& s, const void* word, uint32_t expected, uint32_t bitset) {
    return MutexSleepCheck(s, word, expected, bitset);
  };
  m.final_check = [](MutexBargeState& s) -> std::string {
    if (s.saw_starving) ++g_mutex_starving_executions;
    const uint32_t w = s.mu.word().load();
    if (w != 0) return "mutex word not idle at the end: " + Hex(w);
    if (s.acquired != 3) return "critical sections: " + std::to_string(s.acquired) + " != 3";
    return "";
  };
  return m;
}

inline check::Options MutexBargeOptions() {
  check::Options o = MutexOptions();
  o.preemption_bound = PreemptionBound(2);
  return o;
}

// ---- Mutex: a loop's cohort and a thread ----------------------------------
//
// A plain locker thread and a loop thread with four coroutines: A holds the
// lock across a step of its loop (so B, C and D arrive while a coroutine of
// their own loop holds it: one of them waits on the word for the loop, the
// others queue behind), B converts its guard to std::unique_lock (a plain
// unlock: the queue needs a representative), C and D keep the
// AsyncMutexLock (handoffs). The clock may jump 1 ms: a run of handoffs
// outlasts its slice and a waiter may turn starving.

// Suspends a model coroutine until a later step of its loop.
struct ModelYield {
  check::ModelLoop& loop;
  bool await_ready() const { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    loop.Schedule([](void* a, bool) { std::coroutine_handle<>::from_address(a).resume(); },
                  h.address());
  }
  void await_resume() const {}
};

inline void CohortLoop(MutexState& s) {
  check::ModelLoop loop;
  int done = 0;
  [](MutexState& s, check::ModelLoop& loop, int& done) -> check::Detached {
    AsyncMutexLock guard = co_await s.mu.lock_async(loop);
    ++s.inside;
    co_await ModelYield{loop};  // holds the lock across a step
    --s.inside;
    ++s.acquired;
    guard.unlock();
    ++done;
  }(s, loop, done);
  [](MutexState& s, check::ModelLoop& loop, int& done) -> check::Detached {
    std::unique_lock<Mutex> guard = co_await s.mu.lock_async(loop);
    CriticalSection(s);
    guard.unlock();
    ++done;
  }(s, loop, done);
  for (int i = 0; i < 2; ++i) {
    [](MutexState& s, check::ModelLoop& loop, int& done) -> check::Detached {
      AsyncMutexLock guard = co_await s.mu.lock_async(loop);
      CriticalSection(s);
      guard.unlock();
      ++done;
    }(s, loop, done);
  }
  loop.RunUntil([&] { return done == 4; });
}

inline check::Model<MutexState> MutexCohortAndAThread() {
  check::Model<MutexState> m;
  m.threads = {Locker, CohortLoop};
  m.invariant = MutexInvariant<4>;
  m.sleep_check = MutexSleepCheck;
  m.final_check = [](MutexState& s) -> std::string {
    if (s.saw_starving) ++g_mutex_starving_executions;
    const uint32_t w = s.mu.word().load();
    if (w != 0) return "mutex word not idle at the end: " + Hex(w);
    if (s.acquired != 5) return "acquisitions != 5: " + std::to_string(s.acquired);
    if (internal::LiveCohorts() != 0) return "a cohort outlived its loop";
    return "";
  };
  return m;
}

// ---- CondVar: a one-slot handoff, notify_one after unlock -----------------

struct CondVarState {
  Mutex mu;
  CondVar cv;
  int items = 0;  // guarded by mu
  int taken = 0;  // guarded by mu
  CondVarState() {
    check::NameWord(&mu.word(), "mu");
    check::NameWord(&cv.word(), "cv");
  }
};

inline void Consumer(CondVarState& s) {
  std::unique_lock<Mutex> lock(s.mu);
  while (s.items == 0) s.cv.wait(lock);
  --s.items;
  ++s.taken;
}

inline void Producer(CondVarState& s) {
  for (int i = 0; i < 2; ++i) {
    {
      std::lock_guard<Mutex> lock(s.mu);
      ++s.items;
    }
    s.cv.notify_one();  // after unlock, as a bounded queue does
  }
}

inline check::Model<CondVarState> CondVarTwoConsumers() {
  check::Model<CondVarState> m;
  m.threads = {Consumer, Consumer, Producer};
  m.final_check = [](CondVarState& s) -> std::string {
    if (s.taken != 2) return "items taken: " + std::to_string(s.taken);
    if (s.mu.word().load() != 0) return "mutex word not idle: " + Hex(s.mu.word().load());
    // The CondVar's W may stay set once everyone has gone (a stale W costs
    // one wake that finds nobody; see condvar.h): not an idle-word check.
    return "";
  };
  return m;
}

inline check::Options CondVarOptions() {
  check::Options o = ProtocolOptions(2);
  o.max_executions = 5'000'000;
  return o;
}

// ---- WakeBatch: a thread about to sleep with a wake it queued -------------
//
// T1 holds `a` and T3 holds `b` from the start. T1 runs { WakeBatch batch;
// a.unlock(); b.lock(); }; T2 sleeps in a.lock(), then sets `took_a`; T3
// waits for `took_a`, then unlocks `b`. T1's wake for T2 must leave before
// T1 sleeps in b.lock(), or nobody ever runs again.

struct BatchState {
  Mutex a, b;
  Event took_a;
  BatchState() {
    internal::WordAccess::Of(a).store(Mutex::kLocked);  // held by T1
    internal::WordAccess::Of(b).store(Mutex::kLocked);  // held by T3
    check::NameWord(&a.word(), "a");
    check::NameWord(&b.word(), "b");
    check::NameWord(&took_a.word(), "took_a");
  }
};

inline check::Model<BatchState> BatchedUnlockThenSleep() {
  check::Model<BatchState> m;
  m.threads = {
      [](BatchState& s) {
        {
          WakeBatch batch;
          s.a.unlock();
          s.b.lock();
        }
        s.b.unlock();
      },
      [](BatchState& s) {
        s.a.lock();
        s.took_a.set();
        s.a.unlock();
      },
      [](BatchState& s) {
        s.took_a.wait();
        s.b.unlock();
      },
  };
  m.final_check = [](BatchState& s) -> std::string {
    if (s.a.word().load() != 0 || s.b.word().load() != 0) return "a mutex word not idle";
    return "";
  };
  return m;
}

// ---- Latch: a latch of 2, three waiters of different kinds ----------------
//
// T1 arrive_and_wait (futex), T2 count_down then waits as a coroutine, T3 a
// third kind of waiter that never counts (ring-blocking by default). Nobody
// returns before C=0, nobody is left asleep, the word ends at 0.

struct LatchState {
  Latch latch{2};
  int returned = 0;   // waiters that returned with the latch open
  int early = 0;      // waiters that returned while C > 0
  int timed_out = 0;  // timed waiters that gave up
  uint32_t prev = 2;  // the word after the previous step
  LatchState() { check::NameWord(&latch.word(), "latch"); }
};

inline void LatchReturned(LatchState& s) {
  if (!s.latch.try_wait()) ++s.early;  // C=0 is final: open now iff open at return
  ++s.returned;
}

inline void LatchArriveAndWait(LatchState& s) {
  s.latch.arrive_and_wait();
  LatchReturned(s);
}

inline void LatchCountDownThenCoroutineWait(LatchState& s) {
  s.latch.count_down();
  check::ModelLoop loop;
  bool done = false;
  [](LatchState& s, check::ModelLoop& loop, bool& done) -> check::Detached {
    co_await s.latch.wait_async(loop);
    done = true;
  }(s, loop, done);
  loop.RunUntil([&] { return done; });
  LatchReturned(s);
}

inline void LatchRingBlockingWaiter(LatchState& s) {
  {
    check::RingBlockingScope ring;
    s.latch.wait();
  }
  LatchReturned(s);
}

inline void LatchWaiter(LatchState& s) {
  s.latch.wait();
  LatchReturned(s);
}

inline void LatchTimedWaiter(LatchState& s) {
  if (s.latch.wait_until_deadline(Deadline::FromMonotonicNanos(3'000'000))) {
    LatchReturned(s);
  } else {
    ++s.timed_out;
    check::Count("timed waiter gave up");
  }
}

inline check::Model<LatchState> LatchOfTwoThreeWaiters(void (*third)(LatchState&) =
                                                           LatchRingBlockingWaiter) {
  check::Model<LatchState> m;
  m.threads = {LatchArriveAndWait, LatchCountDownThenCoroutineWait, third};
  m.invariant = [](LatchState& s) -> std::string {
    if (s.early > 0) return "a waiter returned before the count reached zero";
    const uint32_t w = s.latch.word().load();
    std::string e = LatchStateRow(w, 2);
    if (e.empty()) e = LatchTransition(s.prev, w);
    s.prev = w;
    return e;
  };
  m.final_check = [](LatchState& s) -> std::string {
    if (s.returned + s.timed_out != 3) return "a waiter neither returned nor timed out";
    if (s.latch.word().load() != 0) return "latch word not idle (0): " + Hex(s.latch.word().load());
    return "";
  };
  return m;
}

// ---- SharedMutex: readers and writers of every kind ------------------------
//
// Three threads, each a reader or a writer of some kind (futex, timed,
// coroutine, coroutine destroyed while it waits, ring-blocking), one lock
// each. Writers exclude everyone, every word is a row of the state table,
// every sleep is on a value the header allows (INV1, INV3, INV5), and at the
// end the word is idle and every thread took the lock or gave up.

struct RwState {
  SharedMutex smu;
  int readers_inside = 0;
  int writers_inside = 0;
  int acquired = 0;
  int gave_up = 0;
  RwState() { check::NameWord(&smu.word(), "smu"); }
  // A failing execution may end with the word held (the final check says
  // so); the destructor's misuse check must not abort the checker.
  ~RwState() { internal::WordAccess::Of(smu).store(0); }
};

inline void RwReadSection(RwState& s) {
  ++s.readers_inside;
  check::Choose(1, "reading");  // a scheduling point while holding
  --s.readers_inside;
  ++s.acquired;
}

inline void RwWriteSection(RwState& s) {
  ++s.writers_inside;
  check::Choose(1, "writing");
  --s.writers_inside;
  ++s.acquired;
}

inline void RwReader(RwState& s) {
  s.smu.lock_shared();
  RwReadSection(s);
  s.smu.unlock_shared();
}

inline void RwWriter(RwState& s) {
  s.smu.lock();
  RwWriteSection(s);
  s.smu.unlock();
}

// Give up at 3 ms of virtual time (a timeout is also a scheduler choice).
inline void RwTimedWriter(RwState& s) {
  if (s.smu.try_lock_until_deadline(Deadline::FromMonotonicNanos(3'000'000))) {
    RwWriteSection(s);
    s.smu.unlock();
  } else {
    ++s.gave_up;
    check::Count("timed waiter gave up");
  }
}

inline void RwTimedReader(RwState& s) {
  if (s.smu.try_lock_shared_until_deadline(Deadline::FromMonotonicNanos(3'000'000))) {
    RwReadSection(s);
    s.smu.unlock_shared();
  } else {
    ++s.gave_up;
    check::Count("timed waiter gave up");
  }
}

inline void RwCoroutineReader(RwState& s) {
  check::ModelLoop loop;
  bool done = false;
  [](RwState& s, check::ModelLoop& loop, bool& done) -> check::Detached {
    std::shared_lock<SharedMutex> guard = co_await s.smu.lock_shared_async(loop);
    RwReadSection(s);
    guard.unlock();
    done = true;
  }(s, loop, done);
  loop.RunUntil([&] { return done; });
}

// Destroyed while it waits (a scheduler choice): a hand-off already made to
// it must be released by its Leave.
inline void RwCancellableCoroutineReader(RwState& s) {
  check::ModelLoop loop;
  bool done = false;
  OwnedCoroutine c = [](RwState& s, check::ModelLoop& loop, bool& done) -> OwnedCoroutine {
    std::shared_lock<SharedMutex> guard = co_await s.smu.lock_shared_async(loop);
    RwReadSection(s);
    guard.unlock();
    done = true;
  }(s, loop, done);
  FinishOrDestroy(c, loop, done, [&] { ++s.gave_up; });
}

inline void RwCancellableCoroutineWriter(RwState& s) {
  check::ModelLoop loop;
  bool done = false;
  OwnedCoroutine c = [](RwState& s, check::ModelLoop& loop, bool& done) -> OwnedCoroutine {
    std::unique_lock<SharedMutex> guard = co_await s.smu.lock_async(loop);
    RwWriteSection(s);
    guard.unlock();
    done = true;
  }(s, loop, done);
  FinishOrDestroy(c, loop, done, [&] { ++s.gave_up; });
}

inline void RwRingBlockingReader(RwState& s) {
  check::RingBlockingScope ring;
  RwReader(s);
}

inline void RwRingBlockingWriter(RwState& s) {
  check::RingBlockingScope ring;
  RwWriter(s);
}

inline check::Model<RwState> SharedMutexThreads(std::vector<void (*)(RwState&)> threads) {
  check::Model<RwState> m;
  const uint32_t n = static_cast<uint32_t>(threads.size());
  for (auto* t : threads) m.threads.push_back(t);
  m.invariant = [n](RwState& s) -> std::string {
    if (s.writers_inside > 1) return "two writers inside";
    if (s.writers_inside > 0 && s.readers_inside > 0) return "a reader inside with a writer";
    const uint32_t w = s.smu.word().load();
    std::string e = SharedMutexStateRow(w, n);
    if (!e.empty()) return e;
    if (static_cast<uint32_t>(s.readers_inside) > w / internal::kRwReaderOne)
      return "a reader inside is not counted in R: " + Hex(w);
    if (s.writers_inside > 0 && (w & internal::kRwWriter) == 0)
      return "a writer inside with X clear: " + Hex(w);
    return "";
  };
  m.sleep_check = [](RwState& s, const void* word, uint32_t expected, uint32_t bitset) {
    return word == &s.smu.word() ? SharedMutexSleepRow(expected, bitset) : std::string();
  };
  m.final_check = [n](RwState& s) -> std::string {
    const uint32_t w = s.smu.word().load();
    if ((w & ~internal::kRwPhase) != 0) return "shared mutex word not idle at the end: " + Hex(w);
    if (static_cast<uint32_t>(s.acquired + s.gave_up) != n) return "acquisitions + give-ups != threads";
    return "";
  };
  return m;
}

// ---- Once: three callers, one of whose callable throws --------------------

struct OnceState {
  Once once;
  int inside = 0;    // callables running (plain: between steps)
  int attempts = 0;  // callables started
  int runs = 0;      // callables that returned
  int threw = 0;     // exceptions that reached their caller
  int returned = 0;  // callers that returned normally
  int early = 0;     // callers that returned normally before a callable returned
  OnceState() { check::NameWord(&once.word(), "once"); }
};

inline void OnceCallable(OnceState& s, bool throws) {
  ++s.inside;
  if (++s.attempts == 2) check::Count("a caller ran after a throw");
  check::Choose(1, "in the callable");  // a scheduling point while it runs
  --s.inside;
  if (throws) throw std::runtime_error("callable threw");
  ++s.runs;
}

inline void OnceReturned(OnceState& s) {
  if (s.runs != 1) ++s.early;
  ++s.returned;
}

inline void OnceCaller(OnceState& s) {
  s.once.call_once([&] { OnceCallable(s, false); });
  OnceReturned(s);
}

inline void OnceThrowingCaller(OnceState& s) {
  try {
    s.once.call_once([&] { OnceCallable(s, true); });
    OnceReturned(s);  // another caller's callable returned first
  } catch (const std::runtime_error&) {
    ++s.threw;
    check::Count("threw");
  }
}

inline void OnceCoroutineCaller(OnceState& s) {
  check::ModelLoop loop;
  bool done = false;
  [](OnceState& s, check::ModelLoop& loop, bool& done) -> check::Detached {
    co_await s.once.call_once_async(loop, [&s] { OnceCallable(s, false); });
    done = true;
  }(s, loop, done);
  loop.RunUntil([&] { return done; });
  OnceReturned(s);
}

inline void OnceRingBlockingCaller(OnceState& s) {
  {
    check::RingBlockingScope ring;
    s.once.call_once([&] { OnceCallable(s, false); });
  }
  OnceReturned(s);
}

inline check::Model<OnceState> OnceThreeCallersOneThrows(void (*third)(OnceState&) =
                                                             OnceCoroutineCaller) {
  check::Model<OnceState> m;
  m.threads = {OnceThrowingCaller, OnceCaller, third};
  m.invariant = [](OnceState& s) -> std::string {
    if (s.inside > 1) return "two callables running at once";
    if (s.runs > 1) return "the callable returned twice";
    if (s.early > 0) return "a caller returned before any callable returned";
    return OnceStateRow(s.once.word().load());
  };
  m.final_check = [](OnceState& s) -> std::string {
    if (s.runs != 1) return "callables returned: " + std::to_string(s.runs);
    if (s.returned + s.threw != 3) return "a caller neither returned nor saw its exception";
    if (s.attempts != 1 + s.threw) return "a callable ran without being needed";
    if (s.once.word().load() != internal::kOnceDone)
      return "once word not done (D): " + Hex(s.once.word().load());
    return "";
  };
  return m;
}

// ---- Barrier: two participants over two phases, with a completion ---------

struct BarrierState {
  struct Completion {
    BarrierState* s;
    void operator()() noexcept;
  };
  static constexpr int kPhases = 2;
  // `participants` at the start; `arrivals_of` each phase's expected arrivals
  // (fewer after an arrive_and_drop).
  explicit BarrierState(int participants = 2, int first = 2, int second = 2)
      : barrier(participants, Completion{this}),
        participants(participants),
        arrivals_of{first, second},
        prev(participants * (internal::kBarrierExpectedOne + internal::kBarrierRemainingOne)) {
    check::NameWord(&barrier.word(), "barrier");
  }
  Barrier<Completion> barrier;
  int participants;
  int arrivals_of[kPhases];
  int arrivals[kPhases] = {};
  int completions = 0;
  int early_completion = 0;  // completions run before the phase's last arrival
  int early_release = 0;     // waits that returned before their phase's completion
  uint32_t prev;             // the word after the previous step
};

inline void BarrierState::Completion::operator()() noexcept {
  check::Choose(1, "in the completion");  // a scheduling point while it runs
  if (s->completions >= kPhases || s->arrivals[s->completions] != s->arrivals_of[s->completions])
    ++s->early_completion;
  ++s->completions;
}

inline void BarrierPassed(BarrierState& s, int phase) {
  if (s.completions < phase + 1 || s.arrivals[phase] != s.arrivals_of[phase]) ++s.early_release;
}

inline void BarrierParticipant(BarrierState& s) {
  for (int p = 0; p < BarrierState::kPhases; ++p) {
    ++s.arrivals[p];
    s.barrier.arrive_and_wait();
    BarrierPassed(s, p);
  }
}

inline void BarrierCoroutineParticipant(BarrierState& s) {
  check::ModelLoop loop;
  bool done = false;
  [](BarrierState& s, check::ModelLoop& loop, bool& done) -> check::Detached {
    for (int p = 0; p < BarrierState::kPhases; ++p) {
      ++s.arrivals[p];
      co_await s.barrier.arrive_and_wait_async(loop);
      BarrierPassed(s, p);
    }
    done = true;
  }(s, loop, done);
  loop.RunUntil([&] { return done; });
}

inline void BarrierRingBlockingParticipant(BarrierState& s) {
  check::RingBlockingScope ring;
  BarrierParticipant(s);
}

// Arrives in phase 0 and drops out: phase 1 expects one arrival fewer.
inline void BarrierDropper(BarrierState& s) {
  ++s.arrivals[0];
  s.barrier.arrive_and_drop();
}

inline check::Model<BarrierState> BarrierTwoOverTwoPhases(void (*second)(BarrierState&) =
                                                              BarrierCoroutineParticipant) {
  check::Model<BarrierState> m;
  m.threads = {BarrierParticipant, second};
  m.invariant = [](BarrierState& s) -> std::string {
    if (s.early_completion > 0) return "the completion ran before the phase's last arrival";
    if (s.early_release > 0) return "a wait returned before its phase's completion ran";
    const uint32_t w = s.barrier.word().load();
    std::string e = BarrierStateRow(w, s.participants);
    if (e.empty()) e = BarrierTransition(s.prev, w);
    s.prev = w;
    return e;
  };
  m.final_check = [](BarrierState& s) -> std::string {
    if (s.completions != BarrierState::kPhases)
      return "completions: " + std::to_string(s.completions);
    const uint32_t idle = 2 * internal::kBarrierExpectedOne + 2 * internal::kBarrierRemainingOne +
                          BarrierState::kPhases * internal::kBarrierPhaseOne;
    if (s.barrier.word().load() != idle)
      return "barrier word not idle (phase 2, R=E=2, W=0): " + Hex(s.barrier.word().load());
    return "";
  };
  return m;
}

// ---- Watermark: waiters with different targets, two advances -------------
//
// Waiters (blocking, timed, coroutine, a coroutine destroyed while it waits,
// ring-blocking) wait for targets 1 and 2 while an advancer runs
// advance_to(1) then advance_to(2). Checked: no waiter returns before its
// target is reached (INV3), none stays asleep once it is (the checker's lost
// wakeup), every one is released exactly once or gave up, and at the end
// nobody is registered, nothing is linked and the lock is free.

struct WatermarkState {
  Watermark wm;
  int released = 0;   // waiters that returned having reached their target
  int gave_up = 0;    // timed out, or destroyed while waiting
  int early = 0;      // returned before the target (INV3 broken)
  size_t advanced = 0;  // waiters advance_to reported releasing
  WatermarkState() { check::NameWord(&wm.lock_word(), "wm.lock"); }
};

inline void WatermarkReturned(WatermarkState& s, uint64_t target) {
  if (s.wm.position() < target) ++s.early;
  ++s.released;
}

inline void WatermarkWaiter1(WatermarkState& s) {
  s.wm.wait_until_reached(1);
  WatermarkReturned(s, 1);
}

inline void WatermarkWaiter2(WatermarkState& s) {
  s.wm.wait_until_reached(2);
  WatermarkReturned(s, 2);
}

// Target 2, gives up at 3 ms of virtual time (a timeout is a scheduler choice).
inline void WatermarkTimedWaiter2(WatermarkState& s) {
  if (s.wm.wait_until_reached_deadline(2, Deadline::FromMonotonicNanos(3'000'000))) {
    WatermarkReturned(s, 2);
  } else {
    ++s.gave_up;
    check::Count("timed waiter gave up");
  }
}

inline void WatermarkCoroutineWaiter(WatermarkState& s, uint64_t target) {
  check::ModelLoop loop;
  bool done = false;
  [](WatermarkState& s, check::ModelLoop& loop, bool& done, uint64_t target) -> check::Detached {
    co_await s.wm.wait_until_reached_async(loop, target);
    WatermarkReturned(s, target);
    done = true;
  }(s, loop, done, target);
  loop.RunUntil([&] { return done; });
}
inline void WatermarkCoroutineWaiter2(WatermarkState& s) { WatermarkCoroutineWaiter(s, 2); }

// Target 2, a coroutine's timed wait (the async driver's linked timeout).
inline void WatermarkTimedCoroutine2(WatermarkState& s) {
  check::ModelLoop loop;
  bool done = false;
  [](WatermarkState& s, check::ModelLoop& loop, bool& done) -> check::Detached {
    const absl::Status st = co_await s.wm.wait_until_reached_async_until(
        loop, 2, Deadline::FromMonotonicNanos(3'000'000));
    if (st.ok()) {
      WatermarkReturned(s, 2);
    } else {
      ++s.gave_up;
      check::Count("timed waiter gave up");
    }
    done = true;
  }(s, loop, done);
  loop.RunUntil([&] { return done; });
}

// Target 2; the scheduler may destroy the coroutine while it waits.
inline void WatermarkCancellableCoroutine2(WatermarkState& s) {
  check::ModelLoop loop;
  bool done = false;
  OwnedCoroutine c = [](WatermarkState& s, check::ModelLoop& loop,
                        bool& done) -> OwnedCoroutine {
    co_await s.wm.wait_until_reached_async(loop, 2);
    WatermarkReturned(s, 2);
    done = true;
  }(s, loop, done);
  // A destroyed one's orphaned completion unlinks its node.
  FinishOrDestroy(c, loop, done, [&] { ++s.gave_up; });
}

inline void WatermarkRingBlockingWaiter1(WatermarkState& s) {
  check::RingBlockingScope ring;
  WatermarkWaiter1(s);
}

inline void WatermarkAdvancer(WatermarkState& s) {
  s.advanced += s.wm.advance_to(1);
  s.advanced += s.wm.advance_to(2);
}

inline check::Model<WatermarkState> WatermarkWaiters(
    std::vector<void (*)(WatermarkState&)> waiters) {
  check::Model<WatermarkState> m;
  const int n = static_cast<int>(waiters.size());
  for (auto* w : waiters) m.threads.push_back(w);
  m.threads.push_back(WatermarkAdvancer);
  m.invariant = [](WatermarkState& s) -> std::string {
    if (s.early > 0) return "a waiter returned before its target was reached (INV3)";
    if (s.wm.lock_word().load() > 2) return "watermark lock word " + Hex(s.wm.lock_word().load());
    return "";
  };
  m.final_check = [n](WatermarkState& s) -> std::string {
    if (s.released + s.gave_up != n)
      return "waiters released " + std::to_string(s.released) + " + gave up " +
             std::to_string(s.gave_up) + " != " + std::to_string(n);
    if (s.advanced > static_cast<size_t>(n))
      return "advance_to released " + std::to_string(s.advanced) + " waiters of " +
             std::to_string(n);
    if (s.wm.waiters() != 0) return std::to_string(s.wm.waiters()) + " waiters still registered";
    if (s.wm.lock_word().load() != 0) return "watermark lock not free at the end";
    if (s.wm.position() != 2) return "position " + std::to_string(s.wm.position()) + " != 2";
    return "";
  };
  return m;
}

}  // namespace ringlock::testing

#endif  // RINGLOCK_TESTS_CHECK_CONFIGS_H_
