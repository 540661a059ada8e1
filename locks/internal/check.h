// Misuse checks. Debug builds (no NDEBUG) abort with a message naming the
// primitive and the misuse; release builds compile them out. The checks never
// add state, so a type's layout and ABI do not depend on NDEBUG.
//
// RINGLOCK_CHECK_IF is the same check in every build, for limits whose
// violation would corrupt the word (a field that would wrap): it costs a
// compare on a slow path only.
#ifndef RINGLOCK_LOCKS_INTERNAL_CHECK_H_
#define RINGLOCK_LOCKS_INTERNAL_CHECK_H_

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"

namespace ringlock::internal {

[[noreturn]] ABSL_ATTRIBUTE_NOINLINE void Misuse(const char* primitive, const char* what);

#ifdef NDEBUG
inline constexpr bool kDebugChecks = false;
#else
inline constexpr bool kDebugChecks = true;
#endif

}  // namespace ringlock::internal

// RINGLOCK_MISUSE_IF(cond, "ringlock::Mutex", "unlock() of a mutex that is not locked")
#define RINGLOCK_MISUSE_IF(cond, primitive, what)                                     \
  do {                                                                                \
    if constexpr (::ringlock::internal::kDebugChecks) {                               \
      if (ABSL_PREDICT_FALSE(cond)) ::ringlock::internal::Misuse(primitive, what);   \
    }                                                                                 \
  } while (0)

// RINGLOCK_CHECK_IF(full, "ringlock::Semaphore", "more than 65535 waiters")
#define RINGLOCK_CHECK_IF(cond, primitive, what)                                   \
  do {                                                                             \
    if (ABSL_PREDICT_FALSE(cond)) ::ringlock::internal::Misuse(primitive, what);   \
  } while (0)

#endif  // RINGLOCK_LOCKS_INTERNAL_CHECK_H_
