// Runs each lock test once per way a blocked thread can wait, so every
// suite is written once and exercised against every backend.
#ifndef RINGLOCK_TESTS_LOCKS_WAITER_MODES_H_
#define RINGLOCK_TESTS_LOCKS_WAITER_MODES_H_

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "uring/event_loop.h"

namespace ringlock::testing {

enum class WaiterMode {
  kFutex,         // blocking calls sleep in futex(2)
  kRing,          // the thread runs an EventLoop: ring-blocking, native futex SQEs
  kRingFallback,  // ring-blocking through the loop's futex_waitv(2) helper thread
  kRingEmulated,  // ring-blocking on a loop that emulates io_uring (no io_uring)
};

inline std::string WaiterModeName(const ::testing::TestParamInfo<WaiterMode>& info) {
  switch (info.param) {
    case WaiterMode::kFutex:
      return "futex";
    case WaiterMode::kRing:
      return "ring";
    case WaiterMode::kRingFallback:
      return "ring_fallback";
    case WaiterMode::kRingEmulated:
      return "ring_emulated";
  }
  return "unknown";
}

inline std::vector<WaiterMode> AllWaiterModes() {
  return {WaiterMode::kFutex, WaiterMode::kRing, WaiterMode::kRingFallback,
          WaiterMode::kRingEmulated};
}

// The event loop configurations every loop-based suite runs against.
enum class LoopKind {
  kNative,    // io_uring with native futex SQEs (the fallback where the kernel lacks them)
  kFallback,  // io_uring, futex waits through the futex_waitv(2) helper thread
  kEmulated,  // no io_uring: the userspace emulation (as when io_uring is denied)
};

inline uring::EventLoopOptions LoopOptions(LoopKind kind) {
  uring::EventLoopOptions options;
  if (kind != LoopKind::kNative) options.mode = uring::FutexMode::kFallback;
  if (kind == LoopKind::kEmulated) options.ring = uring::RingMode::kEmulated;
  return options;
}

// Creates the calling thread's EventLoop of `kind`; a test failure (and
// nullptr) if it cannot.
inline std::unique_ptr<uring::EventLoop> MakeLoop(LoopKind kind) {
  auto loop = uring::EventLoop::Create(LoopOptions(kind));
  if (!loop.ok()) {
    ADD_FAILURE() << "EventLoop::Create: " << loop.status();
    return nullptr;
  }
  return *std::move(loop);
}

// Creates the calling thread's EventLoop for a ring mode (nullptr for kFutex).
inline std::unique_ptr<uring::EventLoop> MakeLoopFor(WaiterMode mode) {
  switch (mode) {
    case WaiterMode::kFutex:
      return nullptr;
    case WaiterMode::kRing:
      return MakeLoop(LoopKind::kNative);
    case WaiterMode::kRingFallback:
      return MakeLoop(LoopKind::kFallback);
    case WaiterMode::kRingEmulated:
      return MakeLoop(LoopKind::kEmulated);
  }
  return nullptr;
}

// Suites that run once per loop kind.
class LoopModeTest : public ::testing::TestWithParam<LoopKind> {
 protected:
  std::unique_ptr<uring::EventLoop> MakeLoop() { return testing::MakeLoop(GetParam()); }
};

inline std::vector<LoopKind> AllLoopModes() {
  return {LoopKind::kNative, LoopKind::kFallback, LoopKind::kEmulated};
}

inline std::string LoopModeName(const ::testing::TestParamInfo<LoopKind>& info) {
  switch (info.param) {
    case LoopKind::kNative:
      return "native";
    case LoopKind::kFallback:
      return "fallback";
    case LoopKind::kEmulated:
      return "emulated";
  }
  return "unknown";
}

// A thread whose blocking lock calls wait the way `mode` says.
inline std::thread StartThread(WaiterMode mode, std::function<void()> body) {
  return std::thread([mode, body = std::move(body)] {
    std::unique_ptr<uring::EventLoop> loop = MakeLoopFor(mode);
    body();
  });
}

class WaiterModeTest : public ::testing::TestWithParam<WaiterMode> {
 protected:
  std::thread Start(std::function<void()> body) { return StartThread(GetParam(), std::move(body)); }
};

}  // namespace ringlock::testing

#endif  // RINGLOCK_TESTS_LOCKS_WAITER_MODES_H_
