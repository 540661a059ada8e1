// The model checker proves itself on toy protocols: it passes correct ones
// and fails planted bugs with a readable trace.
#include <signal.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "locks/check/check_gtest.h"
#include "locks/check/model_atomic.h"
#include "locks/check/model_futex.h"
#include "locks/check/scheduler.h"

namespace ringlock::check {
namespace {

// Every test ends within 30 s or the binary fails with a message.
class CheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    signal(SIGALRM, [](int) {
      const char msg[] = "scheduler_test: watchdog: a test ran for 30 s (hung exploration?)\n";
      (void)!write(2, msg, sizeof msg - 1);
      _exit(1);
    });
    alarm(30);
  }
  void TearDown() override { alarm(0); }
};

// ---- Toy 1: Drepper's "Futexes are tricky" mutex2, 0 free / 1 locked /
// 2 locked with (possible) waiters.
struct MutexState {
  Atomic<uint32_t> mu{0};
  Atomic<uint32_t> counter{0};  // incremented non-atomically inside the lock
  int inside = 0;
  MutexState() {
    NameWord(&mu, "mu");
    NameWord(&counter, "counter");
  }
};

enum class MutexBug { kNone, kWakeOnlyWhenUncontended, kTestThenSet };

void Lock(MutexState& s, MutexBug bug) {
  if (bug == MutexBug::kTestThenSet) {
    for (;;) {
      if (s.mu.load() == 0) {
        s.mu.store(1);  // not atomic with the load: two threads can get here
        return;
      }
      Wait(s.mu, 1, kMatchAny, false);
    }
  }
  uint32_t c = 0;
  if (s.mu.compare_exchange_strong(c, 1)) return;
  do {
    // Sleep unless the lock turned out free: c == 2, or cmpxchg(1 -> 2) saw non-zero.
    bool sleep = c == 2;
    if (!sleep) {
      uint32_t seen = 1;
      s.mu.compare_exchange_strong(seen, 2);
      sleep = seen != 0;
    }
    if (sleep) Wait(s.mu, 2, kMatchAny, false);
    c = 0;
  } while (!s.mu.compare_exchange_strong(c, 2));
}

void Unlock(MutexState& s, MutexBug bug) {
  if (bug == MutexBug::kTestThenSet) {
    s.mu.store(0);
    Wake(s.mu, 1);
    return;
  }
  if (bug == MutexBug::kWakeOnlyWhenUncontended) {
    // Planted lost wakeup: wakes only when the old value was 1 (nobody waits).
    if (s.mu.exchange(0) == 1) Wake(s.mu, 1);
    return;
  }
  if (s.mu.fetch_sub(1) != 1) {
    s.mu.store(0);
    Wake(s.mu, 1);
  }
}

Config MutexConfig(int threads, MutexBug bug) {
  Model<MutexState> m;
  for (int i = 0; i < threads; ++i) {
    m.threads.push_back([bug](MutexState& s) {
      Lock(s, bug);
      ++s.inside;
      s.counter.store(s.counter.load() + 1);  // two steps: a race without the lock
      --s.inside;
      Unlock(s, bug);
    });
  }
  m.invariant = [](MutexState& s) -> std::string {
    return s.inside > 1 ? "mutual exclusion: " + std::to_string(s.inside) + " threads inside"
                        : "";
  };
  m.final_check = [threads](MutexState& s) -> std::string {
    if (s.counter.load() != static_cast<uint32_t>(threads)) {
      return "counter " + std::to_string(s.counter.load()) + ", expected " +
             std::to_string(threads);
    }
    if (s.mu.load() != 0) return "mutex left locked";
    return "";
  };
  return m.ToConfig("mutex2/" + std::to_string(threads) + "T");
}

TEST_F(CheckTest, CorrectFutexMutexPassesWithThreeThreads) {
  Options o;
  o.max_spurious_wakeups = 0;  // explored with two threads below
  const Result r = ExploreAndPrint(MutexConfig(3, MutexBug::kNone), o);
  ASSERT_TRUE(r.passed) << r.Report();
  EXPECT_GT(r.executions, 100);
  EXPECT_GT(r.distinct_states, 10);
  EXPECT_GT(r.counts.at("preemption"), 0);
}

TEST_F(CheckTest, CorrectFutexMutexPassesWithSpuriousWakeups) {
  const Result r = ExploreAndPrint(MutexConfig(2, MutexBug::kNone));
  ASSERT_TRUE(r.passed) << r.Report();
  EXPECT_GT(r.counts.at("spurious_wakeup"), 0);  // default: one per execution allowed
}

TEST_F(CheckTest, CorrectFutexMutexPassesUnboundedWithTwoThreads) {
  Options o;
  o.preemption_bound = kUnbounded;
  o.max_spurious_wakeups = 0;
  Options zero;
  zero.preemption_bound = 0;
  const Result bounded0 = Explore(MutexConfig(2, MutexBug::kNone), zero);
  const Result r = ExploreAndPrint(MutexConfig(2, MutexBug::kNone), o);
  ASSERT_TRUE(bounded0.passed) << bounded0.Report();
  ASSERT_TRUE(r.passed) << r.Report();
  EXPECT_GT(r.executions, bounded0.executions);
}

// Two threads of three independent operations: C(6,3) = 20 interleavings
// unbounded; with at most one preemption, 3 per first thread (it runs 1, 2
// or 3 operations before the other runs to its end); with none, 2.
TEST_F(CheckTest, ExploresExactlyTheBoundedInterleavings) {
  struct S {
    Atomic<uint32_t> a{0}, b{0};
  };
  Model<S> m;
  m.threads = {[](S& s) {
                 for (int i = 0; i < 3; ++i) s.a.fetch_add(1);
               },
               [](S& s) {
                 for (int i = 0; i < 3; ++i) s.b.fetch_add(1);
               }};
  m.final_check = [](S& s) -> std::string {
    return s.a.load() == 3 && s.b.load() == 3 ? "" : "lost an increment";
  };
  const Config c = m.ToConfig("independent 2x3");
  for (const auto& [bound, executions] :
       std::vector<std::pair<int, int64_t>>{{kUnbounded, 20}, {0, 2}, {1, 6}, {2, 14}}) {
    Options o;
    o.preemption_bound = bound;
    const Result r = ExploreAndPrint(c, o);
    ASSERT_TRUE(r.passed) << r.Report();
    EXPECT_EQ(r.executions, executions) << "preemption bound " << bound;
    EXPECT_EQ(r.max_depth, 6);
  }
}

TEST_F(CheckTest, LostWakeupInUnlockIsReportedWithTheSleepingThread) {
  const Result r = ExploreAndPrint(MutexConfig(2, MutexBug::kWakeOnlyWhenUncontended));
  ASSERT_FALSE(r.passed);
  EXPECT_NE(r.failure.find("lost wakeup / deadlock"), std::string::npos) << r.failure;
  EXPECT_NE(r.failure.find("asleep on mu@"), std::string::npos) << r.failure;
  EXPECT_NE(r.trace.find("futex_wait(mu@"), std::string::npos) << r.trace;
  EXPECT_NE(r.trace.find("-> asleep"), std::string::npos) << r.trace;
  EXPECT_NE(r.trace.find("exchange(0x0): 0x2 -> 0x0"), std::string::npos) << r.trace;
  EXPECT_FALSE(r.replay.empty());
}

// Config with a sleep check that forbids sleeping on `forbidden`.
Config WithSleepCheck(Config c, uint32_t forbidden) {
  c.setup = [setup = c.setup, forbidden] {
    Execution e = setup();
    e.sleep_check = [forbidden](const void*, uint32_t expected, uint32_t) -> std::string {
      return expected == forbidden ? "sleeps on " + std::to_string(forbidden) : "";
    };
    return e;
  };
  return c;
}

TEST_F(CheckTest, SleepCheckSeesEverySleepAndFailsTheOneItForbids) {
  Options o;
  o.max_spurious_wakeups = 0;
  // mutex2 sleeps only on 2: forbidding 1 passes, forbidding 2 fails.
  EXPECT_TRUE(Explore(WithSleepCheck(MutexConfig(2, MutexBug::kNone), 1), o).passed);
  const Result r = ExploreAndPrint(WithSleepCheck(MutexConfig(2, MutexBug::kNone), 2), o);
  ASSERT_FALSE(r.passed);
  EXPECT_NE(r.failure.find("invariant violated by a sleeper: sleeps on 2"), std::string::npos)
      << r.failure;
  EXPECT_NE(r.trace.find("exp=0x2"), std::string::npos) << r.trace;
}

TEST_F(CheckTest, NonAtomicTestThenSetFailsTheInvariant) {
  const Result r = ExploreAndPrint(MutexConfig(2, MutexBug::kTestThenSet));
  ASSERT_FALSE(r.passed);
  EXPECT_NE(r.failure.find("invariant violated: mutual exclusion: 2 threads inside"),
            std::string::npos)
      << r.failure;
  EXPECT_NE(r.trace.find("FAILED: invariant violated"), std::string::npos) << r.trace;
}

TEST_F(CheckTest, ReplayReproducesTheFailingSchedule) {
  const Config c = MutexConfig(2, MutexBug::kWakeOnlyWhenUncontended);
  const Result first = Explore(c);
  ASSERT_FALSE(first.passed);
  Options o;
  o.replay = first.replay;
  const Result again = ExploreAndPrint(c, o);
  ASSERT_FALSE(again.passed);
  EXPECT_EQ(again.executions, 1);
  EXPECT_EQ(again.failure.substr(0, 30), first.failure.substr(0, 30));
  // Same steps (the addresses differ between runs: compare without them).
  auto strip = [](std::string s) {
    for (size_t at; (at = s.find("@0x")) != std::string::npos;) {
      size_t end = at + 3;
      while (end < s.size() && isxdigit(static_cast<unsigned char>(s[end]))) ++end;
      s.erase(at, end - at);
    }
    return s;
  };
  EXPECT_EQ(strip(again.trace), strip(first.trace));
  EXPECT_EQ(again.replay, first.replay);

  // A replay string of another configuration is refused, not silently run.
  o.replay = "s:5/7";
  const Result wrong = Explore(c, o);
  EXPECT_FALSE(wrong.passed);
  EXPECT_NE(wrong.failure.find("nondeterministic"), std::string::npos) << wrong.failure;
}

TEST_F(CheckTest, HittingMaxExecutionsIsAFailure) {
  Options o;
  o.max_executions = 10;
  const Result r = ExploreAndPrint(MutexConfig(3, MutexBug::kNone), o);
  EXPECT_FALSE(r.passed);
  EXPECT_EQ(r.executions, 10);
  EXPECT_NE(r.failure.find("max_executions (10) reached"), std::string::npos) << r.failure;
}

// ---- Toy 2: a flag with a timed waiter: timeouts and spurious wakeups.
struct FlagState {
  Atomic<uint32_t> flag{0};
  bool timed_out = false;
  FlagState() { NameWord(&flag, "flag"); }
};

TEST_F(CheckTest, TimeoutsAndSpuriousWakeupsAreExplored) {
  Model<FlagState> m;
  m.threads = {
      [](FlagState& s) {
        while (s.flag.load() == 0) {
          const FutexWaitResult r = Wait(s.flag, 0, kMatchAny, /*timed=*/true);
          if (r == FutexWaitResult::kTimedOut) {
            Count("waiter saw kTimedOut");
            s.timed_out = true;
            return;
          }
          if (r == FutexWaitResult::kWoken && s.flag.load() == 0) Count("waiter woke, flag 0");
        }
        Count("waiter saw the flag");
      },
      [](FlagState& s) {
        s.flag.store(1);
        Wake(s.flag, INT_MAX);
      },
  };
  m.final_check = [](FlagState& s) -> std::string {
    return s.flag.load() == 1 ? "" : "flag not set";
  };
  const Result r = ExploreAndPrint(m.ToConfig("timed flag"));
  ASSERT_TRUE(r.passed) << r.Report();
  EXPECT_GT(r.counts.at("timeout"), 0);
  EXPECT_GT(r.counts.at("spurious_wakeup"), 0);
  EXPECT_GT(r.counts.at("waiter saw kTimedOut"), 0);
  EXPECT_GT(r.counts.at("waiter woke, flag 0"), 0);
  EXPECT_GT(r.counts.at("waiter saw the flag"), 0);

  // Spurious wakeups off: none explored, fewer executions.
  Options quiet;
  quiet.max_spurious_wakeups = 0;
  const Result q = ExploreAndPrint(m.ToConfig("timed flag, no spurious"), quiet);
  ASSERT_TRUE(q.passed) << q.Report();
  EXPECT_EQ(q.counts.count("spurious_wakeup"), 0u);
  EXPECT_EQ(q.counts.count("waiter woke, flag 0"), 0u);
  EXPECT_LT(q.executions, r.executions);
}

TEST_F(CheckTest, WaitAnyWakesOnEitherWord) {
  struct S {
    Atomic<uint32_t> a{0}, b{0};
    int index = -2;
  };
  Model<S> m;
  m.threads = {
      [](S& s) {
        for (;;) {
          const WaitEntry e[2] = {{&s.a, 0}, {&s.b, 0}};
          const WaitAnyResult r = WaitAny(e, 2, false);
          if (r.result != FutexWaitResult::kWoken || r.index >= 0) {
            s.index = r.index;
            if (s.a.load() != 0 || s.b.load() != 0) return;
          }
        }
      },
      [](S& s) {
        s.b.store(1);
        Wake(s.b, 1);
      },
  };
  m.final_check = [](S& s) -> std::string {
    return s.index == 1 ? "" : "WaitAny returned index " + std::to_string(s.index);
  };
  Options o;
  o.max_spurious_wakeups = 0;
  EXPECT_CHECK_PASSES(m.ToConfig("waitany"), o);
}

// ---- Toy 3: an event (0 unset, 1 set) with an async waiter on a loop thread.
struct EventState;
struct AsyncWaiter final : AsyncOp {
  EventState* s = nullptr;
  void Complete(int32_t res) override;
};
struct EventState {
  Atomic<uint32_t> ev{0};
  AsyncWaiter waiter;
  bool got = false;
  int32_t last_res = 1;
  EventState() {
    NameWord(&ev, "ev");
    waiter.s = this;
  }
};
void AsyncWaiter::Complete(int32_t res) {
  s->last_res = res;
  if (s->ev.load() == 1) {
    s->got = true;
  } else {
    StartWait(this, s->ev, 0, kMatchAny, false, "ev wait");
  }
}

Config AsyncEventConfig(bool wake_before_set) {
  Model<EventState> m;
  m.threads = {
      [](EventState& s) {  // the loop thread
        if (s.ev.load() == 1) {
          s.got = true;
          return;
        }
        StartWait(&s.waiter, s.ev, 0, kMatchAny, false, "ev wait");
        RunLoopUntil([&] { return s.got; });
      },
      [wake_before_set](EventState& s) {  // the setter
        if (wake_before_set) {
          Wake(s.ev, INT_MAX);  // planted bug: the wake can come before the wait
          s.ev.store(1);
        } else {
          s.ev.store(1);
          Wake(s.ev, INT_MAX);
        }
      },
      [](EventState& s) { (void)s.ev.load(); },  // a bystander: steps between completion and dispatch
  };
  m.final_check = [](EventState& s) -> std::string { return s.got ? "" : "waiter missed the event"; };
  return m.ToConfig(wake_before_set ? "async event, wake before set" : "async event");
}

TEST_F(CheckTest, AsyncWaitCompletedButDispatchedLateIsExplored) {
  const Result r = ExploreAndPrint(AsyncEventConfig(false));
  ASSERT_TRUE(r.passed) << r.Report();
  EXPECT_GT(r.counts.at("late_dispatch"), 0);
  EXPECT_GT(r.counts.at("async_eagain"), 0);  // submitted after the set
}

TEST_F(CheckTest, AsyncLostWakeupIsReportedWithTheArmedOp) {
  const Result r = ExploreAndPrint(AsyncEventConfig(true));
  ASSERT_FALSE(r.passed);
  EXPECT_NE(r.failure.find("lost wakeup / deadlock"), std::string::npos) << r.failure;
  EXPECT_NE(r.failure.find("T1 idle in RunLoopUntil"), std::string::npos) << r.failure;
  EXPECT_NE(r.failure.find("armed on ev@"), std::string::npos) << r.failure;
}

TEST_F(CheckTest, AsyncTimeoutAndCancel) {
  struct S;
  struct Op final : AsyncOp {
    int32_t* res = nullptr;
    void Complete(int32_t r) override { *res = r; }
  };
  struct S {
    Atomic<uint32_t> w{0};
    Op op;
    int32_t res = 1;
    S() { op.res = &res; }
  };
  Model<S> m;
  m.threads = {
      [](S& s) {
        StartWait(&s.op, s.w, 0, kMatchAny, /*timed=*/true, "timed");
        if (Choose(2, "cancel?") == 1) Cancel(&s.op);
        RunLoopUntil([&] { return s.res != 1; });
        if (s.res == -ETIMEDOUT) Count("res -ETIMEDOUT");
        if (s.res == -ECANCELED) Count("res -ECANCELED");
        if (s.res == 0) Count("res 0");
      },
      [](S& s) { Wake(s.w, 1); },
  };
  m.final_check = [](S& s) -> std::string {
    return s.res == 0 || s.res == -ETIMEDOUT || s.res == -ECANCELED
               ? ""
               : "unexpected res " + std::to_string(s.res);
  };
  const Result r = ExploreAndPrint(m.ToConfig("async timeout/cancel"));
  ASSERT_TRUE(r.passed) << r.Report();
  EXPECT_GT(r.counts.at("res -ETIMEDOUT"), 0);
  EXPECT_GT(r.counts.at("res -ECANCELED"), 0);
  EXPECT_GT(r.counts.at("res 0"), 0);
}

// An op destroyed while armed is a use-after-free in io_uring: reported.
TEST_F(CheckTest, DestroyingAnArmedOpFails) {
  struct Op final : AsyncOp {
    void Complete(int32_t) override {}
  };
  struct S {
    Atomic<uint32_t> w{0};
  };
  Model<S> m;
  m.threads = {[](S& s) {
    Op op;
    StartWait(&op, s.w, 0, kMatchAny, false, "leaked");
    (void)s.w.load();
  }};
  const Result r = ExploreAndPrint(m.ToConfig("op destroyed armed"));
  ASSERT_FALSE(r.passed);
  EXPECT_NE(r.failure.find("destroyed while in flight (unsubmitted)"), std::string::npos) << r.failure;
}

// A thread that retries forever is a livelock, reported at max_steps.
TEST_F(CheckTest, LivelockHitsMaxSteps) {
  struct S {
    Atomic<uint32_t> w{0};
  };
  Model<S> m;
  m.threads = {[](S& s) {
    while (s.w.load() == 0) {
    }
  }};
  Options o;
  o.max_steps = 50;
  const Result r = ExploreAndPrint(m.ToConfig("spin forever"), o);
  ASSERT_FALSE(r.passed);
  EXPECT_NE(r.failure.find("max_steps (50)"), std::string::npos) << r.failure;
  // The spinning thread cannot be drained: it is parked, never a hang.
  EXPECT_NE(r.trace.find("could not drain"), std::string::npos) << r.trace;
}

// Deadlines on the virtual clock: a timeout never returns before its deadline.
TEST_F(CheckTest, VirtualClockDeadlinesAndWeakCas) {
  struct S {
    Atomic<uint32_t> flag{0};
    Atomic<uint32_t> cas_word{0};
  };
  Model<S> m;
  m.threads = {
      [](S& s) {
        const int64_t deadline = NowNanos() + 500;
        while (s.flag.load() == 0) {
          if (WaitUntil(s.flag, 0, kMatchAny, deadline) == FutexWaitResult::kTimedOut) {
            if (NowNanos() < deadline) Count("timed out early");
            Count("timed out");
            return;
          }
        }
      },
      [](S& s) {
        uint32_t e = 0;
        while (!s.cas_word.compare_exchange_weak(e, 1)) e = 0;
        s.flag.store(1);
        Wake(s.flag, 1);
      },
  };
  Options o;
  o.max_spurious_wakeups = 0;
  o.max_spurious_cas_failures = 1;
  const Result r = ExploreAndPrint(m.ToConfig("deadline"), o);
  ASSERT_TRUE(r.passed) << r.Report();
  EXPECT_GT(r.counts.at("timed out"), 0);
  EXPECT_GT(r.counts.at("clock_advance"), 0);
  EXPECT_GT(r.counts.at("cas_spurious_failure"), 0);
  EXPECT_EQ(r.counts.count("timed out early"), 0u);
}

// Outside an exploration the model types act directly; static words are
// constant-initialized, as the production word.
constinit Atomic<uint32_t> g_static_word{7};

TEST_F(CheckTest, OutsideAnExplorationOperationsActDirectly) {
  EXPECT_EQ(g_static_word.fetch_add(1), 7u);
  EXPECT_EQ(g_static_word.load(), 8u);
  Atomic<uint32_t> w{5};
  EXPECT_EQ(w.fetch_add(2), 5u);
  EXPECT_EQ(w.fetch_or(8), 7u);
  uint32_t e = 15;
  EXPECT_TRUE(w.compare_exchange_strong(e, 1));
  EXPECT_EQ(w.exchange(3), 1u);
  EXPECT_EQ(Wake(w, 1), 0);
  EXPECT_EQ(Wait(w, 4, kMatchAny, false), FutexWaitResult::kValueChanged);
  EXPECT_EQ(Wait(w, 3, kMatchAny, true), FutexWaitResult::kTimedOut);
  EXPECT_EQ(Choose(3, "outside"), 0);
  EXPECT_FALSE(InModel());
}

}  // namespace
}  // namespace ringlock::check
