/* Shared by the preload tests (C and C++): CHECK, a watchdog, and the
 * library's counters found at run time. Each test fails unless
 * libringlock_preload.so is really loaded: without it there are no counters. */
#ifndef RINGLOCK_TESTS_PRELOAD_PRELOAD_CHECK_H_
#define RINGLOCK_TESTS_PRELOAD_PRELOAD_CHECK_H_

#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "locks/preload/ringlock_preload.h"

#define CHECK(cond)                                                          \
  do {                                                                       \
    if (!(cond)) {                                                           \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      fflush(stderr);                                                        \
      _exit(1);                                                              \
    }                                                                        \
  } while (0)

#define CHECK_EQ_U64(a, b)                                                          \
  do {                                                                              \
    unsigned long long va_ = (unsigned long long)(a), vb_ = (unsigned long long)(b); \
    if (va_ != vb_) {                                                               \
      fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%llu vs %llu)\n", __FILE__,   \
              __LINE__, #a, #b, va_, vb_);                                          \
      fflush(stderr);                                                               \
      _exit(1);                                                                     \
    }                                                                               \
  } while (0)

static void preload_watchdog_fired(int sig) {
  (void)sig;
  static const char msg[] = "watchdog: the test hung\n";
  (void)!write(2, msg, sizeof msg - 1);
  _exit(1);
}

/* Fails the test with a message instead of hanging it. */
static inline void preload_watchdog(unsigned seconds) {
  signal(SIGALRM, preload_watchdog_fired);
  alarm(seconds);
}

static inline ringlock_preload_get_stats_fn preload_stats_fn(void) {
  ringlock_preload_get_stats_fn fn =
      (ringlock_preload_get_stats_fn)dlsym(RTLD_DEFAULT, "ringlock_preload_get_stats");
  if (fn == NULL) {
    fprintf(stderr, "not running under libringlock_preload.so (LD_PRELOAD)\n");
    _exit(1);
  }
  return fn;
}

/* The calling thread's counters. */
static inline struct ringlock_preload_stats preload_self(void) {
  struct ringlock_preload_stats s;
  preload_stats_fn()(NULL, &s);
  return s;
}

static inline int64_t preload_mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* now + ms on `clock`. */
static inline struct timespec preload_in_ms(clockid_t clock, long ms) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  ts.tv_sec += ms / 1000;
  ts.tv_nsec += (ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec += 1;
    ts.tv_nsec -= 1000000000L;
  }
  return ts;
}

#endif /* RINGLOCK_TESTS_PRELOAD_PRELOAD_CHECK_H_ */
