#include <string>

#include "absl/status/status.h"
#include "locks/internal/async_acquire.h"

namespace ringlock::internal {

absl::Status AsyncWaitError(AsyncWaitStatus status, const char* primitive) {
  switch (status) {
    case AsyncWaitStatus::kAcquired:
      return absl::OkStatus();
    case AsyncWaitStatus::kTimedOut:
      return absl::DeadlineExceededError(std::string(primitive) + ": async wait deadline passed");
    case AsyncWaitStatus::kCancelled:
      return absl::CancelledError(std::string(primitive) +
                                  ": async wait cancelled (event loop destroyed)");
    case AsyncWaitStatus::kRefused:
      return absl::ResourceExhaustedError(
          std::string(primitive) + ": too many waiters (the word's waiter count is full)");
  }
  return absl::InternalError("unreachable");
}

}  // namespace ringlock::internal
