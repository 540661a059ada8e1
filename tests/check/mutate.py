#!/usr/bin/env python3
"""Writes a mutant of a core source: one fixed bug put back.

usage: mutate.py MUTATION SRC OUT

Each mutation replaces one exact snippet (or each of a list of them) that must
occur exactly once in SRC,
so a mutant can never silently turn into the original code when the source
changes: the build fails instead.
"""
import sys

MUTATIONS = {
    # INV5: registration keeps a W whose wake found nobody (ABA lost wakeup).
    "mutex_registration_keeps_w": (
        "const uint32_t registered = (w + M::kWaiterOne) & ~M::kWaking;",
        "const uint32_t registered = (w + M::kWaiterOne);",
    ),
    # A timed-out / cancelled waiter leaves without passing on a wake it consumed.
    "mutex_leave_drops_wake": (
        "  starving_ = false;\n  WakeOneIfUnattended<kScope>(word, left);\n}",
        "  starving_ = false;\n}",
    ),
    # The starving branch keeps a W its wake did not earn (INV3).
    "mutex_starving_wake_keeps_w": (
        "    word.fetch_and(~M::kWaking, std::memory_order_relaxed);\n    w = word.load(",
        "    w = word.load(",
    ),
    # A loop cohort's owner that stops handing on (it turns into a plain
    # std::unique_lock, or releases the word) leaves the queue without a
    # representative: the plain unlock wakes nobody for it, and the queued
    # coroutines wait forever.
    "mutex_cohort_end_of_ownership_strands_queue": (
        """  cohort->slice_started = false;
  GiveQueueARepresentative(cohort);
  DropCohortIfIdle(cohort);""",
        """  cohort->slice_started = false;
  DropCohortIfIdle(cohort);""",
    ),
    # notify_one whose wake found nobody clears W but does not wake a waiter
    # that fell asleep between that wake and the clear (it sleeps with W
    # gone, and the next notify skips it).
    "condvar_clear_w_strands_late_sleeper": (
        "                                   std::memory_order_release, std::memory_order_relaxed)) {\n    WakeWord(word, INT_MAX, kScope);",
        "                                   std::memory_order_release, std::memory_order_relaxed)) {\n    (void)0;",
    ),
    # The count_down that opens a latch wakes one sleeper instead of all.
    "latch_open_wakes_one": (
        "if (next == 0 && (w & kLatchWaiters) != 0) WakeWord(word, INT_MAX, scope);",
        "if (next == 0 && (w & kLatchWaiters) != 0) WakeWord(word, 1, scope);",
    ),
    # A callable that throws hands the Once back without waking the callers
    # asleep on it: none of them ever runs next.
    "once_throw_strands_waiters": (
        "if (word.exchange(0, std::memory_order_acq_rel) & kOnceWaiters) {",
        "if (word.exchange(0, std::memory_order_acq_rel) & 0) {",
    ),
    # The completer moves the phase (releasing its waiters) before running the
    # completion function.
    "barrier_releases_before_completion": [
        ("  run(completion);\n  uint32_t w", "  uint32_t w"),
        ("  if (w & kBarrierWaiters) WakeWord(word, INT_MAX, scope);\n}",
         "  if (w & kBarrierWaiters) WakeWord(word, INT_MAX, scope);\n  run(completion);\n}"),
    ],
    # advance_to releases the waiters it finds before publishing the
    # position: they return below their target (INV3), and a waiter that
    # links in between sleeps past it (INV2).
    "watermark_advance_wakes_before_publishing": (
        """  uint64_t cur = position_.load(std::memory_order_relaxed);
  do {
    if (pos <= cur) return 0;
  } while (!position_.compare_exchange_weak(cur, pos, std::memory_order_release,
                                            std::memory_order_relaxed));
  // Published first (INV2): a waiter that links after this lock hold saw it.
  WakeBatch batch;  // the wakes leave together, after the lock is released
  size_t released = 0;
  Lock();
  while (head_ != nullptr && head_->target <= pos) {
    if (WakeBatch::Pending() == WakeBatch::kCapacity) {
      // Full: send outside the lock, so released waiters can register again.
      Unlock();
      batch.Flush();
      Lock();
      continue;
    }
    WatermarkNode* n = head_;
    Unlink(n);
    n->word.store(kWatermarkReached, std::memory_order_release);
    // The node may go back to the pool before this wake leaves: pooled
    // memory stays the Watermark's, so a late wake is at worst spurious.
    internal::WakeWord(n->word, 1, FutexScope::kPrivate);
    ++released;
  }
  Unlock();
  return released;
}""",
        """  if (pos <= position_.load(std::memory_order_relaxed)) return 0;
  WakeBatch batch;
  size_t released = 0;
  Lock();
  while (head_ != nullptr && head_->target <= pos) {
    if (WakeBatch::Pending() == WakeBatch::kCapacity) {
      Unlock();
      batch.Flush();
      Lock();
      continue;
    }
    WatermarkNode* n = head_;
    Unlink(n);
    n->word.store(kWatermarkReached, std::memory_order_release);
    internal::WakeWord(n->word, 1, FutexScope::kPrivate);
    ++released;
  }
  Unlock();
  position_.store(pos, std::memory_order_release);
  return released;
}""",
    ),
    # Arm links its node without re-reading the position under the lock
    # (INV2): an advance between the first read and the link misses it.
    "watermark_arm_skips_recheck": (
        """  wm_->Lock();
  // Re-read under the lock (INV2).
  if (wm_->position() >= target_) {
    wm_->Unlock();
    return true;
  }
""",
        """  wm_->Lock();
""",
    ),
    # A writer's unlock hands the lock to every waiting reader but wakes only
    # one of them: the others sleep through their grant.
    "shared_mutex_handoff_wakes_one_reader": (
        "WakeWord(word, INT_MAX, scope, kRwReaderBit);",
        "WakeWord(word, 1, scope, kRwReaderBit);",
    ),
    # A reader that gives up (timeout, destroyed coroutine) after a hand-off
    # made it a holder does not release that hold.
    "shared_mutex_reader_leave_keeps_handoff": (
        """      w = word_.fetch_sub(kRwReaderOne, std::memory_order_release) - kRwReaderOne;
      RwAfterUnlockShared(word_, w, scope_);
      return;""",
        """      return;""",
    ),
    # A thread sleeps while wakes it queued in a WakeBatch are held back.
    "sleep_with_batch_held": (
        "  while (t_wakes.count > 0) FlushThreadWakes();",
        "  (void)0;",
    ),
}

def main():
    name, src, out = sys.argv[1:]
    edits = MUTATIONS[name]
    if isinstance(edits, tuple):
        edits = [edits]
    text = open(src).read()
    for old, new in edits:  # a list: several edits of one bug (e.g. two lines swapped)
        if text.count(old) != 1:
            sys.exit(f"mutate.py: {name}: expected exactly one {old!r} in {src}, found {text.count(old)}")
        text = text.replace(old, new)
    open(out, "w").write(text)

if __name__ == "__main__":
    main()
