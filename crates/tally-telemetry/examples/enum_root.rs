//! enumtool: a host whose clap root is an enum (`#[derive(Parser)] enum
//! Cmd`), so there is no struct to flatten `TelemetryArgs` into.
//! `TelemetryArgs::parse_with` parses the arguments with `--no-telemetry`
//! added as a global flag.
//!
//! Run it: `cargo run --example enum_root -- --no-telemetry build`.

use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(name = "enumtool", version, about = "A CLI whose root is an enum")]
enum Cmd {
    /// Build the project
    Build,
    /// See and change what enumtool collects
    Telemetry {
        #[command(subcommand)]
        command: tally_telemetry::TelemetryCommand,
    },
}

fn main() -> ExitCode {
    let (cmd, flags) = tally_telemetry::TelemetryArgs::parse_with::<Cmd>();
    let telemetry = tally_telemetry::Telemetry::builder("enumtool")
        .version(env!("CARGO_PKG_VERSION"))
        .default_policy(tally_telemetry::DefaultPolicy::OptOut)
        .no_telemetry(flags.no_telemetry)
        .cli::<Cmd>()
        .init();
    telemetry.record();
    let code: u8 = match cmd {
        Cmd::Build => {
            println!("built");
            0
        }
        Cmd::Telemetry { command } => telemetry.run_command(&command),
    };
    ExitCode::from(telemetry.finish(code))
}
