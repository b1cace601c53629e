//! The `tally` binary's command line: clap derive structs, and [`run`],
//! which resolves telemetry for tally itself (opt-in, no endpoint unless
//! configured), counts the command through the library like any host, and
//! dispatches.

mod generate;
#[cfg(feature = "server")]
mod report;
#[cfg(feature = "server")]
mod serve;

use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::command::{CommandError, ConfigCommand, TelemetryArgs, TelemetryCommand};
use crate::{DefaultPolicy, Telemetry};

/// The environment prefix of the tally binary's own settings.
pub const ENV_PREFIX: &str = "TALLY";

/// tally: privacy-first usage telemetry for command-line tools and MCP servers
#[derive(Parser, Debug)]
#[command(
    name = "tally",
    version,
    about,
    long_about = "tally: privacy-first, consent-managed usage telemetry for command-line tools and MCP servers.\n\nThe tally binary counts its own commands only if you turn that on (`tally telemetry on`) and configure an endpoint (TALLY_TELEMETRY_ENDPOINT); it ships with none.",
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// The binary's subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// See and change what tally itself collects (status, on, off, prompt, reset, flush, show, log)
    Telemetry {
        #[command(subcommand)]
        command: TelemetryCommand,
    },
    /// Settings under the keys ToolHive users know (`config otel get|set|unset usage-analytics-enabled`)
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Run the ingest endpoint: validate posted batches against the schema and store them
    #[cfg(feature = "server")]
    Serve(serve::ServeArgs),
    /// Summarise what `tally serve` stored: machines, commands, tool calls, clients, versions
    #[cfg(feature = "server")]
    Report(report::ReportArgs),
    /// Write shell completions or man pages (for packagers)
    #[command(hide = true)]
    Generate {
        #[command(subcommand)]
        what: generate::Generate,
    },
}

/// The clap command, for completions and man pages.
pub fn command() -> clap::Command {
    Cli::command()
}

/// Parses the process arguments, runs the command, returns the exit code.
pub fn run() -> anyhow::Result<ExitCode> {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches)?;
    let managing = matches!(
        cli.command,
        Command::Telemetry { .. } | Command::Config { .. } | Command::Generate { .. }
    );
    // A server must not stop at start to ask a question.
    #[cfg(feature = "server")]
    let managing = managing || matches!(cli.command, Command::Serve(_));
    let telemetry = Telemetry::builder("tally")
        .version(env!("CARGO_PKG_VERSION"))
        .env_prefix(ENV_PREFIX)
        .default_policy(DefaultPolicy::OptIn)
        .no_telemetry(cli.telemetry.no_telemetry)
        .prompt(!managing)
        .init();
    telemetry.record_matches(&matches);
    let mut out = std::io::stdout().lock();
    let result = match &cli.command {
        Command::Telemetry { command } => command.run(&telemetry, &mut out),
        Command::Config { command } => command.run(&telemetry, &mut out),
        Command::Generate { what } => return generate::run(what).map(|()| ExitCode::SUCCESS),
        #[cfg(feature = "server")]
        Command::Serve(args) => return serve::run(args).map(|()| ExitCode::SUCCESS),
        #[cfg(feature = "server")]
        Command::Report(args) => {
            let r = report::run(args, &mut out);
            out.flush().ok();
            return r.map(|()| ExitCode::SUCCESS);
        }
    };
    out.flush().ok();
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(CommandError::Usage(msg)) => {
            eprintln!("tally: {msg}");
            Ok(ExitCode::from(2))
        }
        Err(e) => Err(e.into()),
    }
}
