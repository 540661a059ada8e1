#include "uring/event_loop.h"

#include <errno.h>
#include <pthread.h>
#include <linux/futex.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cassert>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "uring/fault_hooks.h"
#include "uring/futex_hash.h"
#include "uring/internal/futex_fallback.h"

namespace ringlock::uring {
namespace {

// The newest live loop of this thread (the top of its stack; each loop links
// to the next older one).
thread_local EventLoop* tls_current = nullptr;

std::atomic<EventLoop::StepEndHook> g_step_end_hook{nullptr};

std::atomic<fault::FutexWaitResultHook> g_futex_result_hook{nullptr};

// Bumped in every fork()ed child, so a loop knows it was inherited.
std::atomic<uint64_t> g_fork_generation{0};

// Runs in the child on the thread that called fork(), the only one there:
// no thread of the child has a loop of its own yet.
void ForgetLoopsInChild() {
  g_fork_generation.fetch_add(1, std::memory_order_relaxed);
  tls_current = nullptr;
}

std::atomic<bool> g_logged_fallback{false};
std::atomic<bool> g_logged_emulation{false};

void LogEmulationOnce(const std::string& why) {
  if (g_logged_emulation.exchange(true)) return;
  std::fprintf(stderr,
               "ringlock: io_uring unavailable (%s); event loops emulate it "
               "with epoll and wait on futexes through a futex_waitv(2) "
               "helper thread\n",
               why.c_str());
}

// `why`: the reason the native futex opcodes are not used.
void LogFallbackOnce(const std::string& why) {
  if (g_logged_fallback.exchange(true)) return;
  std::fprintf(stderr,
               "ringlock: futex fallback: %s; async futex waits use a "
               "futex_waitv(2) helper thread\n",
               why.c_str());
}

absl::Status ValidateOptions(const EventLoopOptions& o) {
  switch (o.mode) {
    case FutexMode::kAuto:
    case FutexMode::kNative:
    case FutexMode::kFallback:
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "EventLoop: EventLoopOptions::mode = ", static_cast<int>(o.mode),
          " is no FutexMode"));
  }
  switch (o.ring) {
    case RingMode::kAuto:
    case RingMode::kIoUring:
    case RingMode::kEmulated:
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "EventLoop: EventLoopOptions::ring = ", static_cast<int>(o.ring),
          " is no RingMode"));
  }
  if (o.sq_entries < 2) {
    // A timed futex wait is a linked pair of SQEs (the wait and its
    // LINK_TIMEOUT) that must enter the kernel in one submission.
    return absl::InvalidArgumentError(absl::StrCat(
        "EventLoop: EventLoopOptions::sq_entries must be >= 2 (a timed futex "
        "wait is a linked pair of SQEs, never split across submissions); got ",
        o.sq_entries));
  }
  // Checked in every mode (the emulation has no rings), so an option that
  // io_uring would reject never quietly selects the emulation instead.
  absl::Status sizes = ValidateRingSizes(o.sq_entries, o.cq_entries);
  if (!sizes.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("EventLoop: EventLoopOptions: ", sizes.message()));
  }
  return absl::OkStatus();
}

}  // namespace

uint64_t ForkGeneration() {
  static std::once_flag once;
  std::call_once(once, [] { pthread_atfork(nullptr, nullptr, &ForgetLoopsInChild); });
  return g_fork_generation.load(std::memory_order_relaxed);
}

absl::StatusOr<std::unique_ptr<EventLoop>> EventLoop::Create(
    EventLoopOptions options) {
  if (absl::Status s = ValidateOptions(options); !s.ok()) return s;
  std::optional<Ring> ring;
  std::unique_ptr<internal::SqeEmulator> emu;
  if (options.ring == RingMode::kEmulated) {
    LogEmulationOnce("forced: EventLoopOptions::ring = RingMode::kEmulated");
  } else {
    absl::StatusOr<Ring> r = Ring::Create({.sq_entries = options.sq_entries,
                                           .cq_entries = options.cq_entries,
                                           .defer_taskrun = options.defer_taskrun});
    if (r.ok()) {
      ring.emplace(std::move(*r));
    } else if (options.ring == RingMode::kIoUring) {
      return r.status();
    } else {
      LogEmulationOnce(r.status().ToString());
    }
  }
  if (!ring) {
    absl::StatusOr<std::unique_ptr<internal::SqeEmulator>> e =
        internal::SqeEmulator::Create();
    if (!e.ok()) return e.status();
    emu = std::move(*e);
  }
  const bool have = ring && ring->probe().futex();
  bool native = false;
  switch (options.mode) {
    case FutexMode::kNative:
      if (!have) {
        return absl::UnimplementedError(absl::StrCat(
            "EventLoop: FutexMode::kNative but ",
            ring ? ring->probe().WhyNoFutex()
                 : std::string("the loop emulates io_uring (no futex opcodes)")));
      }
      native = true;
      break;
    case FutexMode::kAuto:
      native = have;
      // An emulated loop already said why; the futex path follows from it.
      if (!have && ring) LogFallbackOnce(ring->probe().WhyNoFutex());
      break;
    case FutexMode::kFallback:
      LogFallbackOnce("forced (EventLoopOptions::mode = kFallback)");
      break;
  }
  if (!native && !internal::FutexFallback::Available()) {
    return absl::UnimplementedError(absl::StrCat(
        "EventLoop: futex waits need io_uring's FUTEX_WAIT (Linux >= 6.7) or "
        "futex_waitv(2) for the helper thread (Linux >= 5.16); this kernel ",
        ring ? "has neither" : "has no io_uring and no futex_waitv(2)",
        ". ringlock's synchronous locks still work without a loop"));
  }
  // Blocking on purpose: older kernels complete io_uring reads of O_NONBLOCK
  // files with -EAGAIN instead of polling (6.18 polls; measured). Nobody
  // read(2)s it directly, and eventfd writes never block here.
  int efd = eventfd(0, EFD_CLOEXEC);
  if (efd < 0) {
    return absl::InternalError(
        absl::StrCat("EventLoop: eventfd: ", std::strerror(errno)));
  }
  // Before any futex wait can be armed (Linux >= 6.16 bug, futex_hash.h).
  if (int err = internal::TryEnsurePrivateFutexHash(); err != 0) {
    close(efd);
    return absl::ErrnoToStatus(
        err, "EventLoop: cannot create the thread that gives the process its "
             "private futex hash (futex_hash.h)");
  }
  std::unique_ptr<EventLoop> loop(
      new EventLoop(std::move(ring), std::move(emu), native, efd));
  // Started here, not in the constructor, so that a failure is a Status and
  // the half-made loop is destroyed (closing its fds) like any other.
  if (loop->fallback_) {
    if (int err = loop->fallback_->Start(); err != 0) {
      return absl::ErrnoToStatus(
          err, "EventLoop: cannot create the futex_waitv(2) helper thread that "
               "fallback and emulated loops wait on futexes with");
    }
  }
  return loop;
}

EventLoop::EventLoop(std::optional<Ring> ring,
                     std::unique_ptr<internal::SqeEmulator> emu, bool native,
                     int efd)
    : ring_(std::move(ring)),
      emu_(std::move(emu)),
      native_(native),
      efd_(efd),
      fork_generation_(ForkGeneration()) {
  if (!native_) {
    fallback_ = std::make_unique<internal::FutexFallback>([this] { WakeLoop(); });
  }
  ArmEventfd();
  SubmitSqes();
  older_ = tls_current;
  if (older_) older_->newer_ = this;
  tls_current = this;
}

EventLoop::~EventLoop() {
  if (!InCreatorProcess()) {
    // Inherited by a fork()ed child: the ring, the eventfd's reader and the
    // helper thread are the parent's. Close our copies of the fds (members
    // and efd_) and leave the rest; the helper's state is leaked on purpose
    // (its thread does not exist here, so it can be neither joined nor
    // freed safely).
    (void)fallback_.release();
    close(efd_);
    return;
  }
  CheckOwner();
  destroying_ = true;
  // 1. Detached coroutines still suspended: destroying the frames runs their
  //    awaiters' destructors, which cancel (orphan) their operations.
  std::unordered_set<void*> frames = std::exchange(spawned_, {});
  for (void* f : frames) std::coroutine_handle<>::from_address(f).destroy();
  // 2. Fallback waits: the helper stops; its pending waits complete with
  //    -ECANCELED, finished ones with their result.
  if (fallback_) {
    // After RemoveAll the helper can finish nothing more, so TakeCompleted
    // then holds every result it produced.
    for (Operation* op : fallback_->RemoveAll()) {
      op->cancel_requested_ = true;  // -ECANCELED, not -ETIMEDOUT.
      CompleteLater(op, -ECANCELED);
    }
    for (auto& [op, res] : fallback_->TakeCompleted()) CompleteLater(op, res);
    fallback_.reset();
  }
  // 3. Cancel everything in flight and dispatch until all completed.
  bool efd_cancelled = false;
  for (;;) {
    while (DispatchOne()) {
    }
    if (ops_count_ == 0 && !efd_armed_ && cqes_.empty() && local_.empty()) break;
    for (Operation* op = ops_head_; op; op = op->next_) {
      if (!op->cancel_requested_) {
        op->cancel_requested_ = true;
        PrepCancel(op);
      }
    }
    if (efd_armed_ && !efd_cancelled) {
      efd_cancelled = true;
      io_uring_sqe* sqe = GetSqe();
      io_uring_prep_cancel(sqe, &efd_op_, 0);
      sqe->user_data = 0;
    }
    if (cqes_.empty() && local_.empty()) WaitAndReap();
  }
  close(efd_);
  // Off the stack; the next older loop becomes current if this was newest.
  if (newer_) {
    newer_->older_ = older_;
  } else if (tls_current == this) {
    tls_current = older_;
  }
  if (older_) older_->newer_ = newer_;
}

EventLoop* EventLoop::Current() { return tls_current; }

bool EventLoop::InCreatorProcess() const {
  return fork_generation_ == g_fork_generation.load(std::memory_order_relaxed);
}

void EventLoop::CheckOwner() const {
  assert(InCreatorProcess() &&
         "ringlock::uring::EventLoop used in a fork()ed child: a loop belongs "
         "to the process that created it");
  assert(std::this_thread::get_id() == owner_ &&
         "ringlock::uring::EventLoop used off its owner thread");
}

// ---- Bookkeeping -----------------------------------------------------------

void EventLoop::Track(Operation* op) {
  op->shutdown_depth_ = 0;
  if (op->in_flight_) {
    std::fprintf(stderr,
                 "ringlock: EventLoop: an Operation was started again while "
                 "still in flight (it must complete first)\n");
    std::abort();
  }
  uint32_t slot;
  if (free_slots_.empty()) {
    slot = static_cast<uint32_t>(slots_.size());
    slots_.push_back({});
  } else {
    slot = free_slots_.back();
    free_slots_.pop_back();
  }
  Slot& s = slots_[slot];
  s.op = op;
  s.gen = (s.gen + 1) & kGenMask;
  op->tag_ = kTagBit | (uint64_t{s.gen} << 32) | slot;
  op->in_flight_ = true;
  op->cancel_requested_ = false;
  op->prev_ = nullptr;
  op->next_ = ops_head_;
  if (ops_head_) ops_head_->prev_ = op;
  ops_head_ = op;
  ++ops_count_;
}

void EventLoop::Untrack(Operation* op) {
  if (op->prev_) op->prev_->next_ = op->next_;
  else ops_head_ = op->next_;
  if (op->next_) op->next_->prev_ = op->prev_;
  op->prev_ = op->next_ = nullptr;
  op->in_flight_ = false;
  --ops_count_;
  const uint32_t slot = static_cast<uint32_t>(op->tag_);
  slots_[slot].op = nullptr;
  free_slots_.push_back(slot);
}

Operation* EventLoop::Lookup(uint64_t user_data) const {
  if (!(user_data & kTagBit)) return nullptr;
  const uint32_t slot = static_cast<uint32_t>(user_data);
  if (slot >= slots_.size()) return nullptr;
  Operation* op = slots_[slot].op;
  return op && op->tag_ == user_data ? op : nullptr;
}

void EventLoop::PrepCancel(Operation* op) {
  io_uring_sqe* sqe = GetSqe();
  io_uring_prep_cancel64(sqe, op->tag_, 0);  // this start only, never a later one
  sqe->user_data = 0;  // The cancel's own CQE is not interesting.
}

void EventLoop::CompleteLater(Operation* op, int32_t res) {
  cqes_.push_back({op->tag_, res, 0});
}

// ---- Eventfd: Post() and fallback completions ------------------------------

void EventLoop::ArmEventfd() {
  io_uring_sqe* sqe = GetSqe();
  io_uring_prep_read(sqe, efd_, &efd_op_.buf_, sizeof(efd_op_.buf_), 0);
  sqe->user_data = reinterpret_cast<uintptr_t>(&efd_op_);
  efd_armed_ = true;
}

void EventLoop::WakeLoop() {
  if (!efd_signalled_.exchange(true)) {
    uint64_t one = 1;
    ssize_t r;
    do {
      r = write(efd_, &one, sizeof(one));
    } while (r < 0 && errno == EINTR);
  }
}

void EventLoop::EventfdOp::Complete(int32_t /*res: 8, or -ECANCELED at destruction*/) {
  EventLoop* l = loop_;
  l->efd_armed_ = false;
  // Reset before draining: a Post after this point writes the eventfd again.
  l->efd_signalled_.store(false);
  std::vector<absl::AnyInvocable<void()>> posted;
  {
    std::lock_guard<std::mutex> lock(l->mu_);
    posted.swap(l->posted_);
  }
  for (auto& fn : posted) l->PushLocal(std::move(fn));
  if (l->fallback_) {
    for (auto& [op, r] : l->fallback_->TakeCompleted()) l->CompleteLater(op, r);
  }
  if (!l->destroying_) l->ArmEventfd();
}

void EventLoop::Post(absl::AnyInvocable<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    posted_.push_back(std::move(fn));
  }
  WakeLoop();
}

void EventLoop::Stop() {
  stop_.store(true);
  WakeLoop();
}

// ---- Operations ------------------------------------------------------------

void EventLoop::StartOperation(Operation* op,
                               absl::FunctionRef<void(io_uring_sqe*)> prep) {
  CheckOwner();
  if (destroying_) {
    Track(op);
    op->kind_ = Operation::Kind::kPlain;
    op->has_deadline_ = false;
    op->fallback_ = false;
    RefuseWhileDestroying(op);
    return;
  }
  io_uring_sqe* sqe = GetSqe();
  prep(sqe);
  Track(op);
  sqe->user_data = op->tag_;
  op->kind_ = Operation::Kind::kPlain;
  op->has_deadline_ = false;
  op->fallback_ = false;
}

void EventLoop::RefuseWhileDestroying(Operation* op) {
  // Started by the completion of an operation started at depth d: depth d+1.
  op->shutdown_depth_ = dispatch_shutdown_depth_ + 1;
  if (op->shutdown_depth_ > kMaxShutdownDepth) {
    std::fprintf(stderr,
                 "ringlock: ~EventLoop: operations keep being started from "
                 "the completions of operations started during destruction "
                 "(%d in a chain, each completed with -ECANCELED): code that "
                 "retries on error must stop on -ECANCELED\n",
                 kMaxShutdownDepth);
    std::abort();
  }
  op->cancel_requested_ = true;
  CompleteLater(op, -ECANCELED);
}

void EventLoop::Cancel(Operation* op) {
  CheckOwner();
  if (!op->in_flight_ || op->cancel_requested_) return;
  op->cancel_requested_ = true;
  if (op->fallback_) {
    if (fallback_ && fallback_->Remove(op)) CompleteLater(op, -ECANCELED);
    return;  // Otherwise its result is already on the way.
  }
  PrepCancel(op);
}

void EventLoop::CancelSync(Operation* op) {
  CheckOwner();
  if (!op->in_flight_ || op->cancel_requested_) return;
  if (op->fallback_ || destroying_) {
    Cancel(op);
    return;
  }
  if (emu_) {
    // Synchronous by nature: once removed, nothing touches the buffers.
    op->cancel_requested_ = true;
    emu_->CancelNow(op->tag_);
    return;
  }
  FlushWakes();  // The request must be in the kernel to be found.
  io_uring_sync_cancel_reg reg{};
  reg.addr = op->tag_;
  reg.fd = -1;
  reg.timeout.tv_sec = -1;
  reg.timeout.tv_nsec = -1;
  int r = io_uring_register_sync_cancel(ring_->raw(), &reg);
  if (r == 0 || r == -ENOENT || r == -EALREADY) {
    // Cancelled (its CQE is posted) or already finished.
    op->cancel_requested_ = true;
    return;
  }
  Cancel(op);  // -EINVAL: kernel < 6.0.
}

void EventLoop::StartFutexWait(FutexWaitOp* op,
                               const std::atomic<uint32_t>* word,
                               uint32_t expected, uint32_t futex2_flags,
                               Deadline deadline) {
  FutexWaitv e = MakeFutexWaitv(word, expected, futex2_flags);
  StartFutex(op, /*waitv=*/false, absl::MakeConstSpan(&e, 1), futex2_flags,
             deadline);
}

void EventLoop::StartFutexWaitv(FutexWaitvOp* op,
                                absl::Span<const FutexWaitv> entries,
                                Deadline deadline) {
  op->entries_.assign(entries.begin(), entries.end());
  for (FutexWaitv& e : op->entries_) {
    if ((e.flags & kFutex2SizeMask) == 0) e.flags |= kFutex2SizeU32;
  }
  StartFutex(op, /*waitv=*/true, op->entries_, 0, deadline);
}

void EventLoop::StartFutex(FutexWaitOp* op, bool waitv,
                           absl::Span<const FutexWaitv> entries,
                           uint32_t single_flags,
                           Deadline deadline) {
  CheckOwner();
  EnsurePrivateFutexHash();  // One relaxed load after the first call.
  Track(op);
  op->kind_ = Operation::Kind::kFutexWait;
  op->has_deadline_ = !deadline.is_never();
  op->fallback_ = !native_;
  if (entries.empty() || entries.size() > kFutexWaitvMax) {
    CompleteLater(op, -EINVAL);
    return;
  }
  const int64_t mono = deadline.is_never() ? internal::FutexFallback::kNoDeadline
                                           : deadline.monotonic_nanos();
  if (destroying_) {
    RefuseWhileDestroying(op);
    return;
  }
  if (!native_) {
    if (!fallback_) {
      op->cancel_requested_ = true;
      CompleteLater(op, -ECANCELED);
      return;
    }
    fallback_->Add(op, entries, waitv, mono);
    return;
  }
  const bool linked = !deadline.is_never();
  op->has_deadline_ = linked;
  // A link must not be split across submissions: room for both SQEs now
  // (Create guarantees the SQ holds at least 2).
  while (linked && io_uring_sq_space_left(ring_->raw()) < 2) {
    int r = ring_->Submit();
    if (r < 0 && r != -EAGAIN) {
      std::fprintf(stderr, "ringlock: io_uring submit failed: %s\n",
                   std::strerror(-r));
      std::abort();
    }
  }
  io_uring_sqe* sqe = ring_->GetSqe();
  if (waitv) {
    auto* v = static_cast<FutexWaitvOp*>(op);
    PrepFutexWaitv(sqe, v->entries_.data(),
                   static_cast<uint32_t>(v->entries_.size()));
  } else {
    PrepFutexWait(sqe, reinterpret_cast<const std::atomic<uint32_t>*>(
                           static_cast<uintptr_t>(entries[0].uaddr)),
                  static_cast<uint32_t>(entries[0].val), single_flags, op->mask_);
  }
  sqe->user_data = op->tag_;
  if (linked) {
    sqe->flags |= IOSQE_IO_LINK;
    op->deadline_.tv_sec = mono / 1'000'000'000;
    op->deadline_.tv_nsec = mono % 1'000'000'000;
    io_uring_sqe* t = ring_->GetSqe();
    io_uring_prep_link_timeout(t, &op->deadline_, IORING_TIMEOUT_ABS);
    t->user_data = 0;  // Its CQE (-ETIME, 1 or -ECANCELED) is dropped here.
  }
}

void EventLoop::QueueFutexWake(const std::atomic<uint32_t>* word, uint32_t n,
                               uint32_t futex2_flags, uint64_t mask, uint8_t sqe_flags) {
  CheckOwner();
  if (!native_) {
    int op = FUTEX_WAKE_BITSET | ((futex2_flags & kFutex2Private) ? FUTEX_PRIVATE_FLAG : 0);
    syscall(SYS_futex, word, op, n, nullptr, nullptr, static_cast<uint32_t>(mask));
    return;
  }
  io_uring_sqe* sqe = ring_->GetSqe();
  PrepFutexWake(sqe, word, n, futex2_flags, mask);
  sqe->flags |= IOSQE_CQE_SKIP_SUCCESS | sqe_flags;
  sqe->user_data = 0;  // A failed wake posts a CQE; it is dropped.
}

void EventLoop::FlushWakes() {
  if (SqReady() > 0) SubmitSqes();
}

void EventLoop::SubmitSqes() {
  if (emu_) {
    emu_->Submit();
  } else {
    ring_->Submit();
  }
}

size_t EventLoop::SqReady() {
  return emu_ ? emu_->sq_ready() : io_uring_sq_ready(ring_->raw());
}

// ---- Dispatch ----------------------------------------------------------------

void EventLoop::Dispatch(const Completion& c) {
  if (c.user_data == 0) return;  // Cancels, link timeouts, failed wakes.
  int32_t res = c.res;
  if (c.user_data == reinterpret_cast<uintptr_t>(&efd_op_)) {
    efd_op_.Complete(res);
    return;
  }
  Operation* op = Lookup(c.user_data);
  if (op == nullptr) {
    // Every start has its own tag and posts one CQE: this cannot happen
    // unless something else wrote SQEs on the loop's ring.
    std::fprintf(stderr,
                 "ringlock: EventLoop: a completion (user_data 0x%llx, res %d) "
                 "matches no operation in flight\n",
                 static_cast<unsigned long long>(c.user_data), res);
    std::abort();
  }
  if (op->kind_ == Operation::Kind::kFutexWait && res == -ECANCELED &&
      !op->cancel_requested_ && op->has_deadline_) {
    res = -ETIMEDOUT;  // Cancelled by its linked timeout.
  }
  if (op->kind_ == Operation::Kind::kFutexWait && (res >= 0 || res == -EAGAIN)) {
    if (auto hook = g_futex_result_hook.load(std::memory_order_relaxed)) res = hook(res);
  }
  Untrack(op);
  dispatch_shutdown_depth_ = op->shutdown_depth_;
  op->Complete(res);
}

void fault::SetFutexWaitResultHook(FutexWaitResultHook hook) {
  g_futex_result_hook.store(hook, std::memory_order_relaxed);
}

void EventLoop::SetStepEndHook(StepEndHook hook) {
  g_step_end_hook.store(hook, std::memory_order_release);
}

// What a step queued is submitted before the next step runs, or by the
// io_uring_enter that blocks (submit and wait in one call), or when RunUntil /
// Poll return: the same order as submitting at once, one syscall fewer each
// time the loop goes to sleep after a step (a ring-blocking or coroutine wait
// arms its FUTEX_WAIT and then blocks).
void EventLoop::AfterStep() {
  if (StepEndHook hook = g_step_end_hook.load(std::memory_order_acquire)) hook();
}

bool EventLoop::DispatchOne() {
  if (cqes_.empty() && local_.empty()) return false;  // WaitAndReap submits
  FlushWakes();  // what the previous step queued leaves before this one runs
  if (cqes_.empty() && !local_.empty() &&
      ++steps_since_reap_ > kMaxStepsWithoutReap) {
    PollEngine();  // Ready coroutines must not starve completions.
  }
  if (!cqes_.empty()) {
    Completion c = cqes_.front();
    cqes_.pop_front();
    Dispatch(c);
    AfterStep();
    return true;
  }
  if (!local_.empty()) {
    const LocalStep step = local_.front();
    local_.pop_front();
    step.fn(step.arg, destroying_);
    AfterStep();
    return true;
  }
  return false;
}

void EventLoop::ReapAvailable() {
  auto push = [this](const Completion& c) { cqes_.push_back(c); };
  if (emu_) {
    emu_->Reap(push);
  } else {
    ring_->Reap(push);
  }
}

void EventLoop::PollEngine() {
  steps_since_reap_ = 0;
  if (emu_) {
    emu_->SubmitAndGetEvents();
  } else {
    int r = ring_->SubmitAndGetEvents();
    if (r < 0 && r != -EAGAIN) {  // -EAGAIN: short of memory now; reaped later
      std::fprintf(stderr, "ringlock: io_uring_enter failed: %s\n",
                   std::strerror(-r));
      std::abort();
    }
  }
  ReapAvailable();
}

void EventLoop::WaitAndReap() {
  steps_since_reap_ = 0;
  ReapAvailable();
  if (!cqes_.empty()) return;
  if (emu_) {
    emu_->SubmitAndWait();
    ReapAvailable();
    return;
  }
  int r = ring_->SubmitAndWait();
  if (r < 0) {
    std::fprintf(stderr, "ringlock: io_uring_enter failed: %s\n",
                 std::strerror(-r));
    std::abort();
  }
  ReapAvailable();
}

void EventLoop::RunUntil(absl::FunctionRef<bool()> done) {
  CheckOwner();
  AfterStep();  // the caller's held wakes join what it queued before running the loop
  ++run_depth_;
  while (!done()) {
    if (DispatchOne()) continue;
    WaitAndReap();
  }
  --run_depth_;
  FlushWakes();  // nothing queued stays behind when the loop returns
}

void EventLoop::Run() {
  RunUntil([this] {
    return stop_.load() && ops_count_ == 0 && cqes_.empty() && local_.empty();
  });
  stop_.store(false);
}

bool EventLoop::Poll() {
  CheckOwner();
  PollEngine();
  size_t n = cqes_.size() + local_.size();
  size_t ran = 0;
  while (ran < n && DispatchOne()) ++ran;
  FlushWakes();
  return ran > 0;
}

// ---- Coroutines --------------------------------------------------------------

void EventLoop::PushLocal(absl::AnyInvocable<void()> fn) {
  local_.push_back({[](void* arg, bool) {
                      std::unique_ptr<absl::AnyInvocable<void()>> f(
                          static_cast<absl::AnyInvocable<void()>*>(arg));
                      std::move (*f)();
                    },
                    new absl::AnyInvocable<void()>(std::move(fn))});
}

void EventLoop::Schedule(std::coroutine_handle<> h) {
  // Dropped once destruction began: ~EventLoop may have destroyed the frame
  // (a spawned coroutine's, or one it owned) after this was queued.
  Schedule(
      [](void* frame, bool loop_destroying) {
        if (!loop_destroying) std::coroutine_handle<>::from_address(frame).resume();
      },
      h.address());
}

void EventLoop::Schedule(void (*fn)(void* arg, bool loop_destroying), void* arg) {
  local_.push_back({fn, arg});
}

void EventLoop::Spawn(Task<void> task) {
  CheckOwner();
  DetachedTask d = [](Task<void> t) -> DetachedTask {
    co_await std::move(t);
  }(std::move(task));
  d.h.promise().loop = this;
  void* frame = d.h.address();
  spawned_.insert(frame);
  // Not started if ~EventLoop destroyed the frame first.
  PushLocal([this, frame] {
    if (spawned_.count(frame)) std::coroutine_handle<>::from_address(frame).resume();
  });
}

}  // namespace ringlock::uring
