#include "locks/condvar.h"

#include <climits>

#include "locks/internal/wait_backend.h"

namespace ringlock::internal {

void CondVarNotify(std::atomic<uint32_t>& word, FutexScope scope, bool all) {
  uint32_t w = word.load(std::memory_order_relaxed);
  uint32_t next;
  do {
    if ((w & kCondWaiters) == 0) return;  // nobody can be asleep
    next = all ? (w + kCondSeqOne) & ~kCondWaiters : w + kCondSeqOne;
  } while (!word.compare_exchange_weak(w, next, std::memory_order_release,
                                       std::memory_order_relaxed));
  if (all) {
    WakeWord(word, INT_MAX, scope);
    return;
  }
  // Inside a WakeBatch the wake is deferred and its count unknown: keep W.
  if (WakeBatchOpen()) {
    WakeWord(word, 1, scope);
    return;
  }
  if (futex::Wake(word, 1, scope) == 0) {
    // Nobody was asleep: every registered waiter is between registering and
    // sleeping, and the Q we bumped makes that sleep fail. W can go (INV2),
    // unless the word moved on since. A waiter that registered after our
    // bump leaves the word unchanged (W was already set) and may have fallen
    // asleep on it just now: wake every sleeper once more so it re-checks
    // and sets W again (almost always a wake of nobody; it costs one syscall
    // on the first notify after the last waiter left, later ones are free).
    if (word.compare_exchange_strong(next, next & ~kCondWaiters, std::memory_order_relaxed)) {
      futex::Wake(word, INT_MAX, scope);
    }
  }
}

bool CondVarHasSleepers(std::atomic<uint32_t>& word, FutexScope scope) {
  return futex::Wake(word, INT_MAX, scope) > 0;
}

bool CondVarAcquisition::Arm(uint32_t* expected) {
  const uint32_t w = word_.fetch_or(kCondWaiters, std::memory_order_relaxed) | kCondWaiters;
  seq_ = w & ~kCondWaiters;
  unlock_(lock_);
  *expected = w;
  return false;
}

bool CondVarAcquisition::OnWake(uint32_t* expected) {
  uint32_t w = word_.load(std::memory_order_acquire);
  for (;;) {
    if ((w & ~kCondWaiters) != seq_) return true;  // notified
    if (w & kCondWaiters) {
      *expected = w;
      return false;
    }
    // Our W was cleared by a notify_one that found nobody asleep while we
    // were between sleeps: set it again before sleeping (INV1).
    if (word_.compare_exchange_weak(w, w | kCondWaiters, std::memory_order_relaxed)) {
      *expected = w | kCondWaiters;
      return false;
    }
  }
}

void CondVarAcquisition::Leave() {
  // A notify_one since we registered may have been spent on us: forward it
  // as a notify of our own (it bumps Q, so no sleeper can miss it).
  if ((word_.load(std::memory_order_relaxed) & ~kCondWaiters) != seq_) {
    CondVarNotify(word_, scope_, /*all=*/false);
  }
}

}  // namespace ringlock::internal
