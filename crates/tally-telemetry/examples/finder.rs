//! finder: a host built as the README shows, whose ordinary "no match"
//! exits 1 (as grep's does) and which has a subcommand named outside the
//! schema. It declares both: exit code 1 is counted as a success, and
//! `Reindex.All` is sent as `reindex-all`. Its TELEMETRY.md section
//! (`examples/finder-TELEMETRY.md`) is written for its users by
//! `Builder::write_contract`; the test at the end fails when it drifts
//! (rewrite it with `TALLY_WRITE_CONTRACT=1 cargo test --example finder`).
//!
//! Run it: `cargo run --example finder -- find needle "hay with a needle"`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tally_telemetry::CommandOutcome;

#[derive(Parser)]
#[command(name = "finder", version, about = "Find a word in a text")]
struct Cli {
    #[command(flatten)]
    telemetry: tally_telemetry::TelemetryArgs,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Exit 0 when WORD is in TEXT, 1 when it is not (neither is recorded)
    Find { word: String, text: String },
    /// Rebuild the index (a name the schema refuses, sent as `reindex-all`)
    #[command(name = "Reindex.All")]
    ReindexAll,
    /// See and change what finder collects
    Telemetry {
        #[command(subcommand)]
        command: tally_telemetry::TelemetryCommand,
    },
}

/// Everything finder declares about its telemetry, shared by `main` and
/// the contract test.
fn builder() -> tally_telemetry::Builder {
    let b = tally_telemetry::Telemetry::builder("finder")
        .version(env!("CARGO_PKG_VERSION"))
        .default_policy(tally_telemetry::DefaultPolicy::OptOut)
        .endpoint("https://telemetry.example.com/v1/batch")
        .retention("13 months, then deleted")
        // "No match" is an ordinary answer, not a failure.
        .outcome_for_exit(1, CommandOutcome::Success)
        .cli::<Cli>();
    // The tests switch the rename off to see `status` warn.
    if std::env::var_os("FINDER_EXAMPLE_NO_RENAME").is_some() {
        b
    } else {
        b.rename_command("Reindex.All", "reindex-all")
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let telemetry = builder().no_telemetry(cli.telemetry.no_telemetry).init();
    telemetry.record();
    let code: u8 = match cli.command {
        Cmd::Find { word, text } => {
            if text.split_whitespace().any(|w| w == word) {
                println!("found");
                0
            } else {
                1
            }
        }
        Cmd::ReindexAll => {
            println!("reindexed");
            0
        }
        Cmd::Telemetry { command } => telemetry.run_command(&command),
    };
    ExitCode::from(telemetry.finish(code))
}

#[cfg(test)]
mod tests {
    /// finder's TELEMETRY.md section must match what it declares and can
    /// record.
    #[test]
    fn finder_telemetry_md_is_current() {
        let file =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/finder-TELEMETRY.md");
        if std::env::var_os("TALLY_WRITE_CONTRACT").is_some() {
            super::builder().write_contract(&file).unwrap();
        }
        if let Err(e) = super::builder().check_contract(&file) {
            panic!("{e}");
        }
    }
}
