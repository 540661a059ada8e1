// Configurations shared by the model-checked protocol tests and by the
// mutant tests (a fixed bug put back must make the same configuration fail).
#ifndef RINGLOCK_TESTS_CHECK_CONFIGS_H_
#define RINGLOCK_TESTS_CHECK_CONFIGS_H_

#include <atomic>
#include <coroutine>
#include <exception>
#include <cstdint>
#include <mutex>
#include <string>

#include "locks/check/model_loop.h"
#include "locks/check/scheduler.h"
#include "locks/condvar.h"
#include "locks/event.h"
#include "locks/internal/wait_backend.h"
#include "locks/internal/word_access.h"
#include "locks/mutex.h"
#include "locks/wake_batch.h"
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

inline void CancellableCoroutineLocker(MutexState& s) {
  check::ModelLoop loop;
  bool done = false;
  OwnedCoroutine c = [](MutexState& s, check::ModelLoop& loop, bool& done) -> OwnedCoroutine {
    std::unique_lock<Mutex> guard = co_await s.mu.lock_async(loop);
    CriticalSection(s);
    guard.unlock();
    done = true;
  }(s, loop, done);
  if (!done && check::Choose(2, "destroy the waiting coroutine") == 1) {
    c.handle.destroy();  // orphans its wait
    ++s.timed_out;       // counted as a locker that gave up
    done = true;
  } else {
    loop.RunUntil([&] { return done; });
    c.handle.destroy();
  }
  using Op = internal::AsyncLoop<check::ModelLoop>::Op;
  loop.RunUntil([] { return Op::live_on_this_thread() == 0; });
}

// A thread that runs a loop and calls the blocking lock(): it sleeps in the
// ring (an armed FUTEX_WAIT op), as ring-blocking threads do.
inline void RingBlockingLocker(MutexState& s) {
  check::ModelLoop loop;
  check::ModelRingBackend ring(loop);
  internal::SetThreadWaitBackend(&ring);
  Locker(s);
  internal::SetThreadWaitBackend(nullptr);
}

inline std::string MutexSleepCheck(MutexState& s, const void* word, uint32_t expected,
                                   uint32_t bitset) {
  return word == &s.mu.word() ? MutexSleepRow(expected, bitset) : "";
}

inline check::Model<MutexState> MutexThreeLockers(void (*third)(MutexState&),
                                                  void (*second)(MutexState&) = TimedLocker) {
  check::Model<MutexState> m;
  m.threads = {Locker, second, third};
  m.invariant = [](MutexState& s) -> std::string {
    if (s.inside > 1) return "mutual exclusion: " + std::to_string(s.inside) + " threads inside";
    const uint32_t w = s.mu.word().load();
    if ((w & Mutex::kStarvingMask) != 0) s.saw_starving = true;
    return MutexStateRow(w, /*max_waiters=*/3);
  };
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

}  // namespace ringlock::testing

#endif  // RINGLOCK_TESTS_CHECK_CONFIGS_H_
