#!/usr/bin/env bash
# Makes the report shown in the README from generated but realistic data:
# a few hundred simulated machines of one CLI with an MCP server ("forge")
# post a batch per active day, over the last 60 days, to a real
# `tally serve`; then `tally report --html` writes the page and headless
# Chromium takes the screenshot.
#
# The server only accepts days of the last 30 days by its own clock, so the
# older 30 days go to a first server whose clock runs 30 days behind
# (libfaketime), the recent ones to a second with the real clock; both write
# the same store.
#
# Usage: bash scripts/demo_report.sh [OUT_DIR]   (default: target/demo)
#   writes OUT_DIR/store.sqlite3, OUT_DIR/report.html and docs/report.png
# Needs: python3, chromium and faketime (installed with apt-get if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/demo}
mkdir -p "$out" docs
rm -f "$out"/store.sqlite3*

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
missing=()
command -v chromium >/dev/null || missing+=(chromium fonts-dejavu-core)
command -v faketime >/dev/null || missing+=(faketime)
if [ ${#missing[@]} -gt 0 ]; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

cargo build --quiet --bin tally
tally=$PWD/target/debug/tally
db=$PWD/$out/store.sqlite3

# Starts `tally serve` (optionally under faketime), prints its address.
serve() {
  log=$out/serve-$#.log
  "$@" "$tally" serve --listen 127.0.0.1:0 --db "$db" --rate-limit 0 --sync normal 2>"$log" &
  server_pid=$!
  for _ in $(seq 100); do
    addr=$(sed -n 's#.*listening on http://\([^/]*\)/.*#\1#p' "$log")
    [ -n "$addr" ] && return 0
    sleep 0.1
  done
  echo "tally serve did not start: $(cat "$log")" >&2
  exit 1
}
# faketime runs the server as its child: signal both, wait for the log to
# say the server stopped (every batch was answered, so all is committed).
stop() {
  pkill -TERM -P "$server_pid" 2>/dev/null || true
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  for _ in $(seq 100); do grep -q 'stopped;' "$log" && return 0; sleep 0.1; done
  echo "tally serve did not stop: $(cat "$log")" >&2
  exit 1
}

generate() { python3 - "$@" <<'PY'
import http.client, json, random, sys, uuid, datetime

# The whole world is simulated from day -60 on (so both halves agree on
# who joined when and runs which version); only days first..last are posted.
addr, first, last = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
host, port = addr.rsplit(":", 1)
today = datetime.datetime.now(datetime.timezone.utc).date()
rng = random.Random(20261125)  # the same world every run

# Commands: (name, weight, failure rate before, after the 1.4.1 release, typical seconds)
COMMANDS = [
    ("build", 30, 0.030, 0.028, 4.0), ("test", 22, 0.080, 0.075, 12.0),
    ("run", 14, 0.020, 0.020, 0.8), ("deploy", 6, 0.040, 0.130, 45.0),
    ("status", 9, 0.002, 0.002, 0.05), ("logs", 6, 0.010, 0.010, 0.3),
    ("init", 2, 0.050, 0.045, 1.5), ("config get", 4, 0.010, 0.010, 0.04),
    ("config set", 2, 0.020, 0.020, 0.05), ("login", 2, 0.060, 0.060, 2.5),
    ("plugin install", 1, 0.090, 0.070, 8.0), ("cache clean", 1, 0.0, 0.0, 0.6),
]
TOOLS = [("search_code", 30, 0.01, 0.04), ("read_file", 28, 0.005, 0.01),
         ("run_tests", 12, 0.08, 2.5), ("list_issues", 8, 0.02, 0.3),
         ("create_pr", 3, 0.05, 1.2), ("deploy_preview", 2, 0.12, 6.0)]
CLIENTS = [("claude-code", 2, 40), ("cursor", 1, 22), ("vscode", 1, 15),
           ("codex", 0, 8), ("zed", 0, 5), ("windsurf", 1, 4), ("goose", 1, 3)]
PLATFORMS = [(("linux", "x86_64"), 50), (("macos", "aarch64"), 30),
             (("windows", "x86_64"), 11), (("linux", "aarch64"), 5), (("macos", "x86_64"), 4)]
DURATION_BOUNDS = [0.1, 0.5, 1, 5, 30, 300]
LATENCY_BOUNDS = [0.01, 0.05, 0.1, 0.5, 1, 5]
RELEASES = [(-999, "1.3.2"), (-41, "1.4.0"), (-12, "1.4.1")]

def pick(items, key=lambda x: x[1]):
    return rng.choices(items, weights=[key(i) for i in items])[0]

def bucket(seconds, bounds):
    return next((i for i, b in enumerate(bounds) if seconds < b), len(bounds))

def buckets(n, typical, bounds):
    out = [0] * (len(bounds) + 1)
    for _ in range(n):
        out[bucket(typical * rng.lognormvariate(0, 0.7), bounds)] += 1
    return out

# The machines: a growing population, some leaving, some only on weekdays.
machines = []
for i in range(420):
    joined = int(-60 + 75 * rng.random() ** 1.6) if i >= 140 else -60
    machines.append({
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "joined": min(joined, -2), "left": rng.choice([0] * 9 + [rng.randint(-50, -5)]),
        "platform": pick(PLATFORMS)[0], "mcp": rng.random() < 0.45,
        "client": pick(CLIENTS, key=lambda c: c[2]), "busy": rng.lognormvariate(0, 0.8),
        "ci": rng.random() < 0.04, "version": None,
        "facts": {"auth_type": rng.choice(["oidc", "oidc", "anonymous", "api_key"]),
                  "backend_count": rng.choice(["1", "2-5", "2-5", "6-10"])},
    })

conn = http.client.HTTPConnection(host, int(port), timeout=10)
posted = 0
for offset in range(-60, last + 1):
    day = today + datetime.timedelta(days=offset)
    weekend = day.weekday() >= 5
    release = [v for d, v in RELEASES if d <= offset][-1]
    for m in machines:
        if offset < m["joined"] or (m["left"] and offset > m["left"]):
            continue
        if rng.random() > (0.22 if weekend else 0.62):
            continue
        events = []
        if m["version"] is None:
            m["version"] = release
            events.append({"type": "lifecycle", "day": day.isoformat(), "kind": "install", "count": 1})
        elif m["version"] != release and rng.random() < 0.35:
            m["version"] = release
            events.append({"type": "lifecycle", "day": day.isoformat(), "kind": "upgrade", "count": 1})
        if m["left"] and offset == m["left"] and rng.random() < 0.5:
            events.append({"type": "lifecycle", "day": day.isoformat(), "kind": "uninstall", "count": 1})
        late = m["version"] == "1.4.1"
        commands = []
        for _ in range(max(1, int(rng.expovariate(1 / (6 * m["busy"]))))):
            name, _, f0, f1, typical = pick(COMMANDS)
            fail = f1 if late else f0
            roll = rng.random()
            outcome = ("failure" if roll < fail else "usage_error" if roll < fail + 0.015
                       else "interrupted" if roll < fail + 0.02 else "success")
            commands.append({"command": name, "outcome": outcome, "count": 1,
                             "duration": buckets(1, typical, DURATION_BOUNDS)})
        # One row per command and outcome, as a real client rolls them up.
        rolled = {}
        for c in commands:
            key = (c["command"], c["outcome"])
            if key in rolled:
                rolled[key]["count"] += 1
                rolled[key]["duration"] = [a + b for a, b in zip(rolled[key]["duration"], c["duration"])]
            else:
                rolled[key] = c
        rollup = {"type": "usage_rollup", "day": day.isoformat(), "commands": list(rolled.values())}
        if m["mcp"]:
            calls = []
            for name, weight, err, typical in TOOLS:
                n = int(rng.expovariate(1 / (weight / 5 * m["busy"]))) if rng.random() < 0.7 else 0
                if n == 0:
                    continue
                bad = sum(rng.random() < err for _ in range(n))
                ok = n - bad
                if ok:
                    calls.append({"tool": name, "outcome": "ok", "count": ok,
                                  "latency": buckets(ok, typical, LATENCY_BOUNDS)})
                if bad:
                    kind = rng.choice(["tool_error", "tool_error", "protocol_error", "cancelled"])
                    call = {"tool": name, "outcome": kind, "count": bad,
                            "latency": buckets(bad, typical * 2, LATENCY_BOUNDS)}
                    if kind == "protocol_error":
                        call["error_class"] = rng.choice(["invalid_params", "internal", "server_defined"])
                    calls.append(call)
            if calls:
                rollup["tool_calls"] = calls
                client, major, _ = m["client"]
                rollup["clients"] = [{"client": client, "major": major + (offset > -20 and rng.random() < 0.5), "count": rng.randint(1, 4)}]
        if rng.random() < 0.01:
            rollup["dropped"] = rng.randint(1, 40)
        events.insert(0, rollup)
        if m["mcp"] and rng.random() < 0.3:
            events.append({"type": "facts", "day": day.isoformat(), **m["facts"],
                           "uptime": rng.choice(["1-24h", "1-7d", "7d+"])})
        batch = {"envelope": {"app": "forge", "app_version": m["version"], "os": m["platform"][0],
                              "arch": m["platform"][1], "ci": m["ci"], "schema": 2,
                              "machine_id": m["id"], "batch_id": str(uuid.UUID(int=rng.getrandbits(128), version=4))},
                 "events": events}
        if rng.random() < 0.004:
            batch["envelope"]["hostname"] = "dropped-by-the-server"
        if offset < first:
            continue
        batch["envelope"]["batch_id"] = str(uuid.uuid4())
        body = json.dumps(batch).encode()
        conn.request("POST", "/v1/batch", body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        if resp.status != 204:
            sys.exit(f"batch for {day} refused: {resp.status}")
        posted += 1
print(f"posted {posted} batches for days {first}..{last}", file=sys.stderr)
PY
}

serve faketime -f -30d
generate "$addr" -60 -31
stop
serve
generate "$addr" -30 -1
stop

"$tally" report --db "$db" --since 30d --html "$out/report.html"
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --force-device-scale-factor=1 \
  --window-size=1120,1720 --screenshot="$PWD/docs/report.png" "file://$PWD/$out/report.html" 2>/dev/null
echo "wrote $out/report.html and docs/report.png ($(wc -c <docs/report.png) bytes)"
