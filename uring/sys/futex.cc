#include "uring/sys/futex.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace ringlock {
namespace {

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449  // Linux 5.16, same number on every architecture
#endif

[[noreturn]] void Die(const char* call, int err) {
  std::fprintf(stderr, "ringlock: %s failed: %s (errno %d)\n", call, std::strerror(err), err);
  std::abort();
}

timespec ToTimespec(int64_t ns) {
  timespec ts;
  ts.tv_sec = ns / 1000000000;
  ts.tv_nsec = ns % 1000000000;
  return ts;
}

int64_t MonotonicNow() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// The kernel answers EINVAL / EFAULT for these; say what is wrong instead.
// Slow path only (every call here is a syscall anyway).
uint32_t* Addr(const std::atomic<uint32_t>& word) {
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
  auto* p = reinterpret_cast<uint32_t*>(const_cast<std::atomic<uint32_t>*>(&word));
  if (p == nullptr || reinterpret_cast<uintptr_t>(p) % alignof(uint32_t) != 0) {
    std::fprintf(stderr, "ringlock: misuse: futex word %p is null or not 4-byte aligned\n",
                 static_cast<void*>(p));
    std::abort();
  }
  return p;
}

std::atomic<futex::SyscallFaultHook> g_syscall_fault_hook{nullptr};

// The errno a fault hook injects for this call, or 0 (make the call).
int InjectedErrno(futex::SyscallKind kind) {
  futex::SyscallFaultHook hook = g_syscall_fault_hook.load(std::memory_order_relaxed);
  return hook == nullptr ? 0 : hook(kind);
}

}  // namespace

Deadline Deadline::Now() { return Deadline(MonotonicNow()); }

int64_t Deadline::NowNanos() { return MonotonicNow(); }

Deadline Deadline::After(std::chrono::nanoseconds d) {
  const int64_t now = MonotonicNow();
  const int64_t ns = d.count();
  if (ns <= 0) return Deadline(now);
  if (ns >= kNever - now) return Never();
  return Deadline(now + ns);
}

namespace futex {

FutexWaitResult Wait(const std::atomic<uint32_t>& word, uint32_t expected, Deadline deadline,
                     FutexScope scope, uint32_t bitset) {
  const int op = FUTEX_WAIT_BITSET | (scope == FutexScope::kPrivate ? FUTEX_PRIVATE_FLAG : 0);
  timespec ts;
  const timespec* tsp = nullptr;
  if (!deadline.is_never()) {
    ts = ToTimespec(deadline.monotonic_nanos());
    tsp = &ts;
  }
  for (;;) {
    if (const int injected = InjectedErrno(SyscallKind::kWait); injected != 0) {
      errno = injected;
    } else if (syscall(SYS_futex, Addr(word), op, expected, tsp, nullptr, bitset) == 0) {
      // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC timeout.
      return FutexWaitResult::kWoken;
    }
    switch (errno) {
      case EINTR:
        continue;  // same absolute deadline: a restart cannot extend it
      case EAGAIN:
        return FutexWaitResult::kValueChanged;
      case ETIMEDOUT:
        return FutexWaitResult::kTimedOut;
      default:
        Die("futex(FUTEX_WAIT_BITSET)", errno);
    }
  }
}

int Wake(const std::atomic<uint32_t>& word, int count, FutexScope scope, uint32_t bitset) {
  const int op = FUTEX_WAKE_BITSET | (scope == FutexScope::kPrivate ? FUTEX_PRIVATE_FLAG : 0);
  for (;;) {
    const long woken = syscall(SYS_futex, Addr(word), op, count, nullptr, nullptr, bitset);
    if (woken >= 0) return static_cast<int>(woken);
    if (errno == EINTR) continue;
    Die("futex(FUTEX_WAKE_BITSET)", errno);
  }
}

WaitvResult WaitAny(const WaitvEntry* entries, int count, Deadline deadline) {
  if (count <= 0 || count > kWaitvMax) {
    std::fprintf(stderr, "ringlock: futex::WaitAny over %d words (1..%d allowed)\n", count,
                 kWaitvMax);
    std::abort();
  }
  KernelWaitv v[kWaitvMax];
  for (int i = 0; i < count; ++i) {
    v[i].val = entries[i].expected;
    v[i].uaddr = reinterpret_cast<uintptr_t>(Addr(*entries[i].word));
    v[i].flags = Futex2Flags(entries[i].scope);
    v[i].reserved = 0;
  }
  for (;;) {
    const long r = WaitvSyscall(v, static_cast<uint32_t>(count), deadline);
    if (r >= 0) return {FutexWaitResult::kWoken, static_cast<int>(r)};
    switch (errno) {
      case EINTR:
      case ENOMEM:  // the kernel's copy of the entries: transient, retry
        continue;
      case EAGAIN:
        return {FutexWaitResult::kValueChanged, -1};
      case ETIMEDOUT:
        return {FutexWaitResult::kTimedOut, -1};
      case ENOSYS:
        std::fprintf(stderr, "ringlock: futex_waitv(2) needs Linux 5.16 or later\n");
        std::abort();
      default:
        Die("futex_waitv", errno);
    }
  }
}

long WaitvSyscall(KernelWaitv* entries, uint32_t count, Deadline deadline) {
  if (const int injected = InjectedErrno(SyscallKind::kWaitv); injected != 0) {
    errno = injected;
    return -1;
  }
  timespec ts;
  const timespec* tsp = nullptr;
  if (!deadline.is_never()) {
    ts = ToTimespec(deadline.monotonic_nanos());
    tsp = &ts;
  }
  return syscall(SYS_futex_waitv, entries, count, 0, tsp, CLOCK_MONOTONIC);
}

void SetSyscallFaultHook(SyscallFaultHook hook) {
  g_syscall_fault_hook.store(hook, std::memory_order_relaxed);
}

bool WaitvSupported() {
  static const bool supported = [] {
    // No entries: the kernel validates arguments and answers EINVAL when the
    // call exists, ENOSYS when it does not.
    return !(syscall(SYS_futex_waitv, nullptr, 0, 0, nullptr, CLOCK_MONOTONIC) < 0 &&
             errno == ENOSYS);
  }();
  return supported;
}

}  // namespace futex
}  // namespace ringlock
