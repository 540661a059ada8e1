#!/usr/bin/env python3
"""ringlock's benchmark suite: which lock for this machine and workload?

    ./bazelw run //bench:suite                       # default suite, ~3-4 min on 2 cores
    ./bazelw run //bench:suite -- --quick            # a ~30 s look
    ./bazelw run //bench:suite -- --workloads short,long --threads 2,8 \\
        --duration 0.5 --repetitions 5               # choose
    ./bazelw run //bench:suite -- -- --benchmark_filter=short/  # Google Benchmark flags
    bench/suite.py --from bench/results/<run>        # re-print a saved run

Runs every lock of a workload back to back at each thread count, for a fixed
duration each, and repeats the whole suite (lock order rotated each time), so
every ratio compares locks measured in the same machine state. Prints, per
workload, each lock's median figure, its ratio to the workload's std peer
(std::mutex, std::shared_mutex, std::latch, std::barrier, std::call_once) in
the same run and the best lock marked, reader and writer waits for the
reader/writer locks, then fairness and acquisition-wait percentiles; and
writes the Google Benchmark JSON, a CSV, the machine record and plots into a
results folder under bench/results/ (git ignores it), named at the end.
Method: bench/README.md.
"""

import argparse
import csv
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# Workloads of mutex_bench: (key, title, what the figure is).
MUTEX_WORKLOADS = [
    ("pair", "Uncontended pair", "lock()+unlock() of a private lock by one thread, in a "
     "multi-threaded process: ns of thread CPU time per pair (lower is better)"),
    ("short", "Contended, short critical section",
     "n threads share one lock; 10 LCG steps inside, 20 outside: "
     "Mops/s, all threads (higher is better)"),
    ("long", "Contended, long critical section",
     "n threads share one lock; 200 LCG steps inside, 20 outside: "
     "Mops/s, all threads (higher is better)"),
    ("striped", "Many locks: striped table",
     "n threads, 1024 stripes {lock, data} side by side, a random stripe per "
     "operation (10 steps inside, 20 outside): Mops/s (higher is better)"),
    ("condvar", "Condvar producer/consumer queue",
     "n/2 producers, n − n/2 consumers, a ring of 64 items under each library's own mutex "
     "and two condition variables (ringlock::Mutex + CondVar, std::mutex + "
     "std::condition_variable, absl::Mutex + CondVar): M items/s consumed (higher is better)"),
    ("semaphore", "Semaphore-bounded queue",
     "the same ring bounded by two counting semaphores (ringlock::Semaphore with "
     "ringlock::Mutex, std::counting_semaphore with std::mutex): M items/s consumed "
     "(higher is better)"),
    ("readmostly", "Key-value store reads (read-mostly)",
     "n threads; a read pins the current version under the lock (a reference count), looks "
     "up for 60 LCG steps outside it and unpins under it; one operation in 16 is a write "
     "holding the lock for 40 steps: Mops/s (higher is better)"),
    ("groupcommit", "Key-value store writes (group commit)",
     "n writers queue under the mutex, each waiting on its own condition variable; the "
     "front writer commits up to 8 queued writers: it appends to the log for 200 LCG steps "
     "with the mutex released, re-takes it and signals each follower and the next front "
     "(LevelDB's write path): M writes/s committed (higher is better)"),
    ("rw95", "Reader/writer lock, read-mostly (5% writes)",
     "n threads share a table of 16 words under one reader/writer lock; 95% of operations "
     "read it under lock_shared() (10 LCG steps on it inside), 5% rewrite it under lock(); "
     "20 steps outside: Mops/s, all threads (higher is better)"),
    ("rw99", "Reader/writer lock, read-mostly (1% writes)",
     "the same table, 99% reads and 1% writes: Mops/s, all threads (higher is better)"),
    ("rw50", "Reader/writer lock, write-heavy (50% writes)",
     "the same table, half reads and half writes: Mops/s, all threads (higher is better)"),
    ("latch", "Latch: n threads meet on a fresh latch",
     "n threads (2–8) arrive_and_wait once per round on a single-use latch of n: "
     "M rounds/s (higher is better)"),
    ("barrier", "Barrier: one phase per operation",
     "n threads (2–8) arrive_and_wait on one barrier of n whose completion counts the phase: "
     "M phases/s (higher is better)"),
    ("once", "call_once after the first call",
     "n threads (up to 8) call call_once on a flag whose callable already ran (the path every "
     "later caller takes): M calls/s, all threads (higher is better)"),
]
# Workloads of the io_uring benchmarks, run through the same runner.
URING_WORKLOADS = [
    ("async", "async_mutex_bench",
     "Async: coroutines on two loops contending one Mutex"),
    ("pingpong", "pingpong_bench", "Event ping-pong round trip"),
    ("wakemany", "wake_bench", "Directed wake-many: one waker, 64 sleepers"),
]
ALL_WORKLOADS = [w for w, _, _ in MUTEX_WORKLOADS] + [w for w, _, _ in URING_WORKLOADS]
RW_WORKLOADS = ("rw95", "rw99", "rw50")
# The default suite (~3-4 minutes): every workload but rw99 and rw50, and
# rw95 at fewer thread counts (DEFAULT_THREADS_FOR); --workloads and
# --threads reach all.
DEFAULT_WORKLOADS = [w for w in ALL_WORKLOADS if w not in ("rw99", "rw50")]
DEFAULT_THREADS_FOR = {"rw95": [1, 2, 8, 32]}
# Row names where a workload measures a library's other primitives.
FAMILY_NAMES = {
    "condvar": {"RinglockMutex": "ringlock::Mutex + CondVar",
                "StdMutex": "std::mutex + condition_variable",
                "AbslMutex": "absl::Mutex + CondVar"},
    "semaphore": {"RinglockMutex": "ringlock::Semaphore + Mutex",
                  "StdMutex": "std::counting_semaphore + mutex"},
    # Every other lock runs it with std::condition_variable_any (see name()).
    "groupcommit": {"RinglockMutex": "ringlock::Mutex + CondVar",
                    "StdMutex": "std::mutex + condition_variable",
                    "AbslMutex": "absl::Mutex + CondVar",
                    "RinglockMutexCvAny": "ringlock::Mutex + condition_variable_any",
                    "RinglockMutexBatched": "ringlock::Mutex + CondVar, notify in a WakeBatch"},
    **{w: {"RinglockMutex": "ringlock::Mutex, exclusive for reads too",
           "AbslMutex": "absl::Mutex, ReaderLock / WriterLock"} for w in RW_WORKLOADS},
}
# Workloads whose figure is items through a bounded queue.
QUEUES = ("condvar", "semaphore")
BASELINE = "StdMutex"
SUBJECT = "RinglockMutex"
# Workloads measured against another std primitive, and their lock under test.
BASELINES = {**{w: "StdSharedMutex" for w in RW_WORKLOADS},
             "latch": "StdLatch", "barrier": "StdBarrier", "once": "StdOnce"}
SUBJECTS = {"latch": "RinglockLatch", "barrier": "RinglockBarrier", "once": "RinglockOnce"}
# ringlock::SharedMutex, once registered in mutex_bench; until then the
# reader/writer tables' ringlock row is ringlock::Mutex taken exclusively.
RW_SUBJECT = "RinglockSharedMutex"
# Workloads whose figures are small (rounds of a rendezvous): more digits.
SMALL_FIGURES = ("latch", "barrier")


def baseline(w):
    return BASELINES.get(w, BASELINE)


def subject(w, med):
    if w in RW_WORKLOADS:
        return RW_SUBJECT if any(k[:2] == (w, RW_SUBJECT) for k in med) else SUBJECT
    return SUBJECTS.get(w, SUBJECT)


def workload_threads(w, asked):
    """The thread counts mutex_bench runs workload w at (its WorkloadThreads)."""
    if w == "pair":
        return [1]
    if w in QUEUES:
        return [t for t in asked if t >= 2]
    if w in ("latch", "barrier"):
        return [t for t in asked if 2 <= t <= 8]
    if w == "once":
        return [t for t in asked if t <= 8]
    return list(asked)
FAIRNESS_THREADS = 8  # fairness and wait tables at this thread count (or the nearest)


def runfile(name):
    """A binary next to this script in the runfiles (bazel run) or bazel-bin."""
    for d in (HERE, os.path.join(os.path.dirname(HERE), "bazel-bin", "bench")):
        p = os.path.join(d, name)
        if os.path.exists(p):
            return p
    sys.exit(f"suite: {name} not found next to {HERE}; run it as `./bazelw run //bench:suite`")


def workspace_root():
    # bazel run sets BUILD_WORKSPACE_DIRECTORY; otherwise this file, through
    # the runfiles symlink, is bench/suite.py in the source tree.
    return (os.environ.get("BUILD_WORKSPACE_DIRECTORY") or
            os.path.dirname(os.path.dirname(os.path.realpath(__file__))))


# ---------------------------------------------------------------------------
# The machine.

def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def loadavg():
    return [round(x, 2) for x in os.getloadavg()]


def lscpu():
    try:
        return subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return ""


def bench_list(binary):
    """(locks {key: (display, size, scope)}, missing [(what, package)], io_uring futex path)."""
    out = subprocess.run([binary, "--ringlock_list"], capture_output=True, text=True, check=True).stdout
    locks, missing, uring = {}, [], "unknown"
    for line in out.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "lock":
            key, display, size, scope = rest.split("\t")
            locks[key] = (display, int(size), scope.split(","))
        elif kind == "missing":
            what, pkg = rest.split("\t")
            missing.append((what, pkg))
        elif kind == "io_uring_futex":
            uring = rest.strip()
    return locks, missing, uring


# ---------------------------------------------------------------------------
# Running, with progress.

# Seconds one repetition of each io_uring benchmark takes (for the time left).
URING_SECONDS = {"async_mutex_bench": 12.5, "pingpong_bench": 5.5, "wake_bench": 1.0}


class Progress:
    """One status line: rewritten in place on a terminal, printed per cell otherwise.

    The time left scales the time taken so far by the estimated work left
    (runs of mutex_bench at their duration, io_uring benchmarks at URING_SECONDS).
    """

    def __init__(self, total_runs, seconds_per_run, other_runs, other_seconds):
        self.total = max(total_runs + other_runs, 1)
        self.done = 0
        self.start = time.monotonic()
        self.tty = sys.stderr.isatty()
        self.last_cell = None
        self.seconds_per_run = seconds_per_run
        self.work_total = total_runs * seconds_per_run + other_seconds
        self.work_done = 0.0

    def show(self, what, cell):
        elapsed = time.monotonic() - self.start
        rate = elapsed / self.work_done if self.work_done else 1.0
        left = rate * max(self.work_total - self.work_done, 0)
        line = (f"[{min(self.done, self.total):>4}/{self.total}] {what}  "
                f"elapsed {fmt_duration(elapsed)}, about {fmt_duration(left)} left")
        if self.tty:
            sys.stderr.write("\r\033[K" + line[:shutil.get_terminal_size().columns - 1])
            sys.stderr.flush()
        elif cell != self.last_cell:
            print(line, file=sys.stderr, flush=True)
        self.last_cell = cell

    def step(self, seconds=None):
        self.done += 1
        self.work_done += self.seconds_per_run if seconds is None else seconds

    def finish(self):
        if self.tty:
            sys.stderr.write("\r\033[K")
        print(f"done in {fmt_duration(time.monotonic() - self.start)}", file=sys.stderr, flush=True)


def fmt_duration(s):
    s = int(s)
    return f"{s // 60}:{s % 60:02d}"


def run_mutex_rep(binary, args, rep, out_json, console, locks, progress):
    # A workload with its own thread counts goes as "w@t1:t2".
    specs = [w + ("@" + ":".join(map(str, args.workload_threads[w])) if w in args.workload_threads
                  else "") for w in args.mutex_workloads]
    cmd = [binary, f"--ringlock_workloads={','.join(specs)}",
           f"--ringlock_threads={','.join(map(str, args.threads))}",
           f"--ringlock_duration={args.duration}", f"--ringlock_rotate={rep}",
           "--ringlock_progress", f"--benchmark_out={out_json}", "--benchmark_out_format=json"]
    if args.locks:
        cmd.append(f"--ringlock_locks={','.join(args.locks)}")
    cmd += args.benchmark_args
    console.write("$ " + " ".join(cmd) + "\n")
    console.flush()
    p = subprocess.Popen(cmd, stdout=console, stderr=subprocess.PIPE, text=True)
    progress.show(f"rep {rep + 1}/{args.repetitions} starting", (rep, "start"))
    for line in p.stderr:
        if line.startswith("ringlock_progress "):
            name = line.split()[1]
            progress.step()
            w, lock, threads = name.split("/")[:3]
            display = locks.get(lock, (lock,))[0]
            progress.show(f"rep {rep + 1}/{args.repetitions} {w}, {threads.split(':')[1]} threads: "
                          f"{display} done", (rep, w, threads))
        else:
            console.write(line)
    if p.wait() != 0:
        sys.exit(f"suite: {' '.join(cmd)} failed with status {p.returncode}; "
                 f"output in {console.name}")


def run_uring(binary, name, reps, out_json, console, progress):
    progress.show(f"{name} ({reps} repetitions) running", name)
    cmd = [binary, f"--benchmark_repetitions={reps}", f"--benchmark_out={out_json}",
           "--benchmark_out_format=json"]
    console.write("$ " + " ".join(cmd) + "\n")
    console.flush()
    r = subprocess.run(cmd, stdout=console, stderr=console, check=False)
    if r.returncode != 0:
        sys.exit(f"suite: {name} failed with status {r.returncode}; output in {console.name}")
    progress.step(URING_SECONDS.get(name, 5) * reps)


# ---------------------------------------------------------------------------
# Results.

def load_mutex(paths):
    """Rows: one dict per (repetition, workload, lock, threads) run."""
    rows = []
    for rep, path in enumerate(paths):
        with open(path) as f:
            data = json.load(f)
        for b in data["benchmarks"]:
            if b.get("run_type", "iteration") != "iteration":
                continue
            parts = b["run_name"].split("/")
            if len(parts) < 3 or not parts[2].startswith("threads:"):
                continue
            row = {"repetition": rep, "workload": parts[0], "lock": parts[1],
                   "threads": int(parts[2].split(":")[1]), "seconds": b["real_time"] / 1e3}
            for k in ("mops", "ns_per_op", "wall_ns_per_op", "cpu_ns_per_op", "share_cv", "worst_share",
                      "wait_p50_ns", "wait_p99_ns", "wait_p999_ns", "wait_max_ns", "wait_samples",
                      "vcsw_per_kop", "ivcsw_per_kop") + ROLE_FIELDS:
                if k in b:
                    row[k] = b[k]
            row["acquisitions"] = int(b.get("items_per_second", 0) * b["real_time"] / 1e3 + 0.5)
            rows.append(row)
    return rows


# Per-role waits of the reader/writer workloads.
ROLE_FIELDS = ("read_wait_p50_ns", "read_wait_p99_ns", "read_wait_max_ns", "read_wait_samples",
               "write_wait_p50_ns", "write_wait_p99_ns", "write_wait_max_ns", "write_wait_samples",
               "write_fraction")


def median_table(rows):
    """{(workload, lock, threads): {metric: median, 'spread': (max-min)/median of the figure}}."""
    groups = {}
    for r in rows:
        groups.setdefault((r["workload"], r["lock"], r["threads"]), []).append(r)
    out = {}
    for key, rs in groups.items():
        m = {"n": len(rs)}
        for k in rs[0]:
            if k in ("repetition", "workload", "lock", "threads"):
                continue
            vals = [r[k] for r in rs if k in r]
            if vals:
                m[k] = statistics.median(vals)
        fig = [r["ns_per_op"] if key[0] == "pair" else r["mops"] for r in rs]
        med = statistics.median(fig)
        m["spread"] = (max(fig) - min(fig)) / med if med else 0
        m["figure"] = med
        out[key] = m
    # Ratios: the median over repetitions of the ratio within each repetition,
    # so a repetition slowed by another job on the machine cancels out.
    for (w, k, t), m in out.items():
        m["ratio"] = rep_ratio(groups, w, k, t, baseline(w))
        if w == "pair":
            m["ratio_floor"] = rep_ratio(groups, w, k, t, "Floor")
    return out


def rep_ratio(groups, w, k, t, base):
    def fig(r):
        return r["ns_per_op"] if w == "pair" else r["mops"]
    mine = {r["repetition"]: fig(r) for r in groups.get((w, k, t), [])}
    theirs = {r["repetition"]: fig(r) for r in groups.get((w, base, t), [])}
    rs = [mine[i] / theirs[i] for i in mine if i in theirs and theirs[i]]
    return statistics.median(rs) if rs else None


def fmt(x, digits=1):
    if x is None:
        return "–"
    if abs(x) >= 100 and digits > 0:
        return f"{x:.0f}"
    return f"{x:.{digits}f}"


def fmt_us(ns):
    if ns is None:
        return "–"
    us = ns / 1e3
    return f"{us:.2f}" if us < 10 else f"{us:.0f}" if us >= 100 else f"{us:.1f}"


def mutex_report(med, locks, threads_list, workloads):
    """Markdown: per workload a figure table, a reading, a fairness/wait table."""
    L = []
    order = [k for k in locks if any((w, k, t) in med for w in workloads for t in threads_list + [1])]

    for w, title, what in MUTEX_WORKLOADS:
        if w not in workloads:
            continue

        def name(k, w=w):
            n = FAMILY_NAMES.get(w, {}).get(k)
            if n:
                return n
            n = locks[k][0] if k in locks else k
            return n + " + condition_variable_any" if w == "groupcommit" else n

        base_k = baseline(w)
        subj_k = subject(w, med)
        L.append(f"### {title}")
        L.append("")
        L.append(what + ". Median of the repetitions; ±: spread (max−min)/median; "
                 f"×: ratio to {name(base_k)} within each repetition, median; **bold**: best ratio.")
        L.append("")
        if w == "pair":
            base = med.get(("pair", BASELINE, 1), {}).get("figure")
            floor = med.get(("pair", "Floor", 1), {}).get("figure")
            rows = [(k, med[("pair", k, 1)]) for k in order if ("pair", k, 1) in med]
            best = best_key({k: m for k, m in rows if k != "Floor"}, lower=True)
            L.append("| lock | bytes | ns per pair | × std::mutex | × floor |")
            L.append("|---|---|---|---|---|")
            for k, m in rows:
                f = m["figure"]
                cell = f"{f:.2f} ±{m['spread'] * 100:.0f}%"
                if k == best:
                    cell = f"**{cell}**"
                L.append(f"| {name(k)} | {locks.get(k, ('', '?'))[1]} | {cell} | "
                         f"{fmt_ratio(m.get('ratio'))} | {fmt_ratio(m.get('ratio_floor'))} |")
            L.append("")
            L.append("Reading: " + pair_reading(rows, base, floor, name))
            L.append("")
            continue
        ts = [t for t in threads_list if any((w, k, t) in med for k in order)]
        L.append("| lock | " + " | ".join(f"{t}T" for t in ts) + " |")
        L.append("|---|" + "---|" * len(ts))
        best = {t: best_key({k: med[(w, k, t)] for k in order if (w, k, t) in med}) for t in ts}
        for k in order:
            if not any((w, k, t) in med for t in ts):
                continue
            cells = []
            for t in ts:
                m = med.get((w, k, t))
                if m is None:
                    cells.append("–")
                    continue
                c = f"{fmt_fig(m['figure'], w)} ±{m['spread'] * 100:.0f}% {fmt_ratio(m.get('ratio'))}"
                if k == best[t]:
                    c = f"**{c}**"
                cells.append(c)
            L.append(f"| {name(k)} | " + " | ".join(cells) + " |")
        L.append("")
        L.append("Reading: " + contended_reading(med, w, order, ts, name, subj_k, base_k))
        L.append("")
        if w in RW_WORKLOADS:
            L.extend(role_table(med, w, order, ts, name, subj_k, base_k))
        # Fairness and tail at one thread count.
        ft = min((t for t in ts if t >= 2), key=lambda t: abs(t - FAIRNESS_THREADS), default=None)
        if ft is None:
            continue
        op = ("a push or pop, waits included" if w in QUEUES else
              "a commit, waits included" if w == "groupcommit" else
              "time inside lock() or lock_shared(), both roles (per role: the table above)"
              if w in RW_WORKLOADS else
              "time inside arrive_and_wait()" if w in ("latch", "barrier") else
              "time inside call_once()" if w == "once" else "time inside lock()")
        L.append(f"Fairness, acquisition wait and CPU cost at {ft} threads (medians): worst thread = "
                 f"its operations over a fair share (1 = fair); share CV = stddev of the "
                 f"threads' counts over their mean; wait = {op}, one operation "
                 f"in 64 sampled; CPU = all threads' CPU time per operation; cs = the "
                 f"process's voluntary context switches per 1000 operations.")
        L.append("")
        L.append("| lock | worst thread | share CV | wait p50 µs | p99 µs | p99.9 µs | max µs | CPU ns/acq | cs/kop |")
        L.append("|---|---|---|---|---|---|---|---|---|")
        for k in order:
            m = med.get((w, k, ft))
            if m is None:
                continue
            L.append(f"| {name(k)} | {fmt(m.get('worst_share'), 2)} | {fmt(m.get('share_cv'), 2)} | "
                     f"{fmt_us(m.get('wait_p50_ns'))} | {fmt_us(m.get('wait_p99_ns'))} | "
                     f"{fmt_us(m.get('wait_p999_ns'))} | {fmt_us(m.get('wait_max_ns'))} | "
                     f"{fmt(m.get('cpu_ns_per_op'))} | {fmt(m.get('vcsw_per_kop'))} |")
        L.append("")
        L.append("Reading: " + fairness_reading(med, w, order, ft, name, subj_k, base_k))
        L.append("")
    return "\n".join(L)


def ratio_str(x, base):
    if x is None or not base:
        return "–"
    return f"{x / base:.2f}×"


def best_key(cells, lower=False):
    """The best lock of one cell: by its ratio to std::mutex (same repetitions),
    by its median figure where a ratio is missing."""
    if not cells:
        return None
    def score(k):
        m = cells[k]
        v = m.get("ratio") if m.get("ratio") is not None else m["figure"]
        return -v if lower else v
    return max(cells, key=score)


def fmt_fig(x, w):
    """A table figure: one decimal, or three significant digits for small ones."""
    if w in SMALL_FIGURES and x is not None and abs(x) < 10:
        return f"{x:.3g}"
    return fmt(x)


def role_table(med, w, order, ts, name, subj, base):
    """Reader/writer workloads: each role's acquisition wait, p99 and max,
    at the fairness thread count and the most threads."""
    cts = [t for t in ts if t >= 2]
    if not cts:
        return []
    ft = min(cts, key=lambda t: abs(t - FAIRNESS_THREADS))
    show = sorted({ft, cts[-1]})
    L = [f"Wait per role (medians over the repetitions): time inside lock_shared() (readers) "
         f"and lock() (writers), p99 / max µs, sampled: one read in 64 and writes at about the "
         f"same count (every write at 1%), all threads; the max is the worst-waiting sampled "
         f"reader's or writer's wait.", ""]
    L.append("| lock | " + " | ".join(f"{t}T read p99 / max | {t}T write p99 / max" for t in show)
             + " |")
    L.append("|---|" + "---|---|" * len(show))
    for k in order:
        if not any((w, k, t) in med for t in show):
            continue
        cells = []
        for t in show:
            m = med.get((w, k, t), {})
            for role in ("read", "write"):
                cells.append(f"{fmt_us(m.get(role + '_wait_p99_ns'))} / "
                             f"{fmt_us(m.get(role + '_wait_max_ns'))}" if m else "–")
        L.append(f"| {name(k)} | " + " | ".join(cells) + " |")
    L.append("")
    parts = []
    for t in show:
        m, b = med.get((w, subj, t)), med.get((w, base, t))
        if m and b:
            parts.append(f"at {t}T {name(subj)}'s worst writer waited {fmt_us(m.get('write_wait_max_ns'))} µs "
                         f"(p99 {fmt_us(m.get('write_wait_p99_ns'))}), reader "
                         f"{fmt_us(m.get('read_wait_max_ns'))} µs (p99 {fmt_us(m.get('read_wait_p99_ns'))}); "
                         f"{name(base)}: writer {fmt_us(b.get('write_wait_max_ns'))} µs, reader "
                         f"{fmt_us(b.get('read_wait_max_ns'))} µs")
        cands = [(med[(w, k, t)].get("write_wait_max_ns") or 0, k) for k in order if (w, k, t) in med]
        if cands:
            worst = max(cands)
            parts.append(f"longest writer wait at {t}T: {name(worst[1])} ({fmt_us(worst[0])} µs)")
    if parts:
        L.append("Reading: " + "; ".join(parts) + ".")
        L.append("")
    return L


def fmt_ratio(r):
    return "–" if r is None else f"{r:.2f}×"


def pair_reading(rows, base, floor, name):
    d = {k: m["figure"] for k, m in rows}
    mine = dict(rows).get(SUBJECT, {})
    parts = []
    if SUBJECT in d and mine.get("ratio"):
        parts.append(f"ringlock::Mutex {d[SUBJECT]:.2f} ns, {mine['ratio']:.2f}× std::mutex")
    if SUBJECT in d and floor and mine.get("ratio_floor"):
        parts.append(f"{mine['ratio_floor']:.2f}× the floor (one CAS + one decrement, {floor:.2f} ns)")
    real = {k: v for k, v in d.items() if k != "Floor"}
    if real:
        b = min(real, key=real.get)
        worst = max(real, key=real.get)
        parts.append(f"fastest {name(b)} ({real[b]:.2f} ns), slowest {name(worst)} ({real[worst]:.2f} ns)")
    return "; ".join(parts) + "."


def contended_reading(med, w, order, ts, name, subj=SUBJECT, base=BASELINE):
    parts = []
    contended = [t for t in ts if t >= 2]
    rs = [(t, med[(w, subj, t)]["ratio"]) for t in contended
          if med.get((w, subj, t), {}).get("ratio") is not None]
    if rs:
        lo, hi = min(rs, key=lambda x: x[1]), max(rs, key=lambda x: x[1])
        parts.append(f"{name(subj)} is {lo[1]:.2f}× ({lo[0]}T) to {hi[1]:.2f}× ({hi[0]}T) "
                     f"{name(base)} from {contended[0]} to {contended[-1]} threads")
    wins = []
    for t in contended:
        b = best_key({k: med[(w, k, t)] for k in order if (w, k, t) in med})
        if b is not None:
            wins.append((t, b))
    if wins:
        mine = [t for t, k in wins if k == subj]
        others = {}
        for t, k in wins:
            if k != subj:
                others.setdefault(name(k), []).append(f"{t}T")
        s = f"best at {len(mine)} of {len(wins)} contended thread counts"
        if others:
            s += " (" + "; ".join(f"{k} at {', '.join(v)}" for k, v in others.items()) + ")"
        parts.append(s)
    # A rendezvous of more threads takes longer by nature: no collapse reading.
    if len(contended) >= 2 and w not in ("latch", "barrier"):
        lo_t, hi_t = contended[0], contended[-1]
        collapsed = []
        for k in order:
            a, b = med.get((w, k, lo_t)), med.get((w, k, hi_t))
            if a and b and a["figure"] and b["figure"] / a["figure"] < 0.5:
                collapsed.append(f"{name(k)} {b['figure'] / a['figure']:.2f}×")
        if collapsed:
            parts.append(f"collapse at {hi_t}T against its own {lo_t}T figure: " + ", ".join(collapsed))
        else:
            parts.append(f"no lock falls below half its {lo_t}T figure at {hi_t}T")
    return "; ".join(parts) + "." if parts else "no data."


def fairness_reading(med, w, order, t, name, subj=SUBJECT, base=BASELINE):
    parts = []
    m, b = med.get((w, subj, t)), med.get((w, base, t))
    if m and b:
        parts.append(f"{name(subj)} p99.9 wait {fmt_us(m.get('wait_p999_ns'))} µs against "
                     f"{name(base)}'s {fmt_us(b.get('wait_p999_ns'))} µs; worst thread "
                     f"{fmt(m.get('worst_share'), 2)} of fair ({name(base)} "
                     f"{fmt(b.get('worst_share'), 2)})")
    unfair = [name(k) for k in order if (w, k, t) in med
              and med[(w, k, t)].get("worst_share", 1) < 0.5]
    if unfair:
        parts.append("a thread got under half its fair share with: " + ", ".join(unfair))
    return "; ".join(parts) + "." if parts else "no data."


# ---- io_uring benchmarks ----------------------------------------------------

def load_gb(path):
    """{run_name: [iteration entries]} of a Google Benchmark JSON."""
    with open(path) as f:
        data = json.load(f)
    by = {}
    for b in data["benchmarks"]:
        if b.get("run_type", "iteration") != "iteration":
            continue
        by.setdefault(b["run_name"], []).append(b)
    return by


def med_of(entries, key):
    vals = [e[key] for e in entries if key in e]
    return statistics.median(vals) if vals else None


def uring_report(outdir, workloads):
    L, csv_rows = [], []
    if "async" in workloads and os.path.exists(os.path.join(outdir, "async_mutex_bench.json")):
        by = load_gb(os.path.join(outdir, "async_mutex_bench.json"))
        kinds = [("Ringlock_LockAsync", "ringlock lock_async"),
                 ("Ringlock_LockAsync_Emulated", "lock_async, io_uring emulated"),
                 ("Ringlock_RingBlocking", "ringlock lock(), ring-blocking"),
                 ("EventfdMutex_Handoff", "eventfd async mutex, handoff"),
                 ("EventfdMutex_Barging", "eventfd async mutex, barging"),
                 ("StdMutex_Blocking", "std::mutex blocking the loop")]
        ks = (1, 4, 16)
        L.append("### Async: coroutines on two loops contending one Mutex")
        L.append("")
        L.append("Mops/s (both loops), × the barging eventfd mutex (the stronger pre-6.7 design), "
                 "and the share of acquisitions the slower loop made (0.50 = even). "
                 "K = coroutines per loop.")
        L.append("")
        L.append("| lock | " + " | ".join(f"K={k}" for k in ks) + " |")
        L.append("|---|" + "---|" * len(ks))
        fig, share = {}, {}
        for kind, _ in kinds:
            for k in ks:
                e = [v for n, vs in by.items() if n.startswith(f"BM_Contended/{kind}/K:{k}/") for v in vs]
                fig[(kind, k)] = med_of(e, "items_per_second")
                share[(kind, k)] = med_of(e, "minority_share")
                csv_rows.append({"workload": "async", "lock": kind, "threads": k,
                                 "mops": fig[(kind, k)] / 1e6 if fig[(kind, k)] else None,
                                 "minority_share": share[(kind, k)]})
        for kind, disp in kinds:
            cells = [f"{fmt(fig[(kind, k)] / 1e6 if fig[(kind, k)] else None)} "
                     f"{ratio_str(fig[(kind, k)], fig[('EventfdMutex_Barging', k)])} "
                     f"share {fmt(share[(kind, k)], 2)}" for k in ks]
            L.append(f"| {disp} | " + " | ".join(cells) + " |")
        r = [(k, fig.get(("Ringlock_LockAsync", k)), fig.get(("EventfdMutex_Barging", k))) for k in ks]
        r = [f"{a / b:.2f}× at K={k}" for k, a, b in r if a and b]
        L.append("")
        L.append("Reading: lock_async against the barging eventfd mutex: " + ", ".join(r) +
                 "; a slower-loop share far below 0.5 means part of the throughput is unfairness.")
        L.append("")
    if "pingpong" in workloads and os.path.exists(os.path.join(outdir, "pingpong_bench.json")):
        by = load_gb(os.path.join(outdir, "pingpong_bench.json"))
        L.append("### Event ping-pong: round trip through two auto-reset Events (µs, p50 / p99)")
        L.append("")
        places = [(0, "unpinned"), (1, "both on CPU 0"), (2, "CPUs 0 and 1")]
        L.append("| waiters | " + " | ".join(p for _, p in places) + " |")
        L.append("|---|" + "---|" * len(places))
        for kind in ("Sync", "RingBlocking", "Async", "Async_Emulated"):
            cells = []
            for c, _ in places:
                e = [v for n, vs in by.items() if n.startswith(f"BM_PingPong/{kind}/cpus:{c}/") for v in vs]
                p50, p99 = med_of(e, "p50_us"), med_of(e, "p99_us")
                cells.append(f"{fmt(p50, 2)} / {fmt(p99, 2)}")
                csv_rows.append({"workload": "pingpong", "lock": kind, "threads": c,
                                 "wait_p50_ns": p50 * 1e3 if p50 else None,
                                 "wait_p99_ns": p99 * 1e3 if p99 else None})
            L.append(f"| {kind} | " + " | ".join(cells) + " |")
        L.append("")
    if "wakemany" in workloads and os.path.exists(os.path.join(outdir, "wake_bench.json")):
        by = load_gb(os.path.join(outdir, "wake_bench.json"))
        L.append("### Directed wake-many: one waker, 64 sleepers on 64 words")
        L.append("")
        L.append("| waker | waker µs p50 | all awake µs p50 | × 64 futex(2) (waker) |")
        L.append("|---|---|---|---|")
        base = None
        for mode in ("Futex64", "WakeBatch_ThreadRing", "WakeBatch_EventLoop", "WakeBatch_Offload"):
            e = [v for n, vs in by.items() if n.startswith(f"BM_Wake64/{mode}/") for v in vs]
            w50, a50 = med_of(e, "waker_us_p50"), med_of(e, "all_awake_us_p50")
            if base is None:
                base = w50
            L.append(f"| {mode} | {fmt(w50)} | {fmt(a50)} | {ratio_str(w50, base)} |")
            csv_rows.append({"workload": "wakemany", "lock": mode, "threads": 64,
                             "wait_p50_ns": w50 * 1e3 if w50 else None})
        L.append("")
    return "\n".join(L), csv_rows


# ---------------------------------------------------------------------------
# Plots.

def grid(plt, n, height=4.6):
    """A figure with n panels, two to a row; returns (figure, flat list of n axes)."""
    cols = 1 if n == 1 else 2
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(6.4 * cols, height * rows + 0.8), squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]

def legend_entries(axes):
    """Every panel's lines, each label once (panels of other primitives have other locks)."""
    seen, handles, labels = set(), [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in seen:
                seen.add(lab)
                handles.append(h)
                labels.append(lab)
    return handles, labels


def plots(outdir, med, locks, threads_list, workloads):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return ["plots not drawn: install python3-matplotlib (apt-get install python3-matplotlib)"]
    files = []
    order = [k for k in locks if k != "Floor"]
    name = lambda k: locks[k][0] if k in locks else k  # noqa: E731
    styles = {}
    markers = "os^vD<>ph*"
    # One colour and marker per lock in every panel (matplotlib's cycle would
    # restart per panel and give a lock different colours; 20 colours: the
    # locks outnumber the default 10).
    mine = {SUBJECT, RW_SUBJECT, *SUBJECTS.values()}
    for i, k in enumerate(list(locks)):
        styles[k] = dict(marker=markers[i % len(markers)], linewidth=2.5 if k in mine else 1.2,
                         color="black" if k in mine else plt.cm.tab20(i % 20))
    cont = [w for w, _, _ in MUTEX_WORKLOADS if w in workloads and w != "pair"]
    panels = cont + (["pair"] if "pair" in workloads else [])
    if panels:
        fig, axes = grid(plt, len(panels))
        titles = {w: t for w, t, _ in MUTEX_WORKLOADS}
        for ax, w in zip(axes, panels):
            if w == "pair":
                ks = [k for k in locks if ("pair", k, 1) in med]
                vals = [med[("pair", k, 1)]["figure"] for k in ks]
                ax.barh([name(k) for k in ks], vals,
                        color=["black" if k == SUBJECT else "tab:gray" if k == "Floor" else "tab:blue"
                               for k in ks])
                ax.invert_yaxis()
                ax.set_xlabel("ns per lock+unlock (lower is better)")
                ax.set_title(titles[w])
                continue
            for k in order:
                xs = [t for t in threads_list if (w, k, t) in med]
                if not xs:
                    continue
                ax.plot(xs, [med[(w, k, t)]["figure"] for t in xs], label=name(k), **styles[k])
            ax.set_xscale("log", base=2)
            xt = [t for t in threads_list if any((w, k, t) in med for k in order)]
            ax.set_xticks(xt)
            ax.set_xticklabels([str(t) for t in xt])
            ax.set_xlabel("threads")
            ax.set_ylabel("M items/s consumed" if w in QUEUES else "M rounds/s" if w == "latch" else
                          "M phases/s" if w == "barrier" else "M calls/s (all threads)" if w == "once"
                          else "Mops/s (all threads)")
            ax.set_ylim(bottom=0)
            ax.set_title(titles[w] + (" (line: the library's\nown mutex with it)"
                                      if w in FAMILY_NAMES and w not in RW_WORKLOADS else ""))
            ax.grid(alpha=0.3)
        handles, labels = legend_entries(axes)
        if handles:
            fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 5), fontsize=9)
        fig.suptitle("Throughput against threads (medians)")
        fig.tight_layout(rect=(0, 0.07, 1, 0.96))
        p = os.path.join(outdir, "throughput.png")
        fig.savefig(p, dpi=90)
        plt.close(fig)
        files.append(p)
    if cont:
        fig, axes = grid(plt, len(cont))
        for ax, w in zip(axes, cont):
            for k in order:
                xs = [t for t in threads_list if t >= 2 and (w, k, t) in med
                      and med[(w, k, t)].get("wait_p999_ns")]
                if not xs:
                    continue
                ax.plot(xs, [med[(w, k, t)]["wait_p999_ns"] / 1e3 for t in xs], label=name(k),
                        **styles[k])
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ts = [t for t in threads_list if t >= 2]
            ax.set_xticks(ts)
            ax.set_xticklabels([str(t) for t in ts])
            ax.set_xlabel("threads")
            ax.set_ylabel("p99.9 push/pop time (µs, log)" if w in QUEUES
                          else "p99.9 wait in lock() (µs, log)")
            ax.set_title({w2: t for w2, t, _ in MUTEX_WORKLOADS}[w])
            ax.grid(alpha=0.3, which="both")
        handles, labels = legend_entries(axes)
        if handles:
            fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 5), fontsize=9)
        fig.suptitle("Acquisition wait, p99.9 (medians over repetitions)")
        fig.tight_layout(rect=(0, 0.07, 1, 0.96))
        p = os.path.join(outdir, "wait_p999.png")
        fig.savefig(p, dpi=90)
        plt.close(fig)
        files.append(p)
        # All percentiles at the fairness thread count.
        fig, axes = grid(plt, len(cont), height=5.2)
        pcts = [("wait_p50_ns", "p50"), ("wait_p99_ns", "p99"), ("wait_p999_ns", "p99.9"),
                ("wait_max_ns", "max")]
        for ax, w in zip(axes, cont):
            ts = [t for t in threads_list if t >= 2]
            if not ts:
                continue
            ft = min(ts, key=lambda t: abs(t - FAIRNESS_THREADS))
            ks = [k for k in order if (w, k, ft) in med]
            width = 0.8 / len(pcts)
            for i, (key, label) in enumerate(pcts):
                ax.bar([j + i * width for j in range(len(ks))],
                       [max(med[(w, k, ft)].get(key, 0) / 1e3, 1e-3) for k in ks], width, label=label)
            ax.set_xticks([j + 0.4 - width / 2 for j in range(len(ks))])
            ax.set_xticklabels([name(k) for k in ks], rotation=45, ha="right", fontsize=8)
            ax.set_yscale("log")
            ax.set_ylabel("push/pop time (µs, log)" if w in QUEUES else "wait in lock() (µs, log)")
            ax.set_title(f"{ {w2: t for w2, t, _ in MUTEX_WORKLOADS}[w]}, {ft} threads")
            ax.grid(alpha=0.3, axis="y", which="both")
        handles, labels = axes[0].get_legend_handles_labels()
        if handles:
            fig.legend(handles, labels, loc="upper right", fontsize=9)
        fig.suptitle("Acquisition wait percentiles")
        fig.tight_layout(rect=(0, 0, 0.95, 0.95))
        p = os.path.join(outdir, "wait_percentiles.png")
        fig.savefig(p, dpi=90)
        plt.close(fig)
        files.append(p)
    return files


# ---------------------------------------------------------------------------

def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="suite", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", default=",".join(DEFAULT_WORKLOADS),
                   help=f"comma-separated, of: {', '.join(ALL_WORKLOADS)} (default: all but "
                        f"rw99 and rw50, and rw95 at threads 1,2,8,32 unless --threads is given)")
    p.add_argument("--threads", default="1,2,4,8,16,32", help="thread counts (default 1,2,4,8,16,32)")
    p.add_argument("--duration", type=float, default=0.1, help="seconds per run (default 0.1)")
    p.add_argument("--repetitions", "-r", type=int, default=5,
                   help="interleaved repetitions of the whole suite (default 5; the io_uring "
                        "workloads run min(this, 2) repetitions: each takes seconds)")
    p.add_argument("--locks", default="", help="comma-separated lock keys (default all; see the table)")
    p.add_argument("--quick", action="store_true",
                   help="a ~30 s look: threads 1,2,8,32, 0.06 s runs, 2 repetitions, no io_uring "
                        "workloads unless --workloads names them")
    p.add_argument("--out", help="results folder (default bench/results/<date>-<time>)")
    p.add_argument("--from", dest="from_dir", help="re-print a saved results folder; do not run")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("benchmark_args", nargs="*",
                   help="after --: Google Benchmark flags for mutex_bench (e.g. --benchmark_filter=)")
    args = p.parse_args(argv)
    if args.quick:
        if "--threads" not in argv:
            args.threads = "1,2,8,32"
        if "--duration" not in argv:
            args.duration = 0.06
        if "--repetitions" not in argv and "-r" not in argv:
            args.repetitions = 2
        if "--workloads" not in argv:
            args.workloads = ("pair,short,long,striped,condvar,semaphore,readmostly,groupcommit,"
                              "rw95,latch,barrier,once")
    args.workloads = [w for w in args.workloads.split(",") if w]
    bad = [w for w in args.workloads if w not in ALL_WORKLOADS]
    if bad:
        p.error(f"unknown workload(s) {', '.join(bad)}; choose from {', '.join(ALL_WORKLOADS)}")
    args.threads = sorted({int(t) for t in args.threads.split(",") if t})
    args.locks = [k for k in args.locks.split(",") if k]
    args.mutex_workloads = [w for w, _, _ in MUTEX_WORKLOADS if w in args.workloads]
    # The default suite's own thread counts for some workloads; --threads
    # applies to all.
    threads_given = any(a == "--threads" or a.startswith("--threads=") for a in argv)
    args.workload_threads = ({} if threads_given or args.quick else
                             {w: ts for w, ts in DEFAULT_THREADS_FOR.items() if w in args.mutex_workloads})
    args.uring_workloads = [(w, b) for w, b, _ in URING_WORKLOADS if w in args.workloads]
    if args.repetitions < 1 or args.duration <= 0:
        p.error("--repetitions must be >= 1 and --duration > 0")
    return args


def uring_reps(args):
    return min(args.repetitions, 2)


def machine_text(m):
    return "\n".join([
        f"CPU: {m['cpu']} ({m['nproc']} logical CPUs)",
        f"Kernel: {m['kernel']}",
        f"io_uring futex operations: {m['io_uring_futex']}",
        f"Load average before: {' '.join(map(str, m['load_before']))}, "
        f"after: {' '.join(map(str, m.get('load_after', [])))}",
        f"Date: {m['date']} (UTC)",
        f"Run: {m['run']}",
    ] + ([f"Not built: {m['not_built']}"] if m.get("not_built") else []))


def main(argv):
    args = parse_args(argv)
    if args.from_dir:
        return reprint(args.from_dir)
    binary = runfile("mutex_bench")
    locks, missing, uring_path = bench_list(binary)
    if args.locks:
        unknown = [k for k in args.locks if k not in locks]
        if unknown:
            sys.exit(f"suite: unknown lock(s) {', '.join(unknown)}; this build has: {', '.join(locks)}")
        locks = {k: v for k, v in locks.items() if k in args.locks}
    stamp = datetime.datetime.utcnow().strftime("%Y%m%d-%H%M%S")
    outdir = args.out or os.path.join(workspace_root(), "bench", "results", stamp)
    os.makedirs(outdir, exist_ok=True)
    not_built = "; ".join(f"{what} (install {pkg})" for what, pkg in missing)
    for what, pkg in missing:
        print(f"not built: {what}: install {pkg} (apt-get install {pkg}), then "
              f"`./bazelw sync --only=ringlock_bench_peers` and run the suite again", file=sys.stderr)
    m = {
        "cpu": cpu_model(), "nproc": os.cpu_count(), "kernel": " ".join(platform.uname()[2:4]),
        "io_uring_futex": uring_path, "load_before": loadavg(),
        "date": datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M"),
        "run": (f"workloads {','.join(args.workloads)}; threads {','.join(map(str, args.threads))}; "
                f"{args.duration} s per run; {args.repetitions} repetitions, lock order rotated"
                + (f" (io_uring workloads: {uring_reps(args)})" if args.uring_workloads else "")
                + "".join(f"; {w} at threads {','.join(map(str, ts))}"
                          for w, ts in args.workload_threads.items())),
        "not_built": not_built, "lscpu": lscpu(),
    }
    print(machine_text(m), file=sys.stderr)

    # How many runs, for the progress line.
    per_rep = 0
    for w in args.mutex_workloads:
        ts = workload_threads(w, args.workload_threads.get(w, args.threads))
        per_rep += len(ts) * len([k for k, v in locks.items() if w in v[2]])
    progress = Progress(per_rep * args.repetitions, args.duration + 0.03, len(args.uring_workloads),
                        sum(URING_SECONDS.get(b, 5) * uring_reps(args) for _, b in args.uring_workloads))
    paths = []
    with open(os.path.join(outdir, "console.txt"), "w") as console:
        if args.mutex_workloads:
            for rep in range(args.repetitions):
                path = os.path.join(outdir, f"mutex_bench.rep{rep}.json")
                run_mutex_rep(binary, args, rep, path, console, locks, progress)
                paths.append(path)
        for w, b in args.uring_workloads:
            run_uring(runfile(b), b, uring_reps(args), os.path.join(outdir, f"{b}.json"), console,
                      progress)
    progress.finish()
    m["load_after"] = loadavg()
    with open(os.path.join(outdir, "machine.json"), "w") as f:
        json.dump({**m, "locks": {k: {"name": v[0], "bytes": v[1]} for k, v in locks.items()},
                   "args": {"workloads": args.workloads, "threads": args.threads,
                            "duration": args.duration, "repetitions": args.repetitions}}, f, indent=2)
    return finish(outdir, m, locks, args.threads, args.workloads, paths, args.no_plots)


def finish(outdir, m, locks, threads, workloads, paths, no_plots):
    rows = load_mutex(paths)
    # One Google Benchmark JSON with every repetition (run_name keeps the
    # benchmark; "repetition_index" says which suite repetition).
    merged = None
    for rep, path in enumerate(paths):
        with open(path) as f:
            data = json.load(f)
        for b in data["benchmarks"]:
            b["repetition_index"] = rep
        if merged is None:
            merged = data
        else:
            merged["benchmarks"].extend(data["benchmarks"])
    if merged is not None:
        with open(os.path.join(outdir, "mutex_bench.json"), "w") as f:
            json.dump(merged, f, indent=1)
    med = median_table(rows)
    text = mutex_report(med, locks, threads, workloads)
    utext, urows = uring_report(outdir, workloads)
    fields = ["repetition", "workload", "lock", "threads", "seconds", "acquisitions", "mops",
              "ns_per_op", "wall_ns_per_op", "cpu_ns_per_op", "share_cv", "worst_share", "wait_p50_ns",
              "wait_p99_ns", "wait_p999_ns", "wait_max_ns", "wait_samples", "vcsw_per_kop",
              "ivcsw_per_kop", "minority_share"] + list(ROLE_FIELDS)
    with open(os.path.join(outdir, "results.csv"), "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        wr.writeheader()
        for r in rows:
            wr.writerow(r)
    with open(os.path.join(outdir, "summary.csv"), "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=["workload", "lock", "lock_name", "bytes", "threads", "n",
                                           "figure", "spread", "ratio", "ratio_to"] + fields[4:],
                            extrasaction="ignore")
        wr.writeheader()
        for (w, k, t), mm in sorted(med.items()):
            wr.writerow({"workload": w, "lock": k, "lock_name": locks.get(k, (k,))[0],
                         "bytes": locks.get(k, ("", ""))[1], "threads": t,
                         "ratio_to": baseline(w), **mm})
        for r in urows:
            wr.writerow(r)
    header = ["## ringlock benchmark suite", "", "```", machine_text(m), "```", ""]
    report = "\n".join(header) + text + ("\n" + utext if utext else "")
    with open(os.path.join(outdir, "report.md"), "w") as f:
        f.write(report + "\n")
    notes = [] if no_plots else plots(outdir, med, locks, threads, workloads)
    print(report)
    print("")
    print(f"Results in {outdir}:")
    print("  report.md (these tables), summary.csv (medians), results.csv (every run), "
          "mutex_bench.json (Google Benchmark JSON, every repetition), machine.json, console.txt")
    for n in notes:
        print(("  " + os.path.basename(n)) if n.startswith(outdir) else "  " + n)
    return 0


def reprint(d):
    with open(os.path.join(d, "machine.json")) as f:
        m = json.load(f)
    locks = {k: (v["name"], v["bytes"], []) for k, v in m["locks"].items()}
    a = m["args"]
    paths = sorted(os.path.join(d, p) for p in os.listdir(d)
                   if p.startswith("mutex_bench.rep") and p.endswith(".json"))
    return finish(d, m, locks, a["threads"], a["workloads"], paths, False)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
