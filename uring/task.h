// uring/task.h — Task<T>: a lazy C++20 coroutine.
//
// A Task does nothing until it is awaited (co_await task, from another
// coroutine) or handed to an EventLoop (loop.Spawn(task) runs it detached;
// loop.RunUntilComplete(task) runs the loop until it finishes and returns its
// value). When the coroutine finishes, control transfers symmetrically to
// its awaiter (no stack growth through chains of co_await).
//
// Ownership: the Task owns the coroutine frame. Destroying a Task whose
// coroutine is suspended destroys the frame; destructors of the awaiters
// inside it run and cancel their pending operations (io.h, futex awaiters).
// Threading: a Task runs on the thread that resumes it (its loop's thread).
// Exceptions thrown out of the coroutine are rethrown by co_await / by
// RunUntilComplete; a detached (Spawned) task that throws terminates.
#ifndef RINGLOCK_URING_TASK_H_
#define RINGLOCK_URING_TASK_H_

#include <coroutine>
#include <exception>
#include <optional>
#include <utility>

namespace ringlock::uring {

template <typename T>
class Task;

namespace internal {

template <typename T>
class TaskPromiseBase {
 public:
  std::suspend_always initial_suspend() noexcept { return {}; }
  struct FinalAwaiter {
    bool await_ready() noexcept { return false; }
    template <typename P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
      std::coroutine_handle<> next = h.promise().continuation_;
      return next ? next : std::noop_coroutine();
    }
    void await_resume() noexcept {}
  };
  FinalAwaiter final_suspend() noexcept { return {}; }
  void unhandled_exception() { exception_ = std::current_exception(); }

  std::coroutine_handle<> continuation_;
  std::exception_ptr exception_;
};

template <typename T>
class TaskPromise : public TaskPromiseBase<T> {
 public:
  Task<T> get_return_object();
  template <typename U>
  void return_value(U&& v) {
    value_.emplace(std::forward<U>(v));
  }
  T Take() {
    if (this->exception_) std::rethrow_exception(this->exception_);
    return std::move(*value_);
  }
  std::optional<T> value_;
};

template <>
class TaskPromise<void> : public TaskPromiseBase<void> {
 public:
  Task<void> get_return_object();
  void return_void() {}
  void Take() {
    if (this->exception_) std::rethrow_exception(this->exception_);
  }
};

}  // namespace internal

template <typename T = void>
class [[nodiscard]] Task {
 public:
  using promise_type = internal::TaskPromise<T>;
  using Handle = std::coroutine_handle<promise_type>;

  Task() = default;
  explicit Task(Handle h) : h_(h) {}
  Task(Task&& o) noexcept : h_(std::exchange(o.h_, {})) {}
  Task& operator=(Task&& o) noexcept {
    if (this != &o) {
      if (h_) h_.destroy();
      h_ = std::exchange(o.h_, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() {
    if (h_) h_.destroy();
  }

  bool valid() const { return static_cast<bool>(h_); }
  // True once the coroutine has run to completion.
  bool done() const { return h_ && h_.done(); }

  // co_await task: starts it and suspends the awaiter until it finishes
  // (symmetric transfer both ways); yields its value or rethrows.
  auto operator co_await() && noexcept {
    struct Awaiter {
      Handle h;
      bool await_ready() noexcept { return !h || h.done(); }
      std::coroutine_handle<> await_suspend(std::coroutine_handle<> c) noexcept {
        h.promise().continuation_ = c;
        return h;
      }
      T await_resume() { return h.promise().Take(); }
    };
    return Awaiter{h_};
  }
  auto operator co_await() & noexcept { return std::move(*this).operator co_await(); }

  // For EventLoop: the frame, the finished value.
  Handle handle() const { return h_; }
  T TakeResult() { return h_.promise().Take(); }

 private:
  Handle h_;
};

namespace internal {
template <typename T>
Task<T> TaskPromise<T>::get_return_object() {
  return Task<T>(std::coroutine_handle<TaskPromise<T>>::from_promise(*this));
}
inline Task<void> TaskPromise<void>::get_return_object() {
  return Task<void>(std::coroutine_handle<TaskPromise<void>>::from_promise(*this));
}
}  // namespace internal

}  // namespace ringlock::uring

#endif  // RINGLOCK_URING_TASK_H_
