#!/usr/bin/env bash
# What importing the package and recording a command adds to a Python CLI's
# start (budget: <= 2 ms), telemetry on (an explicit choice, so the run
# records, appends to the spool at exit, and shows no notice). Two figures:
#
# 1. Side by side: the same argparse CLI without and with tally, run in
#    interleaved pairs (scripts/bench_ab.py), so the machine's drift hits
#    both; the median of the paired differences with a 95 % confidence
#    interval, wall and CPU time.
# 2. In process: the time from before `import tally` to after it, the
#    constructor, add_telemetry_command, what run() adds to argparse (marking
#    the command paths, recording, finishing) and the atexit hook, each
#    timed with perf_counter_ns inside the CLI: far less noise, but blind to
#    what the interpreter's teardown spends on the extra module.
#
# Usage: bash bindings/python/bench/startup.sh   (after pip install ./bindings/python)
# Env: PYTHON (default python3), RUNS (pairs, default 300), INPROC (runs, default 200)
set -euo pipefail
PY=${PYTHON:-python3}
root=$(cd "$(dirname "$0")/../../.." && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat >"$dir/without.py" <<'PY'
import argparse, sys
p = argparse.ArgumentParser(prog="mytool")
sub = p.add_subparsers(dest="command", required=True)
sub.add_parser("build").set_defaults(func=lambda a: 0)
a = p.parse_args()
sys.exit(a.func(a))
PY
cat >"$dir/with.py" <<'PY'
import argparse, sys
import tally, tally.argparse
t = tally.Telemetry("mytool", version="1.0.0", policy="opt-out")
p = argparse.ArgumentParser(prog="mytool")
sub = p.add_subparsers(dest="command", required=True)
sub.add_parser("build").set_defaults(func=lambda a: 0)
tally.argparse.add_telemetry_command(sub, t)
sys.exit(tally.argparse.run(t, p))
PY
# with.py with clocks around each part tally adds; run() is unrolled into
# argparse's own parse and handler call plus tally's part of it.
cat >"$dir/timed.py" <<'PY'
import argparse, sys, time, atexit, os
ns = time.perf_counter_ns
t0 = ns()
import tally, tally.argparse
t1 = ns()
exit_end = []
atexit.register(lambda: exit_end.append(ns()) or report())  # runs after tally's hook
t = tally.Telemetry("mytool", version="1.0.0", policy="opt-out")
t2 = ns()
exit_start = []
atexit.register(lambda: exit_start.append(ns()))  # runs before tally's hook
p = argparse.ArgumentParser(prog="mytool")
sub = p.add_subparsers(dest="command", required=True)
sub.add_parser("build").set_defaults(func=lambda a: 0)
t3 = ns()
tally.argparse.add_telemetry_command(sub, t)
t4 = ns()
tally.argparse._mark(p, [])
t5 = ns()
a = p.parse_args()
t6 = ns()
path = tally.argparse.command_path(p, a)
tally.record_command(path)
code = a.func(a)
t.finish(code)
t7 = ns()
def report():
    us = lambda d: d / 1e3
    parts = {"import": us(t1 - t0), "construct": us(t2 - t1), "add_telemetry_command": us(t4 - t3),
             "mark": us(t5 - t4), "record+finish": us(t7 - t6), "exit_hook": us(exit_end[0] - exit_start[0])}
    parts["total"] = sum(parts.values())
    os.write(2, (repr(parts) + "\n").encode())
sys.exit(code)
PY
export HOME="$dir/home" XDG_CONFIG_HOME="$dir/config" XDG_STATE_HOME="$dir/state" MYTOOL_POLICY_FILE="$dir/policy.toml"
mkdir -p "$HOME"
unset DO_NOT_TRACK CI MYTOOL_TELEMETRY || true
"$PY" "$dir/with.py" telemetry on >/dev/null
"$PY" -c 'import tally, sys; t = tally.Telemetry("mytool"); sys.exit(0 if t.enabled else 1)'
echo "== side by side: $PY without.py build vs with.py build"
python3 "$root/scripts/bench_ab.py" --runs "${RUNS:-300}" "$PY $dir/without.py build" "$PY $dir/with.py build"
echo "== in process: ${INPROC:-200} runs of with.py build, each part timed inside (us)"
for _ in $(seq "${INPROC:-200}"); do "$PY" "$dir/timed.py" build 2>>"$dir/parts.txt" >/dev/null; done
python3 - "$dir/parts.txt" <<'PY'
import ast, statistics, sys
rows = [ast.literal_eval(l) for l in open(sys.argv[1])]
for k in rows[0]:
    v = sorted(r[k] for r in rows)
    print(f"{k:>22}: median {statistics.median(v):8.1f}  p10 {v[len(v) // 10]:8.1f}  p90 {v[len(v) * 9 // 10]:8.1f}")
# A part that takes long is more often preempted on a loaded machine; the
# sum of the parts' medians is the figure with the least of that noise.
print(f"{'sum of part medians':>22}: {sum(statistics.median(r[k] for r in rows) for k in rows[0] if k != 'total'):8.1f}")
PY
