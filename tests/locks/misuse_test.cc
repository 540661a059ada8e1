// Uniform errors across primitives: every misuse and limit message, and every
// async Status, names the primitive the caller used (the process-shared
// variants included); and no public API hands out a writable futex word.
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "locks/async.h"
#include "locks/condvar.h"
#include "locks/event.h"
#include "locks/internal/word_access.h"
#include "locks/mutex.h"
#include "locks/semaphore.h"
#include "locks/wait_any.h"
#include "tests/locks/waiter_modes.h"
#include "uring/event_loop.h"
#include "uring/task.h"

namespace ringlock {
namespace {

using internal::WordAccess;
using std::chrono::milliseconds;

// ---- No writable word in the public API -----------------------------------

template <class P>
concept HasWritableWord = requires(P& p) { p.mutable_word(); } || requires(P& p) { p.word_; };

template <class P>
constexpr bool kWordIsReadOnly =
    std::is_const_v<std::remove_reference_t<decltype(std::declval<P&>().word())>>;

template <class... Ps>
constexpr bool NoneWritable() {
  return ((!HasWritableWord<Ps> && kWordIsReadOnly<Ps>)&&...);
}

// Regression: CondVar, Event and Semaphore had a public mutable_word(), so any
// user could write a primitive's word and break its protocol. Only the
// read-only word() is public; internals and tests go through WordAccess.
TEST(WordAccessTest, PrimitivesExposeNoWritableWord) {
  static_assert(NoneWritable<Mutex, ProcessSharedMutex, CondVar, ProcessSharedCondVar, Semaphore,
                             CountingSemaphore<1>, ProcessSharedSemaphore<>, Event,
                             ProcessSharedEvent>(),
                "a public API hands out a writable futex word");
  Event ev;
  WordAccess::Of(ev).store(internal::kEventSet);
  EXPECT_EQ(&WordAccess::Of(ev), &ev.word());
  EXPECT_TRUE(ev.is_set());
}

// ---- Every-build checks: the waiter limits, release() past max() ----------

constexpr uint32_t kEventFull = ~0u & ~(internal::kEventSet | internal::kEventAuto);
constexpr uint32_t kSemFull = internal::kSemMaxWaiters * internal::kSemWaiterOne;
constexpr uint32_t kMutexFull = Mutex::kWaiterMask | Mutex::kLocked;

// Each runs in a death test's child: alarm() turns a wrapped count (which
// would wait) into a death without the message.
template <class E>
void EventWaitPastLimit() {
  alarm(10);
  E ev;
  WordAccess::Of(ev).store(kEventFull);
  (void)ev.wait_for(milliseconds(10));
}
template <class E>
void EventTakePastLimit() {
  alarm(10);
  E ev;
  WordAccess::Of(ev).store(kEventFull);
  (void)WaitAny({Take(ev)}, Deadline::AfterDuration(milliseconds(10)));
}
template <class E>
void EventAsyncWaitPastLimit() {
  alarm(10);
  auto loop = testing::MakeLoop(testing::LoopKind::kNative);
  E ev;
  WordAccess::Of(ev).store(kEventFull);
  auto untimed = [&]() -> uring::Task<void> { co_await ev.wait_async(*loop); };
  loop->RunUntilComplete(untimed());
}

template <class S>
void SemAcquirePastLimit() {
  alarm(10);
  S sem(0);
  WordAccess::Of(sem).store(kSemFull);
  (void)sem.try_acquire_for(milliseconds(10));
}
template <class S>
void SemWaitAnyPastLimit() {
  alarm(10);
  S sem(0);
  WordAccess::Of(sem).store(kSemFull);
  (void)WaitAny({Acquire(sem)}, Deadline::AfterDuration(milliseconds(10)));
}
template <class S>
void SemAsyncAcquirePastLimit() {
  alarm(10);
  auto loop = testing::MakeLoop(testing::LoopKind::kNative);
  S sem(0);
  WordAccess::Of(sem).store(kSemFull);
  auto untimed = [&]() -> uring::Task<void> { co_await sem.acquire_async(*loop); };
  loop->RunUntilComplete(untimed());
}
template <class S>
void SemReleasePastMax() {
  S sem(S::max());
  sem.release();
}

template <class M>
void MutexLockPastLimit() {
  alarm(10);
  M mu;
  WordAccess::Of(mu).store(kMutexFull);
  (void)mu.try_lock_for(milliseconds(10));
}
template <class M>
void MutexWaitAnyPastLimit() {
  alarm(10);
  M mu;
  WordAccess::Of(mu).store(kMutexFull);
  (void)WaitAny({Lock(mu)}, Deadline::AfterDuration(milliseconds(10)));
}
template <class M>
void MutexAsyncLockPastLimit() {
  alarm(10);
  auto loop = testing::MakeLoop(testing::LoopKind::kNative);
  M mu;
  WordAccess::Of(mu).store(kMutexFull);
  auto untimed = [&]() -> uring::Task<void> { (void)co_await mu.lock_async(*loop); };
  loop->RunUntilComplete(untimed());
}

// Regression: a ProcessSharedEvent past its waiter limit aborted with
// "ringlock::Event" (its waiter object carried no name), on every path.
TEST(PrimitiveNameDeathTest, ProcessSharedEventWaiterLimitMessageNamesProcessSharedEvent) {
  const char* kShared = "ringlock::ProcessSharedEvent: misuse: more than 2\\^30-1 waiters";
  EXPECT_DEATH(EventWaitPastLimit<ProcessSharedEvent>(), kShared);
  EXPECT_DEATH(EventTakePastLimit<ProcessSharedEvent>(), kShared);
  EXPECT_DEATH(EventAsyncWaitPastLimit<ProcessSharedEvent>(), kShared);
  const char* kPrivate = "ringlock::Event: misuse: more than 2\\^30-1 waiters";
  EXPECT_DEATH(EventWaitPastLimit<Event>(), kPrivate);
  EXPECT_DEATH(EventTakePastLimit<Event>(), kPrivate);
  EXPECT_DEATH(EventAsyncWaitPastLimit<Event>(), kPrivate);
}

TEST(PrimitiveNameDeathTest, SemaphoreEveryBuildChecksNameTheVariant) {
  const char* kShared = "ringlock::ProcessSharedSemaphore: misuse: more than 65535 waiters";
  EXPECT_DEATH(SemAcquirePastLimit<ProcessSharedSemaphore<>>(), kShared);
  EXPECT_DEATH(SemWaitAnyPastLimit<ProcessSharedSemaphore<>>(), kShared);
  EXPECT_DEATH(SemAsyncAcquirePastLimit<ProcessSharedSemaphore<>>(), kShared);
  EXPECT_DEATH(SemReleasePastMax<ProcessSharedSemaphore<4>>(),
               "ringlock::ProcessSharedSemaphore: misuse: release\\(\\) past max\\(\\)");
  const char* kPrivate = "ringlock::Semaphore: misuse: more than 65535 waiters";
  EXPECT_DEATH(SemAcquirePastLimit<Semaphore>(), kPrivate);
  EXPECT_DEATH(SemWaitAnyPastLimit<Semaphore>(), kPrivate);
  EXPECT_DEATH(SemAsyncAcquirePastLimit<Semaphore>(), kPrivate);
  EXPECT_DEATH(SemReleasePastMax<CountingSemaphore<4>>(),
               "ringlock::Semaphore: misuse: release\\(\\) past max\\(\\)");
}

TEST(PrimitiveNameDeathTest, MutexEveryBuildChecksNameTheVariant) {
  const char* kShared = "ringlock::ProcessSharedMutex: misuse: more than 4194303";
  EXPECT_DEATH(MutexLockPastLimit<ProcessSharedMutex>(), kShared);
  EXPECT_DEATH(MutexWaitAnyPastLimit<ProcessSharedMutex>(), kShared);
  EXPECT_DEATH(MutexAsyncLockPastLimit<ProcessSharedMutex>(), kShared);
  const char* kPrivate = "ringlock::Mutex: misuse: more than 4194303";
  EXPECT_DEATH(MutexLockPastLimit<Mutex>(), kPrivate);
  EXPECT_DEATH(MutexWaitAnyPastLimit<Mutex>(), kPrivate);
  EXPECT_DEATH(MutexAsyncLockPastLimit<Mutex>(), kPrivate);
}

// ---- Debug-build aborts -----------------------------------------------------

template <class M>
void MutexUnlockUnlocked() {
  M mu;
  mu.unlock();
}
template <class M>
void MutexDestroyLocked() {
  M mu;
  mu.lock();
}
template <class P>
void DestroyWithRegisteredWaiter(uint32_t one_waiter) {
  auto p = std::make_unique<P>();
  WordAccess::Of(*p).store(one_waiter);
}
template <class S>
void SemDestroyWithRegisteredWaiter() {
  S sem(0);
  WordAccess::Of(sem).store(internal::kSemWaiterOne);
}
template <class CV>
void CondVarDestroyWithSleeper() {
  auto* cv = new CV;
  auto* mu = new typename CV::MutexType;
  std::thread([cv, mu] {
    std::unique_lock<typename CV::MutexType> lock(*mu);
    cv->wait(lock);
  }).detach();
  std::this_thread::sleep_for(milliseconds(100));
  delete cv;
}

TEST(PrimitiveNameDeathTest, DebugAbortsNameTheVariant) {
  if (!internal::kDebugChecks) GTEST_SKIP() << "debug builds only";
  EXPECT_DEATH(MutexUnlockUnlocked<ProcessSharedMutex>(),
               "ringlock::ProcessSharedMutex: misuse: unlock\\(\\) of a mutex that is not locked");
  EXPECT_DEATH(MutexDestroyLocked<ProcessSharedMutex>(),
               "ringlock::ProcessSharedMutex: misuse: destroyed while locked");
  EXPECT_DEATH(DestroyWithRegisteredWaiter<ProcessSharedEvent>(internal::kEventWaiterOne),
               "ringlock::ProcessSharedEvent: misuse: destroyed with waiters");
  EXPECT_DEATH(SemDestroyWithRegisteredWaiter<ProcessSharedSemaphore<>>(),
               "ringlock::ProcessSharedSemaphore: misuse: destroyed with waiters");
  EXPECT_DEATH(CondVarDestroyWithSleeper<ProcessSharedCondVar>(),
               "ringlock::ProcessSharedCondVar: misuse: destroyed with waiters");
  EXPECT_DEATH(MutexUnlockUnlocked<Mutex>(),
               "ringlock::Mutex: misuse: unlock\\(\\) of a mutex that is not locked");
  EXPECT_DEATH(DestroyWithRegisteredWaiter<Event>(internal::kEventWaiterOne),
               "ringlock::Event: misuse: destroyed with waiters");
  EXPECT_DEATH(SemDestroyWithRegisteredWaiter<Semaphore>(),
               "ringlock::Semaphore: misuse: destroyed with waiters");
  EXPECT_DEATH(CondVarDestroyWithSleeper<CondVar>(),
               "ringlock::CondVar: misuse: destroyed with waiters");
}

// ---- Async Status messages, on every loop kind ------------------------------

class PrimitiveNameLoopTest : public testing::LoopModeTest {};

bool StartsWith(const absl::Status& s, const std::string& name) {
  return std::string(s.message()).rfind(name + ":", 0) == 0;
}

template <class M>
absl::Status MutexTimedOut(uring::EventLoop& loop) {
  M mu;
  mu.lock();
  auto timed = [&]() -> uring::Task<absl::Status> {
    auto r = co_await mu.lock_async_for(loop, milliseconds(1));
    co_return r.status();
  };
  absl::Status s = loop.RunUntilComplete(timed());
  mu.unlock();
  return s;
}
template <class S>
absl::Status SemTimedWait(uring::EventLoop& loop, uint32_t word) {
  S sem(0);
  WordAccess::Of(sem).store(word);
  auto timed = [&]() -> uring::Task<absl::Status> {
    co_return co_await sem.acquire_async_for(loop, milliseconds(1));
  };
  absl::Status s = loop.RunUntilComplete(timed());
  WordAccess::Of(sem).store(0);
  return s;
}
template <class E>
absl::Status EventTimedWait(uring::EventLoop& loop, uint32_t word) {
  E ev;
  WordAccess::Of(ev).store(word);
  auto timed = [&]() -> uring::Task<absl::Status> {
    co_return co_await ev.wait_async_for(loop, milliseconds(1));
  };
  absl::Status s = loop.RunUntilComplete(timed());
  WordAccess::Of(ev).store(0);
  return s;
}
// A timed CondVar wait cut by its loop's destruction (the one Status it has).
template <class CV>
absl::Status CondVarCancelled(testing::LoopKind kind) {
  typename CV::MutexType mu;
  CV cv;
  absl::StatusOr<std::cv_status> result = std::cv_status::no_timeout;
  auto waiter = [&](uring::EventLoop& loop) -> uring::Task<void> {
    std::unique_lock<typename CV::MutexType> lock = co_await mu.lock_async(loop);
    result = co_await cv.wait_async_for(lock, loop, std::chrono::hours(1));
  };
  uring::Task<void> task;
  {
    auto loop = testing::MakeLoop(kind);
    if (loop == nullptr) return absl::InternalError("no loop");
    task = waiter(*loop);
    task.handle().resume();
    loop->Poll();
  }
  if (!task.done()) return absl::InternalError("the wait did not end with its loop");
  return result.status();
}

TEST_P(PrimitiveNameLoopTest, AsyncStatusMessagesNameTheProcessSharedPrimitive) {
  // Each CondVar case makes (and destroys) its own loop: first.
  const absl::Status shared_cv = CondVarCancelled<ProcessSharedCondVar>(GetParam());
  const absl::Status private_cv = CondVarCancelled<CondVar>(GetParam());
  auto loop = MakeLoop();
  ASSERT_NE(loop, nullptr);
  struct Case {
    absl::Status status;
    absl::StatusCode code;
    const char* name;
  };
  const Case cases[] = {
      {MutexTimedOut<ProcessSharedMutex>(*loop), absl::StatusCode::kDeadlineExceeded,
       "ringlock::ProcessSharedMutex"},
      {MutexTimedOut<Mutex>(*loop), absl::StatusCode::kDeadlineExceeded, "ringlock::Mutex"},
      {SemTimedWait<ProcessSharedSemaphore<>>(*loop, 0), absl::StatusCode::kDeadlineExceeded,
       "ringlock::ProcessSharedSemaphore"},
      {SemTimedWait<ProcessSharedSemaphore<>>(*loop, kSemFull),
       absl::StatusCode::kResourceExhausted, "ringlock::ProcessSharedSemaphore"},
      {SemTimedWait<Semaphore>(*loop, kSemFull), absl::StatusCode::kResourceExhausted,
       "ringlock::Semaphore"},
      {EventTimedWait<ProcessSharedEvent>(*loop, 0), absl::StatusCode::kDeadlineExceeded,
       "ringlock::ProcessSharedEvent"},
      {EventTimedWait<ProcessSharedEvent>(*loop, kEventFull),
       absl::StatusCode::kResourceExhausted, "ringlock::ProcessSharedEvent"},
      {EventTimedWait<Event>(*loop, kEventFull), absl::StatusCode::kResourceExhausted,
       "ringlock::Event"},
      {shared_cv, absl::StatusCode::kCancelled, "ringlock::ProcessSharedCondVar"},
      {private_cv, absl::StatusCode::kCancelled, "ringlock::CondVar"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(c.status.code(), c.code) << c.name << ": " << c.status;
    EXPECT_TRUE(StartsWith(c.status, c.name)) << c.name << ": " << c.status;
  }
}

INSTANTIATE_TEST_SUITE_P(AllLoops, PrimitiveNameLoopTest,
                         ::testing::ValuesIn(testing::AllLoopModes()), testing::LoopModeName);

}  // namespace
}  // namespace ringlock
