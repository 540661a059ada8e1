// Under libringlock_preload.so, a thread that runs a ringlock::uring::EventLoop
// ring-blocks on a pthread mutex: while it waits in pthread_mutex_lock, its
// loop keeps dispatching. This program links ringlock's shared libraries
// (linkstatic = False), so its EventLoop is the library's exported one.
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "tests/preload/preload_check.h"
#include "uring/event_loop.h"

namespace {

pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

// Blocks in pthread_mutex_lock while another thread holds the mutex until it
// saw `loop` run a posted task: true if the wait dispatched the loop.
bool LockDispatches(ringlock::uring::EventLoop& loop) {
  std::atomic<bool> held{false}, posted_ran{false};
  bool ran_in_time = false;
  std::thread holder([&] {
    CHECK(pthread_mutex_lock(&g_mu) == 0);
    held = true;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (!posted_ran && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ran_in_time = posted_ran;
    CHECK(pthread_mutex_unlock(&g_mu) == 0);
  });
  while (!held) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  loop.Post([&] { posted_ran = true; });
  const ringlock_preload_stats before = preload_self();
  CHECK(pthread_mutex_lock(&g_mu) == 0);
  CHECK(pthread_mutex_unlock(&g_mu) == 0);
  const ringlock_preload_stats after = preload_self();
  // Ours, plus the loop's own (std::mutex) while it dispatched inside the wait.
  CHECK(after.mutex_ringlock - before.mutex_ringlock >= 1);
  holder.join();
  loop.RunUntil([&] { return posted_ran.load(); });  // a futex(2) wait left it queued
  return ran_in_time;
}

}  // namespace

int main() {
  preload_watchdog(30);
  (void)preload_stats_fn();
  auto loop = ringlock::uring::EventLoop::Create();
  if (!loop.ok()) {
    fprintf(stderr, "EventLoop::Create: %s\n", loop.status().ToString().c_str());
    return 1;
  }
  if (!LockDispatches(**loop)) {
    fprintf(stderr, "pthread_mutex_lock on an EventLoop thread did not dispatch the loop\n");
    return 1;
  }
  printf("preload_ring_test: all passed\n");
  return 0;
}
