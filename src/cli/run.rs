//! `tally run [--app NAME] [--tool-names] -- CMD [ARGS…]`: runs an MCP
//! server behind the counting stdio proxy ([`crate::mcp::proxy`]) and exits with
//! the server's exit code.
//!
//! Counting follows tally's own consent (`tally telemetry on`,
//! `TALLY_TELEMETRY`, `DO_NOT_TRACK`, …); with `--app NAME` the counts are
//! kept and sent under NAME instead of `tally` (see [`crate::Builder::report_as`]).
//! The long-running flush persists counts every flush interval; the exit
//! hook persists the rest when the proxy exits through
//! `std::process::exit`.

use std::ffi::OsString;

use clap::Args;

use crate::mcp::proxy::{self, Options};
use tally_telemetry::Telemetry;
use tally_telemetry::schema::Pattern;

/// Arguments of `tally run`.
#[derive(Args, Debug)]
#[command(after_long_help = AFTER_HELP)]
pub struct RunArgs {
    /// Count under this application name instead of tally (its own consent
    /// and settings stay tally's; see them with `tally --app NAME telemetry show`)
    #[arg(long, value_name = "NAME", value_parser = app_name)]
    pub app: Option<String>,

    /// Count tool calls under their tool names (names must match
    /// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}`; others count without a name).
    /// Off by default: only outcomes are counted.
    #[arg(long)]
    pub tool_names: bool,

    /// The MCP server to run, and its arguments (after `--`)
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

const AFTER_HELP: &str = "\
Every byte between the client and the server passes through unchanged and in order; the proxy writes nothing of its own to stdout. It counts tools/call outcomes (ok, tool_error, protocol_error, cancelled, unanswered) with latency buckets, the client's name and major version from initialize, and session facts (protocol version, declared capabilities, uptime). Counts are recorded only when tally's telemetry is on (`tally telemetry on` or TALLY_TELEMETRY=1).

SIGINT, SIGTERM and SIGHUP are forwarded to the server. The exit code is the server's (128+N if signal N killed it); 127 if CMD was not found, 126 if it could not be run.

Example: tally run --app my-server -- node server.js";

/// Validates `--app`: the schema's application-name shape.
pub fn app_name(s: &str) -> Result<String, String> {
    if Pattern::AppName.matches(s) {
        Ok(s.to_owned())
    } else {
        Err(format!("must match {}", Pattern::AppName.describe()))
    }
}

/// Runs the proxy and exits the process with the server's exit code, so the
/// exit hook persists the counts.
pub fn run(args: &RunArgs, telemetry: &Telemetry) -> ! {
    telemetry.start_interval_flush();
    let (program, rest) = args.command.split_first().expect("clap requires a command");
    let opts = Options {
        program: program.clone(),
        args: rest.to_vec(),
        tool_names: args.tool_names,
    };
    let code = match proxy::run(&opts) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tally run: {e}");
            e.exit_code()
        }
    };
    std::process::exit(telemetry.finish(code))
}
