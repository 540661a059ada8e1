#include "locks/check/model_futex.h"

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>

#include "locks/check/scheduler_internal.h"

namespace ringlock::check {
namespace internal {
namespace {

std::string Hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
  return buf;
}

const char* ResultName(FutexWaitResult r) {
  switch (r) {
    case FutexWaitResult::kWoken: return "kWoken";
    case FutexWaitResult::kValueChanged: return "kValueChanged";
    case FutexWaitResult::kTimedOut: return "kTimedOut";
  }
  return "?";
}

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "ringlock::check: %s\n", what);
  std::abort();
}

}  // namespace

void Scheduler::MakeReady(int t, FutexWaitResult r, int index) {
  Thread& th = *threads_[t];
  th.status = Status::kReady;
  th.result = r;
  th.result_index = index;
}

void Scheduler::Dequeue(int thread, AsyncOp* op) {
  std::erase_if(queue_, [&](const Sleeper& s) {
    return thread >= 0 ? s.thread == thread : s.op == op;
  });
}

void Scheduler::CompleteOp(AsyncOp* op, int32_t res) {
  if (op->state_ == AsyncOp::State::kArmed) Dequeue(-1, op);
  std::erase(pending_ops_, op);
  op->cancel_requested_ = false;
  op->state_ = AsyncOp::State::kCompleted;
  op->res_ = res;
  op->completed_step_ = steps_;
  threads_[op->owner_]->cq.push_back(op);
}

WaitAnyResult Scheduler::Sleep(const WaitEntry* entries, int count, uint32_t bitset, bool timed,
                               int64_t deadline, bool waitv) {
  const int self = current_;
  BeforeOp();
  if (draining_) {
    for (int i = 0; i < count; ++i) {
      if (entries[i].word->peek() != entries[i].expected) {
        return {FutexWaitResult::kValueChanged, i};
      }
    }
    return {FutexWaitResult::kWoken, -1};
  }
  std::string call = ThreadName(self) + (waitv ? " futex_waitv(" : " futex_wait(");
  for (int i = 0; i < count; ++i) {
    if (i > 0) call += ", ";
    call += WordName(entries[i].word) + " exp=" + Hex(entries[i].expected);
  }
  if (bitset != kMatchAny) call += ", bitset=" + Hex(bitset);
  call += timed ? ", timed)" : ")";
  for (int i = 0; i < count; ++i) {
    const uint32_t v = entries[i].word->peek();
    if (v != entries[i].expected) {
      Step(call + ": saw " + Hex(v) + " -> kValueChanged");
      return {FutexWaitResult::kValueChanged, i};
    }
  }
  if (timed && deadline >= 0 && now_ >= deadline) {
    exec_counts_.insert("timeout");
    Step(call + ": deadline passed -> kTimedOut");
    return {FutexWaitResult::kTimedOut, -1};
  }
  Thread& t = *threads_[self];
  t.status = Status::kAsleep;
  t.timed = timed;
  t.deadline = deadline;
  t.sleep_on.assign(entries, entries + count);
  for (int i = 0; i < count; ++i) queue_.push_back({entries[i].word, bitset, self, nullptr, i});
  Step(call + " -> asleep");
  for (int i = 0; i < count; ++i) CheckSleep(entries[i].word, entries[i].expected, bitset);
  Decide();  // returns once woken, timed out, spuriously woken, or drained
  if (!draining_) {
    Trace(ThreadName(self) + (waitv ? " futex_waitv returns " : " futex_wait returns ") +
          ResultName(t.result) +
          (waitv && t.result_index >= 0 ? " index " + std::to_string(t.result_index) : ""));
  }
  return {t.result, t.result_index};
}

int Scheduler::Wake(const Atomic<uint32_t>* word, int n, uint32_t bitset) {
  BeforeOp();
  if (draining_) return 0;
  std::vector<Sleeper> chosen;
  for (const Sleeper& s : queue_) {
    if (static_cast<int>(chosen.size()) >= n) break;
    if (s.word != word || (s.bitset & bitset) == 0) continue;
    bool dup = false;  // a WaitAny thread listed the word twice
    for (const Sleeper& c : chosen) {
      dup |= (s.thread >= 0 && c.thread == s.thread) || (s.op != nullptr && c.op == s.op);
    }
    if (!dup) chosen.push_back(s);
  }
  std::string woke;
  for (const Sleeper& s : chosen) {
    if (s.thread >= 0) {
      Dequeue(s.thread, nullptr);
      MakeReady(s.thread, FutexWaitResult::kWoken, s.index);
      woke += " " + ThreadName(s.thread);
    } else {
      CompleteOp(s.op, s.op->waitv_ ? s.index : 0);
      woke += " " + OpName(s.op);
    }
  }
  std::string text = ThreadName(current_) + " futex_wake(" + WordName(word) +
                     ", n=" + std::to_string(n);
  if (bitset != kMatchAny) text += ", bitset=" + Hex(bitset);
  text += ") -> " + std::to_string(chosen.size());
  if (!woke.empty()) text += " [woke" + woke + "]";
  Step(std::move(text));
  return static_cast<int>(chosen.size());
}

void Scheduler::ApplyEvent(const Alt& a) {
  switch (a.kind) {
    case AltKind::kRun:
      return;
    case AltKind::kTimeout: {
      Thread& t = *threads_[a.thread];
      if (t.deadline >= 0 && now_ < t.deadline) now_ = t.deadline;
      Dequeue(a.thread, nullptr);
      MakeReady(a.thread, FutexWaitResult::kTimedOut, -1);
      exec_counts_.insert("timeout");
      Step("[event] " + ThreadName(a.thread) + "'s wait times out");
      return;
    }
    case AltKind::kSpurious:
      Dequeue(a.thread, nullptr);
      MakeReady(a.thread, FutexWaitResult::kWoken, -1);
      ++spurious_used_;
      exec_counts_.insert("spurious_wakeup");
      Step("[event] " + ThreadName(a.thread) + " wakes spuriously");
      return;
    case AltKind::kSubmit: {
      AsyncOp* op = a.op;
      const std::string head = "[event] submit " + OpName(op) + " of " + ThreadName(op->owner_) +
                               " on " + OpWords(op);
      for (const WaitEntry& e : op->entries_) {
        const uint32_t v = e.word->peek();
        if (v != e.expected) {
          CompleteOp(op, -EAGAIN);
          exec_counts_.insert("async_eagain");
          Step(head + ": saw " + WordName(e.word) + " = " + Hex(v) + " -> -EAGAIN");
          return;
        }
      }
      op->state_ = AsyncOp::State::kArmed;
      for (size_t i = 0; i < op->entries_.size(); ++i) {
        queue_.push_back({op->entries_[i].word, op->bitset_, -1, op, static_cast<int>(i)});
      }
      Step(head + " -> armed");
      for (const WaitEntry& e : op->entries_) CheckSleep(e.word, e.expected, op->bitset_);
      return;
    }
    case AltKind::kCancelDone:
      CompleteOp(a.op, -ECANCELED);
      exec_counts_.insert("async_cancel");
      Step("[event] cancel of " + OpName(a.op) + " of " + ThreadName(a.op->owner_) +
           " completes it -> -ECANCELED");
      return;
    case AltKind::kRequeue:
      Dequeue(-1, a.op);
      a.op->state_ = AsyncOp::State::kUnsubmitted;
      ++requeues_used_;
      exec_counts_.insert("requeue");
      Step("[event] " + OpName(a.op) + " of " + ThreadName(a.op->owner_) +
           " leaves the wait queue to be submitted again (fallback helper)");
      return;
    case AltKind::kAsyncTimeout: {
      AsyncOp* op = a.op;
      if (op->deadline_ >= 0 && now_ < op->deadline_) now_ = op->deadline_;
      CompleteOp(op, -ETIMEDOUT);
      exec_counts_.insert("async_timeout");
      Step("[event] " + OpName(op) + " of " + ThreadName(op->owner_) +
           " times out -> -ETIMEDOUT");
      return;
    }
  }
}

void Scheduler::StartWait(AsyncOp* op, const WaitEntry* entries, int count, uint32_t bitset,
                          bool timed, bool waitv, const char* what) {
  FirstOp();
  if (op->state_ != AsyncOp::State::kIdle) {
    Fail("StartWait on " + OpName(op) + " which is still in flight");
    return;
  }
  op->owner_ = current_;
  op->id_ = ++next_op_id_;
  op->what_ = what;
  op->entries_.assign(entries, entries + count);
  op->waitv_ = waitv;
  op->bitset_ = bitset;
  op->timed_ = timed;
  op->deadline_ = kNoDeadline;
  op->state_ = AsyncOp::State::kUnsubmitted;
  pending_ops_.push_back(op);
  if (draining_) {
    CompleteOp(op, 0);
    return;
  }
  Step(ThreadName(current_) + " start_wait" + (waitv ? "v " : " ") + OpName(op) + " on " +
       OpWords(op) + (timed ? ", timed" : "") + " (unsubmitted)");
}

std::string Scheduler::OpWords(const AsyncOp* op) const {
  std::string s;
  for (const WaitEntry& e : op->entries_) {
    if (!s.empty()) s += ", ";
    s += WordName(e.word) + " exp=" + Hex(e.expected);
  }
  return s;
}

void Scheduler::Cancel(AsyncOp* op) {
  BeforeOp();
  if (draining_) return;
  const char* before = op->state_ == AsyncOp::State::kArmed         ? "armed"
                       : op->state_ == AsyncOp::State::kUnsubmitted ? "unsubmitted"
                       : op->state_ == AsyncOp::State::kCompleted   ? "completed"
                                                                    : "idle";
  if (op->state_ == AsyncOp::State::kUnsubmitted) {
    CompleteOp(op, -ECANCELED);
    exec_counts_.insert("async_cancel");
    Step(ThreadName(current_) + " cancel " + OpName(op) + ": " + before + " -> -ECANCELED");
  } else if (op->state_ == AsyncOp::State::kArmed) {
    // As io_uring's ASYNC_CANCEL: the request races with a wake, which may
    // still complete the op with 0; else a later event completes it.
    op->cancel_requested_ = true;
    Step(ThreadName(current_) + " cancel " + OpName(op) + ": armed -> cancel requested");
  } else {
    Step(ThreadName(current_) + " cancel " + OpName(op) + ": no-op, " + before);
  }
}

void Scheduler::RunLoopUntil(const std::function<bool()>& pred) {
  const int self = current_;
  FirstOp();
  Thread& t = *threads_[self];
  for (;;) {
    if (pred()) return;
    if (draining_) {
      if (t.cq.empty()) {
        AbortYield();
        continue;
      }
    } else {
      t.status = Status::kInLoop;
      Decide();  // returns once one of this thread's ops completed (or drained)
      t.status = Status::kReady;
      if (t.cq.empty()) continue;
    }
    AsyncOp* op = t.cq.front();
    t.cq.pop_front();
    const int32_t res = op->res_;
    op->state_ = AsyncOp::State::kIdle;
    if (!draining_) {
      if (steps_ > op->completed_step_ + 1) exec_counts_.insert("late_dispatch");
      Step(ThreadName(self) + " dispatch " + OpName(op) + " res=" + std::to_string(res));
    }
    op->Complete(res);
  }
}

void Scheduler::ForgetOp(AsyncOp* op) {
  if (op->state_ == AsyncOp::State::kIdle) return;
  const bool pending = op->state_ != AsyncOp::State::kCompleted;
  if (!draining_) {
    Fail("async " + OpName(op) + " destroyed while in flight (" +
         (op->state_ == AsyncOp::State::kUnsubmitted ? "unsubmitted"
          : pending                                   ? "armed"
                                                      : "completed, not dispatched") +
         ")");
  }
  if (op->state_ == AsyncOp::State::kArmed) Dequeue(-1, op);
  std::erase(pending_ops_, op);
  if (op->owner_ >= 0) std::erase(threads_[op->owner_]->cq, op);
  op->state_ = AsyncOp::State::kIdle;
}

}  // namespace internal

AsyncOp::~AsyncOp() {
  if (state_ == State::kIdle) return;
  if (internal::Scheduler* s = internal::ModelScheduler()) s->ForgetOp(this);
}

FutexWaitResult Wait(const Atomic<uint32_t>& word, uint32_t expected, uint32_t bitset,
                     bool timed) {
  internal::Scheduler* s = internal::ModelScheduler();
  if (s == nullptr) {
    if (word.peek() != expected) return FutexWaitResult::kValueChanged;
    if (timed) return FutexWaitResult::kTimedOut;
    internal::Die("check::Wait outside an exploration would sleep forever");
  }
  const WaitEntry e{&word, expected};
  return s->Sleep(&e, 1, bitset, timed, kNoDeadline, false).result;
}

FutexWaitResult WaitUntil(const Atomic<uint32_t>& word, uint32_t expected, uint32_t bitset,
                          int64_t deadline_ns) {
  internal::Scheduler* s = internal::ModelScheduler();
  if (s == nullptr) return Wait(word, expected, bitset, deadline_ns >= 0);
  const WaitEntry e{&word, expected};
  return s->Sleep(&e, 1, bitset, deadline_ns >= 0, deadline_ns, false).result;
}

int Wake(const Atomic<uint32_t>& word, int n, uint32_t bitset) {
  internal::Scheduler* s = internal::ModelScheduler();
  return s == nullptr ? 0 : s->Wake(&word, n, bitset);
}

WaitAnyResult WaitAny(const WaitEntry* entries, int count, bool timed) {
  internal::Scheduler* s = internal::ModelScheduler();
  if (s == nullptr) {
    for (int i = 0; i < count; ++i) {
      if (entries[i].word->peek() != entries[i].expected) {
        return {FutexWaitResult::kValueChanged, i};
      }
    }
    if (timed) return {FutexWaitResult::kTimedOut, -1};
    internal::Die("check::WaitAny outside an exploration would sleep forever");
  }
  return s->Sleep(entries, count, kMatchAny, timed, kNoDeadline, true);
}

WaitAnyResult WaitAnyUntil(const WaitEntry* entries, int count, int64_t deadline_ns) {
  internal::Scheduler* s = internal::ModelScheduler();
  if (s == nullptr) return WaitAny(entries, count, deadline_ns >= 0);
  return s->Sleep(entries, count, kMatchAny, deadline_ns >= 0, deadline_ns, true);
}

void StartWait(AsyncOp* op, const Atomic<uint32_t>& word, uint32_t expected, uint32_t bitset,
               bool timed, const char* what) {
  internal::Scheduler* s = internal::ModelScheduler();
  if (s == nullptr) internal::Die("check::StartWait outside an exploration");
  const WaitEntry e{&word, expected};
  s->StartWait(op, &e, 1, bitset, timed, /*waitv=*/false, what);
}

void StartWaitv(AsyncOp* op, const WaitEntry* entries, int count, bool timed, const char* what) {
  internal::Scheduler* s = internal::ModelScheduler();
  if (s == nullptr) internal::Die("check::StartWaitv outside an exploration");
  s->StartWait(op, entries, count, kMatchAny, timed, /*waitv=*/true, what);
}

void Cancel(AsyncOp* op) {
  internal::Scheduler* s = internal::ModelScheduler();
  if (s == nullptr) internal::Die("check::Cancel outside an exploration");
  s->Cancel(op);
}

void RunLoopUntil(const std::function<bool()>& pred) {
  internal::Scheduler* s = internal::ModelScheduler();
  if (s == nullptr) internal::Die("check::RunLoopUntil outside an exploration");
  s->RunLoopUntil(pred);
}

}  // namespace ringlock::check
