//! mytool: the README's embedding example, a complete clap host (compiled and run
//! by the tests exactly as the README shows it).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "mytool", version)]
struct Cli {
    #[command(flatten)]
    telemetry: tally_telemetry::TelemetryArgs, // --no-telemetry
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build the project
    Build,
    /// Deploy it (the environment's name is never recorded)
    Deploy {
        #[arg(long)]
        env: String,
    },
    /// See and change what mytool collects (status, on, off, prompt, show, ...)
    Telemetry {
        #[command(subcommand)]
        command: tally_telemetry::TelemetryCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let telemetry = tally_telemetry::Telemetry::builder("mytool")
        .version(env!("CARGO_PKG_VERSION"))
        .default_policy(tally_telemetry::DefaultPolicy::OptOut) // or OptIn
        .endpoint("https://telemetry.example.com/v1/batch")
        .docs_url("https://example.com/mytool/TELEMETRY.md")
        .no_telemetry(cli.telemetry.no_telemetry)
        .cli::<Cli>() // which command paths exist, which one is `telemetry`
        .init();
    telemetry.record(); // this run's subcommand path, never an argument
    let code: u8 = match cli.command {
        Cmd::Build => {
            println!("built");
            0
        }
        Cmd::Deploy { env } => {
            println!("deployed to {env}");
            0
        }
        Cmd::Telemetry { command } => telemetry.run_command(&command),
    };
    ExitCode::from(telemetry.finish(code)) // how it ended, and how long it took
}
