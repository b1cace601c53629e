#!/usr/bin/env bash
# The Node.js and Python packages (bindings/), built from source with their
# ecosystems' own commands and tested against the tally binary and the
# example host of this checkout. Installs what it needs, skipping what is
# present: strace, python3-venv; the Python package and pytest go into a
# venv under target/ (so no system Python is touched), maturin comes from
# PyPI through the package's build requirements, @napi-rs/cli and commander
# from npm through package-lock.json.
# Usage: bash scripts/test_bindings.sh [node|python]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
which=${1:-all}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v strace >/dev/null || missing+=(strace)
command -v node >/dev/null || missing+=(nodejs npm)
if [ "$which" != node ]; then
  probe=$(mktemp -d)
  python3 -m venv "$probe/v" >/dev/null 2>&1 || missing+=(python3-venv)
  rm -rf "$probe"
fi
if [ ${#missing[@]} -gt 0 ]; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

# The tests start the real `tally serve` and compare with the Rust example host.
cargo build --locked --bin tally
cargo build --locked -p tally-telemetry --features clap,prompt,rustls,otlp,rmcp --example host

if [ "$which" != python ]; then
  (
    cd bindings/node
    [ -d node_modules/@napi-rs/cli ] && [ -d node_modules/commander ] || npm ci --no-audit --no-fund
    # Under the root target/ so one `cargo clean` clears it.
    CARGO_TARGET_DIR="$root/target/bindings" npm run build
    npm test
  )
fi

if [ "$which" != node ]; then
  venv="$root/target/bindings-venv"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -c 'import pytest' 2>/dev/null || "$venv/bin/pip" install -q 'pytest>=7'
  # A debug build, like the Node package's and `cargo test`'s: the tests pin
  # the clock with <APP>_TELEMETRY_NOW, which release builds ignore (against
  # a release build those tests skip, saying so). Under the root target/,
  # like the Node addon, so one `cargo clean` clears it; only for the build:
  # the tests find `tally` and the example host under target/debug.
  CARGO_TARGET_DIR="$root/target/bindings" MATURIN_PEP517_ARGS="--profile dev" \
    "$venv/bin/pip" install -q ./bindings/python
  (cd bindings/python && "$venv/bin/python" -m pytest -q -rs)
fi
