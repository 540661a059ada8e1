#include "uring/ring.h"

#include <errno.h>
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "uring/futex_sqe.h"

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

namespace ringlock::uring {
namespace {

// Ring memory is mmap()ed by the kernel, and a ring created after another
// one was destroyed often gets the same addresses. munmap/mmap is no
// happens-before edge for ThreadSanitizer, so it would report the new
// ring's first SQE writes as racing with the old ring's last ones on another
// thread. Order every ring's teardown before every later setup.
#if defined(__SANITIZE_THREAD__)
char tsan_ring_memory;
void TsanRingMemoryReleased() { __tsan_release(&tsan_ring_memory); }
void TsanRingMemoryAcquired() { __tsan_acquire(&tsan_ring_memory); }
#else
void TsanRingMemoryReleased() {}
void TsanRingMemoryAcquired() {}
#endif

}  // namespace

namespace {

std::string ReadSysctl(const char* path) {
  FILE* f = std::fopen(path, "r");
  if (f == nullptr) return "unknown";
  char buf[32] = {};
  size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
  std::fclose(f);
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) buf[--n] = 0;
  return buf;
}

absl::Status SetupError(int err) {
  switch (err) {
    case ENOSYS:
      return absl::UnimplementedError(
          "io_uring_setup: ENOSYS: this kernel has no io_uring (built without "
          "CONFIG_IO_URING, or older than 5.1); ringlock's sync locks still "
          "work, ring-based waits do not");
    case EPERM:
      return absl::PermissionDeniedError(absl::StrCat(
          "io_uring_setup: EPERM: io_uring is denied to this process: "
          "kernel.io_uring_disabled=",
          ReadSysctl("/proc/sys/kernel/io_uring_disabled"),
          " (1 = only members of kernel.io_uring_group, 2 = nobody), or a "
          "seccomp profile (e.g. container runtimes' defaults) blocks "
          "io_uring_setup"));
    case ENOMEM: {
      rlimit rl{};
      getrlimit(RLIMIT_MEMLOCK, &rl);
      return absl::ResourceExhaustedError(absl::StrCat(
          "io_uring_setup: ENOMEM: the ring does not fit the locked-memory "
          "limit (RLIMIT_MEMLOCK soft limit ",
          rl.rlim_cur == RLIM_INFINITY ? std::string("unlimited")
                                       : absl::StrCat(rl.rlim_cur, " bytes"),
          "; kernels < 5.12 charge rings to it); raise `ulimit -l` or use "
          "fewer entries"));
    }
    default:
      return absl::InternalError(
          absl::StrCat("io_uring_setup failed: ", std::strerror(err)));
  }
}

// io_uring_setup worked but io_uring_enter does not: the ring is useless.
absl::Status EnterError(int err) {
  std::string what = absl::StrCat(
      "io_uring_enter: ", strerrorname_np(err) ? strerrorname_np(err) : "?", " (",
      std::strerror(err), ") submitting a NOP to a new ring: io_uring_setup works but "
      "io_uring_enter is denied (e.g. a seccomp profile that blocks it)");
  switch (err) {
    case EPERM:
      return absl::PermissionDeniedError(what);
    case ENOSYS:
      return absl::UnimplementedError(what);
    default:
      return absl::InternalError(what);
  }
}

}  // namespace

absl::Status ValidateRingSizes(uint32_t sq_entries, uint32_t cq_entries) {
  constexpr uint32_t kMaxSq = 32768, kMaxCq = 2 * kMaxSq;  // the kernel's limits
  auto pow2 = [](uint32_t n) {
    uint32_t p = 1;
    while (p < n && p < (1u << 31)) p <<= 1;
    return p;
  };
  if (sq_entries == 0 || sq_entries > kMaxSq) {
    return absl::InvalidArgumentError(
        absl::StrCat("io_uring: sq_entries = ", sq_entries, " is outside 1..", kMaxSq));
  }
  if (cq_entries != 0 && (cq_entries > kMaxCq || pow2(cq_entries) < pow2(sq_entries))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "io_uring: cq_entries = ", cq_entries, " must be 0 (2 * sq_entries) or within ",
        pow2(sq_entries), "..", kMaxCq, " (sq_entries = ", sq_entries,
        " rounds up to ", pow2(sq_entries), ")"));
  }
  return absl::OkStatus();
}

std::string Probe::WhyNoFutex() const {
  if (error != 0) {
    return absl::StrCat("the opcode probe failed: io_uring_register(IORING_REGISTER_PROBE): ",
                        strerrorname_np(error) ? strerrorname_np(error) : "?", " (",
                        std::strerror(error), "), so io_uring's futex opcodes cannot be "
                        "relied on (a seccomp profile may deny io_uring_register)");
  }
  return absl::StrCat("io_uring lacks FUTEX_WAIT/WAKE/WAITV (needs Linux >= 6.7; probe last_op=",
                      last_op, ")");
}

bool Probe::futex_wait() const { return Supports(kOpFutexWait); }
bool Probe::futex_wake() const { return Supports(kOpFutexWake); }
bool Probe::futex_waitv() const { return Supports(kOpFutexWaitv); }

absl::StatusOr<Ring> Ring::Create(const RingOptions& options) {
  // Most to least capable; see ring.h for why each flag is wanted.
  const uint32_t kTries[] = {
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
          IORING_SETUP_SUBMIT_ALL,                                      // 6.1
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN |
          IORING_SETUP_SUBMIT_ALL,                                      // 6.0
      IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL,              // 5.19
      0,
  };
  if (absl::Status s = ValidateRingSizes(options.sq_entries, options.cq_entries); !s.ok()) {
    return s;
  }
  Ring ring;
  int err = EINVAL;
  for (uint32_t flags : kTries) {
    if ((flags & IORING_SETUP_SINGLE_ISSUER) && !options.single_issuer) continue;
    if ((flags & IORING_SETUP_DEFER_TASKRUN) && !options.defer_taskrun) continue;
    io_uring_params p{};
    p.flags = flags;
    if (options.cq_entries != 0) {
      p.flags |= IORING_SETUP_CQSIZE;
      p.cq_entries = options.cq_entries;
    }
    int r = io_uring_queue_init_params(options.sq_entries, &ring.ring_, &p);
    if (r == 0) {
      TsanRingMemoryAcquired();
      ring.valid_ = true;
      ring.setup_flags_ = p.flags;
      ring.features_ = p.features;
      err = 0;
      break;
    }
    err = -r;
    if (err != EINVAL) break;  // Only EINVAL means "flag not supported".
  }
  if (err != 0) return SetupError(err);
  if (!(ring.features_ & IORING_FEAT_NODROP)) {
    return absl::FailedPreconditionError(
        "io_uring lacks IORING_FEAT_NODROP (kernel < 5.5): completions could "
        "be dropped on CQ overflow; ringlock requires Linux >= 5.5");
  }
  // Setup alone proves little: a seccomp profile may deny io_uring_enter
  // only. A NOP completes inline at submit, so this never blocks.
  {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring.ring_);
    io_uring_prep_nop(sqe);
    sqe->user_data = 1;
    int r;
    do {
      r = io_uring_submit_and_wait(&ring.ring_, 1);
    } while (r == -EINTR);
    if (r < 0) return EnterError(-r);
    io_uring_cqe* cqe = nullptr;
    if (io_uring_peek_cqe(&ring.ring_, &cqe) != 0 || cqe == nullptr || cqe->user_data != 1 ||
        cqe->res != 0) {
      return absl::InternalError("io_uring: a NOP submitted to a new ring did not complete");
    }
    io_uring_cqe_seen(&ring.ring_, cqe);
  }
  // Called directly (not io_uring_get_probe_ring) to keep its errno.
  constexpr int kProbeOps = 256;
  if (auto* p = static_cast<io_uring_probe*>(
          std::calloc(1, sizeof(io_uring_probe) + kProbeOps * sizeof(io_uring_probe_op)))) {
    int r = io_uring_register_probe(&ring.ring_, p, kProbeOps);
    if (r < 0) {
      ring.probe_.error = -r;
    } else {
      ring.probe_.last_op = p->last_op;
      for (int i = 0; i < p->ops_len && i < kProbeOps; ++i) {
        if (p->ops[i].flags & IO_URING_OP_SUPPORTED) ring.probe_.ops.set(i);
      }
    }
    std::free(p);
  } else {
    ring.probe_.error = ENOMEM;
  }
  return ring;
}

Ring::Ring(Ring&& other) noexcept
    : ring_(other.ring_),
      valid_(std::exchange(other.valid_, false)),
      setup_flags_(other.setup_flags_),
      features_(other.features_),
      probe_(other.probe_),
      backlog_(std::move(other.backlog_)) {}

Ring& Ring::operator=(Ring&& other) noexcept {
  if (this != &other) {
    if (valid_) {
      TsanRingMemoryReleased();
      io_uring_queue_exit(&ring_);
    }
    ring_ = other.ring_;
    valid_ = std::exchange(other.valid_, false);
    setup_flags_ = other.setup_flags_;
    features_ = other.features_;
    probe_ = other.probe_;
    backlog_ = std::move(other.backlog_);
  }
  return *this;
}

Ring::~Ring() {
  if (valid_) {
    TsanRingMemoryReleased();
    io_uring_queue_exit(&ring_);
  }
}

void Ring::DrainToBacklog() {
  io_uring_cqe* cqe;
  unsigned head;
  unsigned n = 0;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    backlog_.push_back(Completion{cqe->user_data, cqe->res, cqe->flags});
    ++n;
  }
  io_uring_cq_advance(&ring_, n);
}

int Ring::SubmitImpl(SubmitMode mode) {
  const bool wait = mode == SubmitMode::kWait;
  for (;;) {
    int r;
    switch (mode) {
      case SubmitMode::kWait:
        r = io_uring_submit_and_wait(&ring_, 1);
        break;
      case SubmitMode::kGetEvents:
        // Always enters with IORING_ENTER_GETEVENTS, so task work deferred
        // by DEFER_TASKRUN / COOP_TASKRUN runs and posts its CQEs.
        r = io_uring_submit_and_get_events(&ring_);
        break;
      default:
        r = io_uring_submit(&ring_);
        break;
    }
    if (r >= 0) return r;
    if (r == -EINTR) {
      if (wait && HasCompletions()) return 0;
      continue;
    }
    if (r == -EBUSY || r == -EAGAIN) {
      // Completions are backed up (or the kernel is short of request
      // memory): make room by moving CQEs to the backlog, then retry. A
      // waiting caller already has something to reap.
      DrainToBacklog();
      if (wait && !backlog_.empty()) return 0;
      if (!wait && r == -EAGAIN && backlog_.empty()) return r;
      continue;
    }
    return r;
  }
}

io_uring_sqe* Ring::GetSqe() {
  for (;;) {
    if (io_uring_sqe* sqe = io_uring_get_sqe(&ring_)) return sqe;
    // SQ full: hand the queued SQEs to the kernel and retry.
    int r = SubmitImpl(SubmitMode::kSubmit);
    if (r < 0 && r != -EAGAIN) {
      std::fprintf(stderr, "ringlock: io_uring submit failed: %s\n",
                   std::strerror(-r));
      std::abort();  // The SQ can never drain; nothing sane is left to do.
    }
  }
}

int Ring::Submit() { return SubmitImpl(SubmitMode::kSubmit); }

int Ring::SubmitAndWait() {
  if (!backlog_.empty()) {
    SubmitImpl(SubmitMode::kSubmit);
    return 0;
  }
  int r = SubmitImpl(SubmitMode::kWait);
  return r < 0 ? r : 0;
}

int Ring::SubmitAndGetEvents() {
  int r = SubmitImpl(SubmitMode::kGetEvents);
  return r < 0 ? r : 0;
}

bool Ring::HasCompletions() const {
  return !backlog_.empty() ||
         io_uring_cq_ready(const_cast<io_uring*>(&ring_)) > 0;
}

size_t Ring::Reap(absl::FunctionRef<void(const Completion&)> fn, size_t max) {
  size_t n = 0;
  while (n < max && !backlog_.empty()) {
    Completion c = backlog_.front();
    backlog_.pop_front();
    fn(c);
    ++n;
  }
  while (n < max) {
    io_uring_cqe* cqe = nullptr;
    // io_uring_peek_cqe flushes the kernel's overflow list when it has one.
    if (io_uring_peek_cqe(&ring_, &cqe) != 0 || cqe == nullptr) break;
    Completion c{cqe->user_data, cqe->res, cqe->flags};
    io_uring_cqe_seen(&ring_, cqe);
    fn(c);
    ++n;
  }
  return n;
}

}  // namespace ringlock::uring
