#include "locks/once.h"

#include <climits>

#include "locks/internal/wait_backend.h"

namespace ringlock::internal {

bool OnceAcquisition::Arm(uint32_t* expected) {
  uint32_t w = word_.load(std::memory_order_acquire);
  for (;;) {
    if (w == kOnceDone) return true;  // won_ stays false: nothing to run
    if (w == 0) {
      if (word_.compare_exchange_weak(w, kOnceRunning, std::memory_order_acquire,
                                      std::memory_order_acquire)) {
        won_ = true;
        return true;
      }
      continue;
    }
    if (w & kOnceWaiters) break;
    if (word_.compare_exchange_weak(w, w | kOnceWaiters, std::memory_order_acquire,
                                    std::memory_order_acquire)) {
      w |= kOnceWaiters;
      break;
    }
  }
  *expected = w;
  return false;
}

void OnceFinish(internal::FutexWord& word) {
  // release: a caller that sees D sees the callable's writes.
  if (word.exchange(kOnceDone, std::memory_order_acq_rel) & kOnceWaiters) {
    WakeWord(word, INT_MAX, FutexScope::kPrivate);
  }
}

void OnceAbandon(internal::FutexWord& word) {
  // Back to "not run"; every sleeper re-checks and one of them runs next.
  if (word.exchange(0, std::memory_order_acq_rel) & kOnceWaiters) {
    WakeWord(word, INT_MAX, FutexScope::kPrivate);
  }
}

}  // namespace ringlock::internal
