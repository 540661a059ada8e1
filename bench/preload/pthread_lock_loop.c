/* The cost of the library per call and under contention, on a program with
 * nothing but locks: THREADS threads (default 4) each lock and unlock one
 * PTHREAD_MUTEX_INITIALIZER mutex ITERS times (default 1000000) around an
 * increment; checks the total; prints ns_per_pair (wall time per
 * lock/unlock pair, all threads together).
 *   ./bazelw run //bench:preload -- --metric 'ns_per_pair=ns_per_pair: ([0-9.]+)' \
 *     -- bazel-bin/bench/preload/pthread_lock_loop 1 4000000 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static long g_count;
static long g_iters;

static void* Loop(void* arg) {
  (void)arg;
  for (long i = 0; i < g_iters; ++i) {
    pthread_mutex_lock(&g_mu);
    ++g_count;
    pthread_mutex_unlock(&g_mu);
  }
  return NULL;
}

int main(int argc, char** argv) {
  const int threads = argc > 1 ? atoi(argv[1]) : 4;
  g_iters = argc > 2 ? atol(argv[2]) : 1000000;
  pthread_t t[64];
  if (threads < 1 || threads > 64) return 2;
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (int i = 0; i < threads; ++i) pthread_create(&t[i], NULL, Loop, NULL);
  for (int i = 0; i < threads; ++i) pthread_join(t[i], NULL);
  clock_gettime(CLOCK_MONOTONIC, &b);
  if (g_count != threads * g_iters) {
    fprintf(stderr, "count %ld, expected %ld\n", g_count, threads * g_iters);
    return 1;
  }
  const double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
  printf("ns_per_pair: %.2f\n", ns / ((double)threads * g_iters));
  return 0;
}
