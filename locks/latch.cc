#include "locks/latch.h"

#include <climits>

#include "locks/internal/wait_backend.h"

namespace ringlock::internal {

bool LatchTryWait(const internal::FutexWord& word) {
  return (word.load(std::memory_order_acquire) & kLatchCountMask) == 0;
}

void LatchCountDown(internal::FutexWord& word, uint32_t n, FutexScope scope, const char* name) {
  uint32_t w = word.load(std::memory_order_relaxed);
  uint32_t next;
  do {
    const uint32_t count = w & kLatchCountMask;
    RINGLOCK_MISUSE_IF(n > count, name, "count_down() below zero");
    // Opening writes 0: W goes with the wake below (INV1); C=0 is final (INV2).
    next = n >= count ? 0 : w - n;
    // acq_rel: the opener's wake carries every earlier count_down's writes.
  } while (!word.compare_exchange_weak(w, next, std::memory_order_acq_rel,
                                       std::memory_order_relaxed));
  if (next == 0 && (w & kLatchWaiters) != 0) WakeWord(word, INT_MAX, scope);
}

bool LatchAcquisition::Arm(uint32_t* expected) {
  uint32_t w = word_.load(std::memory_order_acquire);
  for (;;) {
    if ((w & kLatchCountMask) == 0) return true;
    if (w & kLatchWaiters) break;
    if (word_.compare_exchange_weak(w, w | kLatchWaiters, std::memory_order_acquire,
                                    std::memory_order_acquire)) {
      w |= kLatchWaiters;
      break;
    }
  }
  *expected = w;
  return false;
}

}  // namespace ringlock::internal
