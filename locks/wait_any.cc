#include "locks/wait_any.h"

#include "locks/internal/block_on.h"
#include "locks/internal/check.h"

namespace ringlock {
namespace internal {

WaitAnyAcquisition::WaitAnyAcquisition(absl::Span<const Waitable> waitables)
    : waitables_(waitables.begin(), waitables.end()), entries_(waitables.size()) {
  RINGLOCK_MISUSE_IF(waitables.empty() || waitables.size() > kWaitAnyMax, "ringlock::WaitAny",
                     "needs between 1 and 128 primitives");
}

void WaitAnyAcquisition::LeaveAllBut(int armed, int keep) {
  for (int j = 0; j < armed; ++j) {
    if (j != keep) std::visit([](auto& a) { a.Leave(); }, waitables_[j]);
  }
}

bool WaitAnyAcquisition::Arm(uint32_t*) {
  const int n = static_cast<int>(waitables_.size());
  for (int i = 0; i < n; ++i) {
    uint32_t expected;
    if (std::visit([&](auto& a) { return a.Arm(&expected); }, waitables_[i])) {
      LeaveAllBut(i, i);
      taken_ = i;
      return true;
    }
    entries_[i] = std::visit(
        [&](auto& a) { return internal::WaitEntry{&a.word(), expected, a.scope()}; },
        waitables_[i]);
  }
  return false;
}

bool WaitAnyAcquisition::OnWake(uint32_t*) {
  const int n = static_cast<int>(waitables_.size());
  for (int i = 0; i < n; ++i) {
    uint32_t expected;
    if (std::visit([&](auto& a) { return a.OnWake(&expected); }, waitables_[i])) {
      LeaveAllBut(n, i);
      taken_ = i;
      return true;
    }
    entries_[i].expected = expected;
  }
  return false;
}

void WaitAnyAcquisition::Leave() { LeaveAllBut(static_cast<int>(waitables_.size()), -1); }

static_assert(Acquisition<WaitAnyAcquisition> && ManyWordAcquisition<WaitAnyAcquisition>);

}  // namespace internal

int WaitAny(absl::Span<const Waitable> waitables, Deadline deadline) {
  internal::WaitAnyAcquisition acq(waitables);
  return internal::BlockOn(acq, deadline) ? acq.taken() : -1;
}

}  // namespace ringlock
