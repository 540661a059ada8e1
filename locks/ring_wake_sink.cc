// The ring layer's wake sink: a thread's held wakes leave through its
// EventLoop ring, a small per-thread wake ring, or futex(2), in that order of
// preference. Installed at static initialization (see internal/wake_sink.h),
// together with the loops' step-end hook that sends held wakes.
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <optional>

#include "locks/internal/uring_glue.h"
#include "locks/internal/wake_sink.h"
#include "uring/event_loop.h"
#include "uring/futex_sqe.h"
#include "uring/ring.h"

namespace ringlock::internal {
namespace {

// Once per process: why WakeBatch falls back to one futex(2) call per wake.
void SayOnce(const std::string& why) {
  static std::once_flag once;
  std::call_once(once, [&] {
    std::fprintf(stderr, "ringlock: WakeBatch sends wakes through futex(2), one call each: %s\n",
                 why.c_str());
  });
}

// A ring only for wakes, made on first use by a thread without a loop, and
// for every offloaded wake. Successful inline FUTEX_WAKE SQEs post no CQE
// (IOSQE_CQE_SKIP_SUCCESS); failed ones are reaped and dropped (a failed wake
// can only mean a bad address, which the debug checks on every primitive
// rule out earlier). Offloaded wakes (IOSQE_ASYNC) post their CQE: an
// io_uring worker performs them after Send returns, and the kernel cancels
// what a worker still holds when the submitting thread exits or the ring is
// closed, so the ring counts them and its destructor (at thread exit) waits
// until every one has been performed.
class WakeRing {
 public:
  static WakeRing* ForThisThread() {
    thread_local std::optional<WakeRing> ring;
    thread_local bool tried = false;
    thread_local uint64_t made_in = 0;
    const uint64_t generation = uring::ForkGeneration();
    if (tried && made_in != generation) {
      // Inherited through fork(): the ring is the parent's (its submitter
      // task is a parent thread, so the kernel refuses this process's
      // submits). Let it go and make this process's own.
      if (ring) ring->Abandon();
      ring.reset();
      tried = false;
    }
    if (!tried) {
      tried = true;
      made_in = generation;
      uring::RingOptions options;
      options.sq_entries = WakeBatch::kCapacity;
      absl::StatusOr<uring::Ring> r = uring::Ring::Create(options);
      if (r.ok() && r->probe().futex_wake()) {
        ring.emplace(*std::move(r));
      } else {
        SayOnce(r.ok() ? r->probe().WhyNoFutex() : r.status().ToString());
      }
    }
    return ring ? &*ring : nullptr;
  }

  explicit WakeRing(uring::Ring ring) : ring_(std::move(ring)) {}
  ~WakeRing() {
    while (offloaded_in_flight_ > 0) {
      if (ring_.SubmitAndWait() < 0) break;  // the ring is unusable: nothing to wait for
      ReapOffloaded();
    }
  }

  // In a fork()ed child: the offloaded wakes in flight are the parent's.
  void Abandon() { offloaded_in_flight_ = 0; }

  void Send(const QueuedWake* entries, int count, WakeBatch::Mode mode) {
    ReapOffloaded();  // keeps the CQ from filling with finished offloaded wakes
    // Wakes that report back post their CQE (user_data = index + 1) and run
    // inline (no IOSQE_ASYNC): the waker needs the count before it returns.
    int reporting = 0;
    for (int i = 0; i < count; ++i) {
      const QueuedWake& e = entries[i];
      io_uring_sqe* sqe = ring_.GetSqe();
      uring::PrepFutexWake(sqe, e.word, static_cast<uint32_t>(e.count), Futex2Flags(e.scope),
                           e.bitset);
      if (e.if_nobody_woken) {
        sqe->user_data = static_cast<uint64_t>(i) + 1;
        ++reporting;
      } else if (mode == WakeBatch::Mode::kOffload) {
        sqe->flags |= IOSQE_ASYNC;
        sqe->user_data = kOffloaded;
        ++offloaded_in_flight_;
      } else {
        sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
        sqe->user_data = 0;
      }
    }
    int woken[WakeBatch::kCapacity];
    int reported = 0;
    auto collect = [&](const uring::Completion& c) {
      if (c.user_data == kOffloaded) {
        --offloaded_in_flight_;
      } else if (c.user_data != 0) {
        woken[c.user_data - 1] = c.res;
        ++reported;
      }  // else a failed inline wake without a hook: dropped
    };
    ring_.Submit();
    ring_.Reap(collect);
    while (reported < reporting) {
      ring_.SubmitAndWait();
      ring_.Reap(collect);
    }
    for (int i = 0; i < count; ++i) {
      if (entries[i].if_nobody_woken) entries[i].RunIfNobodyWoken(woken[i]);
    }
  }

 private:
  static constexpr uint64_t kOffloaded = ~uint64_t{0};

  void ReapOffloaded() {
    ring_.Reap([&](const uring::Completion& c) {
      if (c.user_data == kOffloaded) --offloaded_in_flight_;
    });
  }

  uring::Ring ring_;
  int64_t offloaded_in_flight_ = 0;
};

void SendWakesThroughRings(const QueuedWake* entries, int count, WakeBatch::Mode mode) {
  if (count == 0) return;
  uring::EventLoop* loop = uring::EventLoop::Current();
  QueuedWake reporting[WakeBatch::kCapacity];
  // Offloaded wakes never take the loop's ring: the loop cannot see when a
  // worker has performed them, so a loop destroyed (or a thread exiting)
  // right after the flush would cancel them. The wake ring waits for them.
  if (loop != nullptr && loop->native_futex() && mode != WakeBatch::Mode::kOffload) {
    // The loop's wakes post no completion, so wakes that must report back
    // take the thread's wake ring (or futex(2)) in the same flush.
    int n = 0;
    for (int i = 0; i < count; ++i) {
      const QueuedWake& e = entries[i];
      if (e.if_nobody_woken) {
        reporting[n++] = e;
        continue;
      }
      loop->QueueFutexWake(e.word, static_cast<uint32_t>(e.count), Futex2Flags(e.scope),
                           e.bitset);
    }
    loop->FlushWakes();
    if (n == 0) return;
    entries = reporting;
    count = n;
  }
  if (count > 1 || mode == WakeBatch::Mode::kOffload) {
    if (WakeRing* ring = WakeRing::ForThisThread()) {
      ring->Send(entries, count, mode);
      return;
    }
  }
  SendWakesThroughFutex(entries, count);
}

// Event loops send the thread's held wakes at the end of every dispatch step.
[[maybe_unused]] const bool kInstalled = [] {
  InstallWakeSink(&SendWakesThroughRings);
  uring::EventLoop::SetStepEndHook(&SendHeldWakes);
  return true;
}();

}  // namespace
}  // namespace ringlock::internal
