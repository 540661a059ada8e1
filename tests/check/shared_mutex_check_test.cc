// The SharedMutex protocol (locks/shared_mutex.h, shared_mutex.cc), explored
// over every interleaving of small configurations by the model checker
// (locks/check/README.md): readers and writers of every kind (futex, timed,
// coroutine, coroutine destroyed while it waits, ring-blocking). Writers
// exclude everyone, every word is a row of the state table, every sleep is
// one the header allows, nobody is left asleep, and the word ends idle.
// Preemption bound 2 (RINGLOCK_CHECK_BOUND for more).
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

TEST(SharedMutexCheck, TwoReadersOneWriter) {
  const check::Result r = check::ExploreAndPrint(
      SharedMutexThreads({RwReader, RwReader, RwWriter}).ToConfig("smu: reader, reader, writer"),
      ProtocolOptions(2));
  EXPECT_TRUE(r.passed) << r.Report();
}

TEST(SharedMutexCheck, OneReaderTwoWriters) {
  const check::Result r = check::ExploreAndPrint(
      SharedMutexThreads({RwWriter, RwReader, RwWriter}).ToConfig("smu: writer, reader, writer"),
      ProtocolOptions(2));
  EXPECT_TRUE(r.passed) << r.Report();
}

TEST(SharedMutexCheck, ATimedWriterGivesUp) {
  const check::Result r = check::ExploreAndPrint(
      SharedMutexThreads({RwReader, RwTimedWriter, RwWriter})
          .ToConfig("smu: reader, timed writer, writer"),
      ProtocolOptions(2));
  EXPECT_TRUE(r.passed) << r.Report();
  EXPECT_GT(CountOf(r, "timed waiter gave up"), 0);
}

TEST(SharedMutexCheck, ATimedReaderGivesUp) {
  const check::Result r = check::ExploreAndPrint(
      SharedMutexThreads({RwWriter, RwTimedReader, RwWriter})
          .ToConfig("smu: writer, timed reader, writer"),
      ProtocolOptions(2));
  EXPECT_TRUE(r.passed) << r.Report();
  EXPECT_GT(CountOf(r, "timed waiter gave up"), 0);
}

TEST(SharedMutexCheck, ACoroutineReaderDestroyedWhileWaiting) {
  const check::Result r = check::ExploreAndPrint(
      SharedMutexThreads({RwWriter, RwCancellableCoroutineReader, RwWriter})
          .ToConfig("smu: writer, coroutine reader destroyed while waiting, writer"),
      ProtocolOptions(2));
  EXPECT_TRUE(r.passed) << r.Report();
  EXPECT_GT(CountOf(r, "async_cancel"), 0);
}

TEST(SharedMutexCheck, ACoroutineWriterDestroyedWhileWaiting) {
  const check::Result r = check::ExploreAndPrint(
      SharedMutexThreads({RwReader, RwCancellableCoroutineWriter, RwWriter})
          .ToConfig("smu: reader, coroutine writer destroyed while waiting, writer"),
      ProtocolOptions(2));
  EXPECT_TRUE(r.passed) << r.Report();
}

TEST(SharedMutexCheck, ARingBlockingReader) {
  const check::Result r = check::ExploreAndPrint(
      SharedMutexThreads({RwRingBlockingReader, RwReader, RwWriter})
          .ToConfig("smu: ring-blocking reader, reader, writer"),
      ProtocolOptions(2));
  EXPECT_TRUE(r.passed) << r.Report();
}

TEST(SharedMutexCheck, ARingBlockingWriter) {
  const check::Result r = check::ExploreAndPrint(
      SharedMutexThreads({RwReader, RwRingBlockingWriter, RwWriter})
          .ToConfig("smu: reader, ring-blocking writer, writer"),
      ProtocolOptions(2));
  EXPECT_TRUE(r.passed) << r.Report();
  EXPECT_GT(CountOf(r, "late_dispatch"), 0);
}

TEST(SharedMutexCheck, ACoroutineReader) {
  const check::Result r = check::ExploreAndPrint(
      SharedMutexThreads({RwWriter, RwCoroutineReader, RwReader})
          .ToConfig("smu: writer, coroutine reader, reader"),
      ProtocolOptions(2));
  EXPECT_TRUE(r.passed) << r.Report();
  EXPECT_GT(CountOf(r, "late_dispatch"), 0);
}

// A spurious return from a sleep re-checks and sleeps again.
TEST(SharedMutexCheck, TwoReadersOneWriterWithASpuriousWakeup) {
  check::Options o = ProtocolOptions(2);
  o.max_spurious_wakeups = 1;
  const check::Result r = check::ExploreAndPrint(
      SharedMutexThreads({RwWriter, RwReader, RwReader})
          .ToConfig("smu: writer, reader, reader; spurious"),
      o);
  EXPECT_TRUE(r.passed) << r.Report();
  EXPECT_GT(CountOf(r, "spurious_wakeup"), 0);
}

}  // namespace
}  // namespace ringlock::testing
