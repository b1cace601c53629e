#!/usr/bin/env bash
# Lints the library for every platform a host ships to, with each feature
# set a host uses: `cargo clippy --lib -D warnings` per (target, features).
# Cross-checking needs no linker; rustls's `ring` compiles C, so the
# Windows target needs mingw-w64 (`gcc-mingw-w64-x86-64`) and the Apple
# targets a C compiler that can target macOS (see APPLE_RUSTLS below).
#
#   scripts/check_targets.sh                  # every target below
#   TARGETS=x86_64-pc-windows-gnu scripts/check_targets.sh
#
# Apple targets and rustls: ring's build script compiles C for
# *-apple-darwin. On macOS that just works. On Linux, with clang installed
# (`apt-get install clang`), the script compiles ring's C with
# `clang --target=<apple target> -nostdlibinc` against the four stand-in
# SDK headers in scripts/apple-cross-include (clippy only compiles, never
# links, so nothing built against them runs or ships). Without clang the
# feature sets with rustls are checked for Apple with rustls left out, and
# the output says so. (`native-tls` on macOS is the Security framework,
# which needs the SDK only at link time: it is checked here in full.)
set -euo pipefail
cd "$(dirname "$0")/.."

# What it needs, installed when missing (CI starts from a bare machine).
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
missing=()
command -v clang >/dev/null || missing+=(clang)
command -v x86_64-w64-mingw32-gcc >/dev/null || missing+=(gcc-mingw-w64-x86-64)
if [ ${#missing[@]} -gt 0 ]; then
    echo "check_targets.sh: installing with apt: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
rustup target add x86_64-apple-darwin aarch64-apple-darwin x86_64-pc-windows-gnu >/dev/null

TARGETS=${TARGETS:-"x86_64-unknown-linux-gnu x86_64-apple-darwin aarch64-apple-darwin x86_64-pc-windows-gnu"}
FEATURE_SETS=("" "clap" "prompt" "rustls" "otlp" "clap,prompt,rustls" "clap,rustls,otlp" "clap,rustls,rmcp" "native-tls" "clap,native-tls" "system-tls" "clap,prompt,system-tls")

apple_cc=0
if [[ $(uname) == Darwin ]]; then
    apple_cc=1
elif command -v clang >/dev/null; then
    apple_cc=1
    stubs=$PWD/scripts/apple-cross-include
    for t in x86_64-apple-darwin aarch64-apple-darwin; do
        v=${t//-/_}
        export "CC_$v=clang" "CFLAGS_$v=--target=$t -nostdlibinc -I$stubs"
    done
fi

failed=0
for target in $TARGETS; do
    for features in "${FEATURE_SETS[@]}"; do
        f=$features
        if [[ $target == *apple* && $apple_cc != 1 ]]; then
            f=$(echo "$f" | tr ',' '\n' | { grep -v '^rustls$' || true; } | paste -sd, -)
        fi
        label="$target [${features:-none}]"
        [[ $f != "$features" ]] && label="$label as [${f:-none}]"
        if cargo clippy --quiet -p tally-telemetry --lib --no-default-features --locked ${f:+--features "$f"} \
            --target "$target" -- -D warnings; then
            echo "ok   $label"
        else
            echo "FAIL $label"
            failed=1
        fi
    done
done
exit $failed
