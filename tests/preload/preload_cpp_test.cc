// A C++ program run under libringlock_preload.so (run_preloaded.sh):
// std::mutex, std::condition_variable, std::timed_mutex and
// std::recursive_mutex reach the library through libstdc++'s calls to
// pthread_mutex_* / pthread_cond_*; std semantics of the Mutex and CondVar
// tests, through them; exact per-thread counters; misuse.
#include <errno.h>
#include <pthread.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/preload/preload_check.h"

namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr int kThreads = 4;
constexpr int kIters = 20000;

std::mutex g_mu;  // constant-initialized: PTHREAD_MUTEX_INITIALIZER
std::condition_variable g_cv;
long g_count = 0;

// Runs before main(): static objects that lock at static initialization.
ringlock_preload_stats g_early_delta;
struct LocksAtStaticInit {
  LocksAtStaticInit() {
    const ringlock_preload_stats before = preload_self();
    {
      std::unique_lock<std::mutex> l(g_mu);
      ++g_count;
      g_cv.wait_for(l, milliseconds(1));
    }
    const ringlock_preload_stats after = preload_self();
    g_early_delta.mutex_ringlock = after.mutex_ringlock - before.mutex_ringlock;
    g_early_delta.cond_wait_ringlock = after.cond_wait_ringlock - before.cond_wait_ringlock;
  }
} g_locks_at_static_init;

void StaticInitializers() {
  CHECK(g_count == 1);
  CHECK_EQ_U64(g_early_delta.mutex_ringlock, 1);
  CHECK_EQ_U64(g_early_delta.cond_wait_ringlock, 1);
  g_count = 0;
}

void StdMutexCounts() {
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([] {
      const ringlock_preload_stats before = preload_self();
      for (int i = 0; i < kIters; ++i) {
        std::lock_guard<std::mutex> l(g_mu);
        ++g_count;
      }
      const ringlock_preload_stats after = preload_self();
      CHECK_EQ_U64(after.mutex_ringlock - before.mutex_ringlock, kIters);
    });
  }
  for (auto& t : threads) t.join();
  CHECK(g_count == static_cast<long>(kThreads) * kIters);
}

// Two threads hand a turn back and forth: every notify must arrive.
void PingPong() {
  constexpr int kRounds = 2000;
  std::mutex mu;
  std::condition_variable cv;
  int turn = 0;
  std::thread other([&] {
    const ringlock_preload_stats before = preload_self();
    for (int i = 0; i < kRounds; ++i) {
      std::unique_lock<std::mutex> l(mu);
      cv.wait(l, [&] { return turn == 1; });
      turn = 0;
      cv.notify_one();
    }
    const ringlock_preload_stats after = preload_self();
    CHECK_EQ_U64(after.cond_notify_ringlock - before.cond_notify_ringlock, kRounds);
    CHECK_EQ_U64(after.cond_wait_glibc - before.cond_wait_glibc, 0);
  });
  for (int i = 0; i < kRounds; ++i) {
    std::unique_lock<std::mutex> l(mu);
    turn = 1;
    cv.notify_one();
    cv.wait(l, [&] { return turn == 0; });
  }
  other.join();
}

// notify_all reaches every waiter registered when it is called.
void NotifyAllWakesEveryWaiter() {
  std::mutex mu;
  std::condition_variable cv;
  int waiting = 0, generation = 0, returned = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      std::unique_lock<std::mutex> l(mu);
      const int my = generation;
      ++waiting;
      cv.notify_all();  // tells the main thread
      cv.wait(l, [&] { return generation != my; });
      ++returned;
    });
  }
  {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return waiting == kThreads; });
    ++generation;
  }
  cv.notify_all();
  for (auto& t : threads) t.join();
  CHECK(returned == kThreads);
}

// Timed waits: a timeout that fires, one a notify beats, and a notify with
// nobody waiting is not remembered.
void TimedWaits() {
  std::mutex mu;
  std::condition_variable cv;
  const ringlock_preload_stats before = preload_self();
  {
    std::unique_lock<std::mutex> l(mu);
    cv.notify_one();  // nobody waits: lost, as std::condition_variable
    auto t0 = Clock::now();
    CHECK(cv.wait_for(l, milliseconds(50)) == std::cv_status::timeout);  // clockwait
    CHECK(Clock::now() - t0 >= milliseconds(45));
    t0 = Clock::now();
    CHECK(cv.wait_until(l, std::chrono::system_clock::now() + milliseconds(50)) ==
          std::cv_status::timeout);  // timedwait, CLOCK_REALTIME
    CHECK(Clock::now() - t0 >= milliseconds(45));
    CHECK(l.owns_lock());
  }
  const ringlock_preload_stats after = preload_self();
  CHECK_EQ_U64(after.cond_wait_ringlock - before.cond_wait_ringlock, 2);
  CHECK_EQ_U64(after.cond_notify_ringlock - before.cond_notify_ringlock, 0);  // undecided yet

  bool ready = false;
  std::thread notifier([&] {
    std::this_thread::sleep_for(milliseconds(20));
    std::lock_guard<std::mutex> l(mu);
    ready = true;
    cv.notify_one();
  });
  {
    std::unique_lock<std::mutex> l(mu);
    const auto t0 = Clock::now();
    CHECK(cv.wait_for(l, std::chrono::seconds(20), [&] { return ready; }));
    CHECK(Clock::now() - t0 < std::chrono::seconds(10));
  }
  notifier.join();
}

// notify_one releases exactly one waiter per call, none lost.
void NotifyOneWakesExactlyOne() {
  std::mutex mu;
  std::condition_variable cv;
  int tickets = 0;
  std::atomic<int> waiting{0}, done{0};
  constexpr int kWaiters = 4;
  std::vector<std::thread> threads;
  for (int i = 0; i < kWaiters; ++i) {
    threads.emplace_back([&] {
      std::unique_lock<std::mutex> lock(mu);
      waiting.fetch_add(1);
      cv.wait(lock, [&] { return tickets > 0; });
      --tickets;
      done.fetch_add(1);
    });
  }
  while (waiting.load() < kWaiters) std::this_thread::yield();
  std::this_thread::sleep_for(milliseconds(20));  // let them sleep
  for (int round = 1; round <= kWaiters; ++round) {
    {
      std::lock_guard<std::mutex> g(mu);
      ++tickets;
    }
    cv.notify_one();
    const auto give_up = Clock::now() + std::chrono::seconds(20);
    while (done.load() < round && Clock::now() < give_up) std::this_thread::sleep_for(milliseconds(1));
    CHECK(done.load() == round);  // else a notify_one was lost
    std::this_thread::sleep_for(milliseconds(10));
    CHECK(done.load() == round);  // else one released more than one waiter
  }
  for (auto& t : threads) t.join();
}

// Timed and untimed lockers on one std::timed_mutex: exclusion holds.
void MixedTimedAndUntimedLockers() {
  std::timed_mutex mu;
  long counter = 0;
  std::atomic<long> acquired{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 3000; ++i) {
        if (t % 2 == 0) {
          if (!mu.try_lock_for(std::chrono::microseconds(50 + i % 200))) continue;
        } else {
          mu.lock();
        }
        ++counter;
        acquired.fetch_add(1, std::memory_order_relaxed);
        mu.unlock();
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(counter == acquired.load());
  CHECK(counter >= 2 * 3000);  // the untimed lockers always get it
}

// A thread that waited past the starvation bound gets a std::mutex that
// others re-take in a tight loop (the watchdog fails a starved run).
void LongWaiterIsNotStarved() {
  std::mutex mu;
  std::atomic<bool> stop{false};
  std::vector<std::thread> hogs;
  for (int t = 0; t < 3; ++t) {
    hogs.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        std::lock_guard<std::mutex> l(mu);
        const auto until = Clock::now() + std::chrono::microseconds(20);
        while (Clock::now() < until) {
        }
      }
    });
  }
  std::this_thread::sleep_for(milliseconds(20));
  int got = 0;
  std::thread victim([&] {
    for (int i = 0; i < 20; ++i) {
      std::lock_guard<std::mutex> l(mu);
      ++got;
    }
  });
  victim.join();
  stop = true;
  for (auto& t : hogs) t.join();
  CHECK(got == 20);
}

// std::scoped_lock over two std::mutex in opposite orders (lock one, try
// the other): no deadlock, and under TSAN no lock-order report.
void ScopedLockInOppositeOrders() {
  std::mutex a, b;
  long in_both = 0;
  constexpr int kIters = 2000;
  std::thread t1([&] {
    for (int i = 0; i < kIters; ++i) {
      std::scoped_lock both(a, b);
      ++in_both;
    }
  });
  std::thread t2([&] {
    for (int i = 0; i < kIters; ++i) {
      std::scoped_lock both(b, a);
      ++in_both;
    }
  });
  t1.join();
  t2.join();
  CHECK(in_both == 2 * kIters);
}

void TimedMutex() {
  std::timed_mutex tm;
  std::atomic<bool> held{false}, release{false};
  std::thread holder([&] {
    tm.lock();
    held = true;
    while (!release) std::this_thread::sleep_for(milliseconds(1));
    tm.unlock();
  });
  while (!held) std::this_thread::sleep_for(milliseconds(1));
  const ringlock_preload_stats before = preload_self();
  auto t0 = Clock::now();
  CHECK(!tm.try_lock_for(milliseconds(50)));  // clocklock, CLOCK_MONOTONIC
  CHECK(Clock::now() - t0 >= milliseconds(45));
  t0 = Clock::now();
  CHECK(!tm.try_lock_until(std::chrono::system_clock::now() + milliseconds(50)));  // timedlock
  CHECK(Clock::now() - t0 >= milliseconds(45));
  CHECK(!tm.try_lock());
  const ringlock_preload_stats after = preload_self();
  CHECK_EQ_U64(after.mutex_ringlock - before.mutex_ringlock, 3);
  release = true;
  CHECK(tm.try_lock_for(std::chrono::seconds(20)));
  tm.unlock();
  holder.join();
}

// A recursive mutex goes to glibc, next to ringlock's in the same process.
void RecursiveMutexGoesToGlibc() {
  std::recursive_mutex rm;
  const ringlock_preload_stats before = preload_self();
  rm.lock();
  rm.lock();
  {
    std::lock_guard<std::mutex> l(g_mu);
  }
  CHECK(rm.try_lock());
  rm.unlock();
  rm.unlock();
  rm.unlock();
  const ringlock_preload_stats after = preload_self();
  CHECK_EQ_U64(after.mutex_glibc - before.mutex_glibc, 3);
  CHECK_EQ_U64(after.mutex_ringlock - before.mutex_ringlock, 1);
}

// Runs `body` in a child process; returns its stderr, sets *status.
template <class Body>
std::string InChild(Body body, int* status) {
  int fds[2];
  CHECK(pipe(fds) == 0);
  const pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    alarm(10);
    dup2(fds[1], 2);
    close(fds[0]);
    body();
    _exit(0);
  }
  close(fds[1]);
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, n);
  close(fds[0]);
  CHECK(waitpid(pid, status, 0) == pid);
  return out;
}

#ifndef NDEBUG
void ExpectAbort(const char* what, void (*body)()) {
  int status = 0;
  const std::string err = InChild(body, &status);
  if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT || err.find(what) == std::string::npos) {
    fprintf(stderr, "expected an abort saying \"%s\"; status %#x, stderr: %s\n", what, status,
            err.c_str());
    _exit(1);
  }
}
#endif

pthread_mutex_t g_misused = PTHREAD_MUTEX_INITIALIZER;

// Misuse: debug builds abort naming the primitive; release builds return
// glibc's error codes where glibc has one and never corrupt the word.
void Misuse() {
#ifndef NDEBUG
  ExpectAbort("pthread_mutex_t (ringlock preload): misuse: pthread_mutex_unlock by a thread that "
              "does not hold it",
              [] {
                pthread_mutex_lock(&g_misused);
                std::thread([] { pthread_mutex_unlock(&g_misused); }).join();
              });
  ExpectAbort("pthread_mutex_unlock of a mutex that is not locked",
              [] { pthread_mutex_unlock(&g_misused); });
  ExpectAbort("pthread_mutex_destroy of a locked mutex", [] {
    pthread_mutex_lock(&g_misused);
    pthread_mutex_destroy(&g_misused);
  });
  ExpectAbort("pthread_mutex_lock by the thread that holds it", [] {
    pthread_mutex_lock(&g_misused);
    pthread_mutex_lock(&g_misused);
  });
  ExpectAbort("pthread_cond_wait with a mutex the calling thread does not hold", [] {
    static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    timespec ts = preload_in_ms(CLOCK_REALTIME, 1);
    pthread_cond_timedwait(&cv, &g_misused, &ts);
  });
  ExpectAbort("pthread_cond_t (ringlock preload): misuse: pthread_cond_destroy with waiters", [] {
    static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    static std::atomic<bool> waiting{false};
    std::thread([] {
      pthread_mutex_lock(&g_misused);
      waiting = true;
      pthread_cond_wait(&cv, &g_misused);  // never notified
    }).detach();
    while (!waiting) std::this_thread::sleep_for(milliseconds(1));
    pthread_mutex_lock(&g_misused);  // the waiter has registered once it released this
    pthread_mutex_unlock(&g_misused);
    std::this_thread::sleep_for(milliseconds(50));  // and is asleep (a wake must find it)
    pthread_cond_destroy(&cv);
  });
  ExpectAbort("pthread_cond_t (ringlock preload): misuse: one condition variable waited on", [] {
    static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_t rec;
    pthread_mutex_init(&rec, &a);
    timespec ts = preload_in_ms(CLOCK_REALTIME, 1);
    pthread_mutex_lock(&g_misused);
    pthread_cond_timedwait(&cv, &g_misused, &ts);  // ringlock's from now on
    pthread_mutex_unlock(&g_misused);
    pthread_mutex_lock(&rec);
    pthread_cond_timedwait(&cv, &rec, &ts);
  });
#else
  int status = 0;
  InChild(
      [] {
        pthread_mutex_lock(&g_misused);
        int r = 0;
        std::thread([&] { r = pthread_mutex_unlock(&g_misused); }).join();
        if (r != 0) _exit(2);  // unlocks, as glibc's normal mutex
        if (pthread_mutex_unlock(&g_misused) != EPERM) _exit(3);
        if (pthread_mutex_trylock(&g_misused) != 0) _exit(4);  // the word is intact
        if (pthread_mutex_destroy(&g_misused) != EBUSY) _exit(5);
        pthread_mutex_unlock(&g_misused);
      },
      &status);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
#endif
}

}  // namespace

int main() {
  preload_watchdog(60);
  (void)preload_stats_fn();
  StaticInitializers();
  StdMutexCounts();
  PingPong();
  NotifyAllWakesEveryWaiter();
  TimedWaits();
  NotifyOneWakesExactlyOne();
  TimedMutex();
  MixedTimedAndUntimedLockers();
  LongWaiterIsNotStarved();
  ScopedLockInOppositeOrders();
  RecursiveMutexGoesToGlibc();
  Misuse();
  printf("preload_cpp_test: all passed\n");
  return 0;
}
