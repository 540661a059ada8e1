// WakeBatch sink for builds without io_uring: one futex(2) call per word.
#include "locks/internal/wake_sink.h"

namespace ringlock::internal {

void SendWakes(const WakeBatch::Entry* entries, int count) {
  for (int i = 0; i < count; ++i) {
    futex::Wake(*entries[i].word, entries[i].count, entries[i].scope, entries[i].bitset);
  }
}

}  // namespace ringlock::internal
