// Runs each lock test once per way a blocked thread can wait, so every
// suite is written once and exercised against every backend.
#ifndef RINGLOCK_TESTS_LOCKS_WAITER_MODES_H_
#define RINGLOCK_TESTS_LOCKS_WAITER_MODES_H_

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace ringlock::testing {

enum class WaiterMode {
  kFutex,  // blocking calls sleep in futex(2)
};

inline std::string WaiterModeName(const ::testing::TestParamInfo<WaiterMode>& info) {
  switch (info.param) {
    case WaiterMode::kFutex:
      return "futex";
  }
  return "unknown";
}

inline std::vector<WaiterMode> AllWaiterModes() { return {WaiterMode::kFutex}; }

// A thread whose blocking lock calls wait the way `mode` says.
inline std::thread StartThread(WaiterMode mode, std::function<void()> body) {
  return std::thread([mode, body = std::move(body)] {
    switch (mode) {
      case WaiterMode::kFutex:
        body();
        return;
    }
  });
}

class WaiterModeTest : public ::testing::TestWithParam<WaiterMode> {
 protected:
  std::thread Start(std::function<void()> body) { return StartThread(GetParam(), std::move(body)); }
};

}  // namespace ringlock::testing

#endif  // RINGLOCK_TESTS_LOCKS_WAITER_MODES_H_
