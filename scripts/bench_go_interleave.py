#!/usr/bin/env python3
# Runs the cobra host with and without tally interleaved (A B C D, then the
# four again in a fresh random order, ...) so drift on a shared machine hits
# all alike and no variant always runs first in its round (which measured
# slower); reports median wall time and median CPU time (user+sys, from
# wait4) per variant.
# With THV_BASE (the host built from an earlier revision, see BASE= in
# bench_go.sh), that one runs in the same rounds, for a before/after.
# Usage: bench_go_interleave.py THV_WITHOUT THV_WITH RUNS [THV_BASE]
import os, random, sys, time, statistics
cmds = {"without": [sys.argv[1], "list"], "tally-on": [sys.argv[2], "list"],
        "tally-off": [sys.argv[2], "list", "--no-telemetry"], "without-flag": [sys.argv[1], "list", "--no-telemetry"]}
if len(sys.argv) > 4:
    cmds["base-on"] = [sys.argv[4], "list"]
n = int(sys.argv[3])
wall = {k: [] for k in cmds}; cpu = {k: [] for k in cmds}
null = os.open(os.devnull, os.O_RDWR)
order = list(cmds)
rng = random.Random(20)
for i in range(n):
    rng.shuffle(order)
    for k in order:
        argv = cmds[k]
        t0 = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            os.dup2(null, 0); os.dup2(null, 1); os.dup2(null, 2)
            os.execv(argv[0], argv)
        _, status, ru = os.wait4(pid, 0)
        wall[k].append(time.perf_counter() - t0)
        cpu[k].append(ru.ru_utime + ru.ru_stime)
ms = lambda xs: statistics.median(xs) * 1000
for k in cmds:
    print(f"   {k:13s} wall median {ms(wall[k]):.3f} ms   cpu (user+sys) median {ms(cpu[k]):.3f} ms")
print(f"   added, tally on : wall {ms(wall['tally-on']) - ms(wall['without']):+.3f} ms, cpu {ms(cpu['tally-on']) - ms(cpu['without']):+.3f} ms")
print(f"   added, tally off: wall {ms(wall['tally-off']) - ms(wall['without-flag']):+.3f} ms, cpu {ms(cpu['tally-off']) - ms(cpu['without-flag']):+.3f} ms")
if "base-on" in cmds:
    print(f"   added, base on  : wall {ms(wall['base-on']) - ms(wall['without']):+.3f} ms, cpu {ms(cpu['base-on']) - ms(cpu['without']):+.3f} ms")
