// bench/mutex_stats_counters.h — ringlock::Mutex's slow-path counts
// (locks/mutex.h, MutexStats) as benchmark counters, in bench-only builds
// (`--copt=-DRINGLOCK_MUTEX_STATS`); nothing otherwise. One list, so every
// benchmark that reports them reports all of them.
#ifndef RINGLOCK_BENCH_MUTEX_STATS_COUNTERS_H_
#define RINGLOCK_BENCH_MUTEX_STATS_COUNTERS_H_

#include <atomic>
#include <cstdint>
#include <utility>

#include "benchmark/benchmark.h"
#include "locks/mutex.h"

namespace ringlock::bench {

// Sets rl_<count> to each count since the previous call, per 1000 `ops`,
// and resets the counts.
inline void ReportMutexStats([[maybe_unused]] benchmark::State& state,
                             [[maybe_unused]] double ops) {
#ifdef RINGLOCK_MUTEX_STATS
  internal::MutexStats& st = internal::g_mutex_stats;
  const double per_kop = ops > 0 ? 1000.0 / ops : 0;
  for (auto [name, c] : {std::pair<const char*, std::atomic<uint64_t>*>{"rl_spins", &st.spins},
                         {"rl_spin_wins", &st.spin_wins},
                         {"rl_spin_wins_over_parked", &st.spin_wins_over_parked},
                         {"rl_spin_stopped", &st.spin_stopped},
                         {"rl_registers", &st.registers},
                         {"rl_on_wakes", &st.on_wakes},
                         {"rl_reparks", &st.reparks},
                         {"rl_wake_spin_wins", &st.wake_spin_wins},
                         {"rl_wakes", &st.wakes},
                         {"rl_loop_handoffs", &st.loop_handoffs},
                         {"rl_loop_slices_ended", &st.loop_slices_ended},
                         {"rl_loop_new_representatives", &st.loop_new_representatives}}) {
    state.counters[name] = static_cast<double>(c->exchange(0)) * per_kop;
  }
#endif
}

}  // namespace ringlock::bench

#endif  // RINGLOCK_BENCH_MUTEX_STATS_COUNTERS_H_
