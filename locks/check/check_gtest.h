// GoogleTest helpers for model-checker configurations.
//
//   EXPECT_CHECK_PASSES(config);            // or (config, options)
//   Result r = ExploreAndPrint(config, opts);  EXPECT_FALSE(r.passed); ...
#ifndef RINGLOCK_LOCKS_CHECK_CHECK_GTEST_H_
#define RINGLOCK_LOCKS_CHECK_CHECK_GTEST_H_

#include <cstdio>

#include "gtest/gtest.h"
#include "locks/check/scheduler.h"

namespace ringlock::check {

// Explores and prints Result::Summary (and the report when it failed).
inline Result ExploreAndPrint(const Config& config, const Options& options = {}) {
  Result r = Explore(config, options);
  std::printf("%s\n", r.passed ? r.Summary().c_str() : r.Report().c_str());
  std::fflush(stdout);
  return r;
}

inline ::testing::AssertionResult CheckPasses(const Config& config, const Options& options = {}) {
  Result r = Explore(config, options);
  std::printf("%s\n", r.Summary().c_str());
  std::fflush(stdout);
  if (r.passed) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << r.Report();
}

}  // namespace ringlock::check

#define EXPECT_CHECK_PASSES(...) EXPECT_TRUE(::ringlock::check::CheckPasses(__VA_ARGS__))
#define ASSERT_CHECK_PASSES(...) ASSERT_TRUE(::ringlock::check::CheckPasses(__VA_ARGS__))

#endif  // RINGLOCK_LOCKS_CHECK_CHECK_GTEST_H_
