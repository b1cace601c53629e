#!/usr/bin/env bash
# The test suite, on a fresh Debian or Ubuntu machine. It installs what the
# tests drive for real, skipping what is present, and says what it installs:
#   with apt (as root, or through sudo): strace (the off-is-off test),
#     nodejs and npm (the reference MCP server), python3-venv, chromium and
#     fonts-dejavu-core (the HTML report's browser test), clickhouse-server
#     (the ClickHouse store; the tests start it themselves, no systemd),
#     zookeeper (the replicated ClickHouse store's coordination, started
#     standalone by its test);
#   with npm, into tests/mcp/node_modules: the reference MCP server;
#   with pip, into a venv under target/ (never the system Python, which
#     Debian 12 and Ubuntu 23.04+ refuse to change): the official MCP Python
#     SDK and the official opentelemetry-proto package.
# Then it runs every test of the workspace (both crates), the attack tests
# one at a time, the library's TLS tests again built with `system-tls`
# alone (as the README's host has it), the Node.js and Python packages'
# tests, and the Go module's (scripts/test_go.sh installs golang-go and
# cobra's sources with apt), and the Windows run under Wine
# (scripts/test_windows.sh installs wine64 and gcc-mingw-w64-x86-64, and
# the rustup target).
# Needs about 6 GB of disk and, on 2 cores, about 15 minutes.
# Usage: bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v strace >/dev/null || missing+=(strace)
command -v node >/dev/null || missing+=(nodejs npm)
probe=$(mktemp -d)
python3 -m venv "$probe/v" >/dev/null 2>&1 || missing+=(python3-venv)
rm -rf "$probe"
command -v chromium >/dev/null || missing+=(chromium)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
command -v clickhouse-server >/dev/null || missing+=(clickhouse-server)
[ -e /usr/share/java/zookeeper.jar ] || missing+=(zookeeper)
if [ ${#missing[@]} -gt 0 ]; then
  echo "test.sh: installing with apt: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

# The MCP peers, pinned in tests/mcp (package-lock.json, requirements.txt).
if [ ! -d tests/mcp/node_modules/@modelcontextprotocol/server-everything ]; then
  echo "test.sh: installing the reference MCP server with npm into tests/mcp/node_modules"
  npm ci --prefix tests/mcp --no-audit --no-fund
fi
# The Python the tests run (`python3` on PATH): a venv of their own, with
# the official MCP SDK and the official OpenTelemetry protobuf bindings,
# which parse every OTLP request the tests capture.
venv="$root/target/test-venv"
[ -x "$venv/bin/python3" ] || python3 -m venv "$venv"
export PATH="$venv/bin:$PATH"
if ! python3 -c 'import mcp, opentelemetry.proto.collector.metrics.v1.metrics_service_pb2' 2>/dev/null; then
  echo "test.sh: installing the MCP SDK and opentelemetry-proto with pip into $venv"
  python3 -m pip install -q -r tests/mcp/requirements.txt -r tests/otlp/requirements.txt
fi

# The attack tests run on their own, one at a time, after the rest: each
# measures whether a legitimate client is answered while a crowd holds the
# server's slots, and beside other tests (or another crowd) on two cores
# the starvation of the whole machine, not the server, decided whether a
# newcomer's request was read before a reconnecting crowd cycled the table.
cargo test --workspace --locked -- --skip attack::
cargo test --locked --test cli attack:: -- --test-threads 1
# The library with `system-tls` alone, as the README's host builds it (the
# workspace's build has rustls too, which its sends use then): the
# sender's own agent goes through the system's OpenSSL.
cargo test -p tally-telemetry --lib --no-default-features --features clap,system-tls --locked \
  --target-dir target/system-tls deliver::system_tls

# The Node.js and Python packages over the same library.
bash scripts/test_bindings.sh

# The Go module (pure Go, the same contract): Debian's Go and cobra.
bash scripts/test_go.sh

# The example host cross-built for Windows and run under Wine (Debian's
# wine64 and mingw-w64), delivering to a Linux `tally serve`.
bash scripts/test_windows.sh
