#include "locks/futex.h"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace ringlock {
namespace {

using std::chrono::milliseconds;

TEST(FutexTest, WaitOnChangedValueReturnsAtOnce) {
  std::atomic<uint32_t> word{1};
  EXPECT_EQ(futex::Wait(word, 0, Deadline::Never(), FutexScope::kPrivate),
            FutexWaitResult::kValueChanged);
}

TEST(FutexTest, WaitTimesOutAtDeadline) {
  std::atomic<uint32_t> word{0};
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(futex::Wait(word, 0, Deadline::After(milliseconds(30)), FutexScope::kPrivate),
            FutexWaitResult::kTimedOut);
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GE(waited, milliseconds(30));
  EXPECT_LT(waited, milliseconds(2000));
}

TEST(FutexTest, PastDeadlineTimesOutImmediately) {
  std::atomic<uint32_t> word{0};
  EXPECT_EQ(futex::Wait(word, 0, Deadline::FromMonotonicNanos(1), FutexScope::kShared),
            FutexWaitResult::kTimedOut);
}

TEST(FutexTest, WakeWithNobodyWaitingWakesZero) {
  std::atomic<uint32_t> word{0};
  EXPECT_EQ(futex::Wake(word, 1, FutexScope::kPrivate), 0);
}

// Wake(n) reports exactly how many sleepers it woke, and wakes no more.
TEST(FutexTest, WakeCountIsExact) {
  std::atomic<uint32_t> word{0};
  std::atomic<int> returned{0};
  constexpr int kSleepers = 4;
  std::vector<std::thread> threads;
  for (int i = 0; i < kSleepers; ++i) {
    threads.emplace_back([&] {
      while (word.load() == 0) futex::Wait(word, 0, Deadline::Never(), FutexScope::kPrivate);
      returned.fetch_add(1);
    });
  }
  // Give them time to fall asleep, then wake exactly two.
  int woken = 0;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (woken < 2 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(milliseconds(5));
    woken += futex::Wake(word, 2 - woken, FutexScope::kPrivate);
  }
  EXPECT_EQ(woken, 2);
  // The woken ones see word==0 and go back to sleep: nobody returned.
  std::this_thread::sleep_for(milliseconds(20));
  EXPECT_EQ(returned.load(), 0);
  word.store(1);
  while (returned.load() < kSleepers) futex::Wake(word, kSleepers, FutexScope::kPrivate);
  for (auto& t : threads) t.join();
  EXPECT_EQ(returned.load(), kSleepers);
}

TEST(FutexTest, BitsetSelectsSleepers) {
  std::atomic<uint32_t> word{0};
  std::atomic<bool> woke{false};
  std::thread t([&] {
    while (word.load() == 0) futex::Wait(word, 0, Deadline::Never(), FutexScope::kPrivate, 0b10);
    woke = true;
  });
  std::this_thread::sleep_for(milliseconds(20));
  EXPECT_EQ(futex::Wake(word, 1, FutexScope::kPrivate, 0b01), 0);  // no intersection
  word.store(1);
  while (!woke.load()) futex::Wake(word, 1, FutexScope::kPrivate, 0b10);
  t.join();
}

TEST(FutexTest, WaitAnyReturnsTheWokenIndex) {
  if (!futex::WaitvSupported()) GTEST_SKIP() << "futex_waitv(2) needs Linux 5.16";
  std::atomic<uint32_t> words[3] = {0, 0, 0};
  futex::WaitvEntry entries[3];
  for (int i = 0; i < 3; ++i) entries[i] = {&words[i], 0, FutexScope::kPrivate};
  std::thread waker([&] {
    std::this_thread::sleep_for(milliseconds(20));
    words[2].store(1);
    futex::Wake(words[2], 1, FutexScope::kPrivate);
  });
  futex::WaitvResult r;
  do {
    r = futex::WaitAny(entries, 3, Deadline::After(std::chrono::seconds(10)));
  } while (r.result == FutexWaitResult::kWoken && words[2].load() == 0);
  waker.join();
  EXPECT_TRUE(r.result == FutexWaitResult::kValueChanged ||
              (r.result == FutexWaitResult::kWoken && r.index == 2));
}

TEST(FutexTest, WaitAnyMismatchAndTimeout) {
  if (!futex::WaitvSupported()) GTEST_SKIP() << "futex_waitv(2) needs Linux 5.16";
  std::atomic<uint32_t> a{0}, b{5};
  futex::WaitvEntry entries[2] = {{&a, 0, FutexScope::kPrivate}, {&b, 4, FutexScope::kShared}};
  EXPECT_EQ(futex::WaitAny(entries, 2, Deadline::Never()).result, FutexWaitResult::kValueChanged);
  entries[1].expected = 5;
  EXPECT_EQ(futex::WaitAny(entries, 2, Deadline::After(milliseconds(10))).result,
            FutexWaitResult::kTimedOut);
}

TEST(FutexDeathTest, MisalignedWordAborts) {
  alignas(8) unsigned char bytes[16] = {};
  auto* misaligned = reinterpret_cast<std::atomic<uint32_t>*>(bytes + 1);
  EXPECT_DEATH(futex::Wake(*misaligned, 1, FutexScope::kPrivate),
               // (UBSan, in --config=asan, objects first)
               "not 4-byte aligned|misaligned address");
}

TEST(DeadlineTest, Conversions) {
  EXPECT_TRUE(Deadline::Never().is_never());
  EXPECT_FALSE(Deadline::Never().HasPassed());
  EXPECT_TRUE(Deadline::After(std::chrono::nanoseconds(-5)).HasPassed());
  EXPECT_FALSE(Deadline::After(std::chrono::hours(24 * 365 * 100)).HasPassed());
  EXPECT_TRUE(Deadline::AfterDuration(std::chrono::hours::max()).is_never());
  EXPECT_TRUE(Deadline::AfterDuration(std::chrono::seconds(-1)).HasPassed());
  const auto sys = std::chrono::system_clock::now() + milliseconds(100);
  const Deadline d = Deadline::At(sys);
  EXPECT_FALSE(d.HasPassed());
  EXPECT_LE(d.monotonic_nanos() - Deadline::Now().monotonic_nanos(), 100'000'000);
  const auto steady = std::chrono::steady_clock::now();
  EXPECT_TRUE(Deadline::At(steady).HasPassed());
}

}  // namespace
}  // namespace ringlock
