// bench/ring_blocking_nested_repro — the hang async_mutex_bench found with
// Ringlock_RingBlocking at K>1, reduced to one deterministic scenario.
//
// A loop thread runs two coroutines that each take one ringlock::Mutex with
// std::lock_guard (ring-blocking lock()). Another thread holds the mutex, so:
//   C1 blocks in lock(): FUTEX_WAIT SQE, RunUntil(its CQE) dispatches C2;
//   C2 blocks in lock() nested inside C1's wait.
// The holder unlocks: N=2, W=0, so it sets W (a waiter is awake) and wakes
// one: the kernel wakes the first armed, C1. C1's CQE is dispatched inside
// C2's RunUntil, which only records it: C1 cannot run OnWake (take the lock or
// clear W) until C2's wait returns, and C2 is never woken because W=1 tells
// every unlocker someone is already awake. The word stays L=0 W=1 N=2.
//
// Exit 0: both coroutines got the lock. Exit 1: hung (prints the word).
// Not a benchmark; kept here as evidence for the report (bench/README_uring.md).
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>

#include "locks/mutex.h"
#include "uring/event_loop.h"
#include "uring/task.h"

using ringlock::Mutex;
using ringlock::uring::EventLoop;
using ringlock::uring::Task;

namespace {
Task<void> TakeOnce(Mutex& mu, std::atomic<int>& done) {
  std::lock_guard<Mutex> g(mu);
  done.fetch_add(1);
  co_return;
}
}  // namespace

int main() {
  Mutex mu;
  std::atomic<int> done{0};
  mu.lock();
  std::thread loop_thread([&] {
    auto loop = EventLoop::Create();
    if (!loop.ok()) {
      std::fprintf(stderr, "EventLoop::Create: %s\n", loop.status().ToString().c_str());
      _exit(2);
    }
    (*loop)->Spawn(TakeOnce(mu, done));
    (*loop)->Spawn(TakeOnce(mu, done));
    (*loop)->Stop();
    (*loop)->Run();
  });
  // Both coroutines registered (N=2), then give them time to arm their waits.
  while ((mu.word().load() >> 10) < 2) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  mu.unlock();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (done.load() < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (done.load() < 2) {
    const unsigned w = mu.word().load();
    std::printf("HANG: %d of 2 coroutines got the lock after 3 s; word=0x%x (L=%u W=%u N=%u)\n",
                done.load(), w, w & 1, (w >> 1) & 1, w >> 10);
    std::fflush(stdout);
    _exit(1);
  }
  loop_thread.join();
  std::printf("OK: both coroutines got the lock\n");
  return 0;
}
