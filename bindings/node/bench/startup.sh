#!/usr/bin/env bash
# What loading the package and recording a command adds to a Node CLI's
# start (budget: <= 2 ms), telemetry on (an explicit choice, so the run
# records, appends to the spool at exit, and shows no notice). Two figures:
#
# 1. Side by side: the same Commander CLI without and with tally, run in
#    interleaved pairs (scripts/bench_ab.py), so the machine's drift hits
#    both; the median of the paired differences with a 95 % confidence
#    interval, wall and CPU time. Node's own start (~50 ms) varies by more
#    than the budget, so a difference of two medians measured apart is noise.
# 2. In process: require() of the package, the constructor,
#    addTelemetryCommand, tally's Commander hook (preAction: the record
#    call) and the exit hook, each timed with hrtime inside the CLI: far
#    less noise, but blind to what Node's teardown spends on the extra
#    module.
#
# Usage: (cd bindings/node && npm ci && npm run build:release) && bash bindings/node/bench/startup.sh
# Env: RUNS (pairs, default 300), INPROC (runs, default 200)
set -euo pipefail
pkg=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$pkg/../.." && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
commander=$(cd "$pkg" && node -p 'require.resolve("commander")')
cat >"$dir/without.js" <<JS
const { Command } = require('$commander')
const program = new Command('mytool')
program.command('build').action(() => {})
program.parse(process.argv)
JS
# The control: the same CLI requiring an empty package instead of tally. In a
# CLI this small, requiring any one more module tips V8 into optimizing
# path.normalizeString (2.5 ms of compiling on a background thread, which
# the exit waits for); a CLI with a few dependencies has paid that already.
mkdir -p "$dir/node_modules/empty-package"
echo 'module.exports = {}' >"$dir/node_modules/empty-package/index.js"
echo '{"name": "empty-package", "main": "index.js"}' >"$dir/node_modules/empty-package/package.json"
cat >"$dir/control.js" <<JS
const { Command } = require('$commander')
require('$dir/node_modules/empty-package')
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
# control.js plus tally, with clocks around each part tally adds (what
# the package costs a CLI that has dependencies). Commander runs hooks and
# Node runs 'exit' listeners in the order they were added, so a clock added
# before and one added after tally's brackets each of them.
cat >"$dir/timed.js" <<JS
const ns = process.hrtime.bigint
const { Command } = require('$commander')
// The host's other dependency (see control.js), loaded before the clocks.
require('$dir/node_modules/empty-package')
const at = {}
const mark = (k) => () => { at[k] = ns() }
process.on('exit', mark('exitStart'))
at.t0 = ns()
const { Telemetry, addTelemetryCommand } = require('$pkg')
at.t1 = ns()
const t = new Telemetry('mytool', { version: '1.0.0', policy: 'opt-out' })
at.t2 = ns()
process.on('exit', () => {
  at.exitEnd = ns()
  const us = (a, b) => Number(at[b] - at[a]) / 1e3
  const parts = {
    require: us('t0', 't1'),
    construct: us('t1', 't2'),
    addTelemetryCommand: us('t3', 't4'),
    hooks: us('subStart', 'subEnd') + us('actStart', 'actEnd'),
    exit_hook: us('exitStart', 'exitEnd'),
  }
  parts.total = Object.values(parts).reduce((a, b) => a + b, 0)
  require('node:fs').writeSync(2, JSON.stringify(parts) + '\n')
})
const program = new Command('mytool')
program.command('build').action(() => {})
program.hook('preSubcommand', mark('subStart')).hook('preAction', mark('actStart'))
at.t3 = ns()
addTelemetryCommand(program, t)
at.t4 = ns()
program.hook('preSubcommand', mark('subEnd')).hook('preAction', mark('actEnd'))
program.parse(process.argv)
JS
export HOME="$dir/home" XDG_CONFIG_HOME="$dir/config" XDG_STATE_HOME="$dir/state" MYTOOL_POLICY_FILE="$dir/policy.toml"
mkdir -p "$HOME"
unset DO_NOT_TRACK CI MYTOOL_TELEMETRY || true
node "$dir/with.js" telemetry on >/dev/null
node -e "process.exit(new (require('$pkg').Telemetry)('mytool').enabled ? 0 : 1)"
echo "== side by side: node without.js build vs with.js build"
python3 "$root/scripts/bench_ab.py" --runs "${RUNS:-300}" "node $dir/without.js build" "node $dir/with.js build"
echo "== side by side: node control.js build (an empty package instead) vs with.js build"
python3 "$root/scripts/bench_ab.py" --runs "${RUNS:-300}" --names control,with "node $dir/control.js build" "node $dir/with.js build"
echo "== in process: ${INPROC:-200} runs of timed.js build (control.js + tally), each part timed inside (us)"
for _ in $(seq "${INPROC:-200}"); do node "$dir/timed.js" build 2>>"$dir/parts.txt" >/dev/null; done
python3 - "$dir/parts.txt" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
for k in rows[0]:
    v = sorted(r[k] for r in rows)
    print(f"{k:>22}: median {statistics.median(v):8.1f}  p10 {v[len(v) // 10]:8.1f}  p90 {v[len(v) * 9 // 10]:8.1f}")
# A part that takes long is more often preempted on a loaded machine; the
# sum of the parts' medians is the figure with the least of that noise.
print(f"{'sum of part medians':>22}: {sum(statistics.median(r[k] for r in rows) for k in rows[0] if k != 'total'):8.1f}")
PY
