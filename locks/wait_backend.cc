#include "locks/internal/wait_backend.h"

#include <atomic>

namespace ringlock::internal {
namespace {
thread_local WaitBackend* t_override = nullptr;
std::atomic<ThreadBackendChooser> g_chooser{nullptr};
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

void InstallThreadBackendChooser(ThreadBackendChooser chooser) {
  g_chooser.store(chooser, std::memory_order_release);
}

WaitBackend& CurrentWaitBackend() {
  if (t_override != nullptr) return *t_override;
  if (ThreadBackendChooser chooser = g_chooser.load(std::memory_order_acquire)) {
    if (WaitBackend* backend = chooser()) return *backend;
  }
  return FutexWaitBackend::Get();
}

}  // namespace ringlock::internal
