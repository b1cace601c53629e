#!/usr/bin/env bash
# Whole-command cost of telemetry, measured with hyperfine on the release
# build of the example host (docs/DESIGN.md budgets: on vs off <= 5 % and
# <= 0.5 ms; exit with a hung or unreachable endpoint <= 5 ms added).
#
#   scripts/bench_command.sh            # needs hyperfine (apt-get install hyperfine)
#
# Cases, each in a fresh HOME:
#   off             HOST_TELEMETRY=0
#   on              HOST_TELEMETRY=1, nothing to send
#   on-hung         a completed day is waiting and the endpoint accepts the
#                   connection but never answers: a background send is in
#                   flight when the command exits
#   on-unreachable  same, endpoint port closed (backoff cleared before every
#                   run, so each run tries)
#   delivering      the run that starts a delivery: a completed day is
#                   restored before every run and the previous helper has
#                   finished, so every run spawns the delivery helper, which
#                   posts to a loopback endpoint that answers 204 (docs/DESIGN.md:
#                   <= 5 ms added), compared with `on` in the same invocation
#   otlp            product analytics off, your own OTLP collector configured
#                   (hung), nothing due: the cost of the second destination
#   otlp-hung       same, and a completed day waiting: the collector never
#                   answers, so every run has an export in flight at exit
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "hyperfine is needed: apt-get install -y hyperfine" >&2; exit 1; }
cargo build --release --quiet -p tally-telemetry --features clap,prompt,rustls,otlp,rmcp --example host
HOST=$PWD/target/release/examples/host
T=$(mktemp -d)
cleanup() {
  [ -n "${HUNG_PID:-}" ] && kill "$HUNG_PID" 2>/dev/null
  [ -n "${OK_PID:-}" ] && kill "$OK_PID" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT

python3 - "$T/port" <<'PY' &
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0)); s.listen(4096)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
held = []
while True:
    held.append(s.accept())  # accept, never answer
PY
HUNG_PID=$!
python3 - "$T/okport" "$T/posts" <<'PY' &
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        with open(sys.argv[2], "a") as f:  # one line per batch received
            f.write("1\n")
        self.send_response(204); self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *a): pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_address[1]))
s.serve_forever()
PY
OK_PID=$!
for _ in $(seq 50); do [ -s "$T/port" ] && [ -s "$T/okport" ] && break; sleep 0.1; done
OK="http://127.0.0.1:$(cat "$T/okport")/v1/batch"
HUNG="http://127.0.0.1:$(cat "$T/port")/v1/batch"
CLOSED="http://127.0.0.1:$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')/v1/batch"

home() { # name -> env prefix for a fresh home
  local h="$T/$1"; mkdir -p "$h/state/host"
  echo "env -i PATH=$PATH HOME=$h XDG_CONFIG_HOME=$h/config XDG_STATE_HOME=$h/state HOST_POLICY_FILE=$h/none"
}
pending() { # a completed day waiting in the spool
  printf '{"v":1,"day":"2020-01-01","k":"command","name":"build","n":1}\n' > "$T/$1/state/host/spool.jsonl"
}
OFF=$(home off); ON=$(home on); H=$(home hung); U=$(home unreach); D=$(home deliver)
O=$(home otlp); OH=$(home otlphung)
pending hung; pending unreach; pending deliver; pending otlphung
OTLP_HUNG="http://127.0.0.1:$(cat "$T/port")"
cp "$T/deliver/state/host/spool.jsonl" "$T/due.jsonl"
# Before each delivering run: wait for the last helper to finish (it holds
# send.lock), restore the completed day, and let the last helper's exit and
# the receiver's side of its request settle (50 ms, not timed): a real
# delivery happens once a day, never right after another one.
RESTORE="sh -c 'flock $T/deliver/state/host/send.lock cp $T/due.jsonl $T/deliver/state/host/spool.jsonl && sleep 0.05'"

hyperfine -N --warmup 30 --runs "${RUNS:-500}" --export-markdown "$T/result.md" --export-json "$T/result.json" \
  --prepare "rm -f $T/unreach/state/host/backoff.json" \
  -n off "$OFF HOST_TELEMETRY=0 $HOST build" \
  -n on "$ON HOST_TELEMETRY=1 $HOST build" \
  -n on-hung "$H HOST_TELEMETRY=1 HOST_TELEMETRY_ENDPOINT=$HUNG $HOST build" \
  -n on-unreachable "$U HOST_TELEMETRY=1 HOST_TELEMETRY_ENDPOINT=$CLOSED $HOST build" \
  -n otlp "$O HOST_TELEMETRY=0 OTEL_EXPORTER_OTLP_ENDPOINT=$OTLP_HUNG $HOST build" \
  -n otlp-hung "$OH HOST_TELEMETRY=0 OTEL_EXPORTER_OTLP_ENDPOINT=$OTLP_HUNG $HOST build"
touch "$T/deliver/state/host/send.lock"
hyperfine -N --warmup 10 --runs "${DELIVER_RUNS:-300}" --export-markdown "$T/deliver.md" --export-json "$T/deliver.json" \
  --prepare "true" -n on "$ON HOST_TELEMETRY=1 $HOST build" \
  --prepare "$RESTORE" -n delivering "$D HOST_TELEMETRY=1 HOST_TELEMETRY_ENDPOINT=$OK $HOST build"
grep -q '"result":"sent"' "$T/deliver/state/host/sent.jsonl" || { echo "the delivering runs did not deliver" >&2; exit 1; }
cat "$T/result.md" "$T/deliver.md"
python3 - "$T/result.json" "$T/deliver.json" "$T/posts" "$((${DELIVER_RUNS:-300} + 10))" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
off = r["off"]["median"]
print("\nmedians (ms), and added over off:")
for name in ["off", "on", "on-hung", "on-unreachable", "otlp", "otlp-hung"]:
    m = r[name]["median"]
    print(f"  {name:15} {m*1000:7.3f}   {((m-off)*1000):+.3f} ms  ({(m/off-1)*100:+.1f} %)")
d = {x["command"]: x for x in json.load(open(sys.argv[2]))["results"]}
on, dl = d["on"]["median"], d["delivering"]["median"]
# Counted by the receiver (the ledger in sent.jsonl keeps only the newest).
sent = sum(1 for _ in open(sys.argv[3]))
print(f"\nthe run that starts a delivery: on {on*1000:.3f} ms, delivering {dl*1000:.3f} ms, "
      f"added {((dl-on)*1000):+.3f} ms (max {(d['delivering']['max']-on)*1000:+.3f} ms); "
      f"the receiver got {sent} batches from {sys.argv[4]} delivering runs (warm-up included)")
PY
