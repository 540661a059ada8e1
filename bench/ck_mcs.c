/* ringlock/bench/ck_mcs.c — Concurrency Kit's MCS lock behind two C calls.
 * ck's headers are C only (they do not compile as C++), so mutex_bench calls
 * the lock through these out-of-line functions: one call more per lock and
 * unlock than an inlined peer. */
#ifdef RINGLOCK_BENCH_HAVE_CK
#include <ck_spinlock.h>

#include "bench/ck_mcs.h"

_Static_assert(sizeof(struct ck_spinlock_mcs) <= sizeof(struct ringlock_ck_mcs_node),
               "ringlock_ck_mcs_node too small");

void ringlock_ck_mcs_lock(void** queue, struct ringlock_ck_mcs_node* node) {
  ck_spinlock_mcs_lock((ck_spinlock_mcs_t*)queue, (struct ck_spinlock_mcs*)node);
}

void ringlock_ck_mcs_unlock(void** queue, struct ringlock_ck_mcs_node* node) {
  ck_spinlock_mcs_unlock((ck_spinlock_mcs_t*)queue, (struct ck_spinlock_mcs*)node);
}
#endif
