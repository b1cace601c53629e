#!/usr/bin/env python3
"""What one command adds to another's run time, with a confidence interval.

Runs A ("without") and B ("with") in pairs, many times, interleaved (each
pair in a random order), so that drift in the machine's load hits both
sides alike; records each process's wall time and CPU time (user + system
from wait4). Reports the median of each side, the median of the paired
differences B - A with a 95 % bootstrap confidence interval, and the same
for CPU time. A difference of two separately measured medians is noise when
the commands' own start varies by more than what is measured (Node's start
varies by several milliseconds on a shared machine); the paired median with
its interval says how well the figure is known.

Usage: python3 scripts/bench_ab.py [--runs N] [--warmup N] [--names A,B] [--json FILE] -- 'CMD A' 'CMD B'
Each command is split like a shell word list (no shell runs); stdin, stdout
and stderr are /dev/null.
"""

import argparse
import json
import os
import random
import shlex
import statistics
import sys
import time


def run_once(argv, devnull):
    t0 = time.perf_counter_ns()
    pid = os.posix_spawnp(
        argv[0],
        argv,
        dict(os.environ),
        file_actions=[
            (os.POSIX_SPAWN_DUP2, devnull, 0),
            (os.POSIX_SPAWN_DUP2, devnull, 1),
            (os.POSIX_SPAWN_DUP2, devnull, 2),
        ],
    )
    _, status, ru = os.wait4(pid, 0)
    wall = (time.perf_counter_ns() - t0) / 1e6
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{shlex.join(argv)} exited with {os.waitstatus_to_exitcode(status)}")
    return wall, (ru.ru_utime + ru.ru_stime) * 1e3


def boot_ci(values, stat, n=2000, seed=12):
    # Percentile bootstrap: resample the paired differences with replacement.
    rng = random.Random(seed)
    k = len(values)
    est = sorted(stat([values[rng.randrange(k)] for _ in range(k)]) for _ in range(n))
    return est[int(0.025 * n)], est[int(0.975 * n) - 1]


def summary(a, b):
    d = [y - x for x, y in zip(a, b)]
    lo, hi = boot_ci(d, statistics.median)
    mlo, mhi = boot_ci(d, statistics.fmean)
    return {
        "without_median": statistics.median(a),
        "with_median": statistics.median(b),
        "added_median": statistics.median(d),
        "added_median_ci95": [lo, hi],
        "added_mean": statistics.fmean(d),
        "added_mean_ci95": [mlo, mhi],
        "without_iqr": iqr(a),
    }


def iqr(v):
    q = statistics.quantiles(v, n=4)
    return q[2] - q[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=300, help="pairs to run (default 300)")
    ap.add_argument("--warmup", type=int, default=20, help="pairs run first and discarded (default 20)")
    ap.add_argument("--json", help="also write every time measured to this file")
    ap.add_argument("--names", default="without,with", help="what to call A and B (default without,with)")
    ap.add_argument("without")
    ap.add_argument("with_")
    args = ap.parse_args()
    cmds = [shlex.split(args.without), shlex.split(args.with_)]
    devnull = os.open(os.devnull, os.O_RDWR)
    rng = random.Random(7)
    wall = ([], [])
    cpu = ([], [])
    for i in range(args.warmup + args.runs):
        order = [0, 1] if rng.random() < 0.5 else [1, 0]
        got = {}
        for side in order:
            got[side] = run_once(cmds[side], devnull)
        if i >= args.warmup:
            for side in (0, 1):
                wall[side].append(got[side][0])
                cpu[side].append(got[side][1])
    na, nb = args.names.split(",", 1)
    w = summary(*wall)
    c = summary(*cpu)
    load = os.getloadavg()
    print(f"{args.runs} interleaved pairs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    for name, s in (("wall", w), ("cpu ", c)):
        print(
            f"{name}: {na} {s['without_median']:.2f} ms (IQR {s['without_iqr']:.2f}), "
            f"{nb} {s['with_median']:.2f} ms; added: median of pairs {s['added_median']:+.2f} ms "
            f"[95% CI {s['added_median_ci95'][0]:+.2f}, {s['added_median_ci95'][1]:+.2f}], "
            f"mean {s['added_mean']:+.2f} [{s['added_mean_ci95'][0]:+.2f}, {s['added_mean_ci95'][1]:+.2f}]; "
            f"difference of the medians {s['with_median'] - s['without_median']:+.2f}"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"wall": w, "cpu": c, "load": load, "wall_ms": wall, "cpu_ms": cpu}, f)


if __name__ == "__main__":
    main()
