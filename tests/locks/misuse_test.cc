// Uniform errors and misuse across primitives: no public API hands out a
// writable futex word.
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "locks/condvar.h"
#include "locks/event.h"
#include "locks/internal/word_access.h"
#include "locks/mutex.h"
#include "locks/semaphore.h"
#include "locks/wait_any.h"
#include "tests/locks/waiter_modes.h"
#include "uring/event_loop.h"
#include "uring/task.h"

namespace ringlock {
namespace {

using internal::WordAccess;
using std::chrono::milliseconds;

// ---- No writable word in the public API -----------------------------------

template <class P>
concept HasWritableWord = requires(P& p) { p.mutable_word(); } || requires(P& p) { p.word_; };

template <class P>
constexpr bool kWordIsReadOnly =
    std::is_const_v<std::remove_reference_t<decltype(std::declval<P&>().word())>>;

template <class... Ps>
constexpr bool NoneWritable() {
  return ((!HasWritableWord<Ps> && kWordIsReadOnly<Ps>)&&...);
}

// Regression: CondVar, Event and Semaphore had a public mutable_word(), so any
// user could write a primitive's word and break its protocol. Only the
// read-only word() is public; internals and tests go through WordAccess.
TEST(WordAccessTest, PrimitivesExposeNoWritableWord) {
  static_assert(NoneWritable<Mutex, ProcessSharedMutex, CondVar, ProcessSharedCondVar, Semaphore,
                             CountingSemaphore<1>, ProcessSharedSemaphore<>, Event,
                             ProcessSharedEvent>(),
                "a public API hands out a writable futex word");
  Event ev;
  WordAccess::Of(ev).store(internal::kEventSet);
  EXPECT_EQ(&WordAccess::Of(ev), &ev.word());
  EXPECT_TRUE(ev.is_set());
}

}  // namespace
}  // namespace ringlock
