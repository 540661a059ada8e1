/* ringlock/bench/ck_mcs.h — Concurrency Kit's MCS lock for C++ (ck_mcs.c). */
#ifndef RINGLOCK_BENCH_CK_MCS_H_
#define RINGLOCK_BENCH_CK_MCS_H_

#ifdef __cplusplus
extern "C" {
#endif

/* Storage for ck's struct ck_spinlock_mcs (an int and a pointer). */
struct ringlock_ck_mcs_node {
  void* storage[2];
};

/* queue: the lock, a pointer initialized to NULL. */
void ringlock_ck_mcs_lock(void** queue, struct ringlock_ck_mcs_node* node);
void ringlock_ck_mcs_unlock(void** queue, struct ringlock_ck_mcs_node* node);

#ifdef __cplusplus
}
#endif

#endif /* RINGLOCK_BENCH_CK_MCS_H_ */
