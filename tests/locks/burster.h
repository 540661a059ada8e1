// A thread that holds and releases a Mutex in short bursts until told to
// stop, so a waiter's futex wait is woken (and any linked timeout disarmed)
// thousands of times a second.
#ifndef RINGLOCK_TESTS_LOCKS_BURSTER_H_
#define RINGLOCK_TESTS_LOCKS_BURSTER_H_

#include <atomic>
#include <chrono>
#include <thread>

#include "locks/mutex.h"

namespace ringlock::testing {

inline std::thread Burster(Mutex& mu, const std::atomic<bool>& stop) {
  return std::thread([&mu, &stop] {
    while (!stop.load()) {
      mu.lock();
      const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(30);
      while (std::chrono::steady_clock::now() < until) {
      }
      mu.unlock();
    }
  });
}

}  // namespace ringlock::testing

#endif  // RINGLOCK_TESTS_LOCKS_BURSTER_H_
