#include "locks/mutex.h"

#include "locks/internal/block_on.h"
#include "locks/internal/mutex_cohort.h"
#include "locks/internal/spin.h"
#include "locks/internal/word.h"
#include "locks/internal/wait_backend.h"

namespace ringlock {
namespace {

// The spin's budget, in pauses (~40 ns each on the machine in bench/README.md):
// about 4 us, against ~40 us for a futex sleep and wake there. The spinner
// looks at the word after 1, 2, 4, 8 and then every 16 pauses (exponential
// backoff, as oneTBB's spin): reading the line every pause slows the holder's
// own RMWs on it. kMutexSpinLimit is 1 in model-checked builds (one look: the
// barging CAS is what the checker needs to explore).
constexpr int kSpinPauses = internal::kMutexSpinLimit;
constexpr int kMaxPausesPerLook = 16;

// That schedule, for lock()'s spin and for a woken waiter's.
class SpinBackoff {
 public:
  explicit SpinBackoff(int budget) : budget_(budget) {}
  bool exhausted() const { return spent_ >= budget_; }
  bool paused() const { return spent_ > 0; }
  // Waits until the next look.
  void Pause() {
    for (int i = 0; i < pauses_; ++i) internal::CpuRelax();
    spent_ += pauses_;
    if (pauses_ < kMaxPausesPerLook) pauses_ *= 2;
  }

 private:
  const int budget_;
  int spent_ = 0;
  int pauses_ = 1;
};

}  // namespace

template <FutexScope kScope>
bool BasicMutex<kScope>::SpinToLock(SpinWhile rule) {
  RINGLOCK_MUTEX_STAT(spins);
  const uint32_t stop_at = rule == SpinWhile::kNoneStarving ? kStarvingMask : kWaiterMask;
  for (SpinBackoff backoff(kSpinPauses); !backoff.exhausted(); backoff.Pause()) {
    uint32_t w = word_.load(std::memory_order_relaxed);
    if (w & stop_at) {  // INV4: the lock is the starving waiters' (or: join the parked)
      RINGLOCK_MUTEX_STAT(spin_stopped);
      return false;
    }
    // The newcomer's barge (the state table's "0,w,0,n>0" row): parked
    // waiters keep their registration; W and N are left as they are.
    if ((w & kLocked) == 0 &&
        word_.compare_exchange_weak(w, w | kLocked, std::memory_order_acquire,
                                    std::memory_order_relaxed)) {
      RINGLOCK_MUTEX_STAT(spin_wins);
      if (w & kWaiterMask) RINGLOCK_MUTEX_STAT(spin_wins_over_parked);
      return true;
    }
  }
  return false;
}

template <FutexScope kScope>
void BasicMutex<kScope>::LockSlow(SpinWhile rule) {
  if (SpinToLock(rule)) {
    internal::TsanMutexAcquired(this);
    return;
  }
  internal::MutexAcquisition<kScope> acq(*this);
  if (rule == SpinWhile::kNoneStarving) acq.SpinOnWake();
  internal::BlockOn(acq, Deadline::Never());
}

template <FutexScope kScope>
bool BasicMutex<kScope>::try_lock_until_deadline(Deadline deadline) {
  if (try_lock()) return true;
  internal::MutexAcquisition<kScope> acq(*this, /*timed=*/true);
  return internal::BlockOn(acq, deadline);
}

template <FutexScope kScope>
void BasicMutex<kScope>::UnlockSlow() {
  internal::WakeOneIfUnattended<kScope>(word_, word_.load(std::memory_order_relaxed));
}

template <FutexScope kScope>
void BasicMutex<kScope>::ReleaseToStarving() {
  if (word_.fetch_sub(kLocked, std::memory_order_release) != kLocked) UnlockSlow();
}

// The cohort's handoff rule (internal/mutex_cohort.h): on while nobody
// waits on the word, for one slice once someone does, never while a waiter starves (INV4's bound). The clock is
// read every kLoopHandoffsPerClockRead handoffs (1 in model-checked
// builds): a read costs more than a handoff (clock_gettime was a quarter of
// a contended loop's time).

template <FutexScope kScope>
static bool HandOnWithinLoop(internal::MutexCohort& c, uint32_t w) {
  using M = BasicMutex<kScope>;
  if (w & M::kStarvingMask) return false;
  // Anyone registered, the cohort's own representative too (handing on
  // without limit past it would starve it), makes this run a slice.
  if ((w & M::kWaiterMask) == 0) return true;
  if (!c.slice_started) {
    c.slice_started = true;
    c.slice_start_ns = internal::ProtocolNanos();
    c.slice_handoffs = 0;
    return true;
  }
  if (++c.slice_handoffs % internal::kLoopHandoffsPerClockRead != 0) return true;
  return internal::ProtocolNanos() - c.slice_start_ns <
         std::chrono::nanoseconds(M::kLoopSlice).count();
}

template <FutexScope kScope>
void BasicMutex<kScope>::UnlockFromLoop(const void* loop, internal::MutexCohort* cohort)
    ABSL_NO_THREAD_SAFETY_ANALYSIS {
  RINGLOCK_MISUSE_IF(cohort != nullptr && internal::FindCohort(this, loop) != cohort, Name(),
                     "AsyncMutexLock unlocked on another thread than its loop's");
  // A holder that took the lock on the fast path has a cohort only if one
  // of its loop's coroutines registered on the word since (N > 0).
  const uint32_t w = word_.load(std::memory_order_relaxed);
  internal::MutexCohort* c = cohort;
  if (c == nullptr && (w & kWaiterMask) != 0) c = internal::FindCohort(this, loop);
  if (c != nullptr) {
    if (c->head != nullptr) {
      if (HandOnWithinLoop<kScope>(*c, w)) {
        RINGLOCK_MUTEX_STAT(loop_handoffs);
        internal::HandOff(c, c->Pop());  // the lock stays held: no release, no wake
        return;
      }
      RINGLOCK_MUTEX_STAT(loop_slices_ended);
    }
    // A new representative registers while we still hold the lock, so the
    // unlock below wakes the longest sleeper and the loop waits its turn.
    internal::EndOwnership(c);
  }
  unlock();
}

template class BasicMutex<FutexScope::kPrivate>;
template class BasicMutex<FutexScope::kShared>;

namespace internal {

template <FutexScope kScope>
void WakeOneIfUnattended(internal::FutexWord& word, uint32_t w) {
  using M = BasicMutex<kScope>;
  for (;;) {
    // Held: the holder's unlock will come here. Nobody waits, or a waiter is
    // already awake (W): nothing to do.
    if ((w & (M::kLocked | M::kWaking)) != 0 || (w & M::kWaiterMask) == 0) return;
    if (word.compare_exchange_weak(w, w | M::kWaking, std::memory_order_relaxed)) {
      RINGLOCK_MUTEX_STAT(wakes);
      // If this wake finds nobody asleep, W stays: every registered waiter
      // is then on its way to sleep on a value without W (INV5), so its
      // sleep fails and it runs OnWake, which clears W.
      WakeWord(word, 1, kScope, (w & M::kStarvingMask) ? M::kStarvingBit : M::kAnyBit);
      return;
    }
  }
}

template <FutexScope kScope>
bool MutexAcquisition<kScope>::Arm(uint32_t* expected) {
  internal::FutexWord& word = mu_.word_;
  uint32_t w = word.load(std::memory_order_relaxed);
  for (;;) {
    if ((w & (M::kLocked | M::kStarvingMask)) == 0) {
      if (word.compare_exchange_weak(w, w | M::kLocked, std::memory_order_acquire,
                                     std::memory_order_relaxed)) {
        TsanMutexAcquired(&mu_, tsan_flags_);
        return true;
      }
      continue;
    }
    if ((w & M::kWaiterMask) == M::kWaiterMask) {
      // One more would wrap N to 0 (a lost wakeup): refuse it, in every build.
      if (refuse_when_full_) {
        refused_ = true;
        return false;
      }
      RINGLOCK_CHECK_IF(true, M::Name(), "more than 4194303 (2^22-1) waiters on one mutex");
    }
    // INV5: never sleep on a value with W set. A W set by a wake that found
    // nobody asleep stays set until a waiter clears it; sleeping on it would
    // let the word come back to exactly that value (a newcomer barges: ABA)
    // while the next unlock, seeing W, wakes nobody: a lost wakeup. Clearing
    // W here costs at most one extra wake.
    const uint32_t registered = (w + M::kWaiterOne) & ~M::kWaking;
    if (word.compare_exchange_weak(w, registered, std::memory_order_relaxed)) {
      RINGLOCK_MUTEX_STAT(registers);
      registered_at_ns_ = ProtocolNanos();
      *expected = registered;
      return false;
    }
  }
}

template <FutexScope kScope>
bool MutexAcquisition<kScope>::OnWake(uint32_t* expected) {
  RINGLOCK_MUTEX_STAT(on_wakes);
  internal::FutexWord& word = mu_.word_;
  const bool waited_long =
      !starving_ && ProtocolNanos() - registered_at_ns_ >=
                        std::chrono::nanoseconds(M::kStarvationAfter).count();
  uint32_t w = word.load(std::memory_order_relaxed);
  SpinBackoff backoff(spin_on_wake_ ? kSpinPauses : 0);
  for (;;) {
    const bool starving_room = (w & M::kStarvingMask) != M::kStarvingMask;
    const bool become_starving = waited_long && starving_room;
    // INV4: while anyone starves, only starving waiters take the lock.
    if ((w & M::kLocked) == 0 &&
        (starving_ || become_starving || (w & M::kStarvingMask) == 0)) {
      uint32_t taken = (w | M::kLocked) - M::kWaiterOne;
      if (starving_) taken -= M::kStarvingOne;
      taken &= ~M::kWaking;
      if (word.compare_exchange_weak(w, taken, std::memory_order_acquire,
                                     std::memory_order_relaxed)) {
        starving_ = false;
        if (backoff.paused()) RINGLOCK_MUTEX_STAT(wake_spin_wins);
        TsanMutexAcquired(&mu_, tsan_flags_);
        return true;
      }
      continue;
    }
    if ((w & M::kLocked) && !backoff.exhausted() && !become_starving &&
        (starving_ || (w & M::kStarvingMask) == 0)) {
      // Woken (so usually holding W: no unlock wakes another meanwhile):
      // look again for a while, as lock()'s spin does, rather than sleep at
      // once and leave the next unlock a wake to send. Only reads: to the
      // protocol this is a waiter that is slow to run its next CAS.
      backoff.Pause();
      w = word.load(std::memory_order_relaxed);
      continue;
    }
    uint32_t again = w + (become_starving ? M::kStarvingOne : 0);
    if (w & M::kLocked) {
      // The holder's unlock wakes someone: give up our claim to be awake.
      again &= ~M::kWaking;
      if (word.compare_exchange_weak(w, again, std::memory_order_relaxed)) {
        starving_ = starving_ || become_starving;
        *expected = again;
        RINGLOCK_MUTEX_STAT(reparks);
        return false;
      }
      continue;
    }
    // Free, but reserved for starving waiters and we are not one: make sure
    // one of them is awake (we may have been woken in its place), then sleep.
    again |= M::kWaking;
    if (!word.compare_exchange_weak(w, again, std::memory_order_relaxed)) continue;
    // The one sleep on a value with W (INV5's exception): this wake is ours.
    // It leaves at once, never held in a WakeBatch: what we sleep on depends
    // on whether it found a starving waiter asleep.
    if (FutexWake(word, 1, kScope, M::kStarvingBit) > 0) {
      *expected = again;
      RINGLOCK_MUTEX_STAT(reparks);
      return false;
    }
    // It found nobody: every starving waiter is awake, and each one takes
    // the lock or leaves (Leave wakes one in its place, INV2), so our W
    // claims nobody: clear it (INV3). Then sleep on the value we see if it
    // has no W, and still holds us off; else look again. Re-checking at
    // once instead, as a waiter did until the model checker showed it,
    // spins for as long as a starving waiter that is leaving is preempted
    // (bounded only by our own turn to starve, 1 ms).
    word.fetch_and(~M::kWaking, std::memory_order_relaxed);
    w = word.load(std::memory_order_relaxed);
    const bool held_off = (w & M::kLocked) != 0 || (w & M::kStarvingMask) != 0;
    const bool may_take = (w & M::kLocked) == 0 && waited_long &&
                          (w & M::kStarvingMask) != M::kStarvingMask;
    if ((w & M::kWaking) == 0 && held_off && !may_take) {
      *expected = w;
      RINGLOCK_MUTEX_STAT(reparks);
      return false;
    }
  }
}

template <FutexScope kScope>
void MutexAcquisition<kScope>::Leave() {
  internal::FutexWord& word = mu_.word_;
  uint32_t w = word.load(std::memory_order_relaxed);
  uint32_t left;
  do {
    left = w - M::kWaiterOne - (starving_ ? M::kStarvingOne : 0);
    left &= ~M::kWaking;  // we may hold the wake; INV2 is restored below
  } while (!word.compare_exchange_weak(w, left, std::memory_order_relaxed));
  starving_ = false;
  WakeOneIfUnattended<kScope>(word, left);
}

template class MutexAcquisition<FutexScope::kPrivate>;
template class MutexAcquisition<FutexScope::kShared>;

}  // namespace internal
}  // namespace ringlock
