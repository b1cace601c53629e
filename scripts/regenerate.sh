#!/bin/sh
# Rewrites the generated files the repository carries, from the same clap
# definition and schema the binary is built from:
#   completions/   shell completions (bash, zsh, fish, powershell, elvish)
#   man/           one man page per command and subcommand
#   README.md      the table of environment variables (the one --help and
#                  the man pages use) between its BEGIN/END markers
#   TELEMETRY.md   tally's contract (its command paths, the field reference)
#                  between its BEGIN/END markers
#   crates/tally-telemetry/examples/host-TELEMETRY.md, finder-TELEMETRY.md
#                  the example hosts' pages for their users, through their
#                  own tests, as a host regenerates its file
#   conformance/   the cases every implementation runs (Rust, the Node and
#                  Python bindings, Go), answered by the library's code
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
tally generate readme-env README.md
tally generate conformance conformance
TALLY_WRITE_CONTRACT=1 cargo test --quiet -p tally-telemetry --features clap,prompt,rustls,otlp,rmcp --example host --example finder >/dev/null

echo "regenerated completions/, man/, the README's variables, conformance/, TELEMETRY.md and crates/tally-telemetry/examples/{host,finder}-TELEMETRY.md"
