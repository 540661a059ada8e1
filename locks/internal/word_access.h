// Writable access to a primitive's futex word, for the library's internals
// (WaitAny's Lock / Acquire / Take) and for tests that fake waiters or
// counts. Not for users: writing a primitive's word breaks its protocol. The
// public classes only expose the read-only word().
#ifndef RINGLOCK_LOCKS_INTERNAL_WORD_ACCESS_H_
#define RINGLOCK_LOCKS_INTERNAL_WORD_ACCESS_H_

#include <atomic>
#include <cstdint>
#include "locks/internal/word.h"

namespace ringlock::internal {

// Each primitive declares it a friend.
struct WordAccess {
  template <class Primitive>
  static internal::FutexWord& Of(Primitive& p) {
    return p.word_;
  }
};

}  // namespace ringlock::internal

#endif  // RINGLOCK_LOCKS_INTERNAL_WORD_ACCESS_H_
