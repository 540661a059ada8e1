#!/usr/bin/env python3
"""Runs a program stock and with libringlock_preload.so, interleaved.

  ./bazelw run //bench:preload -- [OPTIONS] -- PROGRAM ARGS...

Each round runs the program once stock and once preloaded (the order
alternates between rounds, so drift on a shared machine hits both alike). Per
run: wall time, user and system CPU, voluntary and involuntary context
switches (the rusage wait4() returns: the program and every descendant it
waited for), and the program's own figures (--metric). Prints medians with
min-max and writes every run's output, results.json, summary.txt and the
machine record to the output directory it names (default
bench/preload/results/<date>-<time>/ in the workspace; not in git).

A preloaded run fails unless the library's counters show it took over at
least one lock call (RINGLOCK_PRELOAD_STATS=FILE: every preloaded process
appends its counts at exit), so a comparison can never silently be stock
against stock. --env-lib NAME passes
the library's path in $NAME instead of LD_PRELOAD, for a script that
preloads only the process it measures (bench/preload/memcached.sh).
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
import time

STATS_RE = re.compile(
    r"ringlock preload: mutex locks (\d+) ringlock, (\d+) glibc; cond waits (\d+) ringlock, "
    r"(\d+) glibc; cond notifies (\d+) ringlock, (\d+) glibc")

PRESETS = {
    # memaslap (Debian's memcaslap): "Run time: 2.0s Ops: 144182 TPS: 72020 ..."
    "memaslap": ["ops_per_s=TPS: (\\d+)", "verify_failed=verify_failed: (\\d+)"],
}


def find_library():
    here = os.path.dirname(os.path.abspath(__file__))
    candidates = []
    for root in (os.environ.get("RUNFILES_DIR"), here + "/..", here + "/../.."):
        if root:
            candidates.append(os.path.join(root, "ringlock/bench/preload/libringlock_preload.so"))
            candidates.append(os.path.join(root, "bench/preload/libringlock_preload.so"))
    for c in candidates:
        if os.path.exists(c):
            return os.path.realpath(c)
    return None


def machine_record():
    rec = {"host": platform.node(), "kernel": platform.release(), "cpus": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    rec["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    rec["libc"] = " ".join(platform.libc_ver())
    return rec


def run_once(cmd, env, out_prefix, timeout):
    with open(out_prefix + ".out", "wb") as out:
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = t0 + timeout
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid != 0:
                break
            if time.monotonic() > deadline:
                p.kill()
                pid, status, ru = os.wait4(p.pid, 0)
                status = -1
                break
            time.sleep(0.005)
        wall = time.monotonic() - t0
    p.returncode = 0  # reaped by wait4 above
    with open(out_prefix + ".out", "rb") as f:
        text = f.read().decode(errors="replace")
    code = os.waitstatus_to_exitcode(status) if status != -1 else "timeout"
    return {
        "exit": code,
        "wall_s": wall,
        "user_s": ru.ru_utime,
        "sys_s": ru.ru_stime,
        "voluntary_cs": ru.ru_nvcsw,
        "involuntary_cs": ru.ru_nivcsw,
    }, text


def fmt(vals, unit):
    if not vals:
        return "-"
    med = statistics.median(vals)
    if unit == "s":
        return "%.3f (%.3f-%.3f)" % (med, min(vals), max(vals))
    if max(abs(v) for v in vals) < 100:
        return "%.2f (%.2f-%.2f)" % (med, min(vals), max(vals))
    return "%.0f (%.0f-%.0f)" % (med, min(vals), max(vals))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", help="output directory (default: bench/preload/results/<date>-<time>)")
    ap.add_argument("--lib", help="the library (default: the one built with this runner)")
    ap.add_argument("--metric", action="append", default=[],
                    help="NAME=REGEX: a figure the program prints (one capture group); repeatable")
    ap.add_argument("--preset", choices=sorted(PRESETS), help="metrics of a known program")
    ap.add_argument("--env-lib", help="pass the library path in this variable, not LD_PRELOAD")
    ap.add_argument("--same-output", metavar="REGEX",
                    help="a string the program prints (one capture group) that must be identical "
                         "in every run, e.g. a checksum of its output")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per run")
    ap.add_argument("--name", help="label for the output directory")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd:
        ap.error("no program given (… -- PROGRAM ARGS)")
    lib = a.lib or find_library()
    if not lib or not os.path.exists(lib):
        sys.exit("run.py: libringlock_preload.so not found; pass --lib")
    metrics = []
    for m in a.metric + (PRESETS[a.preset] if a.preset else []):
        name, _, rx = m.partition("=")
        metrics.append((name, re.compile(rx)))

    ws = os.environ.get("BUILD_WORKSPACE_DIRECTORY", os.getcwd())
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    label = a.name or os.path.basename(cmd[0])
    out = a.out or os.path.join(ws, "bench/preload/results", "%s-%s" % (stamp, label))
    os.makedirs(out, exist_ok=True)
    # Relative program paths are the user's, not the runfiles'.
    if os.sep in cmd[0] and not os.path.isabs(cmd[0]):
        cmd[0] = os.path.join(ws, cmd[0])

    runs = []
    for r in range(a.rounds):
        order = ["stock", "preload"] if r % 2 == 0 else ["preload", "stock"]
        for mode in order:
            env = dict(os.environ)
            env.pop("LD_PRELOAD", None)
            prefix = os.path.join(out, "round%d-%s" % (r, mode))
            if mode == "preload":
                # Each preloaded process appends its counts at exit.
                env["RINGLOCK_PRELOAD_STATS"] = prefix + ".stats"
                if a.env_lib:
                    env[a.env_lib] = lib
                else:
                    env["LD_PRELOAD"] = lib
            res, text = run_once(cmd, env, prefix, a.timeout)
            res.update(round=r, mode=mode)
            for name, rx in metrics:
                found = rx.findall(text)
                if found:
                    res[name] = float(found[-1])
            stats = []
            if os.path.exists(prefix + ".stats"):
                with open(prefix + ".stats") as f:
                    stats = STATS_RE.findall(f.read())
            if stats:
                totals = [sum(int(s[i]) for s in stats) for i in range(6)]
                res["preload_stats"] = dict(zip(
                    ["mutex_ringlock", "mutex_glibc", "cond_wait_ringlock", "cond_wait_glibc",
                     "cond_notify_ringlock", "cond_notify_glibc"], totals))
            ok = res["exit"] == 0
            if a.same_output:
                found = re.findall(a.same_output, text)
                res["same_output"] = found[-1] if found else None
                first = runs[0]["same_output"] if runs else res["same_output"]
                if res["same_output"] is None or res["same_output"] != first:
                    ok = False
                    res["error"] = "output differs: %r, first run %r" % (res["same_output"], first)
            if mode == "preload" and not (stats and res["preload_stats"]["mutex_ringlock"] > 0):
                ok = False
                res["error"] = "the library took over no lock call (not loaded?)"
            res["ok"] = ok
            runs.append(res)
            print("round %d %-7s exit=%s wall=%.3fs user=%.3fs sys=%.3fs vcs=%d ivcs=%d%s%s" % (
                r, mode, res["exit"], res["wall_s"], res["user_s"], res["sys_s"],
                res["voluntary_cs"], res["involuntary_cs"],
                "".join(" %s=%g" % (n, res[n]) for n, _ in metrics if n in res),
                "" if ok else "  FAILED: " + res.get("error", "see " + os.path.join(
                    out, "round%d-%s.out" % (r, mode)))), flush=True)

    lines = ["program: " + " ".join(cmd),
             "rounds: %d (interleaved, order alternating); library: %s" % (a.rounds, lib),
             "machine: " + json.dumps(machine_record()),
             "median (min-max) over the rounds:", ""]
    cols = [("wall_s", "s"), ("user_s", "s"), ("sys_s", "s"), ("voluntary_cs", "n"),
            ("involuntary_cs", "n")] + [(n, "n") for n, _ in metrics]
    lines.append("%-8s " % "" + " ".join("%-26s" % c for c, _ in cols))
    for mode in ("stock", "preload"):
        sel = [x for x in runs if x["mode"] == mode and x["ok"]]
        lines.append("%-8s " % mode + " ".join(
            "%-26s" % fmt([x[c] for x in sel if c in x], u) for c, u in cols))
    pre = [x["preload_stats"] for x in runs if "preload_stats" in x]
    if pre:
        lines.append("")
        lines.append("library counts (last preloaded run): " + json.dumps(pre[-1]))
    failed = [x for x in runs if not x["ok"]]
    if a.same_output and not failed:
        lines.append("")
        lines.append("identical in every run: " + str(runs[0]["same_output"]))
    lines.append("")
    lines.append("failed runs: %d" % len(failed))
    summary = "\n".join(lines) + "\n"
    print()
    print(summary, end="")
    print("results: " + out)
    with open(os.path.join(out, "summary.txt"), "w") as f:
        f.write(summary)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"cmd": cmd, "machine": machine_record(), "runs": runs}, f, indent=1)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
