// Threads asleep in futex(2) on one word, for tests that count exactly how
// many a wake woke.
#ifndef RINGLOCK_TESTS_URING_FUTEX_SLEEPERS_H_
#define RINGLOCK_TESTS_URING_FUTEX_SLEEPERS_H_

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

namespace ringlock::testing {

// The scheduler state letter of a thread of this process ('S': asleep).
inline char ThreadState(pid_t tid) {
  std::ifstream f("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(f)), {});
  size_t p = s.rfind(')');
  return p == std::string::npos || p + 2 >= s.size() ? '?' : s[p + 2];
}

// `n` threads in FUTEX_WAIT_PRIVATE on `word` (which must hold 0). The
// constructor returns once all of them sleep in the kernel. Wake them all
// and Join() before destruction (unjoined threads terminate the test).
class FutexSleepers {
 public:
  FutexSleepers(std::atomic<uint32_t>* word, int n) : tids_(n) {
    for (int i = 0; i < n; ++i) {
      threads_.emplace_back([this, word, i] {
        tids_[i].store(gettid());
        syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, 0, nullptr, nullptr, 0);
        woken_.fetch_add(1);
      });
    }
    for (auto& t : tids_) {
      while (t.load() == 0 || ThreadState(t.load()) != 'S') {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
    // 'S' is also the state on the way into the kernel: give them time.
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // How many have returned from futex(2).
  int woken() const { return woken_.load(); }
  void Join() {
    for (auto& t : threads_) t.join();
  }

 private:
  std::vector<std::atomic<pid_t>> tids_;
  std::atomic<int> woken_{0};
  std::vector<std::thread> threads_;
};

}  // namespace ringlock::testing

#endif  // RINGLOCK_TESTS_URING_FUTEX_SLEEPERS_H_
