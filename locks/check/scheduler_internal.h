// The scheduler behind scheduler.h and model_futex.h. Internal to
// locks/check.
#ifndef RINGLOCK_LOCKS_CHECK_SCHEDULER_INTERNAL_H_
#define RINGLOCK_LOCKS_CHECK_SCHEDULER_INTERNAL_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "locks/check/model_atomic.h"
#include "locks/check/model_futex.h"
#include "locks/check/scheduler.h"

namespace ringlock::check::internal {

inline constexpr int kMain = -1;  // the exploring thread's id in the baton protocol

class Scheduler {
 public:
  Scheduler(const Config& config, const Options& options);
  ~Scheduler();
  Result Run();
  bool abandoned() const { return abandoned_; }

  // ---- model-thread side (the caller holds the baton) ----
  void BeforeOp();
  bool FirstOp();
  void AfterOp(const OpRecord& rec);
  bool SpuriousCasFailure();
  int ModelChoose(int n, const char* what);
  void CountEvent(const char* what) {
    if (!draining_) exec_counts_.insert(what);
  }
  int64_t Now();
  WaitAnyResult Sleep(const WaitEntry* entries, int count, uint32_t bitset, bool timed,
                      int64_t deadline, bool waitv);
  int Wake(const Atomic<uint32_t>* word, int n, uint32_t bitset);
  void StartWait(AsyncOp* op, const WaitEntry* entries, int count, uint32_t bitset, bool timed,
                 bool waitv, const char* what);
  void Cancel(AsyncOp* op);
  void RunLoopUntil(const std::function<bool()>& pred);
  void ForgetOp(AsyncOp* op);

  // ---- word registry (any thread) ----
  void Register(const void* word, uint64_t (*read)(const void*));
  void Unregister(const void* word);
  void Name(const void* word, const char* name);

 private:
  enum class Status : uint8_t { kNotStarted, kReady, kAsleep, kInLoop, kFinished };
  struct Thread {
    Status status = Status::kNotStarted;
    std::function<void()> body;
    std::condition_variable cv;
    // While asleep:
    bool timed = false;
    int64_t deadline = kNoDeadline;
    std::vector<WaitEntry> sleep_on;
    FutexWaitResult result = FutexWaitResult::kWoken;
    int result_index = -1;
    std::deque<AsyncOp*> cq;  // completed, not yet dispatched ops (loop threads)
  };
  struct Sleeper {  // one entry of the futex queue (FIFO)
    const void* word;
    uint32_t bitset;
    int thread;    // or -1
    AsyncOp* op;   // or nullptr
    int index;     // WaitAny entry index
  };
  enum class AltKind : uint8_t {
    kRun, kTimeout, kSpurious, kSubmit, kAsyncTimeout, kCancelDone, kRequeue
  };
  struct Alt {
    AltKind kind;
    int thread;
    AsyncOp* op;
  };
  struct Choice {
    int chosen;
    int n;
  };
  struct WordInfo {
    const void* word;
    uint64_t (*read)(const void*);
    std::string name;
    bool alive;
  };

  // Execution driving (main thread).
  void RunOneExecution();
  bool Backtrack();
  void WorkerLoop(int id);
  void Shutdown();

  // Baton passing.
  std::condition_variable& CvOf(int id) { return id == kMain ? main_cv_ : threads_[id]->cv; }
  void SwitchTo(int to, int self, bool wait_back);
  void Decide();
  void AbortYield();
  void OnFinish(int id);
  bool Ready(int t) const;
  bool AllFinished() const;
  void BuildAlternatives();
  void ApplyEvent(const Alt& a);
  int NextChoice(int n);

  // Failure and drain.
  void Fail(const std::string& message);
  void EnterDrain();
  [[noreturn]] void Abandon(int self);

  // Bookkeeping.
  void Step(std::string text);  // one executed step: trace, invariant, state hash
  void Trace(std::string text);
  void HashState();
  // "w0 exp=0x1, w1 exp=0x0" for an op's words.
  std::string OpWords(const AsyncOp* op) const;
  // Execution::sleep_check for a sleeper that just went to sleep.
  void CheckSleep(const Atomic<uint32_t>* word, uint32_t expected, uint32_t bitset);
  void CompleteOp(AsyncOp* op, int32_t res);
  void Dequeue(int thread, AsyncOp* op);
  void MakeReady(int t, FutexWaitResult r, int index);
  std::string WordName(const void* word) const;
  std::string ThreadName(int t) const { return "T" + std::to_string(t + 1); }
  std::string OpName(const AsyncOp* op) const;
  std::string DeadlockMessage() const;
  std::string StateSummary() const;

  const Config config_;
  const Options options_;

  // Baton: the one thread allowed to run. Guarded by mu_.
  std::mutex mu_;
  std::condition_variable main_cv_;
  int turn_ = kMain;
  bool shutdown_ = false;
  std::vector<std::unique_ptr<Thread>> threads_;
  std::vector<std::thread> pool_;

  // Everything below is touched only by the baton holder.
  Execution exec_;
  int current_ = kMain;
  bool failed_ = false;
  bool draining_ = false;
  bool abandoned_ = false;
  int drain_steps_ = 0;
  std::string failure_;
  std::string failure_trace_;
  std::string replay_;
  std::vector<std::string> trace_;
  int steps_ = 0;
  int preemptions_ = 0;
  int spurious_used_ = 0;
  int requeues_used_ = 0;
  int cas_failures_ = 0;
  int clock_advances_ = 0;
  int64_t now_ = 0;
  int next_op_id_ = 0;
  std::vector<Sleeper> queue_;
  std::vector<AsyncOp*> pending_ops_;  // kUnsubmitted / kArmed, in start order
  std::vector<Alt> alts_;
  std::set<std::string> exec_counts_;

  // Search.
  std::vector<Choice> stack_;
  size_t pos_ = 0;
  bool replaying_ = false;
  int64_t executions_ = 0;
  int max_depth_ = 0;
  std::unordered_set<uint64_t> states_;
  std::map<std::string, int64_t> counts_;

  // Word registry; registry_mu_ because words may be built on any thread.
  std::mutex registry_mu_;
  std::vector<WordInfo> words_;
  std::unordered_map<const void*, size_t> word_index_;
};

}  // namespace ringlock::check::internal

#endif  // RINGLOCK_LOCKS_CHECK_SCHEDULER_INTERNAL_H_
