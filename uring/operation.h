// uring/operation.h — Operation: the one completion interface of EventLoop.
//
// Every asynchronous thing an EventLoop does for a caller (I/O, futex waits,
// timers) finishes by calling Complete(res) on an Operation the caller owns,
// exactly once, on the loop's thread, from a dispatch step of the loop.
//
// Identity: each start of an Operation gets a fresh tag (a slot of the loop
// plus a generation), and that tag, not the Operation's address, is the
// SQE's user_data. The kernel cancels by user_data (ASYNC_CANCEL, and a
// LINK_TIMEOUT that fires cancels its wait later, from task work), so an
// address reused by the next operation must never match an earlier one.
//
// Lifetime: the Operation must stay alive and must not move from the moment
// it is started until Complete has begun; the loop never touches it after
// calling Complete (Complete may delete it). To abandon a started operation,
// cancel it and keep it alive until Complete runs (or hand it to the loop as
// an orphan, see io.h).
#ifndef RINGLOCK_URING_OPERATION_H_
#define RINGLOCK_URING_OPERATION_H_

#include <cstdint>

namespace ringlock::uring {

class EventLoop;

struct Operation {
 public:
  Operation() = default;
  Operation(const Operation&) = delete;
  Operation& operator=(const Operation&) = delete;
  virtual ~Operation() = default;

  // res: the CQE result (>= 0 success, -errno failure) or, for futex waits,
  // the result documented at EventLoop::StartFutexWait.
  virtual void Complete(int32_t res) = 0;

  // True from start until just before Complete is called.
  bool in_flight() const { return in_flight_; }

 private:
  friend class EventLoop;
  enum class Kind : uint8_t { kPlain, kFutexWait };
  Operation* prev_ = nullptr;
  Operation* next_ = nullptr;
  uint64_t tag_ = 0;  // user_data of the current start (see Identity above)
  int shutdown_depth_ = 0;  // see EventLoop::kMaxShutdownDepth
  bool in_flight_ = false;
  bool cancel_requested_ = false;
  bool has_deadline_ = false;
  bool fallback_ = false;
  Kind kind_ = Kind::kPlain;
};

}  // namespace ringlock::uring

#endif  // RINGLOCK_URING_OPERATION_H_
