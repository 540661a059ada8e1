// uring/futex_sqe.h — SQE preparation for io_uring's futex opcodes.
//
// Debian 12 ships liburing 2.3 and linux-libc-dev 6.1, which predate the
// futex opcodes (Linux 6.7, liburing 2.5). This header carries ringlock's own
// definitions, checked against upstream io_uring/futex.c and
// include/uapi/linux/futex.h, and measured on Linux 6.18.
//
// SQE layout used by the kernel (io_futex_prep / io_futexv_prep):
//
//   field        FUTEX_WAIT          FUTEX_WAKE          FUTEX_WAITV
//   addr         futex address       futex address       struct futex_waitv[]
//   addr2 (off)  expected value      number to wake      0
//   addr3        bitset mask         bitset mask         0
//   fd           FUTEX2_* flags      FUTEX2_* flags      0
//   len          0                   0                   count (1..128)
//   op flags     0                   0                   0
//
// Any other non-zero field makes the kernel fail the request with -EINVAL.
// A wake with the count in `len` instead of `addr2` silently wakes nobody.
//
// Results (cqe->res):
//   FUTEX_WAIT   0 when woken; -EAGAIN when *addr != expected at arming time;
//                -ECANCELED when cancelled (ASYNC_CANCEL or a linked timeout).
//   FUTEX_WAKE   number of waiters woken (>= 0), or -errno.
//   FUTEX_WAITV  index of the entry that woke; -EAGAIN if any entry's value
//                differed at arming time; -ECANCELED as above.
//
// Availability: Linux >= 6.7 (check with Probe in ring.h). Without the
// opcodes the kernel completes the SQE with -EINVAL; EventLoop (event_loop.h)
// then uses a futex_waitv(2) helper thread instead.
//
// Interoperability: FUTEX2_PRIVATE waits are woken by futex(2)
// FUTEX_WAKE_PRIVATE and vice versa; private and shared keys never match.
//
// Linux >= 6.16 bug: a PRIVATE futex wait armed while the process is
// single-threaded is lost when the process creates its first thread. Call
// EnsurePrivateFutexHash() (futex_hash.h) before arming; EventLoop does.
#ifndef RINGLOCK_URING_FUTEX_SQE_H_
#define RINGLOCK_URING_FUTEX_SQE_H_

#include <liburing.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "uring/sys/futex.h"

namespace ringlock::uring {

// io_uring opcodes (include/uapi/linux/io_uring.h, Linux 6.7).
inline constexpr uint8_t kOpFutexWait = 51;
inline constexpr uint8_t kOpFutexWake = 52;
inline constexpr uint8_t kOpFutexWaitv = 53;

// The FUTEX2_* flags and struct futex_waitv have one definition, in the
// futex vocabulary (uring/sys/futex.h); these are their names here.
inline constexpr uint32_t kFutex2SizeU32 = futex::kFutex2SizeU32;
inline constexpr uint32_t kFutex2SizeMask = futex::kFutex2SizeMask;
inline constexpr uint32_t kFutex2Private = futex::kFutex2Private;
inline constexpr uint64_t kFutexBitsetMatchAny = futex::kMatchAny;

// Maximum entries of one FUTEX_WAITV / futex_waitv(2) (FUTEX_WAITV_MAX).
inline constexpr uint32_t kFutexWaitvMax = futex::kWaitvMax;

using FutexWaitv = futex::KernelWaitv;
static_assert(sizeof(std::atomic<uint32_t>) == 4 &&
              alignof(std::atomic<uint32_t>) == 4);

// Makes a FutexWaitv entry for a 32-bit word. The size bits default to U32.
inline FutexWaitv MakeFutexWaitv(const std::atomic<uint32_t>* word,
                                 uint32_t expected, uint32_t futex2_flags) {
  if ((futex2_flags & kFutex2SizeMask) == 0) futex2_flags |= kFutex2SizeU32;
  return FutexWaitv{expected, reinterpret_cast<uintptr_t>(word), futex2_flags,
                    0};
}

namespace internal {
inline void PrepFutexCommon(io_uring_sqe* sqe, uint8_t op) {
  std::memset(sqe, 0, sizeof(*sqe));
  sqe->opcode = op;
}
inline uint32_t WithSize(uint32_t futex2_flags) {
  return (futex2_flags & kFutex2SizeMask) ? futex2_flags
                                          : futex2_flags | kFutex2SizeU32;
}
}  // namespace internal

// IORING_OP_FUTEX_WAIT on `word`: sleeps while *word == expected.
// Completes when woken (res 0), immediately with -EAGAIN on a value mismatch
// at arming time (arming happens when the SQE is submitted, not here), or
// with -ECANCELED. `futex2_flags` are FUTEX2_* flags; the size bits default to
// U32. user_data and sqe->flags are left 0 for the caller to set.
inline void PrepFutexWait(io_uring_sqe* sqe, const std::atomic<uint32_t>* word,
                          uint32_t expected, uint32_t futex2_flags,
                          uint64_t mask = kFutexBitsetMatchAny) {
  internal::PrepFutexCommon(sqe, kOpFutexWait);
  sqe->addr = reinterpret_cast<uintptr_t>(word);
  sqe->addr2 = expected;
  sqe->addr3 = mask;
  sqe->fd = static_cast<int32_t>(internal::WithSize(futex2_flags));
}

// IORING_OP_FUTEX_WAKE: wakes up to `nr` waiters of `word` whose bitset
// intersects `mask`. res = number woken. Ordering: like futex(2) FUTEX_WAKE,
// the wake is issued when the SQE is submitted; stores made before the
// submit are visible to the woken waiter (the futex hash-bucket lock orders
// them). Note: TSAN cannot see this happens-before edge.
inline void PrepFutexWake(io_uring_sqe* sqe, const std::atomic<uint32_t>* word,
                          uint32_t nr, uint32_t futex2_flags,
                          uint64_t mask = kFutexBitsetMatchAny) {
  internal::PrepFutexCommon(sqe, kOpFutexWake);
  sqe->addr = reinterpret_cast<uintptr_t>(word);
  sqe->addr2 = nr;  // NOT len: the kernel reads the count from addr2.
  sqe->addr3 = mask;
  sqe->fd = static_cast<int32_t>(internal::WithSize(futex2_flags));
}

// IORING_OP_FUTEX_WAITV over `n` (1..kFutexWaitvMax) entries. res = index of
// the entry that woke, -EAGAIN if any value differed at arming time.
// The kernel copies `v` when it prepares the SQE (at submit), so `v` must
// stay valid until the SQE has been submitted.
inline void PrepFutexWaitv(io_uring_sqe* sqe, FutexWaitv* v, uint32_t n) {
  internal::PrepFutexCommon(sqe, kOpFutexWaitv);
  sqe->addr = reinterpret_cast<uintptr_t>(v);
  sqe->len = n;
}

}  // namespace ringlock::uring

#endif  // RINGLOCK_URING_FUTEX_SQE_H_
