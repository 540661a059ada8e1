#include "locks/wait_any.h"

#include <cerrno>

#include "locks/internal/check.h"
#include "locks/internal/uring_glue.h"
#include "locks/internal/wait_backend.h"
#include "uring/futex_op.h"

namespace ringlock {
namespace {

// Deregisters every armed waitable except `keep`.
void LeaveAllBut(absl::Span<Waitable> ws, int armed, int keep) {
  for (int j = 0; j < armed; ++j) {
    if (j != keep) std::visit([](auto& a) { a.Leave(); }, ws[j]);
  }
}

}  // namespace

namespace {

// Arms every waitable in order. Returns the index of one taken at once
// (every other registration left), or -1 with all armed and `entries` set.
int ArmAll(absl::Span<Waitable> ws, futex::WaitvEntry* entries) {
  const int n = static_cast<int>(ws.size());
  for (int i = 0; i < n; ++i) {
    uint32_t expected;
    if (std::visit([&](auto& a) { return a.Arm(&expected); }, ws[i])) {
      LeaveAllBut(ws, i, i);
      return i;
    }
    entries[i] = std::visit(
        [&](auto& a) { return futex::WaitvEntry{&a.word(), expected, a.scope()}; }, ws[i]);
  }
  return -1;
}

class LeaveAll final : public internal::WaitLeaver {
 public:
  explicit LeaveAll(absl::Span<Waitable> ws) : ws_(ws) {}
  void Leave() override { LeaveAllBut(ws_, static_cast<int>(ws_.size()), -1); }

 private:
  absl::Span<Waitable> ws_;
};

}  // namespace

int WaitAny(absl::Span<Waitable> ws, Deadline deadline) {
  const int n = static_cast<int>(ws.size());
  RINGLOCK_MISUSE_IF(n == 0 || n > kWaitAnyMax, "ringlock::WaitAny",
                     "needs between 1 and 128 primitives");
  futex::WaitvEntry entries[kWaitAnyMax];
  if (const int i = ArmAll(ws, entries); i >= 0) return i;
  internal::WaitBackend& backend = internal::CurrentWaitBackend();
  LeaveAll leaver(ws);
  for (;;) {
    int index;
    internal::SendHeldWakes();
    const internal::BackendWaitResult r = backend.WaitAny(entries, n, deadline, &index, leaver);
    if (r == internal::BackendWaitResult::kLeft) {
      if (deadline.HasPassed()) return -1;
      if (const int i = ArmAll(ws, entries); i >= 0) return i;
      continue;
    }
    // Any return may mean any word moved: every registered waiter re-checks
    // (lowest index first), exactly as after a spurious single wake.
    for (int i = 0; i < n; ++i) {
      uint32_t expected;
      if (std::visit([&](auto& a) { return a.OnWake(&expected); }, ws[i])) {
        LeaveAllBut(ws, n, i);
        return i;
      }
      entries[i].expected = expected;
    }
    if (r == internal::BackendWaitResult::kTimedOut || deadline.HasPassed()) {
      LeaveAllBut(ws, n, -1);
      return -1;
    }
  }
}

namespace internal {

class AsyncWaitAnyState final : public uring::FutexWaitvOp {
 public:
  AsyncWaitAnyState(std::vector<Waitable> ws, uring::EventLoop& loop, Deadline deadline)
      : ws_(std::move(ws)), loop_(loop), deadline_(deadline), entries_(ws_.size()) {}

  // All waitables are armed (registered); `expected` holds their values.
  void Start(const std::vector<uint32_t>& expected) {
    for (size_t i = 0; i < ws_.size(); ++i) {
      entries_[i] = std::visit(
          [&](auto& a) {
            return uring::MakeFutexWaitv(&a.word(), expected[i], Futex2Flags(a.scope()));
          },
          ws_[i]);
    }
    Arm();
  }

  void Complete(int32_t res) override {
    const int n = static_cast<int>(ws_.size());
    if (orphaned_) {
      LeaveAllBut(absl::MakeSpan(ws_), n, -1);
      delete this;
      return;
    }
    CheckLoopFutexResult(res);
    for (int i = 0; i < n; ++i) {
      uint32_t expected;
      if (std::visit([&](auto& a) { return a.OnWake(&expected); }, ws_[i])) {
        LeaveAllBut(absl::MakeSpan(ws_), n, i);
        return Finish(AsyncWaitStatus::kAcquired, i);
      }
      entries_[i].val = expected;
    }
    if (res == -ETIMEDOUT || deadline_.HasPassed()) {
      LeaveAllBut(absl::MakeSpan(ws_), n, -1);
      return Finish(AsyncWaitStatus::kTimedOut, -1);
    }
    if (res == -ECANCELED) {
      LeaveAllBut(absl::MakeSpan(ws_), n, -1);
      return Finish(AsyncWaitStatus::kCancelled, -1);
    }
    Arm();
  }

  void Orphan() {
    orphaned_ = true;
    loop_.CancelFutexWait(this);
  }
  bool finished() const { return finished_; }
  AsyncWaitStatus status() const { return status_; }
  int index() const { return index_; }
  void set_waiter(std::coroutine_handle<> h) { waiter_ = h; }

 private:
  void Arm() { loop_.StartFutexWaitv(this, entries_, ToAbslDeadline(deadline_)); }
  void Finish(AsyncWaitStatus status, int index) {
    status_ = status;
    index_ = index;
    finished_ = true;
    waiter_.resume();  // may free `this`: last
  }

  std::vector<Waitable> ws_;
  uring::EventLoop& loop_;
  Deadline deadline_;
  std::vector<uring::FutexWaitv> entries_;
  std::coroutine_handle<> waiter_;
  AsyncWaitStatus status_ = AsyncWaitStatus::kCancelled;
  int index_ = -1;
  bool finished_ = false;
  bool orphaned_ = false;
};

}  // namespace internal

WaitAnyAsync::WaitAnyAsync(WaitAnyAsync&& other) noexcept
    : loop_(other.loop_), waitables_(std::move(other.waitables_)), deadline_(other.deadline_),
      ready_index_(other.ready_index_), state_(std::exchange(other.state_, nullptr)) {}

WaitAnyAsync::~WaitAnyAsync() {
  if (state_ == nullptr) return;
  if (state_->finished()) {
    delete state_;
  } else {
    state_->Orphan();
  }
}

bool WaitAnyAsync::await_ready() {
  const int n = static_cast<int>(waitables_.size());
  RINGLOCK_MISUSE_IF(n == 0 || n > kWaitAnyMax, "ringlock::WaitAnyAsync",
                     "needs between 1 and 128 primitives");
  std::vector<uint32_t> expected(n);
  for (int i = 0; i < n; ++i) {
    if (std::visit([&](auto& a) { return a.Arm(&expected[i]); }, waitables_[i])) {
      LeaveAllBut(absl::MakeSpan(waitables_), i, i);
      ready_index_ = i;
      return true;
    }
  }
  state_ = new internal::AsyncWaitAnyState(std::move(waitables_), *loop_, deadline_);
  state_->Start(expected);  // armed now; resumes the waiter set in await_suspend
  return false;
}

void WaitAnyAsync::await_suspend(std::coroutine_handle<> h) { state_->set_waiter(h); }

absl::StatusOr<int> WaitAnyAsync::await_resume() const {
  if (ready_index_ >= 0) return ready_index_;
  if (state_->status() != AsyncWaitStatus::kAcquired) {
    return internal::AsyncWaitError(state_->status(), "ringlock::WaitAnyAsync");
  }
  return state_->index();
}

}  // namespace ringlock
