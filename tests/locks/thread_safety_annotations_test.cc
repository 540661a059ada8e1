// Annotated code as a user writes it. Built with --config=clang it proves
// that clang's -Wthread-safety understands ringlock::Mutex: lock / unlock /
// try_lock, MutexLock, CondVar::wait(Mutex&) and the REQUIRES contracts;
// and ringlock::SharedMutex: exclusive and shared holds, the try forms.
#include <thread>

#include "absl/base/thread_annotations.h"
#include "gtest/gtest.h"
#include "locks/condvar.h"
#include "locks/mutex.h"
#include "locks/shared_mutex.h"

namespace ringlock {
namespace {

class Account {
 public:
  void Deposit(int amount) {
    MutexLock l(mu_);
    balance_ += amount;
    cv_.notify_all();
  }

  bool TryWithdraw(int amount) {
    if (!mu_.try_lock()) return false;
    const bool ok = WithdrawLocked(amount);
    mu_.unlock();
    return ok;
  }

  // Waits until the balance covers `amount`, then takes it.
  void Withdraw(int amount) {
    mu_.lock();
    while (balance_ < amount) cv_.wait(mu_);
    WithdrawLocked(amount);
    mu_.unlock();
  }

  int balance() {
    MutexLock l(mu_);
    return balance_;
  }

 private:
  bool WithdrawLocked(int amount) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (balance_ < amount) return false;
    balance_ -= amount;
    return true;
  }

  Mutex mu_;
  CondVar cv_;
  int balance_ ABSL_GUARDED_BY(mu_) = 0;
};

class Table {
 public:
  void Put(int v) {
    smu_.lock();
    value_ = v;
    smu_.unlock();
  }
  int Get() {
    smu_.lock_shared();
    const int v = GetLocked();
    smu_.unlock_shared();
    return v;
  }
  bool TryGet(int* v) {
    if (!smu_.try_lock_shared()) return false;
    *v = value_;
    smu_.unlock_shared();
    return true;
  }
  bool TryPut(int v) {
    if (!smu_.try_lock()) return false;
    value_ = v;
    smu_.unlock();
    return true;
  }

 private:
  int GetLocked() ABSL_SHARED_LOCKS_REQUIRED(smu_) { return value_; }

  SharedMutex smu_;
  int value_ ABSL_GUARDED_BY(smu_) = 0;
};

TEST(ThreadSafetyAnnotationsTest, AnnotatedTable) {
  Table t;
  t.Put(7);
  EXPECT_EQ(t.Get(), 7);
  int v = 0;
  EXPECT_TRUE(t.TryGet(&v));
  EXPECT_EQ(v, 7);
  EXPECT_TRUE(t.TryPut(8));
  EXPECT_EQ(t.Get(), 8);
}

TEST(ThreadSafetyAnnotationsTest, AnnotatedAccount) {
  Account account;
  std::thread withdrawer([&] { account.Withdraw(30); });
  for (int i = 0; i < 5; ++i) account.Deposit(10);
  withdrawer.join();
  EXPECT_EQ(account.balance(), 20);
  EXPECT_TRUE(account.TryWithdraw(20));
  EXPECT_EQ(account.balance(), 0);
}

}  // namespace
}  // namespace ringlock
