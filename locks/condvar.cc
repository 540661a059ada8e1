#include "locks/condvar.h"

#include <climits>

#include "locks/internal/wait_backend.h"

namespace ringlock::internal {
namespace {

// notify_one's step when its wake found nobody asleep (run by WakeWord, at
// once or when a WakeBatch sends the wake): every registered waiter is then
// between registering and sleeping. W can go (INV2), but only together with
// a second bump of Q: a waiter that registered after the first bump saw the
// word unchanged (W was already set), holds seq == Q, and counts as waiting
// for every later notify; if W were cleared alone, the next notify would see
// W=0 and skip it while it sleeps on Q. The second bump makes it return
// (spuriously, allowed) instead. If the word moved on since `written`,
// someone else owns W now: leave it. A waiter that fell asleep between the
// wake and the clear sleeps on the old value: wake every sleeper once more
// (almost always nobody; one syscall on the first notify after the last
// waiter left, later ones are free).
template <FutexScope kScope>
void ClearWaitersIfNobodyWoken(internal::FutexWord& word, uint32_t written) {
  if (word.compare_exchange_strong(written, (written + kCondSeqOne) & ~kCondWaiters,
                                   std::memory_order_release, std::memory_order_relaxed)) {
    WakeWord(word, INT_MAX, kScope);
  }
}

}  // namespace

void CondVarNotify(internal::FutexWord& word, FutexScope scope, bool all) {
  uint32_t w = word.load(std::memory_order_relaxed);
  uint32_t next;
  do {
    if ((w & kCondWaiters) == 0) return;  // no registered waiter is owed it
    next = all ? (w + kCondSeqOne) & ~kCondWaiters : w + kCondSeqOne;
  } while (!word.compare_exchange_weak(w, next, std::memory_order_release,
                                       std::memory_order_relaxed));
  if (all) {
    WakeWord(word, INT_MAX, scope);
  } else {
    WakeWord(word, 1, scope, futex::kMatchAny,
             scope == FutexScope::kPrivate ? &ClearWaitersIfNobodyWoken<FutexScope::kPrivate>
                                           : &ClearWaitersIfNobodyWoken<FutexScope::kShared>,
             next);
  }
}

bool CondVarHasSleepers(internal::FutexWord& word, FutexScope scope) {
  // A debug check that needs the count itself, not a protocol wake.
  return FutexWake(word, INT_MAX, scope, futex::kMatchAny) > 0;
}

bool CondVarAcquisition::Arm(uint32_t* expected) {
  const uint32_t w = word_.fetch_or(kCondWaiters, std::memory_order_relaxed) | kCondWaiters;
  seq_ = w & ~kCondWaiters;
  unlock_(lock_);
  *expected = w;
  return false;
}

bool CondVarAcquisition::OnWake(uint32_t* expected) {
  const uint32_t w = word_.load(std::memory_order_acquire);
  // Q moved: notified. W clear: a notify cleared it after we registered,
  // which it does only together with a Q bump (INV2), so also notified; the
  // W test keeps a waiter from sleeping on a word no notify will look at.
  if ((w & ~kCondWaiters) != seq_ || (w & kCondWaiters) == 0) return true;
  *expected = w;
  return false;
}

void CondVarAcquisition::Leave() {
  // A notify_one since we registered may have been spent on us: forward it
  // as a notify of our own (it bumps Q, so no sleeper can miss it).
  if ((word_.load(std::memory_order_relaxed) & ~kCondWaiters) != seq_) {
    CondVarNotify(word_, scope_, /*all=*/false);
  }
}

}  // namespace ringlock::internal
