#!/usr/bin/env bash
# The SQLite WAL of `tally serve` under the highest load this machine can
# send, for a bounded time: starts a release `tally serve` on 127.0.0.1 with
# a fresh store and every admission limit off, drives it with the ingest
# bench's load generator (benches/ingest.rs: unique ~1 KB batches over
# keep-alive connections, each sending its next batch as soon as the last
# one is answered: --closed),
# samples the size of the store's -wal file every 50 ms, and prints the
# largest size seen, the store's size and the load average. Fails if the
# WAL ever exceeded the budget (64 MiB). Only loopback is contacted.
#
# Usage: bash scripts/wal.sh [SECONDS] [--wal-limit MIB] [--sync full|normal]
#   SECONDS   how long to load the server (default 10; the README figure
#             is 600)
set -euo pipefail
cd "$(dirname "$0")/.."

secs=10
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --wal-limit | --sync) extra+=("$1" "$2"); shift 2 ;;
    [0-9]*) secs=$1; shift ;;
    *) echo "usage: bash scripts/wal.sh [SECONDS] [--wal-limit MIB] [--sync full|normal]" >&2; exit 2 ;;
  esac
done
budget=$((64 * 1024 * 1024))

cargo build --release --locked --bin tally -q
# Build the load generator before the server starts, so the build does not
# share the CPU with the load.
cargo bench --locked --bench ingest --no-run -q 2>/dev/null

dir=$(mktemp -d)
log="$dir/serve.log"
server=
sampler=
cleanup() {
  [ -n "$sampler" ] && kill "$sampler" 2>/dev/null || true
  if [ -n "$server" ]; then
    kill -TERM "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT

TALLY_TELEMETRY=0 target/release/tally serve --listen 127.0.0.1:0 --db "$dir/store.sqlite3" \
  --rate-limit 0 --source-rate 0 --global-rate 0 --max-connections 1024 "${extra[@]}" 2>"$log" &
server=$!
addr=
for _ in $(seq 1 200); do
  addr=$(sed -n 's|.*listening on http://\([^/]*\)/.*|\1|p' "$log" | head -n1)
  [ -n "$addr" ] && break
  kill -0 "$server" 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.05
done
[ -n "$addr" ] || { echo "tally serve did not start: $(cat "$log")" >&2; exit 1; }

wal="$dir/store.sqlite3-wal"
# The sampler: the largest WAL size seen, written to a file as it grows.
(
  max=0
  n=0
  # Bounded: the load runs SECS plus warm-up; 50 ms per sample.
  limit=$(((secs + 120) * 20))
  while [ "$n" -lt "$limit" ]; do
    s=$(stat -c %s "$wal" 2>/dev/null || echo 0)
    if [ "$s" -gt "$max" ]; then
      max=$s
      echo "$max" >"$dir/max"
    fi
    n=$((n + 1))
    sleep 0.05
  done
) &
sampler=$!

echo "wal.sh: ${secs}s of load on $addr (store in $dir), $(nproc) cores, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
cargo bench --locked --bench ingest -q -- --addr "$addr" --closed --connections 64 --duration "$secs" 2>&1 \
  | grep -E "^ingest" || true
echo "wal.sh: load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
kill "$sampler" 2>/dev/null || true
wait "$sampler" 2>/dev/null || true
sampler=
max=$(cat "$dir/max" 2>/dev/null || echo 0)
db=$(stat -c %s "$dir/store.sqlite3")
kill -TERM "$server"
wait "$server" || true
server=
grep -E "WAL|stopped" "$log" || true
awk -v w="$max" -v d="$db" 'BEGIN { printf "wal.sh: largest WAL %.1f MiB (budget 64 MiB); store %.1f MiB\n", w / 1048576, d / 1048576 }'
if [ "$max" -gt "$budget" ]; then
  echo "wal.sh: the WAL exceeded its budget" >&2
  exit 1
fi
