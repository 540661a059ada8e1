#!/usr/bin/env python3
"""Runs //bench:mutex_bench with repetitions and prints the README's Markdown table.

    bench/run_mutex_bench.py                  # build, run 7 repetitions, print
    bench/run_mutex_bench.py -r 11 -o out.json # more repetitions, keep the JSON
    bench/run_mutex_bench.py --from out.json  # re-print a saved run

Every figure is the median (or with --best, the best) over repetitions of one
run of one binary, repetitions of all benchmarks randomly interleaved, so the
ratios compare locks measured under the same machine conditions. "±" is the
coefficient of variation over the repetitions: a noise gauge, not an error bar.
"""

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUBJECT = "RinglockMutex"
# Display names, in table order.
LOCKS = [
    ("RinglockMutex", "ringlock::Mutex"),
    ("StdMutex", "std::mutex"),
    ("AbslMutex", "absl::Mutex"),
    ("SpinLock", "pthread_spinlock"),
    ("DrepperMutex", "textbook futex mutex, no spin"),
]
PEERS = [key for key, _ in LOCKS if key != SUBJECT]
# The peers the "at least the best peer" target counts.
TARGET_PEERS = ["StdMutex", "AbslMutex", "SpinLock"]
THREADS = [1, 2, 4, 8]
SECTIONS = [(10, 20, "short"), (200, 20, "long")]

NAME_RE = re.compile(r"^BM_(Pair|Contended)<(\w+)(?:, (\d+), (\d+))?>(?:/real_time)?(?:/threads:(\d+))?$")


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "kernel": platform.release(),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def run(args):
    subprocess.run([os.path.join(ROOT, "bazelw"), "build", "//bench:mutex_bench"], cwd=ROOT,
                   check=True, stdout=sys.stderr)
    out = args.out or tempfile.mkstemp(prefix="mutex_bench.", suffix=".json")[1]
    cmd = [
        os.path.join(ROOT, "bazel-bin/bench/mutex_bench"),
        f"--benchmark_repetitions={args.repetitions}",
        # The JSON keeps every repetition (the script takes medians and best
        # itself); the console shows only the aggregates.
        "--benchmark_display_aggregates_only=true",
        f"--benchmark_min_time={args.min_time}",
        # Repetitions of all benchmarks run in random order, so a burst of
        # load from another job on the machine hits every lock alike instead
        # of all repetitions of one lock.
        "--benchmark_enable_random_interleaving=true",
        f"--benchmark_out={out}",
        "--benchmark_out_format=json",
    ] + args.benchmark_args
    print("running: " + " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=sys.stderr)
    return out


def load(path):
    """Returns (context, {(kind, lock, inside, threads): [one dict per repetition]})."""
    with open(path) as f:
        data = json.load(f)
    results = {}
    # Runs saved with --benchmark_report_aggregates_only hold no repetitions:
    # fall back to their median aggregates.
    has_reps = any(b.get("run_type") == "iteration" for b in data["benchmarks"])
    for b in data["benchmarks"]:
        m = NAME_RE.match(b.get("run_name", b["name"]))
        if not m:
            continue
        if has_reps and b.get("run_type") != "iteration":
            continue
        if not has_reps and b.get("aggregate_name") != "median":
            continue
        kind, lock, inside, _, threads = m.groups()
        key = (kind, lock, int(inside or 0), int(threads or 1))
        scale = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[b["time_unit"]]
        # The pair is single-threaded: its CPU time leaves out the time the
        # thread sat preempted by other jobs, which its wall time does not.
        # Throughput is all threads' acquisitions per second of wall time;
        # cpu_ns is all threads' CPU time (spinning included) per acquisition.
        results.setdefault(key, []).append(
            {"ns": b["cpu_time"] * scale, "mops": b.get("items_per_second", 0) / 1e6,
             "cpu_ns": b["cpu_time"] * scale, "span": b.get("span_Mops")})
    return data["context"], results


# STAT picks the figure the tables show: the median over repetitions, or with
# --best the best repetition (least disturbed by other jobs on the machine).
STAT = "median"


def pick(values, higher_is_better):
    if not values:
        return None
    if STAT == "best":
        return max(values) if higher_is_better else min(values)
    return statistics.median(values)


def pair_ns(res, lock):
    return pick([r["ns"] for r in res.get(("Pair", lock, 0, 1), [])], False)


def mops(res, lock, inside, threads):
    return pick([r["mops"] for r in res.get(("Contended", lock, inside, threads), [])], True)


def span(res, lock, inside, threads):
    return pick([r["span"] for r in res.get(("Contended", lock, inside, threads), [])
                 if r.get("span") is not None], True)


def cv(res, key, field):
    values = [r["ns" if field == "real_time" else "mops"] for r in res.get(key, [])]
    if len(values) < 2 or statistics.mean(values) == 0:
        return None
    return statistics.stdev(values) / statistics.mean(values)


def fmt(x, digits=1):
    return "–" if x is None else f"{x:.{digits}f}"


def noise(c):
    return "" if c is None else f" ±{c * 100:.0f}%"


def report(ctx, res, mach, reps):
    lines = []
    date = ctx.get("date", datetime.datetime.utcnow().isoformat())
    lines.append(f"Machine: {mach['nproc']} vCPU, {mach['cpu']}, Linux {mach['kernel']}; "
                 f"load average at start {mach['load']}.  ")
    what = "median" if STAT == "median" else "best"
    lines.append(f"Run: {date}, {what} of {reps} repetitions, randomly interleaved "
                 f"(±: coefficient of variation over the repetitions).")
    for inside, outside, label in SECTIONS:
        lines.append("")
        lines.append(f"**{label.capitalize()} critical section** ({inside} LCG steps inside, "
                     f"{outside} outside): lock+unlock pair in ns (uncontended), "
                     f"throughput in Mops/s (all threads)")
        lines.append("")
        lines.append("| lock | pair ns | " + " | ".join(f"{t}T" for t in THREADS) + " |")
        lines.append("|---|---|" + "---|" * len(THREADS))
        for key, name in LOCKS:
            row = [name, fmt(pair_ns(res, key), 2) + noise(cv(res, ("Pair", key, 0, 1), "real_time"))]
            for t in THREADS:
                row.append(fmt(mops(res, key, inside, t)) +
                           noise(cv(res, ("Contended", key, inside, t), "items_per_second")))
            if all(c.startswith("–") for c in row[2:]) and row[1].startswith("–"):
                continue
            lines.append("| " + " | ".join(row) + " |")
    if any(r.get("span") is not None for v in res.values() for r in v):
        lines.append("")
        lines.append("**Throughput over the whole span** (Mops/s: acquisitions from the first "
                     "thread's start to the last thread's end; Google Benchmark's items_per_second "
                     "above divides by the threads' mean time instead, which flatters unfair locks)")
        lines.append("")
        lines.append("| lock | " + " | ".join(f"{t}T short" for t in THREADS) + " | " +
                     " | ".join(f"{t}T long" for t in THREADS) + " |")
        lines.append("|---|" + "---|" * (2 * len(THREADS)))
        for key, name in LOCKS:
            row = [name] + [fmt(span(res, key, inside, t)) for inside, _, _ in SECTIONS
                            for t in THREADS]
            lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    lines.append("**CPU time per acquisition** (ns, all threads' CPU including spinning, "
                 "short | long critical section): less disturbed by other jobs than wall-clock "
                 "throughput, and it shows what spinning costs")
    lines.append("")
    lines.append("| lock | " + " | ".join(f"{t}T short" for t in THREADS) + " | " +
                 " | ".join(f"{t}T long" for t in THREADS) + " |")
    lines.append("|---|" + "---|" * (2 * len(THREADS)))
    for key, name in LOCKS:
        row = [name]
        for inside, _, _ in SECTIONS:
            for t in THREADS:
                row.append(fmt(pick([r["cpu_ns"] for r in res.get(("Contended", key, inside, t), [])],
                                    False)))
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    lines.append(f"**ringlock::Mutex ÷ peer, same run** (pair: time ratio, lower is better; "
                 f"throughput: ratio, higher is better)")
    lines.append("")
    hdr = ["peer", "pair"] + [f"{t}T short" for t in THREADS] + [f"{t}T long" for t in THREADS]
    lines.append("| " + " | ".join(hdr) + " |")
    lines.append("|---" * len(hdr) + "|")

    def ratio(a, b):
        return None if a is None or b is None or b == 0 else a / b

    for key, name in LOCKS:
        if key == SUBJECT:
            continue
        row = [name, fmt(ratio(pair_ns(res, SUBJECT), pair_ns(res, key)), 2) + "x"]
        for inside, _, _ in SECTIONS:
            for t in THREADS:
                row.append(fmt(ratio(mops(res, SUBJECT, inside, t), mops(res, key, inside, t)), 2) + "x")
        lines.append("| " + " | ".join(row) + " |")

    # The targets, on the short critical section.
    lines.append("")
    lines.append("**Targets** (issue 2, short critical section):")
    lines.append("")
    r = ratio(pair_ns(res, SUBJECT), pair_ns(res, "StdMutex"))
    lines.append(f"- pair ≤ 0.75x std::mutex: {fmt(r, 2)}x — {verdict(r is not None and r <= 0.75)}")
    for t in THREADS:
        mine = mops(res, SUBJECT, 10, t)
        peers = {k: mops(res, k, 10, t) for k in TARGET_PEERS}
        peers = {k: v for k, v in peers.items() if v is not None}
        if mine is None or not peers:
            continue
        best = max(peers, key=peers.get)
        parts = []
        if t >= 2:
            rs = ratio(mine, peers.get("StdMutex"))
            parts.append(f"{fmt(rs, 2)}x std::mutex (≥1.5x: {verdict(rs is not None and rs >= 1.5)})")
            ss = ratio(span(res, SUBJECT, 10, t), span(res, "StdMutex", 10, t))
            if ss is not None:
                parts.append(f"over the span {fmt(ss, 2)}x std::mutex")
        rb = ratio(mine, peers[best])
        parts.append(f"{fmt(rb, 2)}x best peer {dict(LOCKS)[best]} (≥1x: {verdict(rb >= 1.0, rb >= TIE)})")
        lines.append(f"- {t}T: {fmt(mine)} Mops/s = " + "; ".join(parts))
    return "\n".join(lines)


# Ratios this close to 1 are ties on this noisy shared VM (run-to-run medians
# of one lock move by more than 2%), not wins or misses.
TIE = 0.98


def verdict(ok, tie=False):
    if ok:
        return "met"
    return "tie, within noise" if tie else "**missed**"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-r", "--repetitions", type=int, default=7)
    p.add_argument("--min-time", default="0.3", help="--benchmark_min_time per repetition, seconds")
    p.add_argument("-o", "--out", help="keep the benchmark JSON here")
    p.add_argument("--from", dest="from_json", help="print the table of a saved JSON run; do not run")
    p.add_argument("--best", action="store_true",
                   help="show the best repetition instead of the median")
    p.add_argument("benchmark_args", nargs="*", help="passed to the binary (after --)")
    args = p.parse_args()
    global STAT
    STAT = "best" if args.best else "median"
    mach = machine()
    path = args.from_json or run(args)
    ctx, res = load(path)
    reps = max((len(v) for v in res.values()), default=0)
    if reps == 1:  # aggregates only: the context says how many repetitions
        reps = args.repetitions
    if args.from_json:
        mach["load"] = " ".join(f"{x:.2f}" for x in ctx.get("load_avg", [])) or "unknown"
    print(report(ctx, res, mach, reps or args.repetitions))
    if not args.from_json:
        print(f"\n(JSON: {path})", file=sys.stderr)


if __name__ == "__main__":
    main()
