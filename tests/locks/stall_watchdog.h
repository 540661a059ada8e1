// A watchdog for tests whose failure mode is a hang: if a progress counter
// stops moving for `limit`, it prints what `describe` says and ends the
// process with exit status 1, so CI reports a failure instead of a timeout.
#ifndef RINGLOCK_TESTS_LOCKS_STALL_WATCHDOG_H_
#define RINGLOCK_TESTS_LOCKS_STALL_WATCHDOG_H_

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace ringlock::testing {

class StallWatchdog {
 public:
  StallWatchdog(const std::atomic<int64_t>& progress, std::chrono::milliseconds limit,
                std::function<std::string()> describe)
      : thread_([this, &progress, limit, describe = std::move(describe)] {
          int64_t last = progress.load();
          auto last_change = std::chrono::steady_clock::now();
          std::unique_lock<std::mutex> lock(mu_);
          while (!stop_) {
            cv_.wait_for(lock, std::chrono::milliseconds(50));
            const int64_t now_value = progress.load();
            const auto now = std::chrono::steady_clock::now();
            if (now_value != last) {
              last = now_value;
              last_change = now;
            } else if (now - last_change > limit) {
              std::fprintf(stderr, "STALL: no progress for %lld ms at %lld; %s\n",
                           static_cast<long long>(limit.count()), static_cast<long long>(last),
                           describe().c_str());
              std::fflush(stderr);
              _exit(1);
            }
          }
        }) {}
  ~StallWatchdog() {
    {
      std::lock_guard<std::mutex> g(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  StallWatchdog(const StallWatchdog&) = delete;
  StallWatchdog& operator=(const StallWatchdog&) = delete;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;  // last: starts after the members above exist
};

}  // namespace ringlock::testing

#endif  // RINGLOCK_TESTS_LOCKS_STALL_WATCHDOG_H_
