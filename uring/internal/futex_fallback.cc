#include "uring/internal/futex_fallback.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <system_error>

#include "uring/fault_hooks.h"

namespace ringlock::uring::internal {
namespace {

constexpr int64_t kOverflowPollNs = 1'000'000;  // see header: > 127 words

int64_t MonoNowNs() { return Deadline::NowNanos(); }

std::atomic<fault::FallbackDelayHook> g_delay_hook{nullptr};

uint32_t LoadWord(const FutexWaitv& e) {
  return reinterpret_cast<const std::atomic<uint32_t>*>(e.uaddr)->load(
      std::memory_order_acquire);
}

}  // namespace

}  // namespace ringlock::uring::internal

namespace ringlock::uring {
void fault::SetFallbackDelayHook(FallbackDelayHook hook) {
  internal::g_delay_hook.store(hook, std::memory_order_relaxed);
}
}  // namespace ringlock::uring

namespace ringlock::uring::internal {

bool FutexFallback::Available() { return futex::WaitvSupported(); }

FutexFallback::FutexFallback(absl::AnyInvocable<void()> notify)
    : notify_(std::move(notify)) {}

int FutexFallback::Start() {
  try {
    thread_ = std::thread([this] { Run(); });
  } catch (const std::system_error& e) {
    return e.code().value() != 0 ? e.code().value() : EAGAIN;
  }
  return 0;
}

FutexFallback::~FutexFallback() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  Kick();
  if (thread_.joinable()) thread_.join();
}

void FutexFallback::Kick() {
  ctl_.fetch_add(1, std::memory_order_release);
  syscall(SYS_futex, &ctl_, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

void FutexFallback::Add(Operation* op, absl::Span<const FutexWaitv> entries,
                        bool waitv, int64_t deadline) {
  {
    std::lock_guard<std::mutex> l(mu_);
    uint64_t id = next_id_++;
    waits_.emplace(id, Wait{op, std::vector<FutexWaitv>(entries.begin(),
                                                        entries.end()),
                            waitv, deadline});
    ids_.emplace(op, id);
  }
  Kick();
}

bool FutexFallback::Remove(Operation* op) {
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = ids_.find(op);
    if (it == ids_.end()) return false;
    waits_.erase(it->second);
    ids_.erase(it);
  }
  Kick();  // Stop sleeping on a word that may go away.
  return true;
}

std::vector<Operation*> FutexFallback::RemoveAll() {
  std::vector<Operation*> out;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (auto& [id, w] : waits_) out.push_back(w.op);
    waits_.clear();
    ids_.clear();
  }
  Kick();
  return out;
}

std::vector<std::pair<Operation*, int32_t>> FutexFallback::TakeCompleted() {
  std::lock_guard<std::mutex> l(mu_);
  return std::exchange(done_, {});
}

void FutexFallback::Run() {
  std::vector<FutexWaitv> vec;
  std::vector<std::pair<uint64_t, uint32_t>> where;  // vec index -> (id, sub)
  std::vector<uint64_t> overflow;  // waits that did not fit in the syscall
  mu_.lock();
  while (!stop_) {
    const int64_t now = MonoNowNs();
    bool finished = false;
    bool truncated = false;
    int64_t deadline = kNoDeadline;
    vec.clear();
    where.clear();
    overflow.clear();
    const uint32_t ctl_seen = ctl_.load(std::memory_order_acquire);
    vec.push_back(MakeFutexWaitv(&ctl_, ctl_seen, kFutex2Private));
    where.emplace_back(0, 0);
    for (auto it = waits_.begin(); it != waits_.end();) {
      Wait& w = it->second;
      int32_t res = 1;  // 1: still waiting.
      if (w.deadline <= now) {
        res = -ETIMEDOUT;
      } else {
        for (const FutexWaitv& e : w.entries) {
          if (LoadWord(e) != static_cast<uint32_t>(e.val)) {
            res = -EAGAIN;
            break;
          }
        }
      }
      if (res != 1) {
        done_.emplace_back(w.op, res);
        ids_.erase(w.op);
        it = waits_.erase(it);
        finished = true;
        continue;
      }
      if (vec.size() + w.entries.size() <= kFutexWaitvMax) {
        for (uint32_t i = 0; i < w.entries.size(); ++i) {
          vec.push_back(w.entries[i]);
          where.emplace_back(it->first, i);
        }
        deadline = std::min(deadline, w.deadline);
      } else {
        truncated = true;
        overflow.push_back(it->first);
        deadline = std::min(deadline, w.deadline);
      }
      ++it;
    }
    if (finished) {
      mu_.unlock();
      notify_();
      mu_.lock();
      continue;
    }
    if (truncated) deadline = std::min(deadline, now + kOverflowPollNs);
    mu_.unlock();
    long r = futex::WaitvSyscall(vec.data(), static_cast<uint32_t>(vec.size()),
                                 deadline == kNoDeadline
                                     ? Deadline::Never()
                                     : Deadline::FromMonotonicNanos(deadline));
    const int err = r < 0 ? errno : 0;
    if (auto hook = g_delay_hook.load(std::memory_order_relaxed)) hook();
    mu_.lock();
    if (r > 0 && static_cast<size_t>(r) < where.size()) {
      // futex_waitv(2) reports the highest woken index, but entries below it
      // may have been woken too (each such wake was counted by its waker),
      // and a wake need not change the word. So every wait with an entry at
      // index <= r completes: the woken one with its result, the others with
      // 0 ("woken or spurious": their callers re-check their words).
      std::vector<uint64_t> ids;
      for (long i = 1; i <= r; ++i) {
        if (ids.empty() || ids.back() != where[i].first) ids.push_back(where[i].first);
      }
      for (uint64_t id : ids) {
        auto it = waits_.find(id);
        if (it == waits_.end()) continue;  // Removed meanwhile.
        const bool woken = id == where[r].first;
        done_.emplace_back(it->second.op, woken && it->second.waitv
                                              ? static_cast<int32_t>(where[r].second)
                                              : 0);
        ids_.erase(it->second.op);
        waits_.erase(it);
      }
      mu_.unlock();
      notify_();
      mu_.lock();
    } else if (r < 0 && err == ETIMEDOUT && !overflow.empty()) {
      // Waits beyond the syscall's 128 words are not slept on, so a wake that
      // leaves their word unchanged would go unseen: every poll completes
      // them with 0 (spurious; their callers re-check and wait again).
      for (uint64_t id : overflow) {
        auto it = waits_.find(id);
        if (it == waits_.end() || it->second.deadline <= MonoNowNs()) continue;
        done_.emplace_back(it->second.op, 0);
        ids_.erase(it->second.op);
        waits_.erase(it);
      }
      mu_.unlock();
      notify_();
      mu_.lock();
    } else if (r < 0 && err != EAGAIN && err != ETIMEDOUT && err != EINTR && err != ENOMEM &&
               ctl_.load(std::memory_order_acquire) == ctl_seen) {
      // EFAULT/EINVAL with an unchanged set: a caller passed a bad word.
      // Fail every pending wait rather than spin. (ENOMEM, the kernel unable
      // to copy the entries, is transient: sleep again.)
      for (auto& [id, w] : waits_) done_.emplace_back(w.op, -err);
      waits_.clear();
      ids_.clear();
      mu_.unlock();
      notify_();
      mu_.lock();
    }
  }
  mu_.unlock();
}

}  // namespace ringlock::uring::internal
