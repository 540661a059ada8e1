#include "locks/event.h"

#include <climits>

#include "locks/internal/wait_backend.h"

namespace ringlock::internal {
namespace {
constexpr bool IsAuto(uint32_t w) { return w & kEventAuto; }
constexpr uint32_t Waiters(uint32_t w) { return w / kEventWaiterOne; }
}  // namespace

bool EventTryWait(internal::FutexWord& word) {
  uint32_t w = word.load(std::memory_order_acquire);
  if (!IsAuto(w)) return w & kEventSet;
  while (w & kEventSet) {
    if (word.compare_exchange_weak(w, w & ~kEventSet, std::memory_order_acquire,
                                   std::memory_order_relaxed)) {
      return true;
    }
  }
  return false;
}

void EventSet(internal::FutexWord& word, FutexScope scope) {
  uint32_t w = word.load(std::memory_order_relaxed);
  do {
    if (w & kEventSet) return;  // already set: sets do not accumulate
  } while (!word.compare_exchange_weak(w, w | kEventSet, std::memory_order_release,
                                       std::memory_order_relaxed));
  if (Waiters(w) > 0) WakeWord(word, IsAuto(w) ? 1 : INT_MAX, scope);
}

bool EventAcquisition::TryTake(bool registered, uint32_t* w) {
  const uint32_t leave = registered ? kEventWaiterOne : 0;
  while (*w & kEventSet) {
    const uint32_t taken = (IsAuto(*w) ? *w & ~kEventSet : *w) - leave;
    if (word_.compare_exchange_weak(*w, taken, std::memory_order_acquire,
                                    std::memory_order_relaxed)) {
      return true;
    }
  }
  return false;
}

bool EventAcquisition::Arm(uint32_t* expected) {
  uint32_t w = word_.load(std::memory_order_acquire);
  for (;;) {
    if (TryTake(false, &w)) return true;
    if (Waiters(w) == Waiters(~0u)) {
      // One more would carry out of the word (N back to 0): refuse it, in every build.
      if (refuse_when_full_) {
        refused_ = true;
        return false;
      }
      RINGLOCK_CHECK_IF(true, name_, "more than 2^30-1 waiters");
    }
    if (word_.compare_exchange_weak(w, w + kEventWaiterOne, std::memory_order_relaxed)) {
      *expected = w + kEventWaiterOne;
      return false;
    }
  }
}

bool EventAcquisition::OnWake(uint32_t* expected) {
  uint32_t w = word_.load(std::memory_order_acquire);
  if (TryTake(true, &w)) return true;
  *expected = w;
  return false;
}

void EventAcquisition::Leave() {
  const uint32_t left =
      word_.fetch_sub(kEventWaiterOne, std::memory_order_relaxed) - kEventWaiterOne;
  // An auto-reset set() may have woken us: pass it to another sleeper.
  if (IsAuto(left) && (left & kEventSet) && Waiters(left) > 0) WakeWord(word_, 1, scope_);
}

}  // namespace ringlock::internal
