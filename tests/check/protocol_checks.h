// Word decoders for the model-checked configurations: every reachable word
// value must match a row of its primitive's state table (the header's top
// comment). Each returns "" for a valid word, else what is wrong.
#ifndef RINGLOCK_TESTS_CHECK_PROTOCOL_CHECKS_H_
#define RINGLOCK_TESTS_CHECK_PROTOCOL_CHECKS_H_

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "locks/barrier.h"
#include "locks/condvar.h"
#include "locks/event.h"
#include "locks/check/scheduler.h"
#include "locks/latch.h"
#include "locks/mutex.h"
#include "locks/once.h"
#include "locks/semaphore.h"
#include "locks/shared_mutex.h"

namespace ringlock::testing {

// The preemption bound a configuration runs with: `dflt`, or
// RINGLOCK_CHECK_BOUND from the environment (deeper local runs).
inline int PreemptionBound(int dflt) {
  const char* env = std::getenv("RINGLOCK_CHECK_BOUND");
  return env != nullptr ? std::atoi(env) : dflt;
}

// The options every protocol configuration starts from: preemption bound
// `default_bound` (RINGLOCK_CHECK_BOUND overrides), no spurious wakeups, no
// clock jumps (a timed waiter's timeout jumps the clock itself).
inline check::Options ProtocolOptions(int default_bound = 1) {
  check::Options o;
  o.preemption_bound = PreemptionBound(default_bound);
  o.max_spurious_wakeups = 0;
  o.max_clock_advances = 0;
  o.max_executions = 2'000'000;
  return o;
}

inline std::string Hex(uint32_t w) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%x", w);
  return buf;
}

// Mutex (L, W, S, N): INV1 (S <= N), N counts at most the configuration's
// waiters, and W = 1 only with a registered waiter to run OnWake (INV3).
inline std::string MutexStateRow(uint32_t w, uint32_t max_waiters) {
  const uint32_t s = (w & Mutex::kStarvingMask) / Mutex::kStarvingOne;
  const uint32_t n = (w & Mutex::kWaiterMask) / Mutex::kWaiterOne;
  const bool waking = (w & Mutex::kWaking) != 0;
  if (s > n) return "mutex word " + Hex(w) + ": S > N (INV1)";
  if (n > max_waiters) return "mutex word " + Hex(w) + ": N counts more waiters than exist";
  if (waking && n == 0) return "mutex word " + Hex(w) + ": W set with no registered waiter (INV3)";
  return "";
}

// Mutex INV5, checked on every sleep (futex wait or armed ring op) on a
// mutex word: nobody sleeps on a value with W set, except a non-starving
// waiter (bitset kAnyBit) that found the lock free but reserved for starving
// waiters (L=0, S>0) and sent that W's wake itself.
inline std::string MutexSleepRow(uint32_t expected, uint32_t bitset) {
  if ((expected & Mutex::kWaking) == 0) return "";
  const bool reserved =
      (expected & Mutex::kLocked) == 0 && (expected & Mutex::kStarvingMask) != 0;
  if (reserved && bitset == Mutex::kAnyBit) return "";
  return "a waiter sleeps on mutex word " + Hex(expected) + " with W set (INV5)";
}

// CondVar (W, Q): Q counts notify bumps, so it never exceeds the bumps the
// configuration can make (`max_seq`: two per notify_one, one per notify_all,
// two per forwarding Leave).
inline std::string CondVarStateRow(uint32_t w, uint32_t max_seq) {
  const uint32_t q = w / internal::kCondSeqOne;
  if (q > max_seq) return "condvar word " + Hex(w) + ": Q past the notifies that can bump it";
  return "";
}

// CondVar transitions, `prev` -> `cur` (any two consecutive values): Arm
// sets W and keeps Q; a notify bumps Q by one, keeping W (notify_one) or
// clearing it (notify_all, nobody-woken clear). W is never cleared without a
// Q bump (INV2), Q never moves back or by more than one.
inline std::string CondVarTransition(uint32_t prev, uint32_t cur) {
  if (prev == cur) return "";
  const uint32_t pq = prev / internal::kCondSeqOne, cq = cur / internal::kCondSeqOne;
  const bool pw = (prev & internal::kCondWaiters) != 0, cw = (cur & internal::kCondWaiters) != 0;
  if (pq == cq) {
    if (!pw && cw) return "";
    return "condvar word " + Hex(prev) + " -> " + Hex(cur) + ": W cleared without a Q bump (INV2)";
  }
  if (cq != pq + 1) return "condvar word " + Hex(prev) + " -> " + Hex(cur) + ": Q moved by more than one";
  if (!pw && cw) return "condvar word " + Hex(prev) + " -> " + Hex(cur) + ": Q bumped and W set at once";
  if (!pw) return "condvar word " + Hex(prev) + " -> " + Hex(cur) + ": Q bumped with W clear";
  return "";
}

// Semaphore (P, N): 0 <= P <= max, N counts at most the configuration's
// waiters.
inline std::string SemaphoreStateRow(uint32_t w, uint32_t max_permits, uint32_t max_waiters) {
  const uint32_t p = w & internal::kSemPermitMask;
  const uint32_t n = w / internal::kSemWaiterOne;
  if (p > max_permits) return "semaphore word " + Hex(w) + ": P past max()";
  if (n > max_waiters) return "semaphore word " + Hex(w) + ": N counts more waiters than exist";
  return "";
}

// Event (S, A, N): A is the constant mode bit, N counts at most the
// configuration's waiters.
inline std::string EventStateRow(uint32_t w, bool auto_reset, uint32_t max_waiters) {
  const bool a = (w & internal::kEventAuto) != 0;
  const uint32_t n = w / internal::kEventWaiterOne;
  if (a != auto_reset) return "event word " + Hex(w) + ": A (mode) changed";
  if (n > max_waiters) return "event word " + Hex(w) + ": N counts more waiters than exist";
  return "";
}

// Latch (C, W): C never exceeds the initial count; C=0 is the final word 0
// (the opener clears W with it: INV1, INV2).
inline std::string LatchStateRow(uint32_t w, uint32_t initial) {
  const uint32_t c = w & internal::kLatchCountMask;
  if (c > initial) return "latch word " + Hex(w) + ": C past the initial count";
  if (c == 0 && w != 0) return "latch word " + Hex(w) + ": open with W set (INV1)";
  return "";
}

// Latch transitions: C only decreases (INV2); W is set only while counting.
inline std::string LatchTransition(uint32_t prev, uint32_t cur) {
  if ((cur & internal::kLatchCountMask) > (prev & internal::kLatchCountMask))
    return "latch word " + Hex(prev) + " -> " + Hex(cur) + ": C went up (INV2)";
  return "";
}

// Once (R, W, D): one of the table's four rows, 0, R, R|W, D.
inline std::string OnceStateRow(uint32_t w) {
  using namespace internal;
  if (w == 0 || w == kOnceRunning || w == (kOnceRunning | kOnceWaiters) || w == kOnceDone)
    return "";
  return "once word " + Hex(w) + ": not a row of the state table";
}

// Barrier (W, P, R, E) with `participants` at the start: E never exceeds
// them and R never exceeds E plus the drops of the phase (INV2), so R <=
// participants.
inline std::string BarrierStateRow(uint32_t w, uint32_t participants) {
  const uint32_t r = internal::BarrierRemaining(w), e = internal::BarrierExpected(w);
  if (e > participants) return "barrier word " + Hex(w) + ": E past the participants";
  if (r > participants) return "barrier word " + Hex(w) + ": R past the participants";
  return "";
}

// Barrier transitions: the phase moves by one only, and only from R=0 (the
// completer's step) to R=E with W clear; within a phase R never goes up.
inline std::string BarrierTransition(uint32_t prev, uint32_t cur) {
  using namespace internal;
  const std::string t = "barrier word " + Hex(prev) + " -> " + Hex(cur);
  if (BarrierPhase(prev) == BarrierPhase(cur)) {
    if (BarrierRemaining(cur) > BarrierRemaining(prev)) return t + ": R went up within a phase";
    return "";
  }
  if (BarrierPhase(cur) != ((BarrierPhase(prev) + 1) & 7)) return t + ": P moved by more than one";
  if (BarrierRemaining(prev) != 0) return t + ": P moved before the last arrival";
  if ((cur & kBarrierWaiters) != 0 || BarrierRemaining(cur) != BarrierExpected(cur))
    return t + ": the new phase is not R=E, W=0";
  return "";
}

// SharedMutex (X, WW, P, Nr, R): a row of the state table. X excludes R
// (INV2), waiting readers need X or WW (INV1), and R and Nr count at most
// the configuration's threads.
inline std::string SharedMutexStateRow(uint32_t w, uint32_t max_threads) {
  using namespace internal;
  const uint32_t r = w / kRwReaderOne, nr = (w & kRwWaiterMask) / kRwWaiterOne;
  const std::string t = "shared mutex word " + Hex(w);
  if ((w & kRwWriter) && r > 0) return t + ": X with readers holding (INV2)";
  if (nr > 0 && (w & (kRwWriter | kRwWritersWaiting)) == 0)
    return t + ": readers wait on a lock they could take (INV1)";
  if (r > max_threads) return t + ": R counts more readers than exist";
  if (nr > max_threads) return t + ": Nr counts more waiters than exist";
  if (r + nr > max_threads) return t + ": R + Nr count more readers than exist";
  return "";
}

// SharedMutex sleeps: a writer (kRwWriterBit) only on a held word with WW
// set (INV3); a reader (kRwReaderBit) only while counted in Nr, on a word a
// reader cannot take (INV1, INV5).
inline std::string SharedMutexSleepRow(uint32_t expected, uint32_t bitset) {
  using namespace internal;
  const std::string t = "shared mutex word " + Hex(expected);
  if (bitset == kRwWriterBit) {
    if ((expected & kRwWritersWaiting) == 0) return "a writer sleeps on " + t + " with WW clear (INV3)";
    if (RwFree(expected)) return "a writer sleeps on free " + t + " (INV3)";
    return "";
  }
  if (bitset == kRwReaderBit) {
    if ((expected & kRwWaiterMask) == 0) return "a reader sleeps on " + t + " with Nr=0 (INV5)";
    if ((expected & (kRwWriter | kRwWritersWaiting)) == 0)
      return "a reader sleeps on " + t + ", which it could take (INV1)";
    return "";
  }
  return "a sleep on " + t + " with an unknown bitset " + Hex(bitset);
}

}  // namespace ringlock::testing

#endif  // RINGLOCK_TESTS_CHECK_PROTOCOL_CHECKS_H_
