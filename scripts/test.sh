#!/usr/bin/env bash
# The test suite, on a fresh machine: installs what the tests drive for real
# (strace for the off-is-off test; the reference MCP server from npm and the
# official MCP Python SDK for the proxy test; the official opentelemetry-proto
# Python package for the OTLP tests; headless Chromium and a font for the
# HTML report's browser test; Debian's clickhouse-server for the ClickHouse
# store, which the tests start themselves without systemd), then runs every
# test.
# Usage: bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v strace >/dev/null || missing+=(strace)
command -v node >/dev/null || missing+=(nodejs npm)
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
command -v chromium >/dev/null || missing+=(chromium)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
command -v clickhouse-server >/dev/null || missing+=(clickhouse-server)
if [ ${#missing[@]} -gt 0 ]; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

# The MCP peers, pinned in tests/mcp (package-lock.json, requirements.txt).
[ -d tests/mcp/node_modules/@modelcontextprotocol/server-everything ] || npm ci --prefix tests/mcp --no-audit --no-fund
python3 -c 'import mcp' 2>/dev/null || python3 -m pip install -q -r tests/mcp/requirements.txt
# The official OpenTelemetry protobuf bindings parse every OTLP request the
# tests capture (tests/otlp/requirements.txt).
python3 -c 'import opentelemetry.proto.collector.metrics.v1.metrics_service_pb2' 2>/dev/null \
  || python3 -m pip install -q -r tests/otlp/requirements.txt

# The attack tests run on their own, one at a time, after the rest: each
# measures whether a legitimate client is answered while a crowd holds the
# server's slots, and beside other tests (or another crowd) on two cores
# the starvation of the whole machine, not the server, decided whether a
# newcomer's request was read before a reconnecting crowd cycled the table.
cargo test --locked -- --skip attack::
cargo test --locked --test cli attack:: -- --test-threads 1

# The Node.js and Python packages over the same library.
bash scripts/test_bindings.sh
