//! The weight script's host for tally without its clap feature: the same
//! clap CLI as crates/tally-telemetry/examples/mytool.rs, recording each subcommand by name.

use std::process::ExitCode;

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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let telemetry = tally_telemetry::Telemetry::builder("mytool")
        .version(env!("CARGO_PKG_VERSION"))
        .default_policy(tally_telemetry::DefaultPolicy::OptOut)
        .endpoint("http://127.0.0.1:4318/v1/batch")
        .init();
    let code: u8 = match cli.command {
        Cmd::Build => {
            tally_telemetry::record_command("build");
            println!("built");
            0
        }
        Cmd::Deploy { env } => {
            tally_telemetry::record_command("deploy");
            println!("deployed to {env}");
            0
        }
    };
    ExitCode::from(telemetry.finish(code))
}
