// The model side of locks/internal/word.h: under RINGLOCK_MODEL_CHECK the
// core's protocol sources reach the kernel only through these functions,
// which are the checker's futex model and virtual clock.
#include <vector>

#include "locks/check/model_futex.h"
#include "locks/check/scheduler.h"
#include "locks/internal/word.h"

#ifndef RINGLOCK_MODEL_CHECK
#error "model_seam.cc is built only with RINGLOCK_MODEL_CHECK (//locks/check:model_locks)"
#endif

namespace ringlock::internal {
namespace {
int64_t ModelDeadline(Deadline d) {
  return d.is_never() ? check::kNoDeadline : d.monotonic_nanos();
}
}  // namespace

FutexWaitResult FutexWait(const FutexWord& word, uint32_t expected, Deadline deadline,
                          FutexScope, uint32_t bitset) {
  return check::WaitUntil(word, expected, bitset, ModelDeadline(deadline));
}

futex::WaitvResult FutexWaitAny(const WaitEntry* entries, int count, Deadline deadline) {
  std::vector<check::WaitEntry> v;
  for (int i = 0; i < count; ++i) v.push_back({entries[i].word, entries[i].expected});
  const check::WaitAnyResult r = check::WaitAnyUntil(v.data(), count, ModelDeadline(deadline));
  return futex::WaitvResult{r.result, r.index};
}

int FutexWake(const FutexWord& word, int count, FutexScope, uint32_t bitset) {
  return check::Wake(word, count, bitset);
}

int64_t ProtocolNanos() { return check::NowNanos(); }

bool DeadlinePassed(Deadline deadline) {
  return !deadline.is_never() && check::NowNanos() >= deadline.monotonic_nanos();
}

}  // namespace ringlock::internal
