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
