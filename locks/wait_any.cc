#include "locks/wait_any.h"

#include "locks/internal/check.h"
#include "locks/internal/wait_backend.h"

namespace ringlock {
namespace {

// Deregisters every armed waitable except `keep`.
void LeaveAllBut(absl::Span<Waitable> ws, int armed, int keep) {
  for (int j = 0; j < armed; ++j) {
    if (j != keep) std::visit([](auto& a) { a.Leave(); }, ws[j]);
  }
}

}  // namespace

int WaitAny(absl::Span<Waitable> ws, Deadline deadline) {
  const int n = static_cast<int>(ws.size());
  RINGLOCK_MISUSE_IF(n == 0 || n > kWaitAnyMax, "ringlock::WaitAny",
                     "needs between 1 and 128 primitives");
  futex::WaitvEntry entries[kWaitAnyMax];
  for (int i = 0; i < n; ++i) {
    uint32_t expected;
    const bool taken = std::visit([&](auto& a) { return a.Arm(&expected); }, ws[i]);
    if (taken) {
      LeaveAllBut(ws, i, i);
      return i;
    }
    entries[i] = std::visit(
        [&](auto& a) { return futex::WaitvEntry{&a.word(), expected, a.scope()}; }, ws[i]);
  }
  internal::WaitBackend& backend = internal::CurrentWaitBackend();
  for (;;) {
    const futex::WaitvResult r = backend.WaitAny(entries, n, deadline);
    // Any return may mean any word moved: every registered waiter re-checks
    // (lowest index first), exactly as after a spurious single wake.
    for (int i = 0; i < n; ++i) {
      uint32_t expected;
      if (std::visit([&](auto& a) { return a.OnWake(&expected); }, ws[i])) {
        LeaveAllBut(ws, n, i);
        return i;
      }
      entries[i].expected = expected;
    }
    if (r.result == FutexWaitResult::kTimedOut || deadline.HasPassed()) {
      LeaveAllBut(ws, n, -1);
      return -1;
    }
  }
}

}  // namespace ringlock
