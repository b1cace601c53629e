//! The `tally` binary's command line: clap derive structs, and [`run()`],
//! which resolves telemetry for tally itself (opt-in, no endpoint unless
//! configured), counts the command through the library like any host, and
//! dispatches.

// Doc comments here are clap's help text, written for a terminal.
#![allow(rustdoc::invalid_html_tags)]

mod generate;
mod help;
mod report;
mod run;
mod serve;

use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use tally_telemetry::{ConfigCommand, TelemetryArgs, TelemetryCommand};
use tally_telemetry::{DefaultPolicy, Telemetry};

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
    /// See the counts kept under this application name (`tally --app NAME
    /// telemetry status|show|flush|log`); consent and settings stay tally's.
    /// `run --app` and `report --app` take it after their own name too
    #[arg(long, value_name = "NAME", value_parser = run::app_name)]
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
    /// Run the ingest endpoint: validate posted batches against the schema and store them
    Serve(serve::ServeArgs),
    /// Summarise what `tally serve` stored: machines, commands, tool calls, clients, versions
    Report(report::ReportArgs),
    /// Write shell completions, man pages or TELEMETRY.md's command paths and field reference (for packagers)
    #[command(hide = true)]
    Generate {
        #[command(subcommand)]
        what: generate::Generate,
    },
}

fn is_report(command: &Command) -> bool {
    matches!(command, Command::Report(_))
}

/// The clap command, for completions and man pages.
pub fn command() -> clap::Command {
    Cli::command().after_long_help(help::text())
}

/// Parses the process arguments, runs the command, returns the exit code.
pub fn run() -> anyhow::Result<ExitCode> {
    let matches = command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches)?;
    // `--app` belongs to `run` and `report` (their own flag) and to the
    // `telemetry` commands that read counts (the top-level flag): one value.
    let own_app = match &cli.command {
        Command::Run(a) => a.app.clone(),
        Command::Report(a) => a.app.clone(),
        _ => None,
    };
    if let (Some(top), Some(own)) = (&cli.app, &own_app)
        && top != own
    {
        eprintln!("tally: --app is given twice ({top} and {own}); give it once");
        return Ok(ExitCode::from(2));
    }
    cli.app = cli.app.or(own_app);
    let managing = matches!(
        cli.command,
        Command::Telemetry { .. } | Command::Config { .. } | Command::Generate { .. }
    );
    // A server must not stop at start to ask a question.
    let managing = managing || matches!(cli.command, Command::Serve(_));
    // With `report`, --app filters what is shown; elsewhere it names the
    // application this process counts for.
    let report_as = cli.app.as_deref().filter(|_| !is_report(&cli.command));
    if let Some(app) = report_as
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
            "tally: --app {app} applies to `run`, `report` and `telemetry status|show|flush|log`; consent and settings are tally's own (leave out --app)"
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
        .background_send(!managing)
        // The proxy counts the server's tool calls, clients and facts;
        // nothing else of tally sends them.
        .tool_calls(proxy)
        .facts(proxy);
    if let Some(app) = report_as {
        builder = builder.report_as(app);
    }
    let telemetry = builder.init();
    if report_as.is_none() {
        // Under --app the process counts for another name: not a tally command.
        telemetry.record_matches(&matches);
    }
    if let Command::Run(args) = &cli.command {
        run::run(args, &telemetry);
    }
    let code = dispatch(&cli, &telemetry);
    // How the command ended counts with it (0 success, 2 usage error, …);
    // an error that reaches main is a failure.
    let exit = match &code {
        Ok(c) => i32::from(*c),
        Err(_) => 1,
    };
    telemetry.finish(exit);
    code.map(ExitCode::from)
}

/// Runs the parsed command; the exit code it asks for.
fn dispatch(cli: &Cli, telemetry: &Telemetry) -> anyhow::Result<u8> {
    let mut out = std::io::stdout().lock();
    let result = match &cli.command {
        Command::Telemetry { command } => command.run(telemetry, &mut out),
        Command::Config { command } => command.run(telemetry, &mut out),
        Command::Generate { what } => return generate::run(what).map(|()| 0),
        Command::Run(_) => unreachable!("handled above"),
        Command::Serve(args) => return serve::run(args, telemetry).map(|()| 0),
        Command::Report(args) => {
            let r = report::run(args, cli.app.clone(), telemetry.env(), &mut out);
            out.flush().ok();
            // `report | head`: the reader went away, which is not a failure.
            return match r {
                Err(e) if is_broken_pipe(&e) => Ok(0),
                // A --since that cannot make a window is a usage error.
                Err(e)
                    if matches!(
                        e.downcast_ref::<crate::report::ReportError>(),
                        Some(
                            crate::report::ReportError::Since(_)
                                | crate::report::ReportError::SinceAfterUntil { .. }
                        )
                    ) =>
                {
                    eprintln!("tally: {}", error_text(&e));
                    Ok(2)
                }
                r => r.map(|()| 0),
            };
        }
    };
    out.flush().ok();
    match result {
        Ok(()) => Ok(0),
        Err(e) => {
            if !e.is_silent() {
                eprintln!("tally: {e}");
            }
            Ok(e.exit_code())
        }
    }
}

/// The error and its causes in one line, each cause once. Errors that
/// quote their cause in their own message and also return it as their
/// `source()` (ours with `{source}`, rusqlite's "file is not a database"
/// over SQLite's own) would otherwise print it twice, as `{:#}` did.
pub fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        // A cause may also repeat part of what its wrapper said
        // (SQLite's "Error code 26: file is not a database" under
        // rusqlite's "file is not a database"): only what is new is added.
        for part in cause.to_string().split(": ").map(str::trim) {
            if part.is_empty() || text.contains(part) {
                continue;
            }
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(part);
        }
    }
    text
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
