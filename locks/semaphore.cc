#include "locks/semaphore.h"

#include <sched.h>

#include <algorithm>

#include "locks/internal/wait_backend.h"

namespace ringlock::internal {
namespace {
constexpr uint32_t Permits(uint32_t w) { return w & kSemPermitMask; }
constexpr uint32_t Waiters(uint32_t w) { return w / kSemWaiterOne; }
}  // namespace

bool SemaphoreTryAcquire(internal::FutexWord& word) {
  uint32_t w = word.load(std::memory_order_relaxed);
  while (Permits(w) > 0) {
    if (word.compare_exchange_weak(w, w - 1, std::memory_order_acquire,
                                   std::memory_order_relaxed)) {
      return true;
    }
  }
  return false;
}

bool SemaphoreYieldAcquire(internal::FutexWord& word) {
  return YieldBeforeSleep([&] { return SemaphoreTryAcquire(word); });
}

void SemaphoreRelease(internal::FutexWord& word, uint32_t n, uint32_t max, FutexScope scope,
                      const char* name) {
  if (n == 0) return;
  // Checked in every build, before writing: past max() the permits would
  // carry into the waiter count (phantom waiters, in shared memory too).
  RINGLOCK_CHECK_IF(n > max, name, "release(n) with n greater than max()");
  uint32_t old = word.load(std::memory_order_relaxed);
  do {
    RINGLOCK_CHECK_IF(Permits(old) > max - n, name, "release() past max()");
  } while (!word.compare_exchange_weak(old, old + n, std::memory_order_release,
                                       std::memory_order_relaxed));
  if (Waiters(old) > 0) {
    WakeWord(word, static_cast<int>(std::min(n, Waiters(old))), scope);
  }
}

bool SemaphoreAcquisition::Arm(uint32_t* expected) {
  uint32_t w = word_.load(std::memory_order_relaxed);
  for (;;) {
    if (Permits(w) > 0) {
      if (word_.compare_exchange_weak(w, w - 1, std::memory_order_acquire,
                                      std::memory_order_relaxed)) {
        return true;
      }
      continue;
    }
    if (Waiters(w) == kSemMaxWaiters) {
      // One more would wrap N to 0: refuse it, in every build.
      if (refuse_when_full_) {
        refused_ = true;
        return false;
      }
      RINGLOCK_CHECK_IF(true, name_, "more than 65535 waiters");
    }
    if (word_.compare_exchange_weak(w, w + kSemWaiterOne, std::memory_order_relaxed)) {
      *expected = w + kSemWaiterOne;
      return false;
    }
  }
}

bool SemaphoreAcquisition::OnWake(uint32_t* expected) {
  uint32_t w = word_.load(std::memory_order_relaxed);
  while (Permits(w) > 0) {
    if (word_.compare_exchange_weak(w, w - 1 - kSemWaiterOne, std::memory_order_acquire,
                                    std::memory_order_relaxed)) {
      return true;
    }
  }
  *expected = w;
  return false;
}

void SemaphoreAcquisition::Leave() {
  const uint32_t left = word_.fetch_sub(kSemWaiterOne, std::memory_order_relaxed) - kSemWaiterOne;
  // We may have been the sleeper a release() woke: hand its permit on.
  if (Permits(left) > 0 && Waiters(left) > 0) WakeWord(word_, 1, scope_);
}

}  // namespace ringlock::internal
