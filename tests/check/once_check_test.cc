// The Once protocol (locks/once.h, once.cc), explored over every
// interleaving of small configurations by the model checker
// (locks/check/README.md): three callers, the first one's callable throws,
// the third a coroutine or a ring-blocking thread. At most one callable runs
// at a time, exactly one returns, a throw reaches its caller and a waiter
// runs next, nobody returns before a callable returned, nobody is left
// asleep; every word is a row of the state table and the word ends at D.
#include <cstdint>
#include <string>

#include "gtest/gtest.h"
#include "locks/check/check_gtest.h"
#include "tests/check/configs.h"

namespace ringlock::testing {
namespace {

int64_t CountOf(const check::Result& r, const char* what) {
  auto it = r.counts.find(what);
  return it == r.counts.end() ? 0 : it->second;
}

TEST(OnceCheck, ThreeCallersOneThrowsWithACoroutine) {
  const check::Result r = check::ExploreAndPrint(
      OnceThreeCallersOneThrows().ToConfig("once: throwing caller, caller, coroutine"),
      ProtocolOptions(2));
  EXPECT_TRUE(r.passed) << r.Report();
  EXPECT_GT(CountOf(r, "threw"), 0);
  EXPECT_GT(CountOf(r, "a caller ran after a throw"), 0);
  EXPECT_GT(CountOf(r, "late_dispatch"), 0);
}

TEST(OnceCheck, ThreeCallersOneThrowsWithARingBlockingCaller) {
  const check::Result r = check::ExploreAndPrint(
      OnceThreeCallersOneThrows(OnceRingBlockingCaller)
          .ToConfig("once: throwing caller, caller, ring-blocking"),
      ProtocolOptions(2));
  EXPECT_TRUE(r.passed) << r.Report();
  EXPECT_GT(CountOf(r, "threw"), 0);
}

}  // namespace
}  // namespace ringlock::testing
