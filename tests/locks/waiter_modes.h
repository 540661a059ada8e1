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
};

inline std::string WaiterModeName(const ::testing::TestParamInfo<WaiterMode>& info) {
  switch (info.param) {
    case WaiterMode::kFutex:
      return "futex";
    case WaiterMode::kRing:
      return "ring";
    case WaiterMode::kRingFallback:
      return "ring_fallback";
  }
  return "unknown";
}

inline std::vector<WaiterMode> AllWaiterModes() {
  return {WaiterMode::kFutex, WaiterMode::kRing, WaiterMode::kRingFallback};
}

// Creates the calling thread's EventLoop with futex path `mode`; a test
// failure (and nullptr) if it cannot.
inline std::unique_ptr<uring::EventLoop> MakeLoop(uring::FutexMode mode) {
  uring::EventLoopOptions options;
  options.mode = mode;
  auto loop = uring::EventLoop::Create(options);
  if (!loop.ok()) {
    ADD_FAILURE() << "EventLoop::Create: " << loop.status();
    return nullptr;
  }
  return *std::move(loop);
}

// Creates the calling thread's EventLoop for a ring mode (nullptr for kFutex).
// Where the kernel lacks the futex opcodes, kRing uses the fallback too.
inline std::unique_ptr<uring::EventLoop> MakeLoopFor(WaiterMode mode) {
  if (mode == WaiterMode::kFutex) return nullptr;
  return MakeLoop(mode == WaiterMode::kRingFallback ? uring::FutexMode::kFallback
                                                    : uring::FutexMode::kAuto);
}

// Suites that run once per loop futex path: native (where the kernel has
// the opcodes) and the forced futex_waitv(2) fallback.
class LoopModeTest : public ::testing::TestWithParam<uring::FutexMode> {
 protected:
  std::unique_ptr<uring::EventLoop> MakeLoop() { return testing::MakeLoop(GetParam()); }
};

inline std::vector<uring::FutexMode> AllLoopModes() {
  return {uring::FutexMode::kAuto, uring::FutexMode::kFallback};
}

inline std::string LoopModeName(const ::testing::TestParamInfo<uring::FutexMode>& info) {
  return info.param == uring::FutexMode::kFallback ? "fallback" : "native";
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
