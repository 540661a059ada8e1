// Ring-blocking waits: plain blocking calls made on a thread that runs an
// EventLoop, including waits nested inside other waits on the same thread.
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cerrno>
#include <coroutine>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "locks/event.h"
#include "locks/mutex.h"
#include "locks/ring_wait_backend.h"
#include "locks/semaphore.h"
#include "uring/event_loop.h"
#include "tests/locks/burster.h"
#include "tests/locks/waiter_modes.h"
#include "uring/task.h"

// A child of a multi-threaded fork() creates threads here (the fork tests);
// glibc supports that, so TSAN must not refuse it.
extern "C" const char* __tsan_default_options() { return "die_after_fork=0"; }

namespace ringlock {
namespace {

using std::chrono::milliseconds;
using uring::EventLoop;
using uring::Task;

class RingBlockingTest : public testing::LoopModeTest {};

// Fails the process (with the word) instead of hanging the test run.
void ExpectWithin(std::chrono::seconds limit, const std::atomic<bool>& done,
                  const std::atomic<uint32_t>& word) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  while (!done.load() && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  if (!done.load()) {
    std::fprintf(stderr, "HANG: word=0x%x\n", word.load());
    std::fflush(stderr);
    _exit(1);
  }
}

Task<void> TakeOnce(Mutex& mu, std::atomic<int>& taken) {
  std::lock_guard<Mutex> g(mu);  // ring-blocking: nested inside the other's wait
  taken.fetch_add(1);
  co_return;
}

// Regression: C1 blocks in lock(); its wait dispatches C2, which blocks in
// lock() too, nested. The unlock wakes C1 (the older sleeper) and sets W,
// but C1 cannot act until C2's wait returns, and C2 was never woken because
// W told unlockers someone was awake. Now C1's completion hands the wake on.
TEST_P(RingBlockingTest, NestedWaitsOnOneMutex) {
  Mutex mu;
  std::atomic<int> taken{0};
  std::atomic<bool> done{false};
  mu.lock();
  std::thread loop_thread([&] {
    auto loop = MakeLoop();
    for (int i = 0; i < 3; ++i) loop->Spawn(TakeOnce(mu, taken));
    loop->Stop();
    loop->Run();
    done = true;
  });
  // Wait for the first registration, then let all three arm. (In fallback
  // mode the helper arms outer waits late; they see the word changed by the
  // inner registrations, and their completions, dispatched inside the inner
  // wait, deregister them until control returns: N may not reach 3.)
  while (mu.word().load() / Mutex::kWaiterOne < 1) std::this_thread::yield();
  std::this_thread::sleep_for(milliseconds(50));
  mu.unlock();
  ExpectWithin(std::chrono::seconds(20), done, mu.word());
  loop_thread.join();
  EXPECT_EQ(taken.load(), 3);
  EXPECT_EQ(mu.word().load(), 0u);
}

Task<void> AcquireOnce(Semaphore& sem, std::atomic<int>& taken) {
  sem.acquire();
  taken.fetch_add(1);
  co_return;
}

TEST_P(RingBlockingTest, NestedWaitsOnOneSemaphore) {
  Semaphore sem(0);
  std::atomic<int> taken{0};
  std::atomic<bool> done{false};
  std::thread loop_thread([&] {
    auto loop = MakeLoop();
    for (int i = 0; i < 3; ++i) loop->Spawn(AcquireOnce(sem, taken));
    loop->Stop();
    loop->Run();
    done = true;
  });
  while (sem.word().load() / internal::kSemWaiterOne < 1) std::this_thread::yield();
  std::this_thread::sleep_for(milliseconds(50));
  sem.release(1);  // wakes the outermost waiter: it must hand the permit on
  std::this_thread::sleep_for(milliseconds(30));
  sem.release(2);
  ExpectWithin(std::chrono::seconds(20), done, sem.word());
  loop_thread.join();
  EXPECT_EQ(taken.load(), 3);
  EXPECT_EQ(sem.word().load(), 0u);
}

Task<void> CountUnderLock(Mutex& mu, int64_t& counter, int iters) {
  for (int i = 0; i < iters; ++i) {
    std::lock_guard<Mutex> g(mu);
    ++counter;
    if (i % 8 == 0) co_await uring::Task<void>([]() -> Task<void> { co_return; }());
  }
}

// Coroutines on two loops take the mutex with plain lock() (ring-blocking,
// nesting freely), against two plain threads: exact count, no hang.
TEST_P(RingBlockingTest, NestedLockersUnderContention) {
  Mutex mu;
  int64_t counter = 0;
  constexpr int kIters = 500, kCoroutines = 4;
  std::atomic<int> loops_done{0};
  std::atomic<bool> done{false};
  std::vector<std::thread> threads;
  for (int l = 0; l < 2; ++l) {
    threads.emplace_back([&] {
      auto loop = MakeLoop();
      for (int c = 0; c < kCoroutines; ++c) loop->Spawn(CountUnderLock(mu, counter, kIters));
      loop->Stop();
      loop->Run();
      if (loops_done.fetch_add(1) == 1) done = true;
    });
  }
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIters; ++i) {
        std::lock_guard<Mutex> g(mu);
        ++counter;
      }
    });
  }
  ExpectWithin(std::chrono::seconds(60), done, mu.word());
  for (auto& t : threads) t.join();
  EXPECT_EQ(counter, int64_t{2 * kCoroutines + 2} * kIters);
  EXPECT_EQ(mu.word().load(), 0u);
}

// Fails the test (and kills the child) if `pid` does not exit within
// `limit`; returns its wait status.
int WaitChild(pid_t pid, std::chrono::seconds limit) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  int status = 0;
  for (;;) {
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno != EINTR) {
      ADD_FAILURE() << "waitpid: " << std::strerror(errno);
      return -1;
    }
    if (std::chrono::steady_clock::now() > give_up) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      ADD_FAILURE() << "the child did not finish within " << limit.count() << " s: a hang";
      return -1;
    }
    std::this_thread::sleep_for(milliseconds(2));
  }
}

void ChildHung(int) {
  constexpr char kMsg[] = "HANG in the fork()ed child\n";
  (void)!write(STDERR_FILENO, kMsg, sizeof(kMsg) - 1);
  _exit(3);
}

// A thread on a stack of its own, for the fork()ed child: its glibc reuses
// the stacks (so the pthread_t) of the parent's threads, e.g. a loop's
// helper, and ThreadSanitizer, which still knows those threads, rejects a
// new thread with a used id.
class ChildThread {
 public:
  explicit ChildThread(std::function<void()> fn) : fn_(std::move(fn)) {
    stack_ = mmap(nullptr, kStackSize, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack_ == MAP_FAILED) _exit(20);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstack(&attr, stack_, kStackSize);
    if (pthread_create(&thread_, &attr, &Body, this) != 0) _exit(21);
    pthread_attr_destroy(&attr);
  }
  void join() {
    pthread_join(thread_, nullptr);
    munmap(stack_, kStackSize);
  }

 private:
  static constexpr size_t kStackSize = size_t{8} << 20;
  static void* Body(void* self) {
    static_cast<ChildThread*>(self)->fn_();
    return nullptr;
  }
  std::function<void()> fn_;
  void* stack_ = nullptr;
  pthread_t thread_{};
};

// In a fork()ed child of a loop's thread: 0 if a contended Mutex works
// through futex(2), else which check failed.
int ChildLocksThroughFutex(std::unique_ptr<EventLoop>& inherited) {
  signal(SIGALRM, ChildHung);
  alarm(10);
  if (EventLoop::Current() != nullptr) return 10;
  if (std::string(internal::CurrentWaitBackend().name()) != "futex") return 11;
  Mutex mu;
  int64_t count = 0;
  constexpr int kIters = 2000;
  {
    // First a lock() that must really sleep: the other thread holds it.
    Event held, release;
    ChildThread holder([&] {
      mu.lock();
      held.set();
      release.wait();
      mu.unlock();
    });
    held.wait();
    ChildThread releaser([&] {
      std::this_thread::sleep_for(milliseconds(20));
      release.set();
    });
    mu.lock();
    ++count;
    mu.unlock();
    holder.join();
    releaser.join();
  }
  ChildThread other([&] {
    for (int i = 0; i < kIters; ++i) {
      std::lock_guard<Mutex> g(mu);
      ++count;
    }
  });
  for (int i = 0; i < kIters; ++i) {
    std::lock_guard<Mutex> g(mu);
    ++count;
  }
  other.join();
  if (count != 2 * kIters + 1) return 12;
  if (mu.word().load() != 0) return 13;
  // Destroying the inherited loop must leave the parent's ring alone.
  inherited.reset();
  if (EventLoop::Current() != nullptr) return 14;
  return 0;
}

// Regression: a fork()ed child inherited its thread's Current() loop, so its
// blocking lock() armed waits on the parent's ring (native: abort with
// "File exists"; fallback, emulated: a hang on a helper thread that does not
// exist in the child). The child now sleeps in futex(2), and the parent's
// loop keeps working.
TEST_P(RingBlockingTest, ForkedChildLocksThroughFutexNotTheParentsRing) {
  std::unique_ptr<EventLoop> loop = MakeLoop();
  ASSERT_NE(loop, nullptr);
  ASSERT_EQ(EventLoop::Current(), loop.get());
  const pid_t pid = fork();
  ASSERT_GE(pid, 0) << std::strerror(errno);
  if (pid == 0) _exit(ChildLocksThroughFutex(loop));
  const int status = WaitChild(pid, std::chrono::seconds(20));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "child " << (WIFEXITED(status) ? "exit code " + std::to_string(WEXITSTATUS(status))
                                        : "killed by signal " + std::to_string(WTERMSIG(status)));

  // The parent's loop: still current, ring-blocking, dispatching.
  EXPECT_EQ(EventLoop::Current(), loop.get());
  Mutex mu;
  Event held, posted_ran;
  std::thread holder([&] {
    mu.lock();
    held.set();
    // Released once the loop thread, blocked in lock(), ran posted work.
    EXPECT_TRUE(posted_ran.wait_for(std::chrono::seconds(10)))
        << "the parent's loop did not dispatch while its thread waited for the lock";
    mu.unlock();
  });
  held.wait();
  loop->Post([&] { posted_ran.set(); });
  mu.lock();
  mu.unlock();
  holder.join();
  EXPECT_EQ(mu.word().load(), 0u);
}

// Blocks in lock() while another thread holds the lock until it saw `loop`
// dispatch posted work: true if the wait was ring-blocking on `loop`.
bool LockDispatches(EventLoop& loop) {
  Mutex mu;
  Event held, posted_ran;
  bool ran_in_time = false;
  std::thread holder([&] {
    mu.lock();
    held.set();
    ran_in_time = posted_ran.wait_for(std::chrono::seconds(3));
    mu.unlock();
  });
  held.wait();
  loop.Post([&] { posted_ran.set(); });
  mu.lock();
  mu.unlock();
  holder.join();
  loop.RunUntil([&] { return posted_ran.is_set(); });  // a futex(2) wait left it queued
  return ran_in_time;
}

// Regression: with two loops on one thread, destroying the newer one set the
// thread's current loop to null although the older one lived, so its
// blocking calls silently stopped dispatching it. Current() is now the
// newest live loop (a per-thread stack).
TEST_P(RingBlockingTest, DestroyingTheNewerLoopKeepsTheOlderOneCurrent) {
  std::unique_ptr<EventLoop> older = MakeLoop();
  ASSERT_NE(older, nullptr);
  std::unique_ptr<EventLoop> newer = MakeLoop();
  ASSERT_NE(newer, nullptr);
  EXPECT_EQ(EventLoop::Current(), newer.get());
  EXPECT_TRUE(LockDispatches(*newer));
  newer.reset();
  EXPECT_EQ(EventLoop::Current(), older.get());
  EXPECT_TRUE(LockDispatches(*older)) << "the older loop is no longer ring-blocking";

  // Out of order: destroying the older one first leaves the newer current.
  std::unique_ptr<EventLoop> third = MakeLoop();
  ASSERT_NE(third, nullptr);
  older.reset();
  EXPECT_EQ(EventLoop::Current(), third.get());
  EXPECT_TRUE(LockDispatches(*third));
  third.reset();
  EXPECT_EQ(EventLoop::Current(), nullptr);
}

using testing::Burster;

// Regression: a linked timeout that fires as its wait is woken cancels by
// user_data from deferred task work (DEFER_TASKRUN), after the loop had
// already reused the operation's address (a stack BlockingOp) as the
// user_data of the next wait. Short timed tries, whose timers fire around
// the wakes, alternate with try_lock_for(10s) and lock(): every 10 s try
// must succeed and every lock() must return.
TEST_P(RingBlockingTest, TimedWaitLinkTimeoutDoesNotCancelALaterWait) {
  Mutex mu;
  std::atomic<bool> stop{false};
  std::atomic<bool> done{false};
  std::atomic<int> tries{0}, failures{0};
  std::thread loop_thread([&] {
    auto loop = MakeLoop();
    const auto end = std::chrono::steady_clock::now() + milliseconds(800);
    for (int i = 0; std::chrono::steady_clock::now() < end; ++i) {
      if (mu.try_lock_for(std::chrono::microseconds(10 + i % 40))) mu.unlock();
      if (mu.try_lock_for(std::chrono::seconds(10))) {
        mu.unlock();
      } else {
        failures.fetch_add(1);
      }
      mu.lock();
      mu.unlock();
      tries.fetch_add(1);
    }
    done = true;
  });
  std::thread burster = Burster(mu, stop);
  ExpectWithin(std::chrono::seconds(60), done, mu.word());
  stop = true;
  loop_thread.join();
  burster.join();
  EXPECT_EQ(failures.load(), 0) << "of " << tries.load() << " try_lock_for(10s)";
  EXPECT_GT(tries.load(), 0);
  EXPECT_EQ(mu.word().load(), 0u);
}

// Reschedules the coroutine through Schedule().
struct Yield {
  EventLoop& loop;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) { loop.Schedule(h); }
  void await_resume() const noexcept {}
};

// Yields until `stop`; gives up (and says so) after 3 s.
Task<void> YieldUntil(EventLoop& loop, const std::atomic<bool>& stop, bool& gave_up, bool& done) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (!stop.load()) {
    if (std::chrono::steady_clock::now() > give_up) {
      gave_up = true;
      break;
    }
    co_await Yield{loop};
  }
  done = true;
}

// Regression: with a coroutine yielding through Schedule(), RunUntil never
// reaped the ring, so ev.wait() on the loop thread returned only when the
// yielder stopped (a set() at 0.1 s was seen at 3.1 s). Now the wait's
// completion is reaped within kMaxStepsWithoutReap yielder steps: the wait
// returns while the yielder still runs.
TEST_P(RingBlockingTest, ScheduleYieldingCoroutineDoesNotStarveARingBlockingWait) {
  auto loop = MakeLoop();
  Event ev;
  std::atomic<bool> stop{false};
  bool gave_up = false, yielder_done = false;
  loop->Spawn(YieldUntil(*loop, stop, gave_up, yielder_done));
  loop->Poll();  // the yielder is running
  std::thread setter([&] {
    std::this_thread::sleep_for(milliseconds(20));
    ev.set();
  });
  ev.wait();  // ring-blocking: the yielder runs in its steps
  EXPECT_FALSE(gave_up) << "the wait's completion starved behind the yielder for 3 s";
  stop = true;
  loop->RunUntil([&] { return yielder_done; });
  setter.join();
}

INSTANTIATE_TEST_SUITE_P(Modes, RingBlockingTest,
                         ::testing::ValuesIn(testing::AllLoopModes()), testing::LoopModeName);

}  // namespace
}  // namespace ringlock
