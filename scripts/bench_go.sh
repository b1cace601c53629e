#!/usr/bin/env bash
# The Go module's budgets, measured side by side in one run:
#  - one record call (go test -bench), budget <= 50 ns;
#  - a fast command of the cobra host with tally (on, and off) against the
#    same host built without it (-tags notally), hyperfine, budget <= 0.3 ms;
#  - binary growth against that host (which already links net/http),
#    budget <= 0.5 MiB.
# BASE=<git revision> also builds the host from that revision's go/tally
# and runs it in the same interleaved rounds and size table (before/after).
WANT_HYPERFINE=1 source "$(dirname "${BASH_SOURCE[0]}")/go_env.sh"
RUNS="${RUNS:-400}"
OUT="$STAGE/out"; mkdir -p "$OUT"

echo "== record calls"
(cd "$GO_DIR" && go test -run '^$' -bench 'Record' -benchtime 2000000x -count 5 . | grep Benchmark)

echo "== binaries"
gopath go build -o "$OUT/thv" "$PKG/examples/thv"
gopath go build -tags notally -o "$OUT/thv-plain" "$PKG/examples/thv"
gopath go build -ldflags='-s -w' -o "$OUT/thv-s" "$PKG/examples/thv"
gopath go build -tags notally -ldflags='-s -w' -o "$OUT/thv-plain-s" "$PKG/examples/thv"
pairs=("thv thv-plain" "thv-s thv-plain-s")
if [ -n "${BASE:-}" ]; then
  mkdir -p "$STAGE/base/src/github.com/tally-telemetry"
  git -C "$ROOT" archive "$BASE" go/tally | tar -x -C "$STAGE/base"
  mv "$STAGE/base/go/tally" "$STAGE/base/src/github.com/tally-telemetry/tally-go"
  (cd "$STAGE/base" && GO111MODULE=off GOFLAGS= GOPATH="$STAGE/base:/usr/share/gocode" go build -o "$OUT/thv-base" "$PKG/examples/thv")
  (cd "$STAGE/base" && GO111MODULE=off GOFLAGS= GOPATH="$STAGE/base:/usr/share/gocode" go build -ldflags='-s -w' -o "$OUT/thv-base-s" "$PKG/examples/thv")
  pairs+=("thv-base thv-plain" "thv-base-s thv-plain-s")
fi
size() { stat -c %s "$1"; }
for pair in "${pairs[@]}"; do
  set -- $pair
  a=$(size "$OUT/$1"); b=$(size "$OUT/$2")
  echo "   $1: $a bytes, $2: $b bytes, growth $((a - b)) bytes ($(python3 -c "print(f'{($a-$b)/1048576:.3f}')") MiB)"
done

echo "== a fast command, side by side (hyperfine, $RUNS runs each)"
H="$STAGE/home"; mkdir -p "$H"
export HOME="$H" THV_TELEMETRY_ENDPOINT=http://127.0.0.1:9/v1/batch
unset DO_NOT_TRACK CI GITHUB_ACTIONS
# Telemetry on: the notice was shown in an earlier run, so this is the
# steady state of a user's day (append to today's spool, nothing due).
"$OUT/thv" list >/dev/null 2>"$STAGE/notice.txt"
# Off is --no-telemetry, which the host without tally also parses, so both
# sides run the same command line. Two rounds, since the machine is shared.
echo "   load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in 1 2; do
hyperfine -N --style none --warmup 30 --runs "$RUNS" --export-json "$OUT/h$round.json" \
  -n without "$OUT/thv-plain list" \
  -n tally-on "$OUT/thv list" \
  -n tally-off "$OUT/thv list --no-telemetry" \
  -n without-env "$OUT/thv-plain list --no-telemetry" >/dev/null 2>&1
echo "   round $round"
python3 - "$OUT/h$round.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
med = lambda n: sorted(r[n]["times"])[len(r[n]["times"]) // 2] * 1000
mean = lambda n: r[n]["mean"] * 1000
for n in r:
    print(f"   {n:12s} median {med(n):.3f} ms  mean {mean(n):.3f} ms")
print(f"   added with tally on : median {med('tally-on') - med('without'):+.3f} ms, mean {mean('tally-on') - mean('without'):+.3f} ms")
print(f"   added with tally off: median {med('tally-off') - med('without-env'):+.3f} ms, mean {mean('tally-off') - mean('without-env'):+.3f} ms")
PY
done

echo "== the same, interleaved, with CPU time ($RUNS rounds)"
python3 "$ROOT/scripts/bench_go_interleave.py" "$OUT/thv-plain" "$OUT/thv" "$RUNS" ${BASE:+"$OUT/thv-base"}

echo "== inside the process: New, record, Close, cold (median of 300 fresh processes, µs)"
gopath go build -o "$OUT/coldcost" "$PKG/examples/coldcost"
export COLDCOST_TELEMETRY_ENDPOINT=http://127.0.0.1:9/v1/batch
"$OUT/coldcost" 2>/dev/null >/dev/null || true
"$OUT/coldcost" 2>"$STAGE/coldcost-notice.txt" || true
for _ in $(seq 300); do "$OUT/coldcost" 2>&1 >/dev/null; done | python3 -c '
import sys, statistics
rows = [list(map(int, l.split())) for l in sys.stdin if l[:1].isdigit()]
new, rec, close = (statistics.median(c) for c in zip(*rows))
print(f"   New {new:.0f} µs, record {rec:.0f} µs, Close {close:.0f} µs, total {new + rec + close:.0f} µs")'
