#!/usr/bin/env bash
# Runs the io_uring benchmarks (async_mutex_bench, wake_bench, pingpong_bench)
# with repetitions and prints Markdown tables of the medians, with ratios
# against the peers and the machine they ran on.
#
#   bench/run_uring_benches.sh            # 5 repetitions
#   REPS=9 bench/run_uring_benches.sh
#   OUT=/tmp/x bench/run_uring_benches.sh # keep the JSON there
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
reps="${REPS:-5}"
out="${OUT:-$(mktemp -d)}"
mkdir -p "$out"

./bazelw build -c opt //bench:async_mutex_bench //bench:wake_bench //bench:pingpong_bench >&2

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
for b in async_mutex_bench wake_bench pingpong_bench; do
  echo "running $b ($reps repetitions)..." >&2
  ./bazelw run -c opt "//bench:$b" -- \
    --benchmark_repetitions="$reps" \
    --benchmark_out="$out/$b.json" --benchmark_out_format=json >"$out/$b.txt" 2>&2
done
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

export OUT_DIR="$out" REPS="$reps" LOAD_BEFORE="$load_before" LOAD_AFTER="$load_after"
python3 - <<'PY'
import json, os, re, statistics, subprocess, datetime

out = os.environ["OUT_DIR"]

def runs(name):
    """{run_name: [iteration entries]} from one benchmark's JSON."""
    with open(os.path.join(out, name + ".json")) as f:
        data = json.load(f)
    by = {}
    for b in data["benchmarks"]:
        if b.get("run_type", "iteration") != "iteration":
            continue
        by.setdefault(b["run_name"], []).append(b)
    return data["context"], by

def med(entries, key):
    vals = [e[key] for e in entries if key in e]
    return statistics.median(vals) if vals else float("nan")

def fmt(x, d=2):
    return "n/a" if x != x else f"{x:.{d}f}"

cpu = "unknown"
with open("/proc/cpuinfo") as f:
    for line in f:
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
print("## Machine\n")
print(f"- date: {datetime.datetime.utcnow().strftime('%Y-%m-%d %H:%M UTC')}")
print(f"- nproc: {os.cpu_count()}, CPU: {cpu}")
print(f"- kernel: {os.uname().release}")
print(f"- load average (1/5/15 min) before: {os.environ['LOAD_BEFORE']}, after: {os.environ['LOAD_AFTER']}")
print(f"- medians of {os.environ['REPS']} repetitions\n")

# ---- async_mutex_bench -------------------------------------------------------
ctx, by = runs("async_mutex_bench")
def am(bm, kind, k):
    e = by.get(f"{bm}/{kind}/K:{k}/iterations:5/manual_time", [])
    return {c: med(e, c) for c in ("items_per_second", "loop_cpus", "ops_per_cpu_s", "minority_share")}
kinds = [("Ringlock_LockAsync", "ringlock lock_async"),
         ("Ringlock_LockAsync_Emulated", "ringlock lock_async, io_uring emulated"),
         ("Ringlock_RingBlocking", "ringlock lock() ring-blocking"),
         ("EventfdMutex_Handoff", "eventfd mutex (handoff)"),
         ("EventfdMutex_Barging", "eventfd mutex (barging)"),
         ("StdMutex_Blocking", "std::mutex (blocking)")]
print("## async_mutex_bench: two loops, K coroutines each, one lock\n")
print("Mops/s (lock acquisitions per second, both loops together):\n")
print("| K | " + " | ".join(n for _, n in kinds) + " | lock_async / eventfd handoff | lock_async / eventfd barging | lock_async / std::mutex |")
print("|---" * (len(kinds) + 4) + "|")
for k in (1, 4, 16):
    v = {kind: am("BM_Contended", kind, k) for kind, _ in kinds}
    ops = {kind: v[kind]["items_per_second"] / 1e6 for kind in v}
    cells = [fmt(ops[kind]) for kind, _ in kinds]
    r = ops["Ringlock_LockAsync"]
    print(f"| {k} | " + " | ".join(cells) +
          f" | {fmt(r/ops['EventfdMutex_Handoff'])}x | {fmt(r/ops['EventfdMutex_Barging'])}x | {fmt(r/ops['StdMutex_Blocking'])}x |")
print("\nMops per CPU-second of the two loop threads (cost per acquisition, less noisy) / CPUs the two loop threads got / share of ops made by the slower loop:\n")
print("| K | " + " | ".join(n for _, n in kinds) + " |")
print("|---" * (len(kinds) + 1) + "|")
for k in (1, 4, 16):
    cells = []
    for kind, _ in kinds:
        x = am("BM_Contended", kind, k)
        cells.append(f"{fmt(x['ops_per_cpu_s']/1e6,1)} / {fmt(x['loop_cpus'])} / {fmt(x['minority_share'])}")
    print(f"| {k} | " + " | ".join(cells) + " |")
print("\nOne loop alone (K=1, uncontended fast paths), Mops/s and Mops per CPU-second:\n")
print("| " + " | ".join(n for _, n in kinds) + " |")
print("|---" * len(kinds) + "|")
cells = []
for kind, _ in kinds:
    x = am("BM_OneLoop", kind, 1)
    cells.append(f"{fmt(x['items_per_second']/1e6)} ({fmt(x['ops_per_cpu_s']/1e6,1)}/CPU-s)")
print("| " + " | ".join(cells) + " |")
print()

# ---- wake_bench --------------------------------------------------------------
ctx, by = runs("wake_bench")
print("## wake_bench: one waker, 64 sleepers on 64 words (per round)\n")
print("| waker | waker wall us (p50) | waker wall us (mean) | all awake us (p50) | all awake us (mean) | waker syscalls | waker nvcsw | waker nivcsw | waker p50 vs Futex64 | all-awake p50 vs Futex64 |")
print("|---|---|---|---|---|---|---|---|---|---|")
base = None
for mode in ("Futex64", "WakeBatch_ThreadRing", "WakeBatch_EventLoop", "WakeBatch_Offload",
             "Experiment_RawRing", "Experiment_RawRingAsync"):
    e = by.get(f"BM_Wake64/{mode}/iterations:300/manual_time", [])
    w50, wmean = med(e, "waker_us_p50"), med(e, "real_time")
    a50, amean = med(e, "all_awake_us_p50"), med(e, "all_awake_us")
    if base is None:
        base = (w50, a50)
    print(f"| {mode} | {fmt(w50,1)} | {fmt(wmean,1)} | {fmt(a50,1)} | {fmt(amean,1)} | {fmt(med(e,'waker_syscalls'),1)} | {fmt(med(e,'waker_nvcsw'),1)} | {fmt(med(e,'waker_nivcsw'),1)} | {fmt(w50/base[0])} | {fmt(a50/base[1])} |")
print()

# ---- pingpong_bench ----------------------------------------------------------
ctx, by = runs("pingpong_bench")
print("## pingpong_bench: round trip through two auto-reset Events (us)\n")
places = {0: "unpinned", 1: "both on CPU 0", 2: "CPU 0 and CPU 1"}
for cpus in (0, 1, 2):
    print(f"Threads {places[cpus]}:\n")
    print("| waiters | p50 | p99 | mean | p50 vs sync | p99 vs sync |")
    print("|---|---|---|---|---|---|")
    base = None
    for kind in ("Sync", "RingBlocking", "Async", "Async_Emulated", "Experiment_SyncSpin", "Experiment_AsyncSpin"):
        e = [v for k2, v in by.items() if k2.startswith(f"BM_PingPong/{kind}/cpus:{cpus}/")]
        e = e[0] if e else []
        p50, p99, mean = med(e, "p50_us"), med(e, "p99_us"), med(e, "real_time")
        if base is None:
            base = (p50, p99)
        print(f"| {kind} | {fmt(p50)} | {fmt(p99)} | {fmt(mean)} | {fmt(p50/base[0])} | {fmt(p99/base[1])} |")
    print()
print(f"(raw JSON and console output: {out})")
PY
