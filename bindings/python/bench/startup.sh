#!/usr/bin/env bash
# What loading the package and recording a command adds to a Python CLI's
# start: the same argparse CLI with and without tally, side by side under
# hyperfine, telemetry on (an explicit choice, so the run records, appends
# to the spool at exit, and shows no notice). Budget: <= 2 ms.
# Usage: bash bindings/python/bench/startup.sh   (after pip install ./bindings/python)
set -euo pipefail
PY=${PYTHON:-python3}
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
export HOME="$dir/home" XDG_CONFIG_HOME="$dir/config" XDG_STATE_HOME="$dir/state" MYTOOL_POLICY_FILE="$dir/policy.toml"
mkdir -p "$HOME"
unset DO_NOT_TRACK CI MYTOOL_TELEMETRY || true
"$PY" "$dir/with.py" telemetry on >/dev/null
"$PY" -c 'import tally, sys; t = tally.Telemetry("mytool"); sys.exit(0 if t.enabled else 1)'
hyperfine -N --warmup 20 --runs "${RUNS:-200}" \
  -n without "$PY $dir/without.py build" \
  --export-json "$dir/result.json" \
  -n with-tally "$PY $dir/with.py build" "$@"
# Medians, minimums and CPU time: on a shared machine wall time is dominated
# by other processes' load; CPU time (user + system) is not.
python3 - "$dir/result.json" <<'PY'
import json, statistics, sys
res = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
r = {k: v["times"] for k, v in res.items()}
a, b = r["without"], r["with-tally"]
ms = lambda v: v * 1000
print(f"median: without {ms(statistics.median(a)):.2f} ms, with tally {ms(statistics.median(b)):.2f} ms, added {ms(statistics.median(b) - statistics.median(a)):+.2f} ms")
cpu = {k: (v["user"] + v["system"]) * 1000 for k, v in res.items()}
print(f"cpu:    without {cpu['without']:.2f} ms, with tally {cpu['with-tally']:.2f} ms, added {cpu['with-tally'] - cpu['without']:+.2f} ms (mean user+system)")
print(f"min:    without {ms(min(a)):.2f} ms, with tally {ms(min(b)):.2f} ms, added {ms(min(b) - min(a)):+.2f} ms")
PY
