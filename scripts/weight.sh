#!/usr/bin/env bash
# What embedding tally costs a host: builds one minimal clap host twice,
# without tally and with it (the README's snippet, examples/mytool.rs, with
# tally by path, default features off, plus the features the README lists),
# both release and stripped, each from a clean target directory, and prints
# the crates compiled, the binary size and the clean-build time side by side.
# Budget (DESIGN.md): at most 45 crates and at most +1.5 MB.
# Usage: bash scripts/weight.sh [FEATURES]   (default: the README's list)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
readme_features=$(sed -n 's/^tally = .*features = \[\(.*\)\] }$/\1/p' README.md | head -1)
features=${1:-$readme_features}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

manifest() { # name, extra dependency line
    cat <<TOML
[package]
name = "mytool"
version = "0.1.0"
edition = "2024"

[workspace]

[dependencies]
clap = { version = "4", features = ["derive"] }
$1

[profile.release]
strip = true
TOML
}

mkdir -p "$work/without/src" "$work/with/src"
manifest "" >"$work/without/Cargo.toml"
manifest "tally = { path = \"$repo\", default-features = false, features = [$features] }" >"$work/with/Cargo.toml"
cp examples/mytool.rs "$work/with/src/main.rs"
cat >"$work/without/src/main.rs" <<'RS'
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "mytool", version)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build the project
    Build,
    /// Deploy it
    Deploy {
        #[arg(long)]
        env: String,
    },
}

fn main() {
    match Cli::parse().command {
        Cmd::Build => println!("built"),
        Cmd::Deploy { env } => println!("deployed to {env}"),
    }
}
RS
# tally's lock file pins both builds to the versions tally is tested with.
cp Cargo.lock "$work/without/Cargo.lock"
cp Cargo.lock "$work/with/Cargo.lock"

measure() { # dir -> "crates bytes seconds"
    local dir=$1 start end crates
    (cd "$dir" && cargo fetch -q)
    start=$(date +%s.%N)
    crates=$(cd "$dir" && cargo build --release 2>&1 | grep -c '^ *Compiling ')
    end=$(date +%s.%N)
    printf '%s %s %s\n' "$crates" "$(stat -c %s "$dir/target/release/mytool")" \
        "$(echo "$end - $start" | bc)"
}

read -r c0 b0 t0 < <(measure "$work/without")
read -r c1 b1 t1 < <(measure "$work/with")
echo "minimal clap host, release, stripped; tally features: [$features]"
printf '%-16s %8s %12s %14s\n' "" crates "size (MB)" "clean build (s)"
printf '%-16s %8d %12.2f %14.1f\n' "without tally" "$c0" "$(echo "$b0/1048576" | bc -l)" "$t0"
printf '%-16s %8d %12.2f %14.1f\n' "with tally" "$c1" "$(echo "$b1/1048576" | bc -l)" "$t1"
printf '%-16s %+8d %+12.2f %+14.1f\n' "added" "$((c1 - c0))" "$(echo "($b1-$b0)/1048576" | bc -l)" "$(echo "$t1-$t0" | bc)"
