// ringlock::check::Atomic<T>: the std::atomic subset the word protocols use,
// as a model-checker operation. Compiled in place of std::atomic<uint32_t>
// when the protocols are built with -DRINGLOCK_MODEL_CHECK.
//
// Inside an exploration (the calling thread is one of the scheduler's model
// threads) every operation is a scheduling point: the scheduler may run other
// threads first, then the operation executes as one indivisible step, is
// written to the trace and followed by the configuration's invariant.
// Outside an exploration (static initialisation, destructors, the setup and
// check callbacks) operations act directly on the value.
//
// Memory model: sequentially consistent. Memory orders are accepted and
// ignored, so reorderings allowed by weaker orders are NOT explored; data
// races and ordering bugs are ThreadSanitizer's job.
//
// compare_exchange_weak fails spuriously only when
// Options::max_spurious_cas_failures allows (then a weak CAS that would succeed
// is a scheduler choice); otherwise it behaves exactly like
// compare_exchange_strong.
#ifndef RINGLOCK_LOCKS_CHECK_MODEL_ATOMIC_H_
#define RINGLOCK_LOCKS_CHECK_MODEL_ATOMIC_H_

#include <atomic>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace ringlock::check {

namespace internal {

class Scheduler;

// One executed atomic operation, for the trace.
struct OpRecord {
  const void* word;
  const char* op;
  int nargs;  // how many of arg0, arg1 are meaningful
  uint64_t arg0;
  uint64_t arg1;
  uint64_t before;
  uint64_t after;
  int ok;  // compare_exchange: 1 succeeded, 0 failed; -1 otherwise
};

// Non-null iff the calling thread is a model thread of a running exploration
// and is not inside a check callback.
Scheduler* ModelScheduler();
void BeforeOp(Scheduler* s);
void AfterOp(Scheduler* s, const OpRecord& rec);
bool SpuriousCasFailure(Scheduler* s);
void RegisterWord(const void* word, uint64_t (*read)(const void*));
void UnregisterWord(const void* word);

template <class T>
uint64_t Bits(T v) {
  uint64_t b = 0;
  std::memcpy(&b, &v, sizeof(T));
  return b;
}

}  // namespace internal

template <class T>
class Atomic {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8,
                "check::Atomic models trivially copyable values of at most 8 bytes");
  static constexpr bool kIntegral = std::is_integral_v<T>;

 public:
  constexpr Atomic() noexcept : Atomic(T{}) {}
  constexpr Atomic(T v) noexcept : v_(v) {  // NOLINT: implicit, as std::atomic
    if (!std::is_constant_evaluated()) internal::RegisterWord(this, &Read);
  }
  constexpr ~Atomic() {
    if (!std::is_constant_evaluated()) internal::UnregisterWord(this);
  }
  Atomic(const Atomic&) = delete;
  Atomic& operator=(const Atomic&) = delete;

  T load(std::memory_order = std::memory_order_seq_cst) const {
    internal::Scheduler* s = internal::ModelScheduler();
    if (s == nullptr) return v_.load();
    internal::BeforeOp(s);
    const T v = v_.load();
    internal::AfterOp(s, {this, "load", 0, 0, 0, B(v), B(v), -1});
    return v;
  }

  void store(T v, std::memory_order = std::memory_order_seq_cst) {
    internal::Scheduler* s = internal::ModelScheduler();
    if (s == nullptr) return v_.store(v);
    internal::BeforeOp(s);
    const T old = v_.exchange(v);
    internal::AfterOp(s, {this, "store", 1, B(v), 0, B(old), B(v), -1});
  }

  T exchange(T v, std::memory_order = std::memory_order_seq_cst) {
    internal::Scheduler* s = internal::ModelScheduler();
    if (s == nullptr) return v_.exchange(v);
    internal::BeforeOp(s);
    const T old = v_.exchange(v);
    internal::AfterOp(s, {this, "exchange", 1, B(v), 0, B(old), B(v), -1});
    return old;
  }

  bool compare_exchange_strong(T& expected, T desired,
                               std::memory_order = std::memory_order_seq_cst) {
    return Cas(expected, desired, false);
  }
  bool compare_exchange_strong(T& expected, T desired, std::memory_order, std::memory_order) {
    return Cas(expected, desired, false);
  }
  bool compare_exchange_weak(T& expected, T desired,
                             std::memory_order = std::memory_order_seq_cst) {
    return Cas(expected, desired, true);
  }
  bool compare_exchange_weak(T& expected, T desired, std::memory_order, std::memory_order) {
    return Cas(expected, desired, true);
  }

  T fetch_add(T v, std::memory_order = std::memory_order_seq_cst)
    requires kIntegral
  {
    return Rmw("fetch_add", v, [](T a, T b) { return static_cast<T>(a + b); });
  }
  T fetch_sub(T v, std::memory_order = std::memory_order_seq_cst)
    requires kIntegral
  {
    return Rmw("fetch_sub", v, [](T a, T b) { return static_cast<T>(a - b); });
  }
  T fetch_or(T v, std::memory_order = std::memory_order_seq_cst)
    requires kIntegral
  {
    return Rmw("fetch_or", v, [](T a, T b) { return static_cast<T>(a | b); });
  }
  T fetch_and(T v, std::memory_order = std::memory_order_seq_cst)
    requires kIntegral
  {
    return Rmw("fetch_and", v, [](T a, T b) { return static_cast<T>(a & b); });
  }

  // The value without a scheduling point or trace entry: for the model's own
  // futex operations, invariants and diagnostics.
  T peek() const { return v_.load(); }

 private:
  static uint64_t B(T v) { return internal::Bits(v); }
  static uint64_t Read(const void* self) {
    return B(static_cast<const Atomic*>(self)->v_.load());
  }

  bool Cas(T& expected, T desired, bool weak) {
    internal::Scheduler* s = internal::ModelScheduler();
    if (s == nullptr) return v_.compare_exchange_strong(expected, desired);
    internal::BeforeOp(s);
    const T want = expected;
    const T cur = v_.load();
    bool ok = std::memcmp(&cur, &want, sizeof(T)) == 0;
    if (ok && weak && internal::SpuriousCasFailure(s)) ok = false;
    if (ok) {
      v_.store(desired);
    } else {
      expected = cur;
    }
    internal::AfterOp(s, {this, weak ? "cas_weak" : "cas", 2, B(want), B(desired), B(cur),
                          ok ? B(desired) : B(cur), ok ? 1 : 0});
    return ok;
  }

  template <class F>
  T Rmw(const char* name, T arg, F f) {
    internal::Scheduler* s = internal::ModelScheduler();
    if (s == nullptr) {
      T old = v_.load();
      while (!v_.compare_exchange_weak(old, f(old, arg))) {
      }
      return old;
    }
    internal::BeforeOp(s);
    const T old = v_.load();
    const T now = f(old, arg);
    v_.store(now);
    internal::AfterOp(s, {this, name, 1, B(arg), 0, B(old), B(now), -1});
    return old;
  }

  std::atomic<T> v_;
};

}  // namespace ringlock::check

#endif  // RINGLOCK_LOCKS_CHECK_MODEL_ATOMIC_H_
