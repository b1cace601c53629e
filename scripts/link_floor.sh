#!/usr/bin/env bash
# What linking alone costs a fast command: the floor under issue 17's
# instruction budget. Builds the scripts' minimal clap host four ways, all
# release and stripped with the host's own profile, in one target directory
# (shared with callgrind.sh), and counts `mytool build` of each under
# `valgrind --tool=callgrind`, as callgrind.sh does:
#
#   1. without tally (host_without_tally.rs, callgrind.sh's baseline);
#   2. the same host linking ureq (no TLS) behind a variable no run sets
#      (host_linked_not_run.rs, called first in its main): its code is in
#      the binary, none of it runs;
#   3. likewise with what tally's library uses of the other prescribed
#      dependencies (toml and serde, directories, dialoguer, owo-colors);
#   4. the README's host with tally (the README's features), turned off by
#      DO_NOT_TRACK=1, tally's cheapest run.
#
# Rows 2 and 3 run no instruction of those crates: what they add is the
# dynamic loader's work (relative relocations, imported symbols bound at
# start, since Rust links with -z now) and std's start-up over a bigger
# binary. Row 3 is the least that any library built on the prescribed
# dependencies adds to every run of its host, before its own first
# instruction; the budget is off +50,000, on +100,000 (DESIGN.md).
#
# Usage: bash scripts/link_floor.sh
#   CALLGRIND_TARGET_DIR=dir  where the hosts are built (default
#   target/callgrind, callgrind.sh's, so a run after it builds little).
#   Cargo's own profile variables change every host's build alike, and the
#   header says so: CARGO_PROFILE_RELEASE_LTO=true for hosts built with LTO.
set -euo pipefail
caller=$(pwd)
cd "$(dirname "$0")/.."
repo=$(pwd)
if [ $# -gt 0 ]; then
    echo "usage: bash scripts/link_floor.sh (no arguments; see the header)" >&2
    exit 2
fi
for tool in valgrind readelf; do
    if ! command -v "$tool" >/dev/null; then
        echo "$tool is not installed (apt-get install -y valgrind binutils)" >&2
        exit 1
    fi
done
features=$(sed -n 's/^tally-telemetry = .*features = \[\(.*\)\] }$/\1/p' README.md | head -1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
target=${CALLGRIND_TARGET_DIR:-$repo/target/callgrind}
case $target in /*) ;; *) target="$caller/$target" ;; esac

# The versions and features tally's library builds them with, read from
# its manifest, so row 3 links what tally links.
dep() { # name -> its dependency line in tally-telemetry's manifest, optional dropped
    sed -n "s/^$1 = \(.*\)$/$1 = \1/p" crates/tally-telemetry/Cargo.toml | head -1 |
        sed 's/, optional = true//'
}
# shellcheck source=scripts/host_manifest.sh
. scripts/host_manifest.sh
mkdir -p "$work/without/src" "$work/linked/src" "$work/with/src"
host_manifest "" >"$work/without/Cargo.toml"
host_manifest "$(
    for d in ureq toml serde directories dialoguer owo-colors; do
        dep "$d" | sed -e 's/^\([a-z-]*\) = \("[^"]*"\)$/\1 = { version = \2 }/' -e 's/ }$/, optional = true }/'
    done
    printf '\n[features]\nureq = ["dep:ureq"]\n'
    echo 'prescribed = ["ureq", "dep:toml", "dep:serde", "dep:directories", "dep:dialoguer", "dep:owo-colors"]'
)" >"$work/linked/Cargo.toml"
host_manifest "tally-telemetry = { path = \"$repo/crates/tally-telemetry\", default-features = false, features = [$features] }" \
    >"$work/with/Cargo.toml"
cp scripts/host_without_tally.rs "$work/without/src/main.rs"
# The same host, its `main` calling the linked code first.
cp scripts/host_linked_not_run.rs "$work/linked/src/linked.rs"
{
    sed 's/^fn main() {$/fn main() {\n    linked::run();/' scripts/host_without_tally.rs
    echo 'mod linked;'
} >"$work/linked/src/main.rs"
grep -q 'linked::run();' "$work/linked/src/main.rs" || {
    echo "link_floor.sh: no 'fn main() {' line in scripts/host_without_tally.rs to call the linked code from" >&2
    exit 1
}
cp crates/tally-telemetry/examples/mytool.rs "$work/with/src/main.rs"
for host in without linked with; do cp Cargo.lock "$work/$host/Cargo.lock"; done

build() { # host dir, binary name, cargo args…
    local dir=$1 name=$2
    shift 2
    (cd "$work/$dir" && CARGO_TARGET_DIR=$target cargo build --release -q "$@")
    cp "$target/release/mytool" "$work/$name"
}
build without mytool-without
build linked mytool-ureq --features ureq
build linked mytool-prescribed --features prescribed
build with mytool-with

ir() { # binary, env words… -> instructions of `binary build` in a bare environment
    local bin=$1 home
    shift
    home=$(mktemp -d "$work/home.XXXX")
    env -i PATH=/usr/bin:/bin HOME="$home" XDG_CONFIG_HOME="$home/.config" \
        XDG_STATE_HOME="$home/.local/state" XDG_DATA_HOME="$home/.local/share" "$@" \
        valgrind --tool=callgrind --callgrind-out-file="$home/cg.out" "$bin" build \
        >/dev/null 2>"$home/log" || { cat "$home/log" >&2; exit 1; }
    sed -n 's/^summary: *//p' "$home/cg.out"
}
relocs() { readelf -r "$1" | grep -c 'R_X86_64\|R_AARCH64' || true; }
imports() { readelf --dyn-syms -W "$1" | awk '$7 == "UND" && $8 != ""' | wc -l; }

base=$(ir "$work/mytool-without")
profile=$(env | sed -n 's/^CARGO_PROFILE_RELEASE_\([A-Z_]*\)=\(.*\)$/\1=\2/p' | tr 'A-Z\n' 'a-z ' | sed 's/ $//')
echo "mytool build under callgrind: instructions of the whole process (loader included), release, stripped${profile:+, $profile}"
echo "linked, not run: the crates' code is in the binary behind a variable no run sets"
printf '%-62s %12s %10s %9s %8s %8s %10s\n' "" instructions added "% of 50k" relocs imports "size (B)"
row() { # label, binary, instructions
    local added=$(($3 - base))
    printf '%-62s %12d %+10d %8d%% %8d %8d %10d\n' "$1" "$3" "$added" "$((added * 100 / 50000))" \
        "$(relocs "$2")" "$(imports "$2")" "$(stat -c %s "$2")"
}
row "without tally" "$work/mytool-without" "$base"
row "ureq linked, not run" "$work/mytool-ureq" "$(ir "$work/mytool-ureq")"
row "prescribed dependencies linked, not run" "$work/mytool-prescribed" "$(ir "$work/mytool-prescribed")"
row "with tally [$features], off by DO_NOT_TRACK=1" "$work/mytool-with" "$(ir "$work/mytool-with" DO_NOT_TRACK=1)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) (callgrind counts do not depend on it)"
