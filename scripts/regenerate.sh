#!/bin/sh
# Rewrites the generated files the repository carries, from the same clap
# definition and schema the binary is built from:
#   completions/   shell completions (bash, zsh, fish, powershell, elvish)
#   man/           one man page per command and subcommand
#   TELEMETRY.md   the field reference between its BEGIN/END markers
# `cargo test` (tests/cli/generated.rs) fails until this has been run after
# a change to the CLI or the schema.
set -eu

cd "$(dirname "$0")/.."

tally() {
    cargo run --quiet --bin tally -- "$@"
}

# Start from empty directories, so files of removed commands disappear.
rm -rf completions man
tally generate completions completions
tally generate man man
tally generate telemetry-md TELEMETRY.md

echo "regenerated completions/, man/ and TELEMETRY.md"
