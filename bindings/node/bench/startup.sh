#!/usr/bin/env bash
# What loading the package and recording a command adds to a Node CLI's
# start: the same Commander CLI with and without tally, side by side under
# hyperfine, telemetry on (an explicit choice, so the run records, appends
# to the spool at exit, and shows no notice). Budget: <= 2 ms.
# Usage: (cd bindings/node && npm ci && npm run build:release) && bash bindings/node/bench/startup.sh
set -euo pipefail
pkg=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
commander=$(cd "$pkg" && node -p 'require.resolve("commander")')
cat >"$dir/without.js" <<JS
const { Command } = require('$commander')
const program = new Command('mytool')
program.command('build').action(() => {})
program.parse(process.argv)
JS
cat >"$dir/with.js" <<JS
const { Command } = require('$commander')
const { Telemetry, addTelemetryCommand } = require('$pkg')
const t = new Telemetry('mytool', { version: '1.0.0', policy: 'opt-out' })
const program = new Command('mytool')
program.command('build').action(() => {})
addTelemetryCommand(program, t)
program.parse(process.argv)
JS
export HOME="$dir/home" XDG_CONFIG_HOME="$dir/config" XDG_STATE_HOME="$dir/state" MYTOOL_POLICY_FILE="$dir/policy.toml"
mkdir -p "$HOME"
unset DO_NOT_TRACK CI MYTOOL_TELEMETRY || true
node "$dir/with.js" telemetry on >/dev/null
node -e "process.exit(new (require('$pkg').Telemetry)('mytool').enabled ? 0 : 1)"
hyperfine -N --warmup 20 --runs "${RUNS:-200}" \
  -n without "node $dir/without.js build" \
  --export-json "$dir/result.json" \
  -n with-tally "node $dir/with.js build" "$@"
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
