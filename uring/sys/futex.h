// ringlock/uring/sys/futex.h — the futex vocabulary every layer shares: the
// monotonic Deadline, FutexScope, and a thin, total wrapper over futex(2) and
// futex_waitv(2), with the kernel's struct futex_waitv and FUTEX2 flags.
//
// The bottom of ringlock's build graph: both locks/ (the word protocols) and
// uring/ (the event loop and its futex SQEs) use it, and it uses nothing but
// the C++ library and the kernel, so there is one copy of each syscall, flag
// and clock conversion. Users include it as "locks/futex.h".
//
// Every ringlock primitive is one aligned 32-bit word; this is how a thread
// sleeps on one or wakes sleepers on one without io_uring. The wrapper hides
// the syscall's sharp edges:
//   * EINTR restarts the wait with the same absolute deadline (no drift);
//     so does futex_waitv(2)'s ENOMEM (it could not allocate its copy of
//     the entries: memory pressure, not a caller's mistake).
//   * EAGAIN (the word no longer held `expected`) is a normal result.
//   * ETIMEDOUT is a normal result.
//   * Anything else (EFAULT, EINVAL, ENOSYS) is a programming error or a
//     kernel that cannot run ringlock: it aborts with a message naming the call.
//
// Deadlines are absolute CLOCK_MONOTONIC (FUTEX_WAIT_BITSET takes them that
// way), so a wait that is interrupted and restarted never extends its timeout.
//
// Scope: kPrivate futexes key on (mm, address) and are cheaper; kShared key on
// the backing page and work between processes in a MAP_SHARED mapping. Both
// sides of one word must use the same scope. Private waits armed through
// io_uring (FUTEX2_PRIVATE) and private futex(2) wakes interoperate.
#ifndef RINGLOCK_URING_SYS_FUTEX_H_
#define RINGLOCK_URING_SYS_FUTEX_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <ratio>
#include <type_traits>

namespace ringlock {

enum class FutexScope : uint8_t {
  kPrivate,  // one process (the default for every primitive)
  kShared,   // across processes, in shared memory
};

namespace internal {

// `d` in whole nanoseconds, rounded up (a wait never ends early), saturated
// to [INT64_MIN, INT64_MAX]: +inf and values too large give INT64_MAX,
// -inf and values too negative INT64_MIN, NaN gives 0. The arithmetic is
// exact (128-bit) for integer reps up to 64 bits and long double for
// floating reps; a chrono cast could overflow (undefined behaviour) instead.
template <class Rep, class Period>
constexpr int64_t SaturatingNanos(const std::chrono::duration<Rep, Period>& d) {
  using R = std::ratio_divide<Period, std::nano>;  // ns per tick, reduced
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  if constexpr (std::is_integral_v<Rep> && sizeof(Rep) <= sizeof(int64_t)) {
    // |count| <= 2^64 and R::num < 2^63: the product fits in 127 bits.
    __int128 v = static_cast<__int128>(d.count()) * R::num;
    if constexpr (R::den != 1) v = v / R::den + (v % R::den > 0 ? 1 : 0);
    if (v > kMax) return kMax;
    if (v < kMin) return kMin;
    return static_cast<int64_t>(v);
  } else {
    // Floating reps, and anything else that converts to long double.
    const long double v = static_cast<long double>(d.count()) * R::num / R::den;
    if (v != v) return 0;  // NaN
    if (v >= 0x1p63L) return kMax;
    if (v <= -0x1p63L) return kMin;
    const long double up = v > 0 ? __builtin_ceill(v) : v;
    if (up >= 0x1p63L) return kMax;
    return static_cast<int64_t>(up);
  }
}

}  // namespace internal

// An absolute point on CLOCK_MONOTONIC, or never.
//
// Every conversion from std::chrono saturates and never overflows: a
// duration or time point too far in the future (hours::max(), +inf,
// time_point::max() of any clock and rep) is Never(); one too far in the
// past (hours(-3'000'000), -inf, time_point::min()) has already passed;
// NaN counts as zero (the wait tries once and returns).
class Deadline {
 public:
  static constexpr Deadline Never() { return Deadline(kNever); }
  static Deadline Now();
  // CLOCK_MONOTONIC now, in nanoseconds.
  static int64_t NowNanos();
  static Deadline After(std::chrono::nanoseconds d);
  // Any duration type, saturating as above, so
  // try_lock_for(std::chrono::hours::max()) waits forever.
  template <class Rep, class Period>
  static Deadline AfterDuration(const std::chrono::duration<Rep, Period>& d) {
    return After(std::chrono::nanoseconds(internal::SaturatingNanos(d)));
  }
  // Converts a time point of any clock by its remaining duration (the
  // standard's own rule for *_until with a non-steady clock).
  template <class Clock, class Duration>
  static Deadline At(const std::chrono::time_point<Clock, Duration>& t) {
    const int64_t t_ns = internal::SaturatingNanos(t.time_since_epoch());
    if constexpr (std::is_same_v<Clock, std::chrono::steady_clock>) {
      // steady_clock is CLOCK_MONOTONIC on Linux with libstdc++ and libc++.
      return FromMonotonicNanos(t_ns);
    } else {
      // Saturated ends stay saturated: subtracting "now" from a time point
      // that was clamped would turn max() into a finite wait.
      if (t_ns == std::numeric_limits<int64_t>::max()) return Never();
      if (t_ns == std::numeric_limits<int64_t>::min()) return FromMonotonicNanos(0);
      const int64_t now_ns = internal::SaturatingNanos(Clock::now().time_since_epoch());
      int64_t left;
      if (__builtin_sub_overflow(t_ns, now_ns, &left)) {
        left = t_ns > now_ns ? std::numeric_limits<int64_t>::max()
                             : std::numeric_limits<int64_t>::min();
      }
      return After(std::chrono::nanoseconds(left));
    }
  }
  static constexpr Deadline FromMonotonicNanos(int64_t ns) { return Deadline(ns < 0 ? 0 : ns); }

  constexpr bool is_never() const { return ns_ == kNever; }
  constexpr int64_t monotonic_nanos() const { return ns_; }
  bool HasPassed() const { return !is_never() && Now().ns_ >= ns_; }
  friend constexpr bool operator<(Deadline a, Deadline b) { return a.ns_ < b.ns_; }
  friend constexpr bool operator==(Deadline a, Deadline b) { return a.ns_ == b.ns_; }

 private:
  static constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
  constexpr explicit Deadline(int64_t ns) : ns_(ns) {}
  int64_t ns_;
};

enum class FutexWaitResult : uint8_t {
  kWoken,         // a wake arrived, or a spurious return: re-check the word
  kValueChanged,  // the word did not hold `expected` when the kernel looked
  kTimedOut,      // the deadline passed
};

namespace futex {

inline constexpr uint32_t kMatchAny = 0xffffffffu;

// Sleeps while *word == expected, until a wake with an intersecting bitset,
// the deadline, or a spurious wakeup. The kernel compares the value and
// queues the caller atomically with respect to wakers.
FutexWaitResult Wait(const std::atomic<uint32_t>& word, uint32_t expected, Deadline deadline,
                     FutexScope scope, uint32_t bitset = kMatchAny);

// Wakes up to `count` sleepers on `word`; returns how many were woken
// (io_uring FUTEX_WAIT requests count as sleepers).
int Wake(const std::atomic<uint32_t>& word, int count, FutexScope scope,
         uint32_t bitset = kMatchAny);

inline constexpr int kWaitvMax = 128;  // the kernel's FUTEX_WAITV_MAX

struct WaitvEntry {
  const std::atomic<uint32_t>* word;
  uint32_t expected;
  FutexScope scope;
};

struct WaitvResult {
  FutexWaitResult result;
  int index;  // for kWoken: which entry was woken (-1 if spurious)
};

// Sleeps until any of up to kWaitvMax words is woken (futex_waitv(2), Linux
// 5.16+). If some word does not hold its expected value, returns
// kValueChanged at once. Aborts with a message on kernels without the call.
WaitvResult WaitAny(const WaitvEntry* entries, int count, Deadline deadline);

// True when the running kernel has futex_waitv(2).
bool WaitvSupported();

// FUTEX2_* flags (include/uapi/linux/futex.h; Debian 12's headers predate
// them). For io_uring FUTEX_WAIT/WAKE they go in sqe->fd; for futex_waitv
// entries, in KernelWaitv::flags.
inline constexpr uint32_t kFutex2SizeU32 = 0x02;   // FUTEX2_SIZE_U32
inline constexpr uint32_t kFutex2SizeMask = 0x03;  // FUTEX2_SIZE_MASK
inline constexpr uint32_t kFutex2Private = 128;    // FUTEX2_PRIVATE

// The FUTEX2 flags of a 32-bit word of `scope`.
constexpr uint32_t Futex2Flags(FutexScope scope) {
  return kFutex2SizeU32 | (scope == FutexScope::kPrivate ? kFutex2Private : 0);
}

// struct futex_waitv as the kernel reads it (futex_waitv(2) and io_uring's
// FUTEX_WAITV).
struct KernelWaitv {
  uint64_t val;       // expected value (zero-extended)
  uint64_t uaddr;     // address of the futex word
  uint32_t flags;     // FUTEX2_* flags; the size bits must say U32
  uint32_t reserved;  // must be 0
};
static_assert(sizeof(KernelWaitv) == 24);
static_assert(offsetof(KernelWaitv, val) == 0 && offsetof(KernelWaitv, uaddr) == 8 &&
              offsetof(KernelWaitv, flags) == 16 && offsetof(KernelWaitv, reserved) == 20);

// futex_waitv(2) itself, for callers that manage their own wait set (the
// event loop's helper thread): returns the woken index, or -1 with errno.
// No retry on EINTR, no abort.
long WaitvSyscall(KernelWaitv* entries, uint32_t count, Deadline deadline);

// Fault injection, for tests only. When a hook is set, every wait syscall
// above (Wait's futex(2), WaitAny's and WaitvSyscall's futex_waitv(2)) asks
// it first; a nonzero return is taken as that call's errno (e.g. EINTR,
// EAGAIN, ENOMEM) and the syscall is not made, so callers' handling of
// transient errors can be exercised. Unset (the default), the cost is one
// relaxed load per wait syscall: slow paths only. Set it before the waits it
// should affect and clear it (nullptr) when done; it may run on any thread
// at once, so it must be thread-safe.
enum class SyscallKind : uint8_t { kWait, kWaitv };
using SyscallFaultHook = int (*)(SyscallKind kind);
void SetSyscallFaultHook(SyscallFaultHook hook);

}  // namespace futex
}  // namespace ringlock

#endif  // RINGLOCK_URING_SYS_FUTEX_H_
