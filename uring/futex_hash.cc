#include "uring/futex_hash.h"

#include <pthread.h>
#include <sys/prctl.h>

#include <atomic>
#include <cerrno>
#include <system_error>
#include <mutex>
#include <thread>

namespace ringlock::uring {
namespace {

// include/uapi/linux/prctl.h, Linux 6.16.
constexpr int kPrFutexHash = 78;
constexpr int kPrFutexHashGetSlots = 2;

std::atomic<bool> g_hash_ready{false};
std::mutex g_hash_mu;

void ResetInChild() { g_hash_ready.store(false, std::memory_order_relaxed); }

}  // namespace

namespace internal {
int PrivateFutexHashSlots() {
  int r = prctl(kPrFutexHash, kPrFutexHashGetSlots, 0, 0, 0);
  return r < 0 ? -1 : r;
}
}  // namespace internal

int internal::TryEnsurePrivateFutexHash() {
  if (g_hash_ready.load(std::memory_order_acquire)) return 0;
  std::lock_guard<std::mutex> lock(g_hash_mu);
  if (g_hash_ready.load(std::memory_order_relaxed)) return 0;
  static std::once_flag atfork_once;
  std::call_once(atfork_once,
                 [] { pthread_atfork(nullptr, nullptr, &ResetInChild); });
  if (internal::PrivateFutexHashSlots() == 0) {
    // No private hash yet: a first thread makes the kernel allocate it
    // (futex_hash_allocate_default in copy_process).
    try {
      std::thread([] {}).join();
    } catch (const std::system_error& e) {
      return e.code().value() != 0 ? e.code().value() : EAGAIN;
    }
  }
  g_hash_ready.store(true, std::memory_order_release);
  return 0;
}

void EnsurePrivateFutexHash() {
  if (int err = internal::TryEnsurePrivateFutexHash(); err != 0) {
    throw std::system_error(err, std::generic_category(),
                            "ringlock: EnsurePrivateFutexHash: thread creation");
  }
}

}  // namespace ringlock::uring
