#include "locks/wake_batch.h"

#include "locks/internal/wait_backend.h"
#include "locks/internal/wake_sink.h"

namespace ringlock {
namespace {

struct ThreadWakes {
  WakeBatch* open = nullptr;  // innermost open batch
  int depth = 0;
  int count = 0;
  WakeBatch::Mode mode = WakeBatch::Mode::kInline;  // the outermost batch's
  internal::QueuedWake entries[WakeBatch::kCapacity];
};

thread_local ThreadWakes t_wakes;

void FlushThreadWakes() {
  ThreadWakes& t = t_wakes;
  if (t.count == 0) return;
  // Clear first: SendWakes may run code that wakes again.
  const int n = t.count;
  internal::QueuedWake entries[WakeBatch::kCapacity];
  for (int i = 0; i < n; ++i) entries[i] = t.entries[i];
  t.count = 0;
  internal::SendWakes(entries, n, t.mode);
}

}  // namespace

WakeBatch::WakeBatch(Mode mode) : outer_(t_wakes.open) {
  t_wakes.open = this;
  if (t_wakes.depth++ == 0) t_wakes.mode = mode;
}

WakeBatch::~WakeBatch() {
  t_wakes.open = outer_;
  if (--t_wakes.depth == 0) FlushThreadWakes();
}

void WakeBatch::Flush() { FlushThreadWakes(); }

int WakeBatch::Pending() { return t_wakes.count; }

namespace internal {

bool WakeBatchOpen() { return t_wakes.depth > 0; }

void SendHeldWakes() {
  // A nobody-woken step run by the flush may queue a wake of its own.
  while (t_wakes.count > 0) FlushThreadWakes();
}

namespace {
std::atomic<WakeSink> g_sink{nullptr};
}  // namespace

void InstallWakeSink(WakeSink sink) { g_sink.store(sink, std::memory_order_release); }

void SendWakesThroughFutex(const QueuedWake* entries, int count) {
  for (int i = 0; i < count; ++i) {
    const QueuedWake& e = entries[i];
    e.RunIfNobodyWoken(FutexWake(*e.word, e.count, e.scope, e.bitset));
  }
}

void SendWakes(const QueuedWake* entries, int count, WakeBatch::Mode mode) {
  if (count == 0) return;
  if (WakeSink sink = g_sink.load(std::memory_order_acquire)) {
    sink(entries, count, mode);
  } else {
    SendWakesThroughFutex(entries, count);
  }
}

void WakeWord(internal::FutexWord& word, int count, FutexScope scope, uint32_t bitset,
              NobodyWokenFn if_nobody_woken, uint32_t token) {
  const QueuedWake wake{&word, count, scope, bitset, if_nobody_woken, token};
  ThreadWakes& t = t_wakes;
  if (t.depth == 0) {
    wake.RunIfNobodyWoken(FutexWake(word, count, scope, bitset));
    return;
  }
  if (t.count == WakeBatch::kCapacity) FlushThreadWakes();
  t.entries[t.count++] = wake;
}

}  // namespace internal
}  // namespace ringlock
