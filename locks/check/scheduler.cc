#include "locks/check/scheduler.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <sstream>

#include "locks/check/scheduler_internal.h"

namespace ringlock::check {
namespace internal {
namespace {

std::atomic<Scheduler*> g_active{nullptr};  // the running exploration, for word registration
thread_local Scheduler* t_sched = nullptr;  // set on the pool's threads
thread_local int t_tid = kMain;
thread_local int t_direct = 0;  // > 0 inside check callbacks: operations act directly
std::mutex g_explore_mu;        // one exploration at a time

// Schedulers whose threads could not be drained after a failure: their
// threads stay parked on them, so they are never freed.
std::vector<std::unique_ptr<Scheduler>>& Graveyard() {
  static auto* g = new std::vector<std::unique_ptr<Scheduler>>;
  return *g;
}

struct DirectScope {
  DirectScope() { ++t_direct; }
  ~DirectScope() { --t_direct; }
};

std::string Hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
  return buf;
}

uint64_t Mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h * 0xff51afd7ed558ccdull;
}

}  // namespace

Scheduler* ModelScheduler() { return t_direct == 0 ? t_sched : nullptr; }
void BeforeOp(Scheduler* s) { s->BeforeOp(); }
void AfterOp(Scheduler* s, const OpRecord& rec) { s->AfterOp(rec); }
bool SpuriousCasFailure(Scheduler* s) { return s->SpuriousCasFailure(); }

void RegisterWord(const void* word, uint64_t (*read)(const void*)) {
  if (Scheduler* s = g_active.load(std::memory_order_acquire)) s->Register(word, read);
}
void UnregisterWord(const void* word) {
  if (Scheduler* s = g_active.load(std::memory_order_acquire)) s->Unregister(word);
}

Scheduler::Scheduler(const Config& config, const Options& options)
    : config_(config), options_(options) {}

Scheduler::~Scheduler() { Shutdown(); }

void Scheduler::Shutdown() {
  {
    std::lock_guard<std::mutex> g(mu_);
    shutdown_ = true;
    for (auto& t : threads_) t->cv.notify_one();
  }
  for (auto& t : pool_) t.join();
  pool_.clear();
}

void Scheduler::Register(const void* word, uint64_t (*read)(const void*)) {
  std::lock_guard<std::mutex> g(registry_mu_);
  word_index_[word] = words_.size();
  words_.push_back({word, read, "", true});
}

void Scheduler::Unregister(const void* word) {
  std::lock_guard<std::mutex> g(registry_mu_);
  auto it = word_index_.find(word);
  if (it == word_index_.end()) return;
  words_[it->second].alive = false;
  word_index_.erase(it);
}

void Scheduler::Name(const void* word, const char* name) {
  std::lock_guard<std::mutex> g(registry_mu_);
  auto it = word_index_.find(word);
  if (it != word_index_.end()) words_[it->second].name = name;
}

std::string Scheduler::WordName(const void* word) const {
  char addr[32];
  std::snprintf(addr, sizeof addr, "@%p", word);
  auto it = word_index_.find(word);
  if (it == word_index_.end()) return std::string("word") + addr;
  const WordInfo& w = words_[it->second];
  return (w.name.empty() ? "w" + std::to_string(it->second) : w.name) + addr;
}

std::string Scheduler::OpName(const AsyncOp* op) const {
  std::string s = "op#" + std::to_string(op->id_);
  if (op->what_ != nullptr) s += std::string("(") + op->what_ + ")";
  return s;
}

// ---------------------------------------------------------------------------
// The search.

Result Scheduler::Run() {
  Result r;
  r.config = config_.name;
  if (!options_.replay.empty()) {
    replaying_ = true;
    if (options_.replay.rfind("s:", 0) != 0) {
      r.failure = "bad replay string \"" + options_.replay + "\": it starts with \"s:\"";
      return r;
    }
    std::istringstream in(options_.replay.substr(2));
    std::string item;
    while (std::getline(in, item, '.')) {
      Choice c{};
      if (std::sscanf(item.c_str(), "%d/%d", &c.chosen, &c.n) != 2 || c.n < 2 || c.chosen < 0 ||
          c.chosen >= c.n) {
        r.failure = "bad replay string at \"" + item + "\" (expected c/n items joined by '.')";
        return r;
      }
      stack_.push_back(c);
    }
  }
  g_active.store(this, std::memory_order_release);
  for (;;) {
    if (executions_ >= options_.max_executions) {
      failed_ = true;
      failure_ = "max_executions (" + std::to_string(options_.max_executions) +
                 ") reached before the search was exhausted: the result would be partial; "
                 "shrink the configuration, lower preemption_bound or raise max_executions";
      failure_trace_.clear();
      break;
    }
    RunOneExecution();
    ++executions_;
    if (failed_ || abandoned_ || replaying_) break;
    if (!Backtrack()) break;
  }
  g_active.store(nullptr, std::memory_order_release);
  r.passed = !failed_;
  r.failure = failure_;
  r.trace = failure_trace_;
  r.executions = executions_;
  r.distinct_states = static_cast<int64_t>(states_.size());
  r.max_depth = max_depth_;
  r.counts = counts_;
  r.replay = replay_;
  return r;
}

bool Scheduler::Backtrack() {
  while (!stack_.empty() && stack_.back().chosen + 1 >= stack_.back().n) stack_.pop_back();
  if (stack_.empty()) return false;
  ++stack_.back().chosen;
  return true;
}

int Scheduler::NextChoice(int n) {
  if (pos_ < stack_.size()) {
    Choice& c = stack_[pos_];
    if (c.n != n) {
      Fail("nondeterministic configuration: choice " + std::to_string(pos_) + " had " +
           std::to_string(c.n) + " alternatives before, " + std::to_string(n) +
           " now (a model that depends on something besides the schedule, or a wrong replay "
           "string)");
      ++pos_;
      return 0;
    }
    ++pos_;
    return c.chosen;
  }
  if (replaying_) {
    Fail("replay string ended before the schedule did");
    return 0;
  }
  stack_.push_back({0, n});
  ++pos_;
  return 0;
}

void Scheduler::RunOneExecution() {
  pos_ = 0;
  steps_ = 0;
  preemptions_ = 0;
  spurious_used_ = 0;
  requeues_used_ = 0;
  cas_failures_ = 0;
  clock_advances_ = 0;
  now_ = 0;
  next_op_id_ = 0;
  drain_steps_ = 0;
  draining_ = false;
  queue_.clear();
  pending_ops_.clear();
  trace_.clear();
  exec_counts_.clear();
  current_ = kMain;
  {
    std::lock_guard<std::mutex> g(registry_mu_);
    words_.clear();
    word_index_.clear();
  }
  exec_ = config_.setup();
  const int n = static_cast<int>(exec_.threads.size());
  if (pool_.empty()) {
    for (int i = 0; i < n; ++i) threads_.push_back(std::make_unique<Thread>());
    for (int i = 0; i < n; ++i) pool_.emplace_back([this, i] { WorkerLoop(i); });
  } else if (static_cast<int>(threads_.size()) != n) {
    failed_ = true;
    failure_ = "nondeterministic configuration: setup returned " + std::to_string(n) +
               " threads, earlier " + std::to_string(threads_.size());
    return;
  }
  for (int i = 0; i < n; ++i) {
    Thread& t = *threads_[i];
    t.status = Status::kNotStarted;
    t.body = std::move(exec_.threads[i]);
    t.cq.clear();
    t.sleep_on.clear();
  }
  {
    DirectScope d;
    if (exec_.invariant) {
      std::string e = exec_.invariant();
      if (!e.empty()) Fail("invariant violated in the initial state: " + e);
    }
  }
  HashState();
  if (!failed_) {
    current_ = kMain;
    Decide();  // returns when the execution is over (or abandoned)
  }
  if (!failed_ && !abandoned_) {
    if (!pending_ops_.empty()) {
      Fail("all threads finished with async " + OpName(pending_ops_.front()) +
           " still submitted or armed: nobody will ever dispatch it");
    } else {
      for (int i = 0; i < n && !failed_; ++i) {
        if (!threads_[i]->cq.empty()) {
          Fail(ThreadName(i) + " finished with " + OpName(threads_[i]->cq.front()) +
               " completed but never dispatched");
        }
      }
    }
  }
  if (!failed_ && !abandoned_ && exec_.final_check) {
    DirectScope d;
    std::string e = exec_.final_check();
    if (!e.empty()) Fail("final check failed: " + e);
  }
  if (!failed_ && replaying_ && pos_ < stack_.size()) {
    Fail("replay diverged: the schedule ended after " + std::to_string(pos_) + " of " +
         std::to_string(stack_.size()) + " choices");
  }
  if (!abandoned_) {
    for (AsyncOp* op : pending_ops_) op->state_ = AsyncOp::State::kIdle;
    for (auto& t : threads_) {
      for (AsyncOp* op : t->cq) op->state_ = AsyncOp::State::kIdle;
      t->cq.clear();
      t->body = nullptr;
    }
    pending_ops_.clear();
    exec_ = Execution{};  // frees the state
  }
  max_depth_ = std::max(max_depth_, steps_);
  for (const std::string& c : exec_counts_) ++counts_[c];
}

void Scheduler::WorkerLoop(int id) {
  t_sched = this;
  t_tid = id;
  for (;;) {
    {
      std::unique_lock<std::mutex> lk(mu_);
      threads_[id]->cv.wait(lk, [&] { return turn_ == id || shutdown_; });
      if (shutdown_) return;
    }
    try {
      threads_[id]->body();
    } catch (const std::exception& e) {
      Fail(ThreadName(id) + " threw: " + e.what());
    } catch (...) {
      Fail(ThreadName(id) + " threw an exception");
    }
    OnFinish(id);
  }
}

// ---------------------------------------------------------------------------
// Scheduling.

void Scheduler::SwitchTo(int to, int self, bool wait_back) {
  std::unique_lock<std::mutex> lk(mu_);
  turn_ = to;
  current_ = to;
  CvOf(to).notify_one();
  if (wait_back) CvOf(self).wait(lk, [&] { return turn_ == self; });
}

bool Scheduler::Ready(int t) const {
  const Thread& th = *threads_[t];
  return th.status == Status::kReady || th.status == Status::kNotStarted || (th.status == Status::kInLoop && !th.cq.empty());
}

bool Scheduler::AllFinished() const {
  for (const auto& t : threads_) {
    if (t->status != Status::kFinished) return false;
  }
  return true;
}

void Scheduler::BuildAlternatives() {
  alts_.clear();
  const int n = static_cast<int>(threads_.size());
  bool can_switch = true;
  if (current_ != kMain && Ready(current_)) {
    alts_.push_back({AltKind::kRun, current_, nullptr});
    can_switch = options_.preemption_bound < 0 || preemptions_ < options_.preemption_bound;
  }
  if (can_switch) {
    for (int t = 0; t < n; ++t) {
      if (t != current_ && Ready(t)) alts_.push_back({AltKind::kRun, t, nullptr});
    }
  }
  for (int t = 0; t < n; ++t) {
    if (threads_[t]->status == Status::kAsleep && threads_[t]->timed) {
      alts_.push_back({AltKind::kTimeout, t, nullptr});
    }
  }
  for (AsyncOp* op : pending_ops_) {
    if (op->state_ == AsyncOp::State::kUnsubmitted) {
      alts_.push_back({AltKind::kSubmit, -1, op});
    } else if (op->state_ == AsyncOp::State::kArmed && op->timed_) {
      alts_.push_back({AltKind::kAsyncTimeout, -1, op});
    }
    if (op->cancel_requested_) alts_.push_back({AltKind::kCancelDone, -1, op});
    if (op->state_ == AsyncOp::State::kArmed && requeues_used_ < options_.max_requeues) {
      alts_.push_back({AltKind::kRequeue, -1, op});
    }
  }
  // Spurious wakeups last: they never count as a way out of a deadlock.
  if (spurious_used_ < options_.max_spurious_wakeups) {
    for (int t = 0; t < n; ++t) {
      if (threads_[t]->status == Status::kAsleep) {
        alts_.push_back({AltKind::kSpurious, t, nullptr});
      }
    }
  }
}

void Scheduler::Decide() {
  for (;;) {
    if (draining_) {
      AbortYield();
      return;
    }
    BuildAlternatives();
    bool progress = false;
    for (const Alt& a : alts_) progress |= a.kind != AltKind::kSpurious;
    if (!progress) {
      if (AllFinished()) {
        if (current_ != kMain) SwitchTo(kMain, current_, false);
        return;
      }
      Fail(DeadlockMessage());
      continue;
    }
    const int k = alts_.size() == 1 ? 0 : NextChoice(static_cast<int>(alts_.size()));
    if (draining_) continue;
    const Alt a = alts_[k];
    if (a.kind != AltKind::kRun) {
      ApplyEvent(a);
      continue;
    }
    const int self = current_;
    if (a.thread == self) return;
    if (self != kMain && Ready(self)) {
      ++preemptions_;
      exec_counts_.insert("preemption");
      Trace("-- " + ThreadName(self) + " preempted (" + std::to_string(preemptions_) + "), " +
            ThreadName(a.thread) + " runs");
    }
    const bool wait_back = self == kMain || threads_[self]->status != Status::kFinished;
    SwitchTo(a.thread, self, wait_back);
    return;
  }
}

void Scheduler::OnFinish(int id) {
  Thread& t = *threads_[id];
  t.status = Status::kFinished;
  if (!draining_) {
    Trace(ThreadName(id) + " finished");
    HashState();
  }
  Decide();
}

// A thread is started when the scheduler first picks it, and runs its body
// up to its first operation, which it then performs without another
// decision: code before the first operation is invisible to other threads.
bool Scheduler::FirstOp() {
  Thread& t = *threads_[current_];
  if (t.status != Status::kNotStarted) return false;
  t.status = Status::kReady;
  return true;
}

void Scheduler::BeforeOp() {
  if (FirstOp()) return;
  if (draining_) {
    AbortYield();
    return;
  }
  if (steps_ >= options_.max_steps) {
    Fail("execution exceeded max_steps (" + std::to_string(options_.max_steps) +
         "): a livelock (some thread retries forever) or max_steps is too small");
    AbortYield();
    return;
  }
  Decide();
}

void Scheduler::AfterOp(const OpRecord& rec) {
  if (draining_) return;
  std::string s = ThreadName(t_tid) + " " + WordName(rec.word) + " " + rec.op + "(";
  if (rec.nargs >= 1) s += Hex(rec.arg0);
  if (rec.nargs >= 2) s += ", " + Hex(rec.arg1);
  s += ")";
  if (rec.ok == 0) {
    s += " failed, saw " + Hex(rec.before);
  } else if (rec.before == rec.after) {
    s += ": " + Hex(rec.before);
  } else {
    s += ": " + Hex(rec.before) + " -> " + Hex(rec.after);
  }
  Step(std::move(s));
}

bool Scheduler::SpuriousCasFailure() {
  if (draining_ || cas_failures_ >= options_.max_spurious_cas_failures) return false;
  if (NextChoice(2) == 0) return false;
  ++cas_failures_;
  exec_counts_.insert("cas_spurious_failure");
  return true;
}

int Scheduler::ModelChoose(int n, const char* what) {
  BeforeOp();
  if (draining_ || n <= 1) return 0;
  const int k = NextChoice(n);
  if (draining_) return 0;
  Step(ThreadName(t_tid) + " choose(" + (what ? what : "") + ") -> " + std::to_string(k) +
       " of " + std::to_string(n));
  return k;
}

int64_t Scheduler::Now() {
  BeforeOp();
  if (draining_) return now_;
  if (clock_advances_ < options_.max_clock_advances && NextChoice(2) == 1) {
    ++clock_advances_;
    now_ += options_.clock_tick_ns;
    exec_counts_.insert("clock_advance");
  }
  if (draining_) return now_;
  Step(ThreadName(t_tid) + " clock -> " + std::to_string(now_) + " ns");
  return now_;
}

void Scheduler::Trace(std::string text) { trace_.push_back(std::move(text)); }

void Scheduler::Step(std::string text) {
  ++steps_;
  trace_.push_back("#" + std::to_string(steps_) + " " + text);
  if (exec_.invariant) {
    std::string e;
    {
      DirectScope d;
      e = exec_.invariant();
    }
    if (!e.empty()) {
      Fail("invariant violated: " + e);
      return;
    }
  }
  HashState();
}

void Scheduler::CheckSleep(const Atomic<uint32_t>* word, uint32_t expected, uint32_t bitset) {
  if (!exec_.sleep_check || draining_) return;
  std::string e;
  {
    DirectScope d;
    e = exec_.sleep_check(word, expected, bitset);
  }
  if (!e.empty()) Fail("invariant violated by a sleeper: " + e);
}

void Scheduler::HashState() {
  uint64_t h = 0x12345;
  {
    std::lock_guard<std::mutex> g(registry_mu_);
    for (size_t i = 0; i < words_.size(); ++i) {
      if (!words_[i].alive) continue;
      h = Mix(h, i);
      h = Mix(h, words_[i].read(words_[i].word));
    }
  }
  for (size_t i = 0; i < threads_.size(); ++i) {
    const Thread& t = *threads_[i];
    h = Mix(h, static_cast<uint64_t>(t.status));
    if (t.status == Status::kAsleep) {
      for (const WaitEntry& e : t.sleep_on) {
        auto it = word_index_.find(e.word);
        h = Mix(h, it == word_index_.end() ? 0 : it->second + 1);
      }
      h = Mix(h, t.timed);
    }
    h = Mix(h, t.cq.size());
  }
  for (const AsyncOp* op : pending_ops_) {
    h = Mix(h, static_cast<uint64_t>(op->id_) * 8 + static_cast<uint64_t>(op->state_));
  }
  h = Mix(h, static_cast<uint64_t>(now_));
  if (exec_.hash) {
    StateHasher sh;
    DirectScope d;
    exec_.hash(sh);
    h = Mix(h, sh.value());
  }
  states_.insert(h);
}

// ---------------------------------------------------------------------------
// Failure: record, then drain the threads.

void Scheduler::Fail(const std::string& message) {
  if (failed_) {
    EnterDrain();
    return;
  }
  failed_ = true;
  failure_ = message;
  replay_ = "s:";
  for (size_t i = 0; i < pos_ && i < stack_.size(); ++i) {
    if (i > 0) replay_ += '.';
    replay_ += std::to_string(stack_[i].chosen) + "/" + std::to_string(stack_[i].n);
  }
  std::string t;
  for (const std::string& line : trace_) t += line + "\n";
  t += "FAILED: " + message + "\n";
  t += StateSummary();
  failure_trace_ = std::move(t);
  EnterDrain();
}

void Scheduler::EnterDrain() {
  if (draining_) return;
  draining_ = true;
  // Nothing sleeps any more: sleepers return kWoken, waits return at once,
  // pending async ops complete with 0, and threads run round-robin.
  for (size_t t = 0; t < threads_.size(); ++t) {
    if (threads_[t]->status == Status::kAsleep) MakeReady(static_cast<int>(t), FutexWaitResult::kWoken, -1);
  }
  queue_.clear();
  std::vector<AsyncOp*> ops = pending_ops_;
  for (AsyncOp* op : ops) CompleteOp(op, 0);
}

void Scheduler::AbortYield() {
  const int self = current_;
  if (++drain_steps_ > options_.drain_steps && self != kMain) Abandon(self);
  const int n = static_cast<int>(threads_.size());
  const int start = self == kMain ? 0 : self + 1;
  for (int i = 0; i < n; ++i) {
    const int t = (start + i) % n;
    if (threads_[t]->status == Status::kFinished) continue;
    if (t == self) return;
    const bool wait_back = self == kMain || threads_[self]->status != Status::kFinished;
    SwitchTo(t, self, wait_back);
    return;
  }
  if (self == kMain) return;
  if (threads_[self]->status != Status::kFinished) return;
  SwitchTo(kMain, self, false);
}

void Scheduler::Abandon(int self) {
  std::unique_lock<std::mutex> lk(mu_);
  abandoned_ = true;
  failure_trace_ += "(could not drain the threads after the failure within " +
                    std::to_string(options_.drain_steps) +
                    " operations: they stay parked and their state is leaked)\n";
  turn_ = kMain;
  current_ = kMain;
  main_cv_.notify_one();
  threads_[self]->cv.wait(lk, [] { return false; });
  std::abort();  // unreachable
}

std::string Scheduler::DeadlockMessage() const {
  std::string s = "lost wakeup / deadlock: no thread can run and nothing can time out;";
  for (size_t i = 0; i < threads_.size(); ++i) {
    const Thread& t = *threads_[i];
    if (t.status == Status::kAsleep) {
      s += " " + ThreadName(static_cast<int>(i)) + " asleep on";
      for (const WaitEntry& e : t.sleep_on) {
        s += " " + WordName(e.word) + " (expected " + Hex(e.expected) + ", now " +
             Hex(e.word->peek()) + ")";
      }
      s += ";";
    } else if (t.status == Status::kInLoop) {
      s += " " + ThreadName(static_cast<int>(i)) + " idle in RunLoopUntil with no completion coming;";
    }
  }
  for (const AsyncOp* op : pending_ops_) {
    s += " " + OpName(op) + " armed on";
    for (const WaitEntry& e : op->entries_) {
      s += " " + WordName(e.word) + " (expected " + Hex(e.expected) + ", now " +
           Hex(e.word->peek()) + ")";
    }
    s += ";";
  }
  s.pop_back();
  return s;
}

std::string Scheduler::StateSummary() const {
  std::string s = "state:\n";
  for (size_t i = 0; i < words_.size(); ++i) {
    if (!words_[i].alive) continue;
    s += "  " + WordName(words_[i].word) + " = " + Hex(words_[i].read(words_[i].word)) + "\n";
  }
  for (size_t i = 0; i < threads_.size(); ++i) {
    const Thread& t = *threads_[i];
    s += "  " + ThreadName(static_cast<int>(i)) + ": ";
    switch (t.status) {
      case Status::kNotStarted: s += "not started"; break;
      case Status::kReady: s += "runnable"; break;
      case Status::kFinished: s += "finished"; break;
      case Status::kInLoop: s += "idle in RunLoopUntil"; break;
      case Status::kAsleep:
        s += "asleep on";
        for (const WaitEntry& e : t.sleep_on) {
          s += " " + WordName(e.word) + " (expected " + Hex(e.expected) + ")";
        }
        s += t.timed ? ", timed" : ", no timeout";
        break;
    }
    for (const AsyncOp* op : t.cq) s += ", " + OpName(op) + " completed, not dispatched";
    s += "\n";
  }
  for (const AsyncOp* op : pending_ops_) {
    s += "  " + OpName(op) + " of " + ThreadName(op->owner_) + ": " +
         (op->state_ == AsyncOp::State::kArmed ? "armed on " : "unsubmitted, for ") +
         OpWords(op) +
         (op->timed_ ? ", timed" : ", no timeout") + "\n";
  }
  return s;
}

}  // namespace internal

// ---------------------------------------------------------------------------
// Public API.

std::string Result::Summary() const {
  std::string s = config + ": " + (passed ? "PASSED" : "FAILED") + ", " +
                  std::to_string(executions) + " executions, " +
                  std::to_string(distinct_states) + " distinct states, max depth " +
                  std::to_string(max_depth);
  if (!counts.empty()) {
    s += "; executions with:";
    for (const auto& [k, v] : counts) s += " " + k + "=" + std::to_string(v);
  }
  return s;
}

std::string Result::Report() const {
  std::string s = Summary() + "\n";
  if (!passed) {
    s += "failure: " + failure + "\n";
    if (!trace.empty()) s += "trace:\n" + trace;
    if (!replay.empty()) s += "replay: \"" + replay + "\"\n";
  }
  return s;
}

Result Explore(const Config& config, const Options& options) {
  std::lock_guard<std::mutex> g(internal::g_explore_mu);
  auto s = std::make_unique<internal::Scheduler>(config, options);
  Result r = s->Run();
  if (s->abandoned()) {
    internal::Graveyard().push_back(std::move(s));  // its threads stay parked on it
  }
  return r;
}

int Choose(int n, const char* what) {
  internal::Scheduler* s = internal::ModelScheduler();
  return s == nullptr ? 0 : s->ModelChoose(n, what);
}

void Count(const char* what) {
  if (internal::Scheduler* s = internal::ModelScheduler()) s->CountEvent(what);
}

void NameWord(const void* word, const char* name) {
  if (internal::Scheduler* s = internal::g_active.load(std::memory_order_acquire)) {
    s->Name(word, name);
  }
}

int64_t NowNanos() {
  internal::Scheduler* s = internal::ModelScheduler();
  return s == nullptr ? 0 : s->Now();
}

bool InModel() { return internal::ModelScheduler() != nullptr; }

}  // namespace ringlock::check
