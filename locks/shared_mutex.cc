#include "locks/shared_mutex.h"

#include <climits>

#include "locks/internal/block_on.h"
#include "locks/internal/wait_backend.h"
#include "locks/internal/word.h"

namespace ringlock {
namespace internal {
namespace {

// The hand-off to the waiting readers (only on a free word, INV2): they
// become holders, and P flips so each of them sees its grant (INV5).
uint32_t GrantReaders(uint32_t w) {
  const uint32_t waiting = (w & kRwWaiterMask) / kRwWaiterOne;
  return ((w & ~kRwWaiterMask) ^ kRwPhase) + waiting * kRwReaderOne;
}

void WakeReaders(internal::FutexWord& word, FutexScope scope) {
  WakeWord(word, INT_MAX, scope, kRwReaderBit);
}

// A writer wake sent on the free word `seen` found nobody asleep: every
// writer is awake (it will take the lock or leave) or on its way to sleep on
// an older value (INV3). If the word is still `seen`, clear WW and hand the
// lock to the waiting readers (INV1); else look again.
template <FutexScope kScope>
void WritersNotFound(internal::FutexWord& word, uint32_t seen) {
  uint32_t w = seen;
  const uint32_t next =
      (w & kRwWaiterMask) ? GrantReaders(w & ~kRwWritersWaiting) : w & ~kRwWritersWaiting;
  if (word.compare_exchange_strong(w, next, std::memory_order_acq_rel,
                                   std::memory_order_relaxed)) {
    if (seen & kRwWaiterMask) WakeReaders(word, kScope);
    return;
  }
  RwWakeIfFree(word, w, kScope);
}

}  // namespace

void RwWakeIfFree(internal::FutexWord& word, uint32_t w, FutexScope scope) {
  // Held: the holder's unlock comes here. No WW: no writer sleeps (INV3).
  if (!RwFree(w) || (w & kRwWritersWaiting) == 0) return;
  WakeWord(word, 1, scope, kRwWriterBit,
           scope == FutexScope::kPrivate ? &WritersNotFound<FutexScope::kPrivate>
                                         : &WritersNotFound<FutexScope::kShared>,
           w);
}

void RwUnlockSlow(internal::FutexWord& word, FutexScope scope) {
  uint32_t w = word.load(std::memory_order_relaxed);
  uint32_t next;
  do {
    next = w & ~kRwWriter;
    // INV1: readers waiting get the lock in the step that frees it.
    if (w & kRwWaiterMask) next = GrantReaders(next);
  } while (!word.compare_exchange_weak(w, next, std::memory_order_release,
                                       std::memory_order_relaxed));
  if (w & kRwWaiterMask) {
    WakeReaders(word, scope);
  } else {
    RwWakeIfFree(word, next, scope);
  }
}

bool RwTryLock(internal::FutexWord& word) {
  uint32_t w = word.load(std::memory_order_relaxed);
  while (RwFree(w)) {
    if (word.compare_exchange_weak(w, w | kRwWriter, std::memory_order_acquire,
                                   std::memory_order_relaxed)) {
      return true;
    }
  }
  return false;
}

bool RwTryLockShared(internal::FutexWord& word, const char* name) {
  uint32_t w = word.load(std::memory_order_relaxed);
  while ((w & (kRwWriter | kRwWritersWaiting)) == 0) {
    RINGLOCK_CHECK_IF((w & kRwReaderMask) == kRwReaderMask, name,
                      "more than 65535 readers hold one shared mutex");
    if (word.compare_exchange_weak(w, w + kRwReaderOne, std::memory_order_acquire,
                                   std::memory_order_relaxed)) {
      return true;
    }
  }
  return false;
}

bool SharedMutexWriterAcquisition::Arm(uint32_t* expected) {
  uint32_t w = word_.load(std::memory_order_relaxed);
  for (;;) {
    if (RwFree(w)) {
      // WW stays: other writers may sleep (a woken writer cannot tell).
      if (word_.compare_exchange_weak(w, w | kRwWriter, std::memory_order_acquire,
                                      std::memory_order_relaxed)) {
        TsanMutexAcquired(tsan_, timed_ ? kTsanTryLock : 0);
        return true;
      }
      continue;
    }
    if (w & kRwWritersWaiting) {
      *expected = w;  // INV3: held, WW set
      return false;
    }
    if (word_.compare_exchange_weak(w, w | kRwWritersWaiting, std::memory_order_relaxed)) {
      *expected = w | kRwWritersWaiting;
      return false;
    }
  }
}

void SharedMutexWriterAcquisition::Leave() {
  // A wake may have been spent on us: if the lock is free, wake another
  // writer (or, finding none, hand off to the readers) in our place (INV4).
  RwWakeIfFree(word_, word_.load(std::memory_order_relaxed), scope_);
}

bool SharedMutexReaderAcquisition::Arm(uint32_t* expected) {
  uint32_t w = word_.load(std::memory_order_relaxed);
  bool resent = false;
  for (;;) {
    if (!resent && RwFree(w) && (w & kRwWritersWaiting)) {
      // Free, yet writers may wait: resend the writer wake before waiting
      // (the last one may have been spent on a stale ring fallback wait).
      resent = true;
      RwWakeIfFree(word_, w, scope_);
      w = word_.load(std::memory_order_relaxed);
      continue;
    }
    if ((w & (kRwWriter | kRwWritersWaiting)) == 0) {
      RINGLOCK_CHECK_IF((w & kRwReaderMask) == kRwReaderMask, name_,
                        "more than 65535 readers hold one shared mutex");
      if (word_.compare_exchange_weak(w, w + kRwReaderOne, std::memory_order_acquire,
                                      std::memory_order_relaxed)) {
        TsanMutexAcquired(tsan_, kTsanReadLock | (timed_ ? kTsanTryLock : 0));
        return true;
      }
      continue;
    }
    if ((w & kRwWaiterMask) == kRwWaiterMask) {
      // One more would wrap Nr into R: refuse it, in every build.
      if (refuse_when_full_) {
        refused_ = true;
        return false;
      }
      RINGLOCK_CHECK_IF(true, name_, "more than 8191 readers wait on one shared mutex");
    }
    if (word_.compare_exchange_weak(w, w + kRwWaiterOne, std::memory_order_relaxed)) {
      phase_ = w & kRwPhase;
      *expected = w + kRwWaiterOne;
      return false;
    }
  }
}

bool SharedMutexReaderAcquisition::OnWake(uint32_t* expected) {
  uint32_t w = word_.load(std::memory_order_acquire);
  if ((w & kRwPhase) == phase_ && RwFree(w) && (w & kRwWritersWaiting)) {
    // Free with writers waiting: a writer's wake may have landed on us (the
    // ring fallback ignores bitsets). Send one in its place.
    RwWakeIfFree(word_, w, scope_);
    w = word_.load(std::memory_order_acquire);
  }
  if ((w & kRwPhase) != phase_) {
    // Handed the lock: the writer's unlock (or a writer wake that found
    // nobody) made us a holder (INV5).
    TsanMutexAcquired(tsan_, kTsanReadLock | (timed_ ? kTsanTryLock : 0));
    return true;
  }
  *expected = w;  // INV1: X or WW is set while we are counted in Nr
  return false;
}

void SharedMutexReaderAcquisition::Leave() {
  uint32_t w = word_.load(std::memory_order_relaxed);
  for (;;) {
    if ((w & kRwPhase) != phase_) {
      // Handed the lock after all: release it as unlock_shared() would.
      w = word_.fetch_sub(kRwReaderOne, std::memory_order_release) - kRwReaderOne;
      RwAfterUnlockShared(word_, w, scope_);
      return;
    }
    if (word_.compare_exchange_weak(w, w - kRwWaiterOne, std::memory_order_relaxed)) return;
  }
}

static_assert(Acquisition<SharedMutexWriterAcquisition>);
static_assert(Acquisition<SharedMutexReaderAcquisition>);

}  // namespace internal

// Both yield before they register (YieldBeforeSleep): the readers a writer
// waits for, or the writer readers wait for, often want this very CPU.
// A writer that yields has not set WW yet, so readers keep coming meanwhile;
// it registers (and so bars them) after kYieldsBeforeSleep yields.
template <FutexScope kScope>
bool BasicSharedMutex<kScope>::lock_until(Deadline deadline, bool timed) {
  if (internal::YieldBeforeSleep([this] { return internal::RwTryLock(word_); })) {
    internal::TsanMutexAcquired(this, timed ? internal::kTsanTryLock : 0);
    return true;
  }
  internal::SharedMutexWriterAcquisition acq = WriterAcq(timed);
  return internal::BlockOn(acq, deadline);
}

template <FutexScope kScope>
bool BasicSharedMutex<kScope>::lock_shared_until(Deadline deadline, bool timed) {
  if (internal::YieldBeforeSleep([this] { return internal::RwTryLockShared(word_, Name()); })) {
    internal::TsanMutexAcquired(this, internal::kTsanReadLock | (timed ? internal::kTsanTryLock : 0));
    return true;
  }
  internal::SharedMutexReaderAcquisition acq = ReaderAcq(timed, false);
  return internal::BlockOn(acq, deadline);
}

template class BasicSharedMutex<FutexScope::kPrivate>;
template class BasicSharedMutex<FutexScope::kShared>;

}  // namespace ringlock
