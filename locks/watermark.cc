#include "locks/watermark.h"

#include "locks/internal/wait_backend.h"
#include "locks/wake_batch.h"

namespace ringlock {

using internal::kWatermarkReached;
using internal::kWatermarkWaiting;
using internal::WatermarkNode;

namespace {
constexpr uint32_t kFree = 0, kHeld = 1, kContended = 2;
}  // namespace

Watermark::~Watermark() {
  RINGLOCK_MISUSE_IF(registered_.load(std::memory_order_relaxed) != 0, Name(),
                     "destroyed with waiters");
  WatermarkNode* lists[] = {pool_, returned_.exchange(nullptr, std::memory_order_acquire)};
  for (WatermarkNode* n : lists) {
    while (n != nullptr) {
      WatermarkNode* next = n->next;
      delete n;
      n = next;
    }
  }
}

// The textbook futex mutex. It sleeps in futex(2) whatever the thread's
// backend: it is never held across a wait, only for a few list operations.
void Watermark::Lock() {
  uint32_t c = kFree;
  if (lock_.compare_exchange_strong(c, kHeld, std::memory_order_acquire,
                                    std::memory_order_relaxed)) {
    return;
  }
  // Held for a few list operations: a short spin usually outlasts it.
  for (int i = 0; i < internal::kMutexSpinLimit && c == kHeld; ++i) {
    internal::CpuRelax();
    c = kFree;
    if (lock_.compare_exchange_strong(c, kHeld, std::memory_order_acquire,
                                      std::memory_order_relaxed)) {
      return;
    }
  }
  if (c != kContended) c = lock_.exchange(kContended, std::memory_order_acquire);
  while (c != kFree) {
    internal::SendHeldWakes();  // never sleep holding back queued wakes
    (void)internal::FutexWait(lock_, kContended, Deadline::Never(), FutexScope::kPrivate,
                              futex::kMatchAny);
    c = lock_.exchange(kContended, std::memory_order_acquire);
  }
}

void Watermark::Unlock() {
  if (lock_.exchange(kFree, std::memory_order_release) == kContended) {
    (void)internal::FutexWake(lock_, 1, FutexScope::kPrivate, futex::kMatchAny);
  }
}

WatermarkNode* Watermark::TakeNode() {
  if (pool_ == nullptr) pool_ = returned_.exchange(nullptr, std::memory_order_acquire);
  WatermarkNode* n = pool_;
  if (n != nullptr) {
    pool_ = n->next;
  } else {
    n = new WatermarkNode;
  }
  registered_.fetch_add(1, std::memory_order_relaxed);
  return n;
}

void Watermark::ReturnNode(WatermarkNode* n) {
  registered_.fetch_sub(1, std::memory_order_relaxed);
  WatermarkNode* top = returned_.load(std::memory_order_relaxed);
  do {
    n->next = top;
  } while (!returned_.compare_exchange_weak(top, n, std::memory_order_release,
                                            std::memory_order_relaxed));
}

void Watermark::Link(WatermarkNode* n) {
  // From the tail: targets mostly arrive in increasing order.
  WatermarkNode* after = tail_;
  while (after != nullptr && after->target > n->target) after = after->prev;
  n->prev = after;
  n->next = after != nullptr ? after->next : head_;
  if (n->next != nullptr) {
    n->next->prev = n;
  } else {
    tail_ = n;
  }
  if (after != nullptr) {
    after->next = n;
  } else {
    head_ = n;
  }
}

void Watermark::Unlink(WatermarkNode* n) {
  if (n->prev != nullptr) {
    n->prev->next = n->next;
  } else {
    head_ = n->next;
  }
  if (n->next != nullptr) {
    n->next->prev = n->prev;
  } else {
    tail_ = n->prev;
  }
  n->prev = n->next = nullptr;
}

size_t Watermark::advance_to(uint64_t pos) {
  uint64_t cur = position_.load(std::memory_order_relaxed);
  do {
    if (pos <= cur) return 0;
  } while (!position_.compare_exchange_weak(cur, pos, std::memory_order_release,
                                            std::memory_order_relaxed));
  // Published first (INV2): a waiter that links after this lock hold saw it.
  WakeBatch batch;  // the wakes leave together, after the lock is released
  size_t released = 0;
  Lock();
  while (head_ != nullptr && head_->target <= pos) {
    if (WakeBatch::Pending() == WakeBatch::kCapacity) {
      // Full: send outside the lock, so released waiters can register again.
      Unlock();
      batch.Flush();
      Lock();
      continue;
    }
    WatermarkNode* n = head_;
    Unlink(n);
    n->word.store(kWatermarkReached, std::memory_order_release);
    // The node may go back to the pool before this wake leaves: pooled
    // memory stays the Watermark's, so a late wake is at worst spurious.
    internal::WakeWord(n->word, 1, FutexScope::kPrivate);
    ++released;
  }
  Unlock();
  return released;
}

namespace internal {

bool WatermarkAcquisition::Arm(uint32_t* expected) {
  if (wm_->position() >= target_) return true;
  wm_->Lock();
  // Re-read under the lock (INV2).
  if (wm_->position() >= target_) {
    wm_->Unlock();
    return true;
  }
  node_ = wm_->TakeNode();
  node_->target = target_;
  node_->word.store(kWatermarkWaiting, std::memory_order_relaxed);
  wm_->Link(node_);
  wm_->Unlock();
  *expected = kWatermarkWaiting;
  return false;
}

bool WatermarkAcquisition::OnWake(uint32_t* expected) {
  if (node_->word.load(std::memory_order_acquire) == kWatermarkReached) {
    wm_->ReturnNode(node_);
    node_ = nullptr;
    return true;
  }
  *expected = kWatermarkWaiting;
  return false;
}

void WatermarkAcquisition::Leave() {
  wm_->Lock();
  // Still linked unless an advance released it meanwhile (INV1); its wake
  // was directed at this waiter alone, so nothing is passed on.
  if (node_->word.load(std::memory_order_relaxed) == kWatermarkWaiting) wm_->Unlink(node_);
  wm_->Unlock();
  wm_->ReturnNode(node_);
  node_ = nullptr;
}

}  // namespace internal
}  // namespace ringlock
