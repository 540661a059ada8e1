// What a primitive's header needs to declare its *_async members: the
// status an async wait ends with, and the name of the plumbing that runs
// it, declared only. The plumbing (internal/async_acquire.h) and its
// uring::EventLoop side (locks/async.h) are included by the files that
// co_await, so a file that only locks pays for neither.
#ifndef RINGLOCK_LOCKS_INTERNAL_ASYNC_WAITS_H_
#define RINGLOCK_LOCKS_INTERNAL_ASYNC_WAITS_H_

#include <cstdint>
#include <type_traits>

namespace ringlock {

// How an async wait ended.
enum class AsyncWaitStatus : uint8_t {
  kAcquired,   // the lock / permit / event was taken
  kTimedOut,   // the deadline passed first; nothing taken
  kCancelled,  // the loop was destroyed first; nothing taken
  kRefused,    // the word's waiter count is full; nothing taken, never waited
};

namespace internal {

// The async forms of every primitive over a loop type (defined in
// internal/async_acquire.h, which locks/async.h includes).
template <class Loop>
struct AsyncWaits;

template <class>
inline constexpr bool kAsyncHeaderMissing = false;

// AsyncWaitsOf<Loop>::type is AsyncWaits<Loop> where it is defined; anywhere
// else, a message saying what to include instead of an incomplete type.
template <class Loop, class = void>
struct AsyncWaitsOf {
  static_assert(kAsyncHeaderMissing<Loop>,
                "co_await on a ringlock primitive needs #include \"locks/async.h\" "
                "(Bazel: //locks or //locks:ring)");
};
template <class Loop>
struct AsyncWaitsOf<Loop, std::void_t<decltype(sizeof(AsyncWaits<Loop>))>> {
  using type = AsyncWaits<Loop>;
};
template <class Loop>
using AsyncFor = typename AsyncWaitsOf<Loop>::type;

}  // namespace internal
}  // namespace ringlock

#endif  // RINGLOCK_LOCKS_INTERNAL_ASYNC_WAITS_H_
