#!/usr/bin/env bash
# What tally costs a fast command, in instructions: builds the README's
# minimal clap host (crates/tally-telemetry/examples/mytool.rs, tally by path with the README's
# features) and the same host without tally (weight.sh's `without` host),
# both release and stripped with the host's own profile, and runs
# `mytool build` of each under `valgrind --tool=callgrind`, which counts
# every user-space instruction of the process (the dynamic loader's
# relocations included) and is deterministic, unlike wall time.
#
# Prints the instructions of: the host without tally; with tally off
# (MYTOOL_TELEMETRY=0, then DO_NOT_TRACK=1, then a stored `telemetry off`);
# with tally on (consent stored, notice already shown, nothing due to
# send: the run that shows the notice and any run that starts the helper
# are not the measured one), and what tally adds to each.
# Budget (DESIGN.md): off ≤ +50,000, on ≤ +100,000.
#
# Usage: bash scripts/callgrind.sh [--check | --ceiling OFF ON | --check-code]
#   --check  exits 1 when a figure is over its budget.
#   --check-code  exits 1 when the code that runs (the split below; needs
#            CARGO_PROFILE_RELEASE_STRIP=false) adds more than the budget's
#            figures: tally's own work on a fast command, which CI holds to
#            them while the whole (linking included) is over.
#   --ceiling OFF ON  exits 1 when a run turned off by a variable adds more
#            than OFF, or a run that reads the stored choice (on, or a stored
#            off) more than ON: CI's ratchet while the budget is not met, set
#            a little above the latest figures (README, Performance), so a
#            change that makes a fast command pay more does not land.
#   CALLGRIND_TARGET_DIR=dir  where both hosts are built (default
#   target/callgrind, kept between runs so a second run builds only tally).
#   CALLGRIND_FEATURES='"clap"'  tally's features instead of the README's.
#   CALLGRIND_EXTRA_VARS=N  runs every measured command with N more
#   variables in its environment (SHELL_VAR_1=… of 40 characters), as a
#   user's shell has; the default, none, is the least a process can have.
#   With CARGO_PROFILE_RELEASE_STRIP=false (below) it also splits each
#   figure: what the code that runs adds (the host's `main`: clap's parse,
#   tally's `init` and `finish`; tally's exit hook) and what the rest adds
#   (the dynamic loader, std's start-up, libc's exit): the first is the
#   work of tally's calls, the second the price of linking it.
#   CALLGRIND_KEEP=dir  copies both binaries there (mytool-without,
#   mytool-with), for callgrind_annotate or scripts/size_by_crate.py.
#   Cargo's own profile variables change both hosts' build alike, and the
#   header says so: CARGO_PROFILE_RELEASE_LTO=true for a host built with
#   LTO, CARGO_PROFILE_RELEASE_STRIP=false to keep the symbols (the
#   loader never reads them; the counts move by about 2,000 with the
#   file's layout).
set -euo pipefail
caller=$(pwd)
cd "$(dirname "$0")/.."
repo=$(pwd)
check=false
check_code=false
ceiling_off=
ceiling_on=
case "${1:-}" in
--check) check=true ;;
--check-code) check_code=true ;;
--ceiling)
    ceiling_off=${2:?--ceiling OFF ON: the most instructions an off run and the on run may add}
    ceiling_on=${3:?--ceiling OFF ON: the most instructions an off run and the on run may add}
    ;;
"") ;;
*)
    echo "unknown argument $1 (usage: bash scripts/callgrind.sh [--check | --ceiling OFF ON | --check-code])" >&2
    exit 2
    ;;
esac
if ! command -v valgrind >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get install -y -q valgrind >/dev/null
    else
        echo "valgrind is not installed (apt-get install -y valgrind)" >&2
        exit 1
    fi
fi
features=${CALLGRIND_FEATURES-$(sed -n 's/^tally-telemetry = .*features = \[\(.*\)\] }$/\1/p' README.md | head -1)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
target=${CALLGRIND_TARGET_DIR:-$repo/target/callgrind}
# The hosts build elsewhere: a relative directory is the caller's.
case $target in /*) ;; *) target="$caller/$target" ;; esac

# shellcheck source=scripts/host_manifest.sh
. scripts/host_manifest.sh

# The same host as weight.sh's `without`.
mkdir -p "$work/without/src" "$work/with/src"
host_manifest "" >"$work/without/Cargo.toml"
cp scripts/host_without_tally.rs "$work/without/src/main.rs"
host_manifest "tally-telemetry = { path = \"$repo/crates/tally-telemetry\", default-features = false, features = [$features] }" >"$work/with/Cargo.toml"
cp crates/tally-telemetry/examples/mytool.rs "$work/with/src/main.rs"
# tally's lock file pins both hosts to the versions tally is tested with.
cp Cargo.lock "$work/without/Cargo.lock"
cp Cargo.lock "$work/with/Cargo.lock"

# One target directory for both (shared dependencies build once); each
# binary is copied out before the next build overwrites it.
for host in without with; do
    (cd "$work/$host" && CARGO_TARGET_DIR=$target cargo build --release -q)
    cp "$target/release/mytool" "$work/mytool-$host"
done
if [ -n "${CALLGRIND_KEEP:-}" ]; then
    mkdir -p "$CALLGRIND_KEEP"
    cp "$work/mytool-without" "$work/mytool-with" "$CALLGRIND_KEEP/"
fi

shell_vars=()
for i in $(seq 1 "${CALLGRIND_EXTRA_VARS:-0}"); do
    shell_vars+=("SHELL_VAR_$i=/usr/local/share/some/tool/of/the/shell/$i")
done

# Instructions of one run of `mytool ARGS…` in the environment given by
# the `env` words before `--`, nothing else of this shell's environment.
ir() { # home, env words…, --, args…
    local home=$1 vars=() out
    shift
    while [ "$1" != -- ]; do vars+=("$1"); shift; done
    shift
    # Named after the home, one per measured run, so the split below can
    # read it again.
    out="$work/cg.$(basename "$home")"
    env -i PATH=/usr/bin:/bin HOME="$home" XDG_CONFIG_HOME="$home/.config" \
        XDG_STATE_HOME="$home/.local/state" XDG_DATA_HOME="$home/.local/share" \
        "${shell_vars[@]}" "${vars[@]}" valgrind --tool=callgrind --callgrind-out-file="$out" "$@" \
        >/dev/null 2>"$out.log" || { cat "$out.log" >&2; exit 1; }
    # The totals of the whole process, from its first instruction (the
    # loader's) to its last.
    sed -n 's/^summary: *//p' "$out"
}
quiet() { # home, env words…, --, args…: runs, output dropped
    local home=$1 vars=()
    shift
    while [ "$1" != -- ]; do vars+=("$1"); shift; done
    shift
    env -i PATH=/usr/bin:/bin HOME="$home" XDG_CONFIG_HOME="$home/.config" \
        XDG_STATE_HOME="$home/.local/state" XDG_DATA_HOME="$home/.local/share" \
        "${vars[@]}" "$@" >/dev/null 2>&1
}

without=$work/mytool-without
with=$work/mytool-with
mkdir -p "$work/h0" "$work/h-env" "$work/h-dnt" "$work/h-stored" "$work/h-on"
base=$(ir "$work/h0" -- "$without" build)
off_env=$(ir "$work/h-env" MYTOOL_TELEMETRY=0 -- "$with" build)
off_dnt=$(ir "$work/h-dnt" DO_NOT_TRACK=1 -- "$with" build)
quiet "$work/h-stored" -- "$with" telemetry off
off_stored=$(ir "$work/h-stored" -- "$with" build)
# On: the choice stored, then two runs (the first shows the notice, if
# any, and creates the state) before the measured one. All of today's
# counts are of today, so no run has a completed day to send.
quiet "$work/h-on" -- "$with" telemetry on
quiet "$work/h-on" -- "$with" build
quiet "$work/h-on" -- "$with" build
on=$(ir "$work/h-on" -- "$with" build)

relocs() { readelf -r "$1" | grep -c '^[0-9a-f]\{12\}' || true; }
echo "mytool build under callgrind: instructions of the whole process (loader included)"
echo "environment: PATH, HOME, three XDG variables${CALLGRIND_EXTRA_VARS:+ and $CALLGRIND_EXTRA_VARS more}, and the run's own"
profile="release, stripped"
[ "${CARGO_PROFILE_RELEASE_STRIP:-}" = false ] && profile="release, not stripped"
[ "${CARGO_PROFILE_RELEASE_LTO:-false}" != false ] && profile="$profile, LTO ($CARGO_PROFILE_RELEASE_LTO)"
echo "host: crates/tally-telemetry/examples/mytool.rs, tally by path with features [$features], $profile"
printf '%-34s %12s %10s %8s %12s %8s\n' "" instructions added budget "size (B)" relocs
printf '%-34s %12d %10s %8s %12d %8d\n' "without tally" "$base" "" "" \
    "$(stat -c %s "$without")" "$(relocs "$without")"
over=0
above=0
row() { # label, count, budget, ceiling
    local added=$(($2 - base))
    printf '%-34s %12d %+10d %8s\n' "$1" "$2" "$added" "$3"
    if [ "$added" -gt "$3" ]; then over=1; fi
    if [ -n "$4" ] && [ "$added" -gt "$4" ]; then
        echo "  above the ceiling of +$4: this change makes the run pay more" >&2
        above=1
    fi
}
printf '%-34s %12s %10s %8s %12d %8d\n' "with tally (binary)" "" "" "" \
    "$(stat -c %s "$with")" "$(relocs "$with")"
row "  off: MYTOOL_TELEMETRY=0" "$off_env" 50000 "$ceiling_off"
row "  off: DO_NOT_TRACK=1" "$off_dnt" 50000 "$ceiling_off"
row "  off: stored \`telemetry off\`" "$off_stored" 50000 "$ceiling_on"
row "  on: stored, notice shown" "$on" 100000 "$ceiling_on"
# With symbols (CARGO_PROFILE_RELEASE_STRIP=false), the same runs split:
# the code tally's calls run (the host's `main`, which holds clap's parse,
# tally's `init` and `finish`, plus tally's exit hook, which libc runs
# after `main`), and the rest (the dynamic loader's relocations and symbol
# bindings, std's start-up and libc's exit).
in_main() { # callgrind output file -> instructions of `mytool::main` and tally's exit hook, callees included
    callgrind_annotate --inclusive=yes --threshold=100 "$1" 2>/dev/null |
        awk 'match($0, / \?\?\?:(mytool::main|tally_telemetry::host::exit::at_exit) \[/) {
                 f = substr($0, RSTART, RLENGTH)
                 if (!seen[f]++) { gsub(",", "", $1); n += $1 } } END { print n + 0 }'
}
main_base=$(in_main "$work/cg.h0")
code_over=0
if [ "$main_base" != 0 ]; then
    echo "split (symbols kept): added by code that runs (main: clap, tally's init and finish; tally's exit hook) | added by linking (loader, std's start-up, libc's exit)"
    for run in "off: MYTOOL_TELEMETRY=0:h-env:$off_env" "off: DO_NOT_TRACK=1:h-dnt:$off_dnt" \
        "off: stored \`telemetry off\`:h-stored:$off_stored" "on: stored, notice shown:h-on:$on"; do
        label=${run%%:h-*}
        rest=${run#"$label":}
        home=${rest%%:*}
        total=${rest#*:}
        m=$(in_main "$work/cg.$home")
        printf '  %-32s %+10d | %+10d\n' "$label" "$((m - main_base))" \
            "$((total - base - (m - main_base)))"
        budget=50000
        [ "$home" = h-on ] && budget=100000
        if [ "$((m - main_base))" -gt "$budget" ]; then
            echo "  the code of \"$label\" adds more than $budget" >&2
            code_over=1
        fi
    done
elif $check_code; then
    echo "--check-code needs the symbols: CARGO_PROFILE_RELEASE_STRIP=false bash scripts/callgrind.sh --check-code" >&2
    exit 2
fi
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) (callgrind counts do not depend on it)"
if $check_code && [ "$code_over" = 1 ]; then
    echo "tally's own code is over the budget: see callgrind_annotate on a run of the host (CALLGRIND_KEEP)" >&2
    exit 1
fi
if $check && [ "$over" = 1 ]; then
    echo "over the instruction budget: see callgrind_annotate on a run of the host" >&2
    exit 1
fi
if [ "$above" = 1 ]; then
    echo "above the ceiling: see callgrind_annotate on a run of the host (an unstripped build, docs/PERFORMANCE.md)" >&2
    exit 1
fi
