/* A C program run under libringlock_preload.so (run_preloaded.sh): static
 * initializers, counts, timed locks and waits, the kinds left to glibc,
 * fork(), and misuse. Every step checks the library's exact per-thread
 * counters, so it fails if the calls did not reach the library. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sched.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/preload/preload_check.h"

enum { kThreads = 4, kIters = 20000, kItems = 5000, kQueue = 8 };

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static long g_count;

static void* Incrementer(void* arg) {
  (void)arg;
  const struct ringlock_preload_stats before = preload_self();
  for (int i = 0; i < kIters; ++i) {
    CHECK(pthread_mutex_lock(&g_mu) == 0);
    ++g_count;
    CHECK(pthread_mutex_unlock(&g_mu) == 0);
  }
  const struct ringlock_preload_stats after = preload_self();
  CHECK_EQ_U64(after.mutex_ringlock - before.mutex_ringlock, kIters);
  return NULL;
}

static void StaticMutexCounts(void) {
  pthread_t t[kThreads];
  for (int i = 0; i < kThreads; ++i) CHECK(pthread_create(&t[i], NULL, Incrementer, NULL) == 0);
  for (int i = 0; i < kThreads; ++i) CHECK(pthread_join(t[i], NULL) == 0);
  CHECK(g_count == (long)kThreads * kIters);
  /* Exited threads' counts are kept. */
  struct ringlock_preload_stats all;
  preload_stats_fn()(&all, NULL);
  CHECK(all.mutex_ringlock >= (uint64_t)kThreads * kIters);
}

/* A bounded queue on the static mutex and condvar. */
static int g_queue[kQueue];
static int g_head, g_size;
static long g_consumed_sum;

static void* Producer(void* arg) {
  (void)arg;
  for (int i = 1; i <= kItems; ++i) {
    pthread_mutex_lock(&g_mu);
    while (g_size == kQueue) pthread_cond_wait(&g_cv, &g_mu);
    g_queue[(g_head + g_size++) % kQueue] = i;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
  }
  return NULL;
}

static void* Consumer(void* arg) {
  (void)arg;
  long sum = 0;
  int got = 0;
  const struct ringlock_preload_stats before = preload_self();
  while (got < kItems) {
    pthread_mutex_lock(&g_mu);
    while (g_size == 0) pthread_cond_wait(&g_cv, &g_mu);
    sum += g_queue[g_head];
    g_head = (g_head + 1) % kQueue;
    --g_size;
    ++got;
    pthread_cond_signal(&g_cv);
    pthread_mutex_unlock(&g_mu);
  }
  const struct ringlock_preload_stats after = preload_self();
  CHECK_EQ_U64(after.cond_notify_ringlock - before.cond_notify_ringlock, kItems);
  CHECK_EQ_U64(after.cond_wait_glibc - before.cond_wait_glibc, 0);
  CHECK_EQ_U64(after.cond_notify_glibc - before.cond_notify_glibc, 0);
  g_consumed_sum = sum;
  return NULL;
}

static void StaticCondQueue(void) {
  pthread_t p, c;
  CHECK(pthread_create(&c, NULL, Consumer, NULL) == 0);
  CHECK(pthread_create(&p, NULL, Producer, NULL) == 0);
  CHECK(pthread_join(p, NULL) == 0);
  CHECK(pthread_join(c, NULL) == 0);
  CHECK(g_consumed_sum == (long)kItems * (kItems + 1) / 2);
}

static pthread_mutex_t g_held = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_release = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_release_cv = PTHREAD_COND_INITIALIZER;
static int g_holding, g_may_release;

static void* Holder(void* arg) {
  (void)arg;
  CHECK(pthread_mutex_lock(&g_held) == 0);
  pthread_mutex_lock(&g_release);
  g_holding = 1;
  pthread_cond_broadcast(&g_release_cv);
  while (!g_may_release) pthread_cond_wait(&g_release_cv, &g_release);
  pthread_mutex_unlock(&g_release);
  CHECK(pthread_mutex_unlock(&g_held) == 0);
  return NULL;
}

static void TimedLocks(void) {
  pthread_t h;
  CHECK(pthread_create(&h, NULL, Holder, NULL) == 0);
  pthread_mutex_lock(&g_release);
  while (!g_holding) pthread_cond_wait(&g_release_cv, &g_release);
  pthread_mutex_unlock(&g_release);

  const struct ringlock_preload_stats before = preload_self();
  CHECK(pthread_mutex_trylock(&g_held) == EBUSY);
  int64_t t0 = preload_mono_ns();
  struct timespec rt = preload_in_ms(CLOCK_REALTIME, 50);
  CHECK(pthread_mutex_timedlock(&g_held, &rt) == ETIMEDOUT);
  CHECK(preload_mono_ns() - t0 >= 45 * 1000000LL);
  t0 = preload_mono_ns();
  struct timespec mono = preload_in_ms(CLOCK_MONOTONIC, 50);
  CHECK(pthread_mutex_clocklock(&g_held, CLOCK_MONOTONIC, &mono) == ETIMEDOUT);
  CHECK(preload_mono_ns() - t0 >= 45 * 1000000LL);
  struct timespec bad = {0, 1000000000L};
  CHECK(pthread_mutex_timedlock(&g_held, &bad) == EINVAL);
  CHECK(pthread_mutex_clocklock(&g_held, CLOCK_PROCESS_CPUTIME_ID, &mono) == EINVAL);
  const struct ringlock_preload_stats after = preload_self();
  CHECK_EQ_U64(after.mutex_ringlock - before.mutex_ringlock, 5);

  pthread_mutex_lock(&g_release);
  g_may_release = 1;
  pthread_cond_broadcast(&g_release_cv);
  pthread_mutex_unlock(&g_release);
  CHECK(pthread_join(h, NULL) == 0);
  /* Free now: a timed lock with a past deadline still takes it. */
  struct timespec past = {0, 0};
  CHECK(pthread_mutex_timedlock(&g_held, &past) == 0);
  CHECK(pthread_mutex_unlock(&g_held) == 0);
}

static void TimedCondWaits(void) {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_condattr_t ca;
  CHECK(pthread_mutex_init(&mu, NULL) == 0);
  CHECK(pthread_condattr_init(&ca) == 0);
  CHECK(pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0);
  CHECK(pthread_cond_init(&cv, &ca) == 0);
  const struct ringlock_preload_stats before = preload_self();
  pthread_mutex_lock(&mu);
  /* The condvar's clock is CLOCK_MONOTONIC: a monotonic abstime. */
  int64_t t0 = preload_mono_ns();
  struct timespec mono = preload_in_ms(CLOCK_MONOTONIC, 50);
  CHECK(pthread_cond_timedwait(&cv, &mu, &mono) == ETIMEDOUT);
  CHECK(preload_mono_ns() - t0 >= 45 * 1000000LL);
  t0 = preload_mono_ns();
  struct timespec rt = preload_in_ms(CLOCK_REALTIME, 50);
  CHECK(pthread_cond_clockwait(&cv, &mu, CLOCK_REALTIME, &rt) == ETIMEDOUT);
  CHECK(preload_mono_ns() - t0 >= 45 * 1000000LL);
  struct timespec bad = {0, -1};
  CHECK(pthread_cond_timedwait(&cv, &mu, &bad) == EINVAL);
  /* The mutex is held again after every return. */
  CHECK(pthread_mutex_trylock(&mu) == EBUSY);
  pthread_mutex_unlock(&mu);
  const struct ringlock_preload_stats after = preload_self();
  CHECK_EQ_U64(after.cond_wait_ringlock - before.cond_wait_ringlock, 3);
  CHECK_EQ_U64(after.cond_wait_glibc - before.cond_wait_glibc, 0);
  CHECK(pthread_cond_destroy(&cv) == 0);
  CHECK(pthread_mutex_destroy(&mu) == 0);
#ifndef __SANITIZE_THREAD__ /* TSAN's interceptor reports the use as an error */
  /* glibc marks a destroyed mutex: using it again is EINVAL, as without the library. */
  CHECK(pthread_mutex_lock(&mu) == EINVAL);
#endif
}

static void GlibcKinds(void) {
  pthread_mutexattr_t a;
  pthread_mutex_t rec, ec, robust, shared;
  CHECK(pthread_mutexattr_init(&a) == 0);
  CHECK(pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE) == 0);
  CHECK(pthread_mutex_init(&rec, &a) == 0);
  CHECK(pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK) == 0);
  CHECK(pthread_mutex_init(&ec, &a) == 0);
  CHECK(pthread_mutexattr_settype(&a, PTHREAD_MUTEX_NORMAL) == 0);
  CHECK(pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) == 0);
  CHECK(pthread_mutex_init(&robust, &a) == 0);
  CHECK(pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_STALLED) == 0);
  CHECK(pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) == 0);
  CHECK(pthread_mutex_init(&shared, &a) == 0);

  struct ringlock_preload_stats before = preload_self();
  /* Recursive: glibc's semantics, in the same process as ringlock's mutexes. */
  CHECK(pthread_mutex_lock(&rec) == 0);
  CHECK(pthread_mutex_lock(&rec) == 0);
  CHECK(pthread_mutex_lock(&g_mu) == 0);
  CHECK(pthread_mutex_unlock(&g_mu) == 0);
  CHECK(pthread_mutex_unlock(&rec) == 0);
  CHECK(pthread_mutex_unlock(&rec) == 0);
  /* Error-checking: glibc's errors. */
  CHECK(pthread_mutex_lock(&ec) == 0);
  CHECK(pthread_mutex_lock(&ec) == EDEADLK);
  CHECK(pthread_mutex_unlock(&ec) == 0);
#ifndef __SANITIZE_THREAD__ /* TSAN's interceptor reports the unlock as an error */
  CHECK(pthread_mutex_unlock(&ec) == EPERM);
#endif
  CHECK(pthread_mutex_lock(&robust) == 0);
  CHECK(pthread_mutex_unlock(&robust) == 0);
  CHECK(pthread_mutex_trylock(&shared) == 0);
  CHECK(pthread_mutex_unlock(&shared) == 0);
  struct ringlock_preload_stats after = preload_self();
  CHECK_EQ_U64(after.mutex_glibc - before.mutex_glibc, 6);  /* lock calls; unlocks are not counted */
  CHECK_EQ_U64(after.mutex_ringlock - before.mutex_ringlock, 1);

  /* A condvar used with an error-checking mutex goes to glibc. */
  pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
  before = preload_self();
  CHECK(pthread_mutex_lock(&ec) == 0);
  struct timespec rt = preload_in_ms(CLOCK_REALTIME, 20);
  CHECK(pthread_cond_timedwait(&cv, &ec, &rt) == ETIMEDOUT);
  CHECK(pthread_cond_signal(&cv) == 0);
  CHECK(pthread_mutex_unlock(&ec) == 0);
  after = preload_self();
  CHECK_EQ_U64(after.cond_wait_glibc - before.cond_wait_glibc, 1);
  CHECK_EQ_U64(after.cond_notify_glibc - before.cond_notify_glibc, 1);
  CHECK_EQ_U64(after.cond_wait_ringlock - before.cond_wait_ringlock, 0);

  /* Adaptive mutexes are ringlock's. */
  pthread_mutex_t adaptive = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP;
  before = preload_self();
  CHECK(pthread_mutex_lock(&adaptive) == 0);
  CHECK(pthread_mutex_unlock(&adaptive) == 0);
  after = preload_self();
  CHECK_EQ_U64(after.mutex_ringlock - before.mutex_ringlock, 1);

  CHECK(pthread_mutex_destroy(&rec) == 0);
  CHECK(pthread_mutex_destroy(&ec) == 0);
  CHECK(pthread_mutex_destroy(&robust) == 0);
  CHECK(pthread_mutex_destroy(&shared) == 0);
  CHECK(pthread_cond_destroy(&cv) == 0);
}

static void* SpinLocker(void* arg) {
  int* stop = (int*)arg;
  while (!__atomic_load_n(stop, __ATOMIC_RELAXED)) {
    pthread_mutex_lock(&g_mu);
    ++g_count;
    pthread_mutex_unlock(&g_mu);
  }
  return NULL;
}

/* fork() while another thread waits for a lock the forking thread holds
 * (long enough to be starving), and with a lock only the forking thread
 * uses: the child (one thread) unlocks and uses both, as glibc allows. The
 * parent's waiter is counted in the child's copy of the word but does not
 * exist there; a starving one kept the lock from the child forever. */
static void ForkChildLocksAMutexAParentThreadWasStarvingOn(void) {
  int stop = 0;
  int starving_at_fork = 0;
  pthread_t t;
  pthread_mutex_t mine = PTHREAD_MUTEX_INITIALIZER;
  CHECK(pthread_create(&t, NULL, SpinLocker, &stop) == 0);
  for (int round = 0; round < 20; ++round) {
    CHECK(pthread_mutex_lock(&g_mu) == 0);  /* not held by the other thread at fork */
    /* The other thread waits > 1 ms, is woken, finds the lock taken again
     * (we barge) and goes back to sleep starving. */
    usleep(3000);
    CHECK(pthread_mutex_unlock(&g_mu) == 0);
    CHECK(pthread_mutex_lock(&g_mu) == 0);
    usleep(2000);
    CHECK(pthread_mutex_lock(&mine) == 0);
    /* The word is __lock; bits 2-9 count starving waiters (locks/mutex.h). */
    if ((__atomic_load_n(&g_mu.__data.__lock, __ATOMIC_RELAXED) >> 2) & 0xff) ++starving_at_fork;
    const pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
      alarm(10);  /* the child's own watchdog (alarms are not inherited) */
      const struct ringlock_preload_stats before = preload_self();
      if (pthread_mutex_unlock(&mine) != 0) _exit(10);
      if (pthread_mutex_unlock(&g_mu) != 0) _exit(11);
      for (int i = 0; i < 1000; ++i) {
        if (pthread_mutex_lock(&g_mu) != 0) _exit(12);
        pthread_mutex_unlock(&g_mu);
      }
      pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
      struct timespec rt = preload_in_ms(CLOCK_REALTIME, 1);
      pthread_mutex_lock(&mine);
      if (pthread_cond_timedwait(&cv, &mine, &rt) != ETIMEDOUT) _exit(13);
      pthread_mutex_unlock(&mine);
      const struct ringlock_preload_stats after = preload_self();
      if (after.mutex_ringlock - before.mutex_ringlock != 1001) _exit(14);
      if (after.cond_wait_ringlock - before.cond_wait_ringlock != 1) _exit(15);
      _exit(0);
    }
    CHECK(pthread_mutex_unlock(&mine) == 0);
    CHECK(pthread_mutex_unlock(&g_mu) == 0);
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "fork child failed: status %#x\n", status);
      _exit(1);
    }
  }
  __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
  CHECK(pthread_join(t, NULL) == 0);
  CHECK(starving_at_fork > 0);  /* else this did not test the case */
}

/* pthread_cond_wait and pthread_cond_timedwait are cancellation points: a
 * cancel acts on a thread asleep in them, or about to sleep, and the mutex is
 * held again before the cleanup handlers run. Rounds cancel at different
 * moments: before the wait starts, while it registers, and while asleep in
 * the kernel (the hang the library once had: the wait was no cancellation
 * point, so the join below never returned). */
static pthread_mutex_t g_cancel_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cancel_cv = PTHREAD_COND_INITIALIZER;
static int g_waiter_tid, g_waiter_started, g_cleanup_unlock_rc;

static void UnlockOnCancel(void* arg) {
  (void)arg;
  /* Fails (EPERM, or a debug abort) unless this thread holds the mutex. */
  g_cleanup_unlock_rc = pthread_mutex_unlock(&g_cancel_mu);
}

static void* CancelledWaiter(void* arg) {
  const int timed = *(const int*)arg;
  pthread_mutex_lock(&g_cancel_mu);
  pthread_cleanup_push(UnlockOnCancel, NULL);
  __atomic_store_n(&g_waiter_tid, (int)gettid(), __ATOMIC_RELAXED);
  __atomic_store_n(&g_waiter_started, 1, __ATOMIC_RELEASE);
  for (;;) { /* nobody signals: only a cancel ends this */
    if (timed) {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_sec += 3600;
      pthread_cond_timedwait(&g_cancel_cv, &g_cancel_mu, &ts);
    } else {
      pthread_cond_wait(&g_cancel_cv, &g_cancel_mu);
    }
  }
  pthread_cleanup_pop(0);
  return NULL;
}

static int AsleepInKernel(int tid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
  FILE* f = fopen(path, "r");
  if (f == NULL) return 0;
  const size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  const char* p = strrchr(buf, ')');
  return p != NULL && p[1] == ' ' && p[2] == 'S';
}

static void CancelledCondWaitActsWithTheMutexHeld(void) {
  enum { kRounds = 400 };
  preload_watchdog(20); /* a lost cancel hangs pthread_join */
  int asleep_rounds = 0;
  for (int round = 0; round < kRounds; ++round) {
    int timed = round % 2;
    g_waiter_started = 0;
    g_cleanup_unlock_rc = -1;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, CancelledWaiter, &timed) == 0);
    switch (round % 4) {
      case 0: /* at once: the cancel may be pending before the wait */
        break;
      case 1: /* while the wait registers and releases the mutex */
        while (!__atomic_load_n(&g_waiter_started, __ATOMIC_ACQUIRE)) sched_yield();
        for (volatile int i = 0; i < (round * 37) % 2000; ++i) {
        }
        break;
      default: /* asleep in the kernel */
        while (!__atomic_load_n(&g_waiter_started, __ATOMIC_ACQUIRE)) sched_yield();
        pthread_mutex_lock(&g_cancel_mu); /* it released it: it is in the wait */
        pthread_mutex_unlock(&g_cancel_mu);
        for (int i = 0; i < 2000 && !AsleepInKernel(g_waiter_tid); ++i) usleep(100);
        asleep_rounds += AsleepInKernel(g_waiter_tid);
        break;
    }
    CHECK(pthread_cancel(t) == 0);
    void* result = NULL;
    CHECK(pthread_join(t, &result) == 0); /* the watchdog fails a hang here */
    CHECK(result == PTHREAD_CANCELED);
    CHECK(g_cleanup_unlock_rc == 0);
    CHECK(pthread_mutex_trylock(&g_cancel_mu) == 0); /* the handler released it */
    CHECK(pthread_mutex_unlock(&g_cancel_mu) == 0);
  }
  CHECK(asleep_rounds > kRounds / 4); /* else this did not test the sleeping case */
  CHECK(pthread_cond_destroy(&g_cancel_cv) == 0);
}

int main(void) {
  preload_watchdog(60);
  (void)preload_stats_fn();
  StaticMutexCounts();
  StaticCondQueue();
  TimedLocks();
  TimedCondWaits();
  GlibcKinds();
  ForkChildLocksAMutexAParentThreadWasStarvingOn();
  CancelledCondWaitActsWithTheMutexHeld();
  printf("preload_c_test: all passed\n");
  return 0;
}
