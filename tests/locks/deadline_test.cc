// Deadline conversions at the extremes of every duration and time_point type
// callers pass: they saturate (far future = Never, far past = passed) and
// never overflow. Run under --config=ubsan too: an overflow in <chrono> or a
// float-to-integer cast is a UBSan report, which fails the test.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <ratio>

#include "gtest/gtest.h"
#include "locks/futex.h"

namespace ringlock {
namespace {

using namespace std::chrono;

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kInt64Min = std::numeric_limits<int64_t>::min();
constexpr int64_t kFiftyYearsNs = int64_t{50} * 365 * 24 * 3600 * 1'000'000'000;

// Far future: Never, or more than 50 years away.
void ExpectFarFuture(Deadline d) {
  EXPECT_FALSE(d.HasPassed());
  if (!d.is_never()) {
    EXPECT_GT(d.monotonic_nanos() - Deadline::Now().monotonic_nanos(), kFiftyYearsNs);
  }
}

// Durations whose range reaches past 2262 (int64 nanoseconds) both ways.
template <class D>
class WideDurationTest : public ::testing::Test {};
using WideDurations =
    ::testing::Types<nanoseconds, microseconds, milliseconds, seconds, minutes, hours, days, weeks,
                     months, years, duration<int64_t, std::deci>, duration<long long, std::kilo>,
                     duration<double>, duration<double, std::nano>, duration<double, std::milli>,
                     duration<double, std::ratio<3600>>, duration<float>,
                     duration<float, std::nano>, duration<long double>,
                     duration<long double, std::micro>>;
TYPED_TEST_SUITE(WideDurationTest, WideDurations);

// Regression: hours(-3'000'000), seconds(-10^10), min() overflowed int64
// nanoseconds inside a chrono cast and wrapped into waits of ~233 years;
// max() of types coarser than nanoseconds overflowed too.
TYPED_TEST(WideDurationTest, TimeArgumentsSaturateInsteadOfOverflowing) {
  using D = TypeParam;
  EXPECT_TRUE(Deadline::AfterDuration(D::max()).is_never());
  EXPECT_TRUE(Deadline::AfterDuration(D::min()).HasPassed());
  EXPECT_TRUE(Deadline::AfterDuration(D::zero()).HasPassed());
  EXPECT_TRUE(Deadline::AfterDuration(D(-1)).HasPassed());
  ExpectFarFuture(Deadline::AfterDuration(D::max() / 2));
  EXPECT_TRUE(Deadline::AfterDuration(D::min() / 2).HasPassed());
  EXPECT_TRUE(Deadline::AfterDuration(D::min() + D(1)).HasPassed());
  EXPECT_EQ(internal::SaturatingNanos(D::max()), kInt64Max);
  EXPECT_EQ(internal::SaturatingNanos(D::min()), kInt64Min);
  EXPECT_EQ(internal::SaturatingNanos(D::zero()), 0);
  if constexpr (std::is_floating_point_v<typename D::rep>) {
    using Rep = typename D::rep;
    constexpr Rep kInf = std::numeric_limits<Rep>::infinity();
    constexpr Rep kNaN = std::numeric_limits<Rep>::quiet_NaN();
    EXPECT_TRUE(Deadline::AfterDuration(D(kInf)).is_never());
    EXPECT_TRUE(Deadline::AfterDuration(D(-kInf)).HasPassed());
    EXPECT_TRUE(Deadline::AfterDuration(D(kNaN)).HasPassed());
    EXPECT_TRUE(Deadline::AfterDuration(D(-kNaN)).HasPassed());
    EXPECT_TRUE(Deadline::AfterDuration(D(std::numeric_limits<Rep>::lowest())).HasPassed());
    EXPECT_FALSE(Deadline::AfterDuration(D(std::numeric_limits<Rep>::denorm_min())).is_never());
    EXPECT_EQ(internal::SaturatingNanos(D(kInf)), kInt64Max);
    EXPECT_EQ(internal::SaturatingNanos(D(-kInf)), kInt64Min);
    EXPECT_EQ(internal::SaturatingNanos(D(kNaN)), 0);
  }
  // Time points of both clocks in this duration.
  EXPECT_TRUE(Deadline::At(time_point<steady_clock, D>::max()).is_never());
  EXPECT_TRUE(Deadline::At(time_point<system_clock, D>::max()).is_never());
  EXPECT_TRUE(Deadline::At(time_point<steady_clock, D>::min()).HasPassed());
  EXPECT_TRUE(Deadline::At(time_point<system_clock, D>::min()).HasPassed());
  EXPECT_TRUE(Deadline::At(time_point<steady_clock, D>(D::zero())).HasPassed());
  EXPECT_TRUE(Deadline::At(time_point<system_clock, D>(D::zero())).HasPassed());
  EXPECT_TRUE(Deadline::At(time_point<steady_clock, D>(D(-1))).HasPassed());
  EXPECT_TRUE(Deadline::At(time_point<system_clock, D>(D(-1))).HasPassed());
  EXPECT_TRUE(Deadline::At(time_point<system_clock, D>(D::min() / 2)).HasPassed());
  ExpectFarFuture(Deadline::At(time_point<system_clock, D>(D::max() / 2)));
}

// Narrow reps: their extremes are finite, ordinary waits.
TEST(DeadlineTest, NarrowRepsConvertExactly) {
  using ms32 = duration<int32_t, std::milli>;
  const int64_t now = Deadline::Now().monotonic_nanos();
  const Deadline d = Deadline::AfterDuration(ms32::max());  // ~24.8 days
  EXPECT_FALSE(d.is_never());
  EXPECT_GE(d.monotonic_nanos() - now, int64_t{INT32_MAX} * 1'000'000);
  EXPECT_LT(d.monotonic_nanos() - now, int64_t{INT32_MAX} * 1'000'000 + 10'000'000'000);
  EXPECT_TRUE(Deadline::AfterDuration(ms32::min()).HasPassed());
  EXPECT_TRUE(Deadline::AfterDuration(duration<int8_t, std::ratio<3600>>::min()).HasPassed());
  EXPECT_EQ(internal::SaturatingNanos(duration<int8_t, std::ratio<3600>>::max()),
            int64_t{127} * 3600 * 1'000'000'000);
  EXPECT_EQ(internal::SaturatingNanos(duration<uint64_t, std::nano>::max()), kInt64Max);
  EXPECT_EQ(internal::SaturatingNanos(duration<uint64_t, std::ratio<3600>>::max()), kInt64Max);
  EXPECT_EQ(internal::SaturatingNanos(duration<uint32_t>::max()),
            int64_t{UINT32_MAX} * 1'000'000'000);
  EXPECT_TRUE(Deadline::AfterDuration(duration<uint64_t>::max()).is_never());
  EXPECT_TRUE(Deadline::AfterDuration(duration<uint64_t>::min()).HasPassed());  // zero
  // int64 picoseconds: max() is ~106 days, an ordinary finite wait.
  EXPECT_EQ(internal::SaturatingNanos(duration<int64_t, std::pico>::max()),
            kInt64Max / 1000 + 1);
  EXPECT_EQ(internal::SaturatingNanos(duration<int64_t, std::pico>::min()), kInt64Min / 1000);
}

TEST(DeadlineTest, RoundsUpToWholeNanoseconds) {
  EXPECT_EQ(internal::SaturatingNanos(duration<int64_t, std::pico>(1)), 1);
  EXPECT_EQ(internal::SaturatingNanos(duration<int64_t, std::pico>(1000)), 1);
  EXPECT_EQ(internal::SaturatingNanos(duration<int64_t, std::pico>(1001)), 2);
  EXPECT_EQ(internal::SaturatingNanos(duration<int64_t, std::pico>(-1001)), -1);
  EXPECT_EQ(internal::SaturatingNanos(duration<double, std::nano>(0.25)), 1);
  EXPECT_EQ(internal::SaturatingNanos(duration<double>(1.5)), 1'500'000'000);
  EXPECT_EQ(internal::SaturatingNanos(duration<double>(-1.5)), -1'500'000'000);
  EXPECT_EQ(internal::SaturatingNanos(hours(-3'000'000)), kInt64Min);
  EXPECT_EQ(internal::SaturatingNanos(seconds(-10'000'000'000)), kInt64Min);
  EXPECT_EQ(internal::SaturatingNanos(seconds(9'223'372'036)), 9'223'372'036'000'000'000);
  EXPECT_EQ(internal::SaturatingNanos(seconds(9'223'372'037)), kInt64Max);
  EXPECT_EQ(internal::SaturatingNanos(seconds(-9'223'372'036)), -9'223'372'036'000'000'000);
  EXPECT_EQ(internal::SaturatingNanos(seconds(-9'223'372'037)), kInt64Min);
  EXPECT_EQ(internal::SaturatingNanos(nanoseconds::max()), kInt64Max);
  // Either side of 2^63 ns in a floating rep.
  EXPECT_EQ(internal::SaturatingNanos(duration<double, std::nano>(0x1p63)), kInt64Max);
  EXPECT_EQ(internal::SaturatingNanos(duration<double, std::nano>(-0x1p63)), kInt64Min);
  EXPECT_EQ(internal::SaturatingNanos(duration<double, std::nano>(0x1p63 - 1024)),
            int64_t{0x7ffffffffffffc00});
  EXPECT_EQ(internal::SaturatingNanos(nanoseconds::min()), kInt64Min);
}

// The regression cases as callers write them.
TEST(DeadlineTest, CallerExtremesSaturate) {
  EXPECT_TRUE(Deadline::AfterDuration(hours(-3'000'000)).HasPassed());
  EXPECT_TRUE(Deadline::AfterDuration(seconds(-10'000'000'000)).HasPassed());
  EXPECT_TRUE(Deadline::AfterDuration(hours::min()).HasPassed());
  EXPECT_TRUE(Deadline::AfterDuration(duration<double>(-INFINITY)).HasPassed());
  EXPECT_TRUE(Deadline::AfterDuration(duration<double>(NAN)).HasPassed());
  EXPECT_TRUE(Deadline::AfterDuration(duration<double>(INFINITY)).is_never());
  EXPECT_TRUE(Deadline::AfterDuration(hours::max()).is_never());
  EXPECT_TRUE(Deadline::At(system_clock::time_point::min()).HasPassed());
  EXPECT_TRUE(Deadline::At(steady_clock::time_point::min()).HasPassed());
  EXPECT_TRUE(Deadline::At(system_clock::time_point::max()).is_never());
  EXPECT_TRUE(Deadline::At(steady_clock::time_point::max()).is_never());
  EXPECT_TRUE(Deadline::At(time_point<steady_clock, seconds>::max()).is_never());
  EXPECT_TRUE(Deadline::At(time_point<system_clock, seconds>::max()).is_never());
  // One nanosecond short of the end of system_clock: ~236 years from now.
  ExpectFarFuture(Deadline::At(system_clock::time_point::max() - nanoseconds(1)));
}

TEST(DeadlineTest, OrdinaryValuesStayExact) {
  const int64_t before = Deadline::Now().monotonic_nanos();
  const Deadline d = Deadline::AfterDuration(milliseconds(250));
  const int64_t after = Deadline::Now().monotonic_nanos();
  EXPECT_GE(d.monotonic_nanos(), before + 250'000'000);
  EXPECT_LE(d.monotonic_nanos(), after + 250'000'000);
  const auto sys = system_clock::now() + seconds(10);
  const int64_t left = Deadline::At(sys).monotonic_nanos() - Deadline::Now().monotonic_nanos();
  EXPECT_GT(left, 9'000'000'000);
  EXPECT_LE(left, 10'000'000'000);
  const auto steady = steady_clock::now() + milliseconds(5);
  EXPECT_EQ(Deadline::At(steady).monotonic_nanos(),
            duration_cast<nanoseconds>(steady.time_since_epoch()).count());
  const auto coarse = time_point_cast<seconds>(system_clock::now()) + seconds(30);
  EXPECT_FALSE(Deadline::At(coarse).HasPassed());
  EXPECT_TRUE(Deadline::At(time_point_cast<seconds>(system_clock::now()) - seconds(2)).HasPassed());
  const auto dbl = time_point<system_clock, duration<double>>(system_clock::now()) + seconds(30);
  EXPECT_FALSE(Deadline::At(dbl).HasPassed());
}

}  // namespace
}  // namespace ringlock
