#!/usr/bin/env bash
# What embedding tally costs a host: builds one minimal clap host twice,
# without tally and with it (the README's snippet, crates/tally-telemetry/examples/mytool.rs, with
# tally by path, default features off, plus the features the README lists),
# both release and stripped, each from a clean target directory, and prints
# the crates compiled, the binary size and the clean-build time side by side.
# Budget (docs/DESIGN.md): at most 45 crates and at most +1.5 MB.
# Usage: bash scripts/weight.sh [FEATURES…]
#   Each argument is one feature list (`'"clap", "rustls"'`, or '' for none);
#   without arguments: none (plain `default-features = false`), then the
#   README's list, measured side by side in one run.
#   WEIGHT_LTO=1 builds every host with `lto = true` as well (the issue's
#   "stripped LTO host"): `WEIGHT_LTO=1 bash scripts/weight.sh
#   '"clap", "prompt"' '"clap", "prompt", "rustls"'` gives what https adds.
#   WEIGHT_TARGET=TRIPLE builds for another target, e.g.
#   `WEIGHT_TARGET=x86_64-pc-windows-gnu` (rustup target and Debian's
#   gcc-mingw-w64-x86-64): what native-tls (SChannel) weighs on Windows.
# bash scripts/weight.sh --check-crates
#   Builds nothing: counts the crates of the host with `default-features =
#   false` from the dependency graph (`cargo tree`, the same set a clean build
#   compiles) and fails over the budget. CI runs it, so a dependency that
#   pushes every embedder over the budget does not land unnoticed.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
check_crates=false
if [ "${1:-}" = --check-crates ]; then check_crates=true; set -- ""; fi
readme_features=$(sed -n 's/^tally-telemetry = .*features = \[\(.*\)\] }$/\1/p' README.md | head -1)
if [ $# -eq 0 ]; then set -- "" "$readme_features"; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# shellcheck source=scripts/host_manifest.sh
. scripts/host_manifest.sh
manifest() { # extra dependency line
    host_manifest "$1" "$([ "${WEIGHT_LTO:-}" = 1 ] && echo 'lto = true')"
}

mkdir -p "$work/without/src"
manifest "" >"$work/without/Cargo.toml"
cp scripts/host_without_tally.rs "$work/without/src/main.rs"
# tally's lock file pins every build to the versions tally is tested with.
cp Cargo.lock "$work/without/Cargo.lock"

measure() { # dir -> "crates bytes seconds"
    local dir=$1 start end crates
    (cd "$dir" && cargo fetch -q)
    start=$(date +%s.%N)
    crates=$(cd "$dir" && cargo build --release ${WEIGHT_TARGET:+--target "$WEIGHT_TARGET"} 2>&1 |
        grep -c '^ *Compiling ')
    end=$(date +%s.%N)
    local bin="$dir/target/${WEIGHT_TARGET:+$WEIGHT_TARGET/}release/mytool"
    [ -e "$bin" ] || bin="$bin.exe"
    printf '%s %s %s\n' "$crates" "$(stat -c %s "$bin")" \
        "$(echo "$end - $start" | bc)"
}

if $check_crates; then
    dir="$work/with"
    mkdir -p "$dir/src"
    manifest "tally-telemetry = { path = \"$repo/crates/tally-telemetry\", default-features = false }" >"$dir/Cargo.toml"
    cp Cargo.lock "$dir/Cargo.lock"
    cp scripts/weight_plain_host.rs "$dir/src/main.rs"
    count() { (cd "$1" && cargo tree -e normal,build --prefix none) |
        sed 's/ (\*)$//; s/ (proc-macro)$//; s/ (\/.*)$//' | sort -u | wc -l; }
    c0=$(count "$work/without")
    c1=$(count "$dir")
    echo "crates: $c0 without tally, $c1 with tally (default-features = false); budget 45"
    [ "$c1" -le 45 ] || { echo "over the crate budget: cargo tree in a host shows what tally adds" >&2; exit 1; }
    exit 0
fi

mb() { echo "$1/1048576" | bc -l; }
read -r c0 b0 t0 < <(measure "$work/without")
echo "minimal clap host (crates/tally-telemetry/examples/mytool.rs), release, stripped$([ "${WEIGHT_LTO:-}" = 1 ] && echo ', LTO')${WEIGHT_TARGET:+, for $WEIGHT_TARGET}, tally by path with default-features = false"
# MB here is 2^20 bytes; the exact bytes added are printed too.
printf '%-40s %7s %7s %10s %9s %12s %10s\n' "" crates added "size (MB)" added "added (B)" "build (s)"
printf '%-40s %7d %7s %10.3f %9s %12s %10.1f\n' "without tally" "$c0" "" "$(mb "$b0")" "" "" "$t0"
i=0
for features in "$@"; do
    i=$((i + 1))
    dir="$work/with$i"
    mkdir -p "$dir/src"
    manifest "tally-telemetry = { path = \"$repo/crates/tally-telemetry\", default-features = false, features = [$features] }" >"$dir/Cargo.toml"
    cp Cargo.lock "$dir/Cargo.lock"
    if [ -z "$features" ]; then
        # Without the clap feature the README's host does not compile: the
        # plain host records its subcommand by name instead.
        cp scripts/weight_plain_host.rs "$dir/src/main.rs"
    else
        cp crates/tally-telemetry/examples/mytool.rs "$dir/src/main.rs"
    fi
    read -r c1 b1 t1 < <(measure "$dir")
    printf '%-40s %7d %+7d %10.3f %+9.3f %+12d %10.1f\n' "with tally [$features]" "$c1" "$((c1 - c0))" \
        "$(mb "$b1")" "$(echo "($b1-$b0)/1048576" | bc -l)" "$((b1 - b0))" "$t1"
done
