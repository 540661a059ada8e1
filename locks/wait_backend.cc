#include "locks/internal/wait_backend.h"

namespace ringlock::internal {
namespace {
thread_local WaitBackend* t_override = nullptr;
}  // namespace

FutexWaitBackend& FutexWaitBackend::Get() {
  static FutexWaitBackend backend;
  return backend;
}

WaitBackend* SetThreadWaitBackend(WaitBackend* backend) {
  WaitBackend* old = t_override;
  t_override = backend;
  return old;
}

WaitBackend& CurrentWaitBackend() {
  if (t_override != nullptr) return *t_override;
  return FutexWaitBackend::Get();
}

}  // namespace ringlock::internal
