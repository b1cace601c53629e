//! A small host CLI showing how a tool author embeds tally: an opt-out
//! policy, the shared `telemetry …` commands flattened into the host's own
//! CLI, and one line to count each command. The integration tests drive it
//! to exercise the opt-out flow (notice, then the first send from a later
//! run), exits through `std::process::exit` and panics.
//!
//! Run it: `cargo run --example host -- build --target anything`.

use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "host",
    version,
    about = "An example host CLI with tally telemetry"
)]
struct Cli {
    #[command(flatten)]
    telemetry: tally::TelemetryArgs,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Pretend to build something (the path argument is never recorded)
    Build {
        #[arg(long)]
        target: Option<String>,
        path: Option<String>,
    },
    /// Exit through std::process::exit from deep inside the program
    ExitDeep {
        #[arg(default_value_t = 3)]
        code: i32,
    },
    /// Panic out of main
    Panic,
    /// Work for a while, recording a tool call every 250 ms (a long-running command)
    WaitMs { ms: u64 },
    /// Record an MCP-style tool call and a client, like a server would
    Serve,
    /// Telemetry settings
    Telemetry {
        #[command(subcommand)]
        command: tally::TelemetryCommand,
    },
}

fn main() -> ExitCode {
    // 1. Parse, keeping the matches for the command hook.
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());

    // 2. Resolve consent once (this may ask the first-run question on a
    //    terminal) and start recording if telemetry is on.
    let telemetry = tally::Telemetry::builder("host")
        .version(env!("CARGO_PKG_VERSION"))
        .env_prefix("HOST")
        .default_policy(tally::DefaultPolicy::OptOut)
        .docs_url("https://example.invalid/host/TELEMETRY.md")
        .no_telemetry(cli.telemetry.no_telemetry)
        // An opt-out host shows a one-line notice and never stops an
        // ordinary command at a question; installers run `host telemetry
        // prompt`. (The tests also drive the first-run question, which a
        // host asks only by choice: this example's own switch for that.)
        .first_run_prompt(std::env::var_os("HOST_EXAMPLE_FIRST_RUN_PROMPT").is_some())
        .prompt(!matches!(cli.command, Cmd::Telemetry { .. }))
        .background_send(!matches!(cli.command, Cmd::Telemetry { .. }))
        .init();

    // 3. Count the command: its subcommand path only, never arguments.
    telemetry.record_matches(&matches);

    match cli.command {
        Cmd::Build { .. } => {
            println!("built");
            ExitCode::SUCCESS
        }
        Cmd::ExitDeep { code } => deep(code),
        Cmd::Panic => panic!("host panicked on purpose"),
        Cmd::WaitMs { ms } => {
            // A long-running command persists (and sends) on an interval, and
            // keeps recording, like a server handling a request every 250 ms.
            telemetry.start_interval_flush();
            let start = std::time::Instant::now();
            while start.elapsed() < std::time::Duration::from_millis(ms) {
                std::thread::sleep(std::time::Duration::from_millis(ms.min(250)));
                tally::record_tool_call(
                    "",
                    tally::CallOutcome::Ok,
                    std::time::Duration::from_millis(1),
                );
            }
            println!("waited");
            ExitCode::SUCCESS
        }
        Cmd::Serve => {
            tally::record_client("claude-code", "1.2.0");
            tally::record_tool_call(
                "",
                tally::CallOutcome::Ok,
                std::time::Duration::from_millis(3),
            );
            tally::set_fact("auth_type", "oidc");
            println!("served");
            ExitCode::SUCCESS
        }
        // 4. The shared telemetry commands.
        Cmd::Telemetry { command } => {
            let mut out = std::io::stdout().lock();
            let result = command.run(&telemetry, &mut out);
            let _ = out.flush();
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    if !e.is_silent() {
                        eprintln!("host: {e}");
                    }
                    ExitCode::from(e.exit_code())
                }
            }
        }
    }
}

fn deep(code: i32) -> ExitCode {
    fn inner(code: i32) -> ! {
        println!("exiting with {code}");
        std::process::exit(code)
    }
    inner(code)
}
