// Word decoders for the model-checked configurations: every reachable word
// value must match a row of its primitive's state table (the header's top
// comment). Each returns "" for a valid word, else what is wrong.
#ifndef RINGLOCK_TESTS_CHECK_PROTOCOL_CHECKS_H_
#define RINGLOCK_TESTS_CHECK_PROTOCOL_CHECKS_H_

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "locks/mutex.h"

namespace ringlock::testing {

// The preemption bound a configuration runs with: `dflt`, or
// RINGLOCK_CHECK_BOUND from the environment (deeper local runs).
inline int PreemptionBound(int dflt) {
  const char* env = std::getenv("RINGLOCK_CHECK_BOUND");
  return env != nullptr ? std::atoi(env) : dflt;
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

}  // namespace ringlock::testing

#endif  // RINGLOCK_TESTS_CHECK_PROTOCOL_CHECKS_H_
