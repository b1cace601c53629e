#!/usr/bin/env bash
# Packages both crates as `cargo publish` would (without uploading), builds
# each from its package alone, and checks that what only development needs
# stays out: scripts, CI, test peers, tests, the screenshot, the bindings.
# Usage: bash scripts/package.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# The binary's package resolves tally-telemetry from crates.io once it is
# published; until then `cargo package` of both at once puts the library's
# package in a local registry for the binary's verify build.
# cargo serves the workspace's own packaged crates from a local registry
# under target/package and extracts them into
# $CARGO_HOME/registry/src/-<hash>/, keyed by that registry's path: an
# extraction of the same name and version left by an earlier run is reused,
# and the binary crate would be verified against a stale library. Ours go.
cargo_home=${CARGO_HOME:-$HOME/.cargo}
rm -rf "$cargo_home"/registry/src/-*/tally-telemetry-[0-9]* \
  "$cargo_home"/registry/cache/-*/tally-telemetry-[0-9]*
cargo package --workspace --locked --quiet --allow-dirty >/dev/null
for crate in tally-telemetry tally-telemetry-cli; do
  files=$(cargo package -p "$crate" --list --locked --allow-dirty)
  for must in Cargo.toml README.md LICENSE-MIT LICENSE-APACHE; do
    grep -qx "$must" <<<"$files" || { echo "$crate: $must is not packaged" >&2; exit 1; }
  done
  if bad=$(grep -E '^(scripts|\.ci|tests|bindings|fuzz|docs|benches|examples|api|deploy|go)/|\.png$' <<<"$files"); then
    echo "$crate packages development files:" >&2
    echo "$bad" >&2
    exit 1
  fi
  echo "$crate: $(wc -l <<<"$files") files packaged, none of them development-only"
done
