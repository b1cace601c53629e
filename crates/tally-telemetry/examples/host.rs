//! A small host CLI showing how a tool author embeds tally: an opt-out
//! policy, the shared `telemetry …` commands flattened into the host's own
//! CLI, and one line to count each command. The integration tests drive it
//! to exercise the opt-out flow (notice, then the first send from a later
//! run), exits through `std::process::exit` and panics.
//!
//! Its own contract, `examples/host-TELEMETRY.md`, is written for its users
//! from what it declares and its clap tree; the test at the end fails when
//! it drifts (rewrite it with
//! `TALLY_WRITE_CONTRACT=1 cargo test --example host`).
//!
//! Run it: `cargo run --example host -- build --target anything`.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "host",
    version,
    about = "An example host CLI with tally telemetry",
    allow_external_subcommands = true
)]
struct Cli {
    #[command(flatten)]
    telemetry: tally_telemetry::TelemetryArgs,
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
    /// Print the shell setup (which shell is recorded: one of a fixed set)
    Init {
        shell: Shell,
        /// Where to write it (never recorded)
        #[arg(long)]
        rc_file: Option<String>,
    },
    /// Fail with exit code 1
    Fail,
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
        command: tally_telemetry::TelemetryCommand,
    },
    /// Any other word runs a plugin, as `git foo` runs `git-foo` (recorded
    /// as `external`, never as typed)
    #[command(external_subcommand)]
    Plugin(Vec<String>),
}

/// The shells `init` supports: a closed set, so the builder may record
/// which one a run targets.
#[derive(Clone, Copy, ValueEnum)]
enum Shell {
    Bash,
    Zsh,
    Fish,
    Pwsh,
}

fn main() -> ExitCode {
    // 1. Parse.
    // (A host that keeps clap's matches parses like this and records with
    // `record_matches`; the tests drive both ways.)
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());

    // 2. Resolve consent once and start recording if telemetry is on. With
    //    the clap tree, `telemetry …` runs neither ask nor send.
    let mut b = builder();
    if std::env::var_os("HOST_EXAMPLE_RECORD_FREE_TEXT").is_some() {
        // What the tests check is refused: `build`'s path is free text,
        // so it is never recorded (and `telemetry status` says so).
        b = b.record_value("build", "path");
    }
    let telemetry = b
        .no_telemetry(cli.telemetry.no_telemetry)
        // An opt-out host shows a one-line notice and never stops an
        // ordinary command at a question; installers run `host telemetry
        // prompt`. (The tests also drive the first-run question, which a
        // host asks only by choice: this example's own switch for that.)
        .first_run_prompt(std::env::var_os("HOST_EXAMPLE_FIRST_RUN_PROMPT").is_some())
        .init();

    // 3. Count the command: its subcommand path only, never arguments.
    if std::env::var_os("HOST_EXAMPLE_RECORD_MATCHES").is_some() {
        telemetry.record_matches(&matches);
    } else {
        telemetry.record();
    }

    let code: u8 = match cli.command {
        Cmd::Build { .. } => {
            println!("built");
            0
        }
        Cmd::Init { shell, .. } => {
            println!(
                "# setup for {:?}",
                shell.to_possible_value().map(|v| v.get_name().to_owned())
            );
            0
        }
        Cmd::Fail => {
            eprintln!("host: failed on purpose");
            1
        }
        Cmd::ExitDeep { code } => deep(&telemetry, code),
        Cmd::Panic => panic!("host panicked on purpose"),
        Cmd::WaitMs { ms } => {
            // A long-running command persists (and sends) on an interval, and
            // keeps recording, like a server handling a request every 250 ms.
            telemetry.start_interval_flush();
            let start = std::time::Instant::now();
            while start.elapsed() < std::time::Duration::from_millis(ms) {
                std::thread::sleep(std::time::Duration::from_millis(ms.min(250)));
                tally_telemetry::record_tool_call(
                    "",
                    tally_telemetry::CallOutcome::Ok,
                    std::time::Duration::from_millis(1),
                );
            }
            println!("waited");
            0
        }
        Cmd::Serve => {
            tally_telemetry::record_client("claude-code", "1.2.0");
            tally_telemetry::record_tool_call(
                "",
                tally_telemetry::CallOutcome::Ok,
                std::time::Duration::from_millis(3),
            );
            tally_telemetry::set_fact("auth_type", "oidc");
            println!("served");
            0
        }
        Cmd::Plugin(args) => {
            println!("no plugin {:?}", args.first());
            1
        }
        // 4. The shared telemetry commands.
        Cmd::Telemetry { command } => telemetry.run_command(&command),
    };
    // 5. Say how the command ended (0 success, 2 usage error, other
    //    failure): counted with its duration.
    ExitCode::from(telemetry.finish(code))
}

/// Everything the host declares about its telemetry, shared by `main` and
/// the contract test.
fn builder() -> tally_telemetry::Builder {
    tally_telemetry::Telemetry::builder("host")
        .version(env!("CARGO_PKG_VERSION"))
        .env_prefix("HOST")
        .default_policy(tally_telemetry::DefaultPolicy::OptOut)
        .docs_url("https://example.invalid/host/TELEMETRY.md")
        .retention("90 days, then deleted")
        // `serve` records MCP tool calls, a client and a fact.
        .tool_calls(true)
        .facts(true)
        // `init bash` and `init zsh` are counted apart: the shell is one
        // of `Shell`'s values, never free text.
        .record_value("init", "shell")
        .cli::<Cli>()
}

fn deep(telemetry: &tally_telemetry::Telemetry, code: i32) -> ! {
    println!("exiting with {code}");
    // Before std::process::exit: say how it ended; the exit hook persists.
    std::process::exit(telemetry.finish(code))
}

#[cfg(test)]
mod tests {
    /// The host's own test: its TELEMETRY.md section must match what its
    /// CLI can record and what it declares, so a new subcommand cannot ship
    /// undocumented.
    #[test]
    fn host_telemetry_md_lists_what_the_cli_can_record() {
        let file =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/host-TELEMETRY.md");
        if std::env::var_os("TALLY_WRITE_CONTRACT").is_some() {
            super::builder().write_contract(&file).unwrap();
        }
        if let Err(e) = super::builder().check_contract(&file) {
            panic!("{e}");
        }
    }
}
