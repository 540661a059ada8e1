#include "locks/internal/wait_backend.h"

#include "locks/ring_wait_backend.h"
#include "uring/event_loop.h"

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
  if (uring::EventLoop* loop = uring::EventLoop::Current()) {
    thread_local RingWaitBackend ring(*loop);
    ring.set_loop(*loop);
    return ring;
  }
  return FutexWaitBackend::Get();
}

}  // namespace ringlock::internal
