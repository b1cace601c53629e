# Sourced by weight.sh, callgrind.sh and link_floor.sh: the Cargo.toml of
# their throwaway copies of the minimal clap host (host_without_tally.rs,
# the README's host), one package outside tally's workspace, release builds
# stripped as a host ships them.
#
# host_manifest EXTRA [PROFILE]: EXTRA goes after clap's dependency line
# (more dependencies, then any other table, such as [features]); PROFILE
# after `strip = true` in [profile.release] (say `lto = true`).
host_manifest() {
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
${2:-}
TOML
}
