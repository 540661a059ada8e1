// Timed waits of every primitive (Mutex, Semaphore, Event, CondVar) given
// extreme durations and time points, through the blocking *_for / *_until
// forms in every waiter mode and the async timed forms on every loop kind:
// a past or overflowing-negative time returns false at once, a far-future
// or saturating one waits until the other side releases it.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "locks/async.h"
#include "locks/condvar.h"
#include "locks/event.h"
#include "locks/mutex.h"
#include "locks/semaphore.h"
#include "tests/locks/waiter_modes.h"
#include "uring/event_loop.h"
#include "uring/task.h"

namespace ringlock {
namespace {

using namespace std::chrono;
using uring::EventLoop;
using uring::Task;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Ends the process with a message if not disarmed in time: a wait that
// never returns must fail the test, not hang CI.
class Watchdog {
 public:
  Watchdog(seconds limit, std::string what) : what_(std::move(what)) {
    thread_ = std::thread([this, limit] {
      std::unique_lock<std::mutex> l(mu_);
      if (!cv_.wait_for(l, limit, [this] { return disarmed_; })) {
        std::fprintf(stderr, "watchdog: %s still waiting after the release\n", what_.c_str());
        std::fflush(stderr);
        _exit(1);
      }
    });
  }
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> l(mu_);
      disarmed_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::string what_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool disarmed_ = false;
  std::thread thread_;
};

// One wait's outcome.
struct Slot {
  std::atomic<bool> done{false};
  bool result = false;
  bool after_release = false;  // it returned after the other side released
};

// Each subject: Block() makes waits wait (called by the thread that later
// calls Release()); WaitFor / WaitUntil / AsyncFor return true when they got
// through (and undo what they took, so the next waiter can too).
struct MutexSubject {
  static constexpr const char* kName = "Mutex";
  Mutex mu;
  void Block() { mu.lock(); }
  void Release(int) { mu.unlock(); }
  template <class D>
  bool WaitFor(D d) {
    if (!mu.try_lock_for(d)) return false;
    mu.unlock();
    return true;
  }
  template <class T>
  bool WaitUntil(T t) {
    if (!mu.try_lock_until(t)) return false;
    mu.unlock();
    return true;
  }
  template <class D>
  Task<bool> AsyncFor(EventLoop& loop, D d) {
    auto r = co_await mu.lock_async_for(loop, d);
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
      co_return false;
    }
    r->unlock();
    co_return true;
  }
  Task<bool> AsyncUntil(EventLoop& loop, Deadline d) {
    auto r = co_await mu.lock_async_until(loop, d);
    if (!r.ok()) co_return false;
    r->unlock();
    co_return true;
  }
};

struct SemaphoreSubject {
  static constexpr const char* kName = "Semaphore";
  Semaphore sem{0};
  void Block() {}
  void Release(int n) { sem.release(static_cast<uint32_t>(n)); }
  template <class D>
  bool WaitFor(D d) {
    return sem.try_acquire_for(d);
  }
  template <class T>
  bool WaitUntil(T t) {
    return sem.try_acquire_until(t);
  }
  template <class D>
  Task<bool> AsyncFor(EventLoop& loop, D d) {
    absl::Status s = co_await sem.acquire_async_for(loop, d);
    if (!s.ok()) {
      EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
    }
    co_return s.ok();
  }
  Task<bool> AsyncUntil(EventLoop& loop, Deadline d) {
    absl::Status s = co_await sem.acquire_async_until(loop, d);
    co_return s.ok();
  }
};

struct EventSubject {
  static constexpr const char* kName = "Event";
  Event ev;
  void Block() {}
  void Release(int) { ev.set(); }
  template <class D>
  bool WaitFor(D d) {
    return ev.wait_for(d);
  }
  template <class T>
  bool WaitUntil(T t) {
    return ev.wait_until(t);
  }
  template <class D>
  Task<bool> AsyncFor(EventLoop& loop, D d) {
    absl::Status s = co_await ev.wait_async_for(loop, d);
    if (!s.ok()) {
      EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
    }
    co_return s.ok();
  }
  Task<bool> AsyncUntil(EventLoop& loop, Deadline d) {
    absl::Status s = co_await ev.wait_async_until(loop, d);
    co_return s.ok();
  }
};

struct CondVarSubject {
  static constexpr const char* kName = "CondVar";
  Mutex mu;
  CondVar cv;
  bool flag = false;  // guarded by mu
  void Block() {}
  void Release(int) {
    {
      std::lock_guard<Mutex> l(mu);
      flag = true;
    }
    cv.notify_all();
  }
  template <class D>
  bool WaitFor(D d) {
    std::unique_lock<Mutex> l(mu);
    return cv.wait_for(l, d, [this] { return flag; });
  }
  template <class T>
  bool WaitUntil(T t) {
    std::unique_lock<Mutex> l(mu);
    return cv.wait_until(l, t, [this] { return flag; });
  }
  template <class D>
  Task<bool> AsyncFor(EventLoop& loop, D d) {
    std::unique_lock<Mutex> l = co_await mu.lock_async(loop);
    while (!flag) {
      const absl::StatusOr<std::cv_status> r = co_await cv.wait_async_for(l, loop, d);
      if (!r.ok() || *r == std::cv_status::timeout) co_return flag;
    }
    co_return true;
  }
  Task<bool> AsyncUntil(EventLoop& loop, Deadline d) {
    std::unique_lock<Mutex> l = co_await mu.lock_async(loop);
    while (!flag) {
      const absl::StatusOr<std::cv_status> r = co_await cv.wait_async_until(l, loop, d);
      if (!r.ok() || *r == std::cv_status::timeout) co_return flag;
    }
    co_return true;
  }
};

template <class S>
struct Case {
  const char* what;
  std::function<bool(S&)> wait;
};

// Past, or so far negative that converting to nanoseconds overflows.
template <class S>
std::vector<Case<S>> PastWaits() {
  return {
      {"for(hours(-3'000'000))", [](S& s) { return s.WaitFor(hours(-3'000'000)); }},
      {"for(seconds(-10^10))", [](S& s) { return s.WaitFor(seconds(-10'000'000'000)); }},
      {"for(hours::min())", [](S& s) { return s.WaitFor(hours::min()); }},
      {"for(nanoseconds::min())", [](S& s) { return s.WaitFor(nanoseconds::min()); }},
      {"for(duration<double>(-inf))", [](S& s) { return s.WaitFor(duration<double>(-kInf)); }},
      {"for(duration<double>(NaN))", [](S& s) { return s.WaitFor(duration<double>(kNaN)); }},
      {"for(duration<double>::min())", [](S& s) { return s.WaitFor(duration<double>::min()); }},
      {"until(system_clock::time_point::min())",
       [](S& s) { return s.WaitUntil(system_clock::time_point::min()); }},
      {"until(steady_clock::time_point::min())",
       [](S& s) { return s.WaitUntil(steady_clock::time_point::min()); }},
      {"until(time_point<system_clock, hours>::min())",
       [](S& s) { return s.WaitUntil(time_point<system_clock, hours>::min()); }},
      {"until(time_point<steady_clock, seconds>::min())",
       [](S& s) { return s.WaitUntil(time_point<steady_clock, seconds>::min()); }},
      {"until(time_point<system_clock, duration<double>>(-inf))",
       [](S& s) {
         return s.WaitUntil(time_point<system_clock, duration<double>>(duration<double>(-kInf)));
       }},
  };
}

// Saturating or centuries away: wait until released.
template <class S>
std::vector<Case<S>> FarFutureWaits() {
  return {
      {"for(hours::max())", [](S& s) { return s.WaitFor(hours::max()); }},
      {"for(seconds::max())", [](S& s) { return s.WaitFor(seconds::max()); }},
      {"for(duration<double>(+inf))", [](S& s) { return s.WaitFor(duration<double>(kInf)); }},
      {"for(duration<float>::max())", [](S& s) { return s.WaitFor(duration<float>::max()); }},
      {"until(time_point<steady_clock, seconds>::max())",
       [](S& s) { return s.WaitUntil(time_point<steady_clock, seconds>::max()); }},
      {"until(time_point<system_clock, seconds>::max())",
       [](S& s) { return s.WaitUntil(time_point<system_clock, seconds>::max()); }},
      {"until(system_clock::time_point::max())",
       [](S& s) { return s.WaitUntil(system_clock::time_point::max()); }},
      {"until(time_point<system_clock, duration<double>>(+inf))",
       [](S& s) {
         return s.WaitUntil(time_point<system_clock, duration<double>>(duration<double>(kInf)));
       }},
  };
}

// Runs every case on its own thread (waiting as `mode` says). If `release_after`
// is zero, releases once all have returned (or after 5 s: a watchdog, so a
// wrongly long wait fails instead of hanging); else releases after that long.
template <class S>
std::vector<std::unique_ptr<Slot>> RunBlocking(testing::WaiterMode mode,
                                               const std::vector<Case<S>>& cases,
                                               milliseconds release_after) {
  S subject;
  subject.Block();
  std::atomic<bool> released{false};
  std::vector<std::unique_ptr<Slot>> slots;
  std::vector<std::thread> threads;
  for (const Case<S>& c : cases) {
    slots.push_back(std::make_unique<Slot>());
    Slot* slot = slots.back().get();
    threads.push_back(testing::StartThread(mode, [&subject, &released, slot, &c] {
      slot->result = c.wait(subject);
      slot->after_release = released.load();
      slot->done.store(true);
    }));
  }
  const auto start = steady_clock::now();
  if (release_after == milliseconds(0)) {
    const auto limit = start + seconds(5);
    auto all_done = [&] {
      for (auto& s : slots) {
        if (!s->done.load()) return false;
      }
      return true;
    };
    while (!all_done() && steady_clock::now() < limit) std::this_thread::sleep_for(milliseconds(1));
  } else {
    std::this_thread::sleep_for(release_after);
  }
  released.store(true);
  {
    Watchdog dog(seconds(30), std::string(S::kName) + " blocking waiters");
    subject.Release(static_cast<int>(cases.size()));
    for (auto& t : threads) t.join();
  }
  return slots;
}

template <class S>
void ExpectPastReturnsFalseAtOnce(testing::WaiterMode mode) {
  const auto cases = PastWaits<S>();
  const auto slots = RunBlocking<S>(mode, cases, milliseconds(0));
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_FALSE(slots[i]->after_release)
        << S::kName << " " << cases[i].what << " waited instead of returning false at once";
    EXPECT_FALSE(slots[i]->result) << S::kName << " " << cases[i].what;
  }
}

template <class S>
void ExpectFarFutureWaitsUntilReleased(testing::WaiterMode mode) {
  const auto cases = FarFutureWaits<S>();
  const auto slots = RunBlocking<S>(mode, cases, milliseconds(50));
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_TRUE(slots[i]->after_release)
        << S::kName << " " << cases[i].what << " returned at once instead of waiting";
    EXPECT_TRUE(slots[i]->result) << S::kName << " " << cases[i].what;
  }
}

class TimeExtremesTest : public testing::WaiterModeTest {};

// Regression: durations and time points below int64 nanoseconds overflowed
// inside <chrono> and waited ~233 years (or forever) instead of timing out.
TEST_P(TimeExtremesTest, PastTimeArgumentsReturnFalseAtOnceInsteadOfOverflowing) {
  ExpectPastReturnsFalseAtOnce<MutexSubject>(GetParam());
  ExpectPastReturnsFalseAtOnce<SemaphoreSubject>(GetParam());
  ExpectPastReturnsFalseAtOnce<EventSubject>(GetParam());
  ExpectPastReturnsFalseAtOnce<CondVarSubject>(GetParam());
}

// Regression: time_point<clock, seconds>::max() overflowed into the past
// and timed out at once instead of waiting.
TEST_P(TimeExtremesTest, FarFutureTimeArgumentsWaitInsteadOfOverflowing) {
  ExpectFarFutureWaitsUntilReleased<MutexSubject>(GetParam());
  ExpectFarFutureWaitsUntilReleased<SemaphoreSubject>(GetParam());
  ExpectFarFutureWaitsUntilReleased<EventSubject>(GetParam());
  ExpectFarFutureWaitsUntilReleased<CondVarSubject>(GetParam());
}

INSTANTIATE_TEST_SUITE_P(AllModes, TimeExtremesTest,
                         ::testing::ValuesIn(testing::AllWaiterModes()), testing::WaiterModeName);

// ---- Async timed forms ----------------------------------------------------

template <class S>
using AsyncCase = std::pair<const char*, std::function<Task<bool>(S&, EventLoop&)>>;

template <class S>
std::vector<AsyncCase<S>> AsyncPastWaits() {
  return {
      {"async_for(hours(-3'000'000))",
       [](S& s, EventLoop& l) { return s.AsyncFor(l, hours(-3'000'000)); }},
      {"async_for(seconds(-10^10))",
       [](S& s, EventLoop& l) { return s.AsyncFor(l, seconds(-10'000'000'000)); }},
      {"async_for(duration<double>(-inf))",
       [](S& s, EventLoop& l) { return s.AsyncFor(l, duration<double>(-kInf)); }},
      {"async_for(duration<double>(NaN))",
       [](S& s, EventLoop& l) { return s.AsyncFor(l, duration<double>(kNaN)); }},
      {"async_until(At(system_clock::time_point::min()))",
       [](S& s, EventLoop& l) {
         return s.AsyncUntil(l, Deadline::At(system_clock::time_point::min()));
       }},
  };
}

template <class S>
std::vector<AsyncCase<S>> AsyncFarFutureWaits() {
  return {
      {"async_for(hours::max())", [](S& s, EventLoop& l) { return s.AsyncFor(l, hours::max()); }},
      {"async_for(duration<double>(+inf))",
       [](S& s, EventLoop& l) { return s.AsyncFor(l, duration<double>(kInf)); }},
      {"async_until(At(time_point<system_clock, seconds>::max()))",
       [](S& s, EventLoop& l) {
         return s.AsyncUntil(l, Deadline::At(time_point<system_clock, seconds>::max()));
       }},
      {"async_until(At(time_point<steady_clock, seconds>::max()))",
       [](S& s, EventLoop& l) {
         return s.AsyncUntil(l, Deadline::At(time_point<steady_clock, seconds>::max()));
       }},
  };
}

Task<void> Record(Task<bool> wait, Slot& slot, const std::atomic<bool>& released) {
  slot.result = co_await std::move(wait);
  slot.after_release = released.load();
  slot.done.store(true);
}

// Runs the coroutines on this thread's loop while another thread holds the
// subject and releases it: after `release_after`, or (zero) when told the
// coroutines are done, at the latest after 5 s (so a wrongly long wait ends).
template <class S>
std::vector<std::unique_ptr<Slot>> RunAsync(testing::LoopKind kind,
                                            const std::vector<AsyncCase<S>>& cases,
                                            milliseconds release_after) {
  auto loop = testing::MakeLoop(kind);
  if (loop == nullptr) return {};
  S subject;
  std::atomic<bool> released{false};
  std::mutex mu;
  std::condition_variable cv;
  bool blocked = false, finished = false;
  std::thread holder([&] {
    subject.Block();
    std::unique_lock<std::mutex> l(mu);
    blocked = true;
    cv.notify_all();
    if (release_after == milliseconds(0)) {
      cv.wait_for(l, seconds(5), [&] { return finished; });
    } else {
      l.unlock();
      std::this_thread::sleep_for(release_after);
      l.lock();
    }
    released.store(true);
    l.unlock();
    subject.Release(static_cast<int>(cases.size()));
  });
  {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return blocked; });
  }
  std::vector<std::unique_ptr<Slot>> slots;
  for (const auto& c : cases) {
    slots.push_back(std::make_unique<Slot>());
    loop->Spawn(Record(c.second(subject, *loop), *slots.back(), released));
  }
  {
    Watchdog dog(seconds(30), std::string(S::kName) + " async waiters");
    loop->RunUntil([&] {
      for (auto& s : slots) {
        if (!s->done.load()) return false;
      }
      return true;
    });
    {
      std::lock_guard<std::mutex> l(mu);
      finished = true;
    }
    cv.notify_all();
    holder.join();
  }
  return slots;
}

template <class S>
void ExpectAsyncPastReturnsFalseAtOnce(testing::LoopKind kind) {
  const auto cases = AsyncPastWaits<S>();
  const auto slots = RunAsync<S>(kind, cases, milliseconds(0));
  ASSERT_EQ(slots.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_FALSE(slots[i]->after_release)
        << S::kName << " " << cases[i].first << " waited instead of failing at once";
    EXPECT_FALSE(slots[i]->result) << S::kName << " " << cases[i].first;
  }
}

template <class S>
void ExpectAsyncFarFutureWaitsUntilReleased(testing::LoopKind kind) {
  const auto cases = AsyncFarFutureWaits<S>();
  const auto slots = RunAsync<S>(kind, cases, milliseconds(50));
  ASSERT_EQ(slots.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_TRUE(slots[i]->after_release)
        << S::kName << " " << cases[i].first << " returned at once instead of waiting";
    EXPECT_TRUE(slots[i]->result) << S::kName << " " << cases[i].first;
  }
}

class AsyncTimeExtremesTest : public testing::LoopModeTest {};

TEST_P(AsyncTimeExtremesTest, PastTimeArgumentsFailAtOnceInsteadOfOverflowing) {
  ExpectAsyncPastReturnsFalseAtOnce<MutexSubject>(GetParam());
  ExpectAsyncPastReturnsFalseAtOnce<SemaphoreSubject>(GetParam());
  ExpectAsyncPastReturnsFalseAtOnce<EventSubject>(GetParam());
  ExpectAsyncPastReturnsFalseAtOnce<CondVarSubject>(GetParam());
}

TEST_P(AsyncTimeExtremesTest, FarFutureTimeArgumentsWaitInsteadOfOverflowing) {
  ExpectAsyncFarFutureWaitsUntilReleased<MutexSubject>(GetParam());
  ExpectAsyncFarFutureWaitsUntilReleased<SemaphoreSubject>(GetParam());
  ExpectAsyncFarFutureWaitsUntilReleased<EventSubject>(GetParam());
  ExpectAsyncFarFutureWaitsUntilReleased<CondVarSubject>(GetParam());
}

INSTANTIATE_TEST_SUITE_P(AllLoops, AsyncTimeExtremesTest,
                         ::testing::ValuesIn(testing::AllLoopModes()), testing::LoopModeName);

}  // namespace
}  // namespace ringlock
