// The Event protocol (locks/event.h, event.cc), explored over every
// interleaving of small configurations by the model checker
// (locks/check/README.md): auto-reset (one set releases exactly one waiter
// of two; the other times out or is released by a second set) and
// manual-reset (one set releases every waiter).
#include <atomic>
#include <cstdint>
#include <string>

#include "gtest/gtest.h"
#include "locks/check/check_gtest.h"
#include "locks/check/model_loop.h"
#include "locks/event.h"
#include "locks/internal/wait_backend.h"
#include "tests/check/protocol_checks.h"

namespace ringlock {
namespace {

using check::Detached;
using check::ModelLoop;

constexpr int kWaiters = 2;
constexpr int64_t kDeadlineNs = 3'000'000;

struct EventState {
  Event ev;
  bool auto_reset;
  // Plain, updated between steps.
  int sets = 0;       // set() calls started
  int returned = 0;   // waiters that returned having seen (taken) the event
  int timed_out = 0;  // timed waiters that gave up
  explicit EventState(EventMode mode) : ev(mode), auto_reset(mode == EventMode::kAutoReset) {
    check::NameWord(&ev.word(), "ev");
  }
};
template <EventMode kMode>
struct EventStateOf : EventState {
  EventStateOf() : EventState(kMode) {}
};

bool IsSet(const EventState& s) { return (s.ev.word().load() & internal::kEventSet) != 0; }
uint32_t Waiters(const EventState& s) { return s.ev.word().load() / internal::kEventWaiterOne; }

void Set(EventState& s) {
  ++s.sets;
  s.ev.set();
}

void Waiter(EventState& s) {
  s.ev.wait();
  ++s.returned;
}

void TimedWaiter(EventState& s) {
  if (s.ev.wait_until_deadline(Deadline::FromMonotonicNanos(kDeadlineNs))) {
    ++s.returned;
  } else {
    ++s.timed_out;
    check::Count("timed waiter gave up");
  }
}

void CoroutineWaiter(EventState& s) {
  ModelLoop loop;
  bool finished = false;
  [](EventState& s, ModelLoop& loop, bool& finished) -> Detached {
    co_await s.ev.wait_async(loop);
    ++s.returned;
    finished = true;
  }(s, loop, finished);
  loop.RunUntil([&] { return finished; });
}

// Auto-reset relay: the first waiter released sets the event again for the
// other one (the second set).
void RelayWaiter(EventState& s) {
  Waiter(s);
  if (s.returned == 1) Set(s);
}
void CoroutineRelayWaiter(EventState& s) {
  CoroutineWaiter(s);
  if (s.returned == 1) Set(s);
}

std::string EventInvariant(EventState& s) {
  const uint32_t w = s.ev.word().load();
  std::string e = testing::EventStateRow(w, s.auto_reset, kWaiters);
  if (!e.empty()) return e;
  // Auto-reset: each set releases at most one waiter (returned lags the
  // take, sets leads the set: the check holds in every state).
  if (s.auto_reset && s.returned > s.sets)
    return "auto-reset: " + std::to_string(s.returned) + " waiters released by " +
           std::to_string(s.sets) + " sets";
  return "";
}

int64_t CountOf(const check::Result& r, const char* what) {
  auto it = r.counts.find(what);
  return it == r.counts.end() ? 0 : it->second;
}

// Auto-reset, one set, two timed waiters: exactly one waiter takes the set
// (or, if both gave up first, the event stays set for the next one).
TEST(EventCheck, AutoResetOneSetTwoTimedWaiters) {
  using S = EventStateOf<EventMode::kAutoReset>;
  check::Model<S> m;
  m.threads = {[](S& s) { TimedWaiter(s); }, [](S& s) { TimedWaiter(s); },
               [](S& s) { Set(s); }};
  m.invariant = [](S& s) { return EventInvariant(s); };
  m.final_check = [](S& s) -> std::string {
    if (s.returned + s.timed_out != kWaiters) return "a waiter neither returned nor timed out";
    if (s.returned + (IsSet(s) ? 1 : 0) != 1)
      return "one set released " + std::to_string(s.returned) + " waiters, event " +
             (IsSet(s) ? "still set" : "clear");
    if (Waiters(s) != 0) return "waiters still counted: " + testing::Hex(s.ev.word().load());
    return "";
  };
  const check::Result r = check::ExploreAndPrint(
      m.ToConfig("event auto-reset: 1 set, 2 timed waiters"), testing::ProtocolOptions());
  EXPECT_TRUE(r.passed) << r.Report();
  EXPECT_GT(CountOf(r, "timed waiter gave up"), 0);
  EXPECT_GT(CountOf(r, "timeout"), 0);
}

// Auto-reset, two waiters (futex and coroutine): the set releases one, which
// sets again for the other. At the end: clear, nobody registered.
TEST(EventCheck, AutoResetRelayWaiterAndCoroutine) {
  using S = EventStateOf<EventMode::kAutoReset>;
  check::Model<S> m;
  m.threads = {[](S& s) { RelayWaiter(s); }, [](S& s) { CoroutineRelayWaiter(s); },
               [](S& s) { Set(s); }};
  m.invariant = [](S& s) { return EventInvariant(s); };
  m.final_check = [](S& s) -> std::string {
    if (s.returned != kWaiters || s.sets != 2) return "not every waiter released once per set";
    if (s.ev.word().load() != internal::kEventAuto)
      return "event not idle (clear, auto, no waiter): " + testing::Hex(s.ev.word().load());
    return "";
  };
  const check::Result r = check::ExploreAndPrint(
      m.ToConfig("event auto-reset: relay, waiter + coroutine"), testing::ProtocolOptions());
  EXPECT_TRUE(r.passed) << r.Report();
  EXPECT_GT(CountOf(r, "late_dispatch"), 0);
}

// The same with spurious futex wakeups: a woken waiter that finds the event
// clear sleeps again.
TEST(EventCheck, AutoResetRelayTwoWaitersSpuriousWakeups) {
  using S = EventStateOf<EventMode::kAutoReset>;
  check::Model<S> m;
  m.threads = {[](S& s) { RelayWaiter(s); }, [](S& s) { RelayWaiter(s); },
               [](S& s) { Set(s); }};
  m.invariant = [](S& s) { return EventInvariant(s); };
  m.final_check = [](S& s) -> std::string {
    if (s.returned != kWaiters || s.sets != 2) return "not every waiter released once per set";
    if (s.ev.word().load() != internal::kEventAuto)
      return "event not idle (clear, auto, no waiter): " + testing::Hex(s.ev.word().load());
    return "";
  };
  check::Options o = testing::ProtocolOptions();
  o.max_spurious_wakeups = 1;
  const check::Result r =
      check::ExploreAndPrint(m.ToConfig("event auto-reset: relay, 2 waiters, spurious"), o);
  EXPECT_TRUE(r.passed) << r.Report();
  EXPECT_GT(CountOf(r, "spurious_wakeup"), 0);
}

// Manual-reset: one set releases every waiter (futex, timed or coroutine);
// the event stays set, nobody registered.
template <class S>
check::Model<S> ManualOneSet(void (*second)(EventState&)) {
  check::Model<S> m;
  m.threads = {[](S& s) { Waiter(s); }, [second](S& s) { second(s); }, [](S& s) { Set(s); }};
  m.invariant = [](S& s) { return EventInvariant(s); };
  m.final_check = [](S& s) -> std::string {
    if (s.returned + s.timed_out != kWaiters) return "a waiter neither returned nor timed out";
    if (s.ev.word().load() != internal::kEventSet)
      return "event not set with no waiter: " + testing::Hex(s.ev.word().load());
    return "";
  };
  return m;
}

TEST(EventCheck, ManualResetOneSetWaiterAndTimedWaiter) {
  using S = EventStateOf<EventMode::kManualReset>;
  const check::Result r = check::ExploreAndPrint(
      ManualOneSet<S>(TimedWaiter).ToConfig("event manual-reset: 1 set, waiter + timed"),
      testing::ProtocolOptions());
  EXPECT_TRUE(r.passed) << r.Report();
  EXPECT_GT(CountOf(r, "timed waiter gave up"), 0);
}

TEST(EventCheck, ManualResetOneSetWaiterAndCoroutine) {
  using S = EventStateOf<EventMode::kManualReset>;
  const check::Result r = check::ExploreAndPrint(
      ManualOneSet<S>(CoroutineWaiter).ToConfig("event manual-reset: 1 set, waiter + coroutine"),
      testing::ProtocolOptions());
  EXPECT_TRUE(r.passed) << r.Report();
  EXPECT_GT(CountOf(r, "late_dispatch"), 0);
}

}  // namespace
}  // namespace ringlock
