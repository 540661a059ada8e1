/* ringlock/locks/preload/ringlock_preload.h — what libringlock_preload.so
 * exports besides the pthread functions it interposes: call counters, so a
 * program (or a test) can prove the library is loaded and see what it took
 * over. Find it with dlsym(RTLD_DEFAULT, "ringlock_preload_get_stats"): a program
 * run without the library gets a null pointer. C and C++. */
#ifndef RINGLOCK_LOCKS_PRELOAD_RINGLOCK_PRELOAD_H_
#define RINGLOCK_LOCKS_PRELOAD_RINGLOCK_PRELOAD_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ringlock_preload_stats {
  /* pthread_mutex_lock / trylock / timedlock / clocklock calls */
  uint64_t mutex_ringlock; /* on a mutex ringlock runs */
  uint64_t mutex_glibc;    /* passed to glibc (other kinds) */
  /* pthread_cond_wait / timedwait / clockwait calls */
  uint64_t cond_wait_ringlock;
  uint64_t cond_wait_glibc;
  /* pthread_cond_signal / broadcast calls */
  uint64_t cond_notify_ringlock;
  uint64_t cond_notify_glibc;
};

/* `all`: every thread's counts so far (exited threads included); `self`: the
 * calling thread's. Either may be null. */
void ringlock_preload_get_stats(struct ringlock_preload_stats* all,
                                struct ringlock_preload_stats* self);
typedef void (*ringlock_preload_get_stats_fn)(struct ringlock_preload_stats*,
                                              struct ringlock_preload_stats*);

#ifdef __cplusplus
}
#endif

#endif /* RINGLOCK_LOCKS_PRELOAD_RINGLOCK_PRELOAD_H_ */
