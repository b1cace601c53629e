//! The `tally` binary's command line: clap derive structs, and [`run()`],
//! which resolves telemetry for tally itself (opt-in, no endpoint unless
//! configured), counts the command through the library like any host, and
//! dispatches.

mod generate;
mod run;

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
    /// Count under this application name instead of tally (for `run`, and
    /// `telemetry status|show|flush|log` to see those counts). Consent and
    /// settings stay tally's.
    #[arg(long, global = true, value_name = "NAME", value_parser = run::app_name)]
    pub app: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

/// The binary's subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// See and change what tally itself collects, and exactly what it sends
    Telemetry {
        #[command(subcommand)]
        command: TelemetryCommand,
    },
    /// Get or set the telemetry choice under ToolHive's key, usage-analytics-enabled
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Run an MCP server behind a transparent stdio proxy that counts its tool calls
    Run(run::RunArgs),
    /// Write shell completions, man pages or TELEMETRY.md's field reference (for packagers)
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
    if let Some(app) = &cli.app
        && !matches!(
            cli.command,
            Command::Run(_)
                | Command::Telemetry {
                    command: TelemetryCommand::Status { .. }
                        | TelemetryCommand::Show { .. }
                        | TelemetryCommand::Flush { .. }
                        | TelemetryCommand::Log { .. }
                }
        )
    {
        eprintln!(
            "tally: --app {app} applies to `run` and `telemetry status|show|flush|log`; consent and settings are tally's own (leave out --app)"
        );
        return Ok(ExitCode::from(2));
    }
    // The proxy never asks the first-run question: stdin is the client's.
    let proxy = matches!(cli.command, Command::Run(_));
    let mut builder = Telemetry::builder("tally")
        .version(env!("CARGO_PKG_VERSION"))
        .env_prefix(ENV_PREFIX)
        .default_policy(DefaultPolicy::OptIn)
        .no_telemetry(cli.telemetry.no_telemetry)
        .prompt(!managing && !proxy)
        .background_send(!managing);
    if let Some(app) = &cli.app {
        builder = builder.report_as(app);
    }
    let telemetry = builder.init();
    if cli.app.is_none() {
        // Under --app the process counts for another name: not a tally command.
        telemetry.record_matches(&matches);
    }
    if let Command::Run(args) = &cli.command {
        run::run(args, &telemetry);
    }
    let mut out = std::io::stdout().lock();
    let result = match &cli.command {
        Command::Telemetry { command } => command.run(&telemetry, &mut out),
        Command::Config { command } => command.run(&telemetry, &mut out),
        Command::Generate { what } => return generate::run(what).map(|()| ExitCode::SUCCESS),
        Command::Run(_) => unreachable!("handled above"),
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
