#!/usr/bin/env bash
# The public API check: renders what a host can name from the crate root
# (rustdoc's JSON, host-facing features, doc-hidden items left out) and
# compares it with the committed listing, api/public-api.txt. CI fails when
# they differ; after a deliberate change, run `bash scripts/api.sh --bless`
# and commit the listing with the change, so every API change is reviewed.
# rustdoc's JSON output is unstable: RUSTC_BOOTSTRAP lets the stable
# toolchain produce it.
set -euo pipefail
cd "$(dirname "$0")/.."
features="clap,prompt,rustls,rmcp,otlp"
target=${CARGO_TARGET_DIR:-target}/api
RUSTC_BOOTSTRAP=1 cargo rustdoc --quiet -p tally-telemetry --lib --locked --no-default-features \
    --features "$features" --target-dir "$target" \
    -- -Z unstable-options --output-format json --document-hidden-items
current=$(python3 scripts/public_api.py "$target/doc/tally_telemetry.json")
if [ "${1:-}" = --bless ]; then
    printf '%s\n' "$current" >api/public-api.txt
    echo "wrote api/public-api.txt ($(wc -l <api/public-api.txt) lines)"
    exit 0
fi
if ! diff -u api/public-api.txt <(printf '%s\n' "$current"); then
    echo "The public API changed (diff above: - committed, + now). If that is intended," >&2
    echo "run 'bash scripts/api.sh --bless' and commit api/public-api.txt with the change." >&2
    exit 1
fi
echo "public API unchanged ($(wc -l <api/public-api.txt) items)"
