// A deterministic model checker for ringlock's word protocols: stateless
// exploration (CHESS-style) of every interleaving of a small configuration,
// up to a preemption bound. See locks/check/README.md for what is explored.
//
// A configuration creates fresh shared state per execution and returns the
// bodies of its threads. The bodies run on real threads, serialized: exactly
// one runs at a time, and every model operation (check::Atomic op, futex
// model op, clock read, Choose) is a scheduling point where the scheduler
// picks which thread performs the next operation. Each execution replays a
// prefix of the choice stack and extends it with first alternatives; the
// search is a depth-first walk of that stack.
//
//   Model<State> m;
//   m.threads = {[](State& s) { s.mu.lock(); ++s.n; s.mu.unlock(); }, ...};
//   m.invariant = [](State& s) -> std::string { return s.inside > 1 ? "two inside" : ""; };
//   m.final_check = [](State& s) -> std::string { return s.n == 2 ? "" : "lost increment"; };
//   Result r = Explore(m.ToConfig("mutex/2"), Options{});
#ifndef RINGLOCK_LOCKS_CHECK_SCHEDULER_H_
#define RINGLOCK_LOCKS_CHECK_SCHEDULER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "locks/check/model_atomic.h"

namespace ringlock::check {

// Folds extra configuration state into the state hash (Result::distinct_states).
class StateHasher {
 public:
  void Add(uint64_t v) {
    h_ ^= v + 0x9e3779b97f4a7c15ull + (h_ << 6) + (h_ >> 2);
    h_ *= 0xff51afd7ed558ccdull;
  }
  uint64_t value() const { return h_; }

 private:
  uint64_t h_ = 0xcbf29ce484222325ull;
};

// What one execution runs, made fresh by Config::setup for every execution.
struct Execution {
  std::vector<std::function<void()>> threads;  // T1, T2, ... in this order
  std::function<std::string()> invariant;      // after every step; "" = holds
  std::function<std::string()> final_check;    // after all threads finished
  std::function<void(StateHasher&)> hash;      // optional extra state
  // Optional: called whenever a thread or an async op goes to sleep on a
  // word (a futex wait that matched, a submit or re-submit that armed), with
  // the value it sleeps on and its bitset; "" = allowed. For invariants about
  // what a waiter may sleep on (e.g. the Mutex's INV5).
  std::function<std::string(const void* word, uint32_t expected, uint32_t bitset)> sleep_check;
};

struct Config {
  std::string name;
  std::function<Execution()> setup;
};

// Convenience: a configuration over a default-constructed State.
template <class State>
struct Model {
  std::vector<std::function<void(State&)>> threads;
  std::function<std::string(State&)> invariant;
  std::function<std::string(State&)> final_check;
  std::function<void(State&, StateHasher&)> hash;
  std::function<std::string(State&, const void* word, uint32_t expected, uint32_t bitset)>
      sleep_check;

  Config ToConfig(std::string name) const {
    Model copy = *this;
    return Config{std::move(name), [copy] {
                    auto state = std::make_shared<State>();
                    Execution e;
                    for (const auto& body : copy.threads) {
                      e.threads.push_back([state, body] { body(*state); });
                    }
                    if (copy.invariant) {
                      e.invariant = [state, f = copy.invariant] { return f(*state); };
                    }
                    if (copy.final_check) {
                      e.final_check = [state, f = copy.final_check] { return f(*state); };
                    }
                    if (copy.sleep_check) {
                      e.sleep_check = [state, f = copy.sleep_check](const void* w, uint32_t x,
                                                                    uint32_t b) {
                        return f(*state, w, x, b);
                      };
                    }
                    if (copy.hash) {
                      e.hash = [state, f = copy.hash](StateHasher& h) { f(*state, h); };
                    }
                    return e;
                  }};
  }
};

inline constexpr int kUnbounded = -1;

struct Options {
  // Context switches away from a thread that could have continued, per
  // execution. kUnbounded explores every interleaving (tiny configs only).
  int preemption_bound = 2;
  // Hitting this before the search is exhausted is a FAILURE (the result
  // would be partial).
  int64_t max_executions = 200000;
  // Steps per execution; more is reported as a livelock.
  int max_steps = 2000;
  // Spurious futex wakeups the scheduler may inject per execution (each one
  // a choice at every step while a thread sleeps). 0 = none.
  int max_spurious_wakeups = 1;
  // Times per execution an armed async wait may leave the wait queue and
  // be submitted again with its original expected value (each a choice):
  // the futex_waitv(2) fallback helper does that whenever it rebuilds its
  // wait set, and a wake sent meanwhile finds nobody. 0 = never.
  int max_requeues = 0;
  // compare_exchange_weak calls that would succeed but fail spuriously (each
  // a choice), per execution. 0 = weak behaves as strong.
  int max_spurious_cas_failures = 0;
  // The virtual clock (NowNanos): each read may advance it by clock_tick_ns
  // (a choice), at most max_clock_advances times per execution.
  int max_clock_advances = 1;
  int64_t clock_tick_ns = 1000000;
  // Non-empty: run exactly the one schedule Result::replay printed.
  std::string replay;
  // After a failure the remaining threads are drained (run round-robin with
  // no checks, sleeps returning at once) so their state can be freed; past
  // this many operations they are abandoned instead (leaked, parked).
  int drain_steps = 100000;
};

struct Result {
  bool passed = false;
  std::string config;
  std::string failure;  // the failing message ("" when passed)
  std::string trace;    // the failing execution, numbered steps
  std::string replay;   // Options::replay for the failing schedule
  int64_t executions = 0;
  int64_t distinct_states = 0;  // word values + thread and op status (+ hash)
  int max_depth = 0;            // most steps in one execution
  // For each event, in how many executions it happened: "timeout",
  // "spurious_wakeup", "preemption", "async_eagain", "async_timeout",
  // "async_cancel", "late_dispatch", "clock_advance", "cas_spurious_failure",
  // plus whatever the model passed to Count().
  std::map<std::string, int64_t> counts;

  std::string Summary() const;  // one line: config, verdict, numbers
  std::string Report() const;   // Summary + failure + trace + replay
};

// Explores `config`. One exploration runs at a time per process.
Result Explore(const Config& config, const Options& options = {});

// ---- For model code (thread bodies and the primitives under test) ----

// A scheduling point that returns 0..n-1, exploring each. Outside an
// exploration returns 0.
int Choose(int n, const char* what);

// Counts the current execution in Result::counts[what] (no scheduling point).
void Count(const char* what);

// Names a word in traces ("mu" instead of "w0"). Any check::Atomic.
void NameWord(const void* word, const char* name);

// The virtual clock, in ns (starts at 0). A scheduling point; may advance.
int64_t NowNanos();

// True on a model thread of a running exploration.
bool InModel();

}  // namespace ringlock::check

#endif  // RINGLOCK_LOCKS_CHECK_SCHEDULER_H_
