#include "locks/barrier.h"

#include <climits>

#include "locks/internal/wait_backend.h"

namespace ringlock::internal {

uint32_t BarrierArrive(internal::FutexWord& word, uint32_t n, bool drop, const char* name) {
  uint32_t w = word.load(std::memory_order_relaxed);
  uint32_t next;
  do {
    const uint32_t remaining = BarrierRemaining(w);
    RINGLOCK_MISUSE_IF(n > remaining, name, "arrive() past the expected count");
    const uint32_t take = n > remaining ? remaining : n;  // release builds clamp
    next = w - take * kBarrierRemainingOne;
    if (drop && BarrierExpected(w) > 0) next -= kBarrierExpectedOne;
    // acq_rel: the completer's step carries every arrival's writes (release
    // sequence on the word) to the completion function and the waiters.
  } while (!word.compare_exchange_weak(w, next, std::memory_order_acq_rel,
                                       std::memory_order_relaxed));
  return w;
}

void BarrierComplete(internal::FutexWord& word, FutexScope scope, void (*run)(void*),
                     void* completion) {
  // First the completion, then the phase: no waiter of the phase may return
  // before the completion function did (INV3).
  run(completion);
  uint32_t w = word.load(std::memory_order_relaxed);
  uint32_t next;
  do {
    // Only waiters setting W race with this step (INV2): keep E, refill R,
    // move P, clear W.
    const uint32_t expected = BarrierExpected(w);
    next = expected * kBarrierExpectedOne + expected * kBarrierRemainingOne +
           ((w + kBarrierPhaseOne) & kBarrierPhaseMask);
  } while (!word.compare_exchange_weak(w, next, std::memory_order_release,
                                       std::memory_order_relaxed));
  if (w & kBarrierWaiters) WakeWord(word, INT_MAX, scope);
}

bool BarrierAcquisition::Arm(uint32_t* expected) {
  uint32_t w = word_.load(std::memory_order_acquire);
  for (;;) {
    if (BarrierPhase(w) != phase_) return true;
    if (w & kBarrierWaiters) break;
    if (word_.compare_exchange_weak(w, w | kBarrierWaiters, std::memory_order_acquire,
                                    std::memory_order_acquire)) {
      w |= kBarrierWaiters;
      break;
    }
  }
  *expected = w;
  return false;
}

}  // namespace ringlock::internal
