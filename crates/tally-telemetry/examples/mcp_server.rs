//! A tiny MCP server over stdio that embeds tally like a host: how a Rust
//! MCP server counts its own tool calls with the library, without
//! `tally run` in front of it.
//!
//! It speaks newline-delimited JSON-RPC on stdin/stdout: `initialize`,
//! `tools/list`, and `tools/call` with two tools, `add` (succeeds) and
//! `divide` (returns `isError: true` when dividing by zero). Where the
//! counting goes in the request loop:
//!
//! 1. `initialize`: [`tally_telemetry::record_client`] with `clientInfo.name` and
//!    `.version` (mapped onto the schema's client allowlist; only the major
//!    version is kept).
//! 2. `tools/call`: take the start time when the request is read; build and
//!    **write and flush the reply first**, then call
//!    [`tally_telemetry::record_tool_call`] with the outcome and the elapsed time. A
//!    call counts only once its answer is on its way, and recording (an
//!    uncontended mutex, no I/O) never delays the answer. Pass `""` as the
//!    name to count the outcome only, the default a server should keep
//!    unless its operator opted into tool names.
//! 3. Exit through a return from `main` or `std::process::exit`: the exit
//!    hook appends the counts to the spool. A long-running server also calls
//!    [`tally_telemetry::Telemetry::start_interval_flush`] once.
//!
//! Policy: **opt-in**. A stdio MCP server has no terminal to ask on and its
//! users rarely see its stderr, so nothing is recorded until the operator
//! says yes: `MCP_EXAMPLE_TELEMETRY=1`, or `mcp_server telemetry on`.
//! `mcp_server telemetry show` prints what was counted.
//!
//! Run it: `cargo run --example mcp_server`, then type
//! `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add","arguments":{"a":1,"b":2}}}`.

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use serde_json::{Value, json};
use tally_telemetry::{CallOutcome, ErrorClass};

#[derive(Parser)]
#[command(
    name = "mcp_server",
    about = "An example MCP server with tally telemetry"
)]
struct Cli {
    #[command(flatten)]
    telemetry: tally_telemetry::TelemetryArgs,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Telemetry settings
    Telemetry {
        #[command(subcommand)]
        command: tally_telemetry::TelemetryCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let telemetry = tally_telemetry::Telemetry::builder("mcp-example")
        .version(env!("CARGO_PKG_VERSION"))
        .env_prefix("MCP_EXAMPLE")
        .default_policy(tally_telemetry::DefaultPolicy::OptIn)
        // Tool calls and clients are sent only when declared (and then
        // described in the generated TELEMETRY.md).
        .tool_calls(true)
        .no_telemetry(cli.telemetry.no_telemetry)
        // stdin is the protocol channel: never ask a question on it.
        .prompt(false)
        .init();

    if let Some(Cmd::Telemetry { command }) = cli.command {
        let mut out = std::io::stdout().lock();
        let result = command.run(&telemetry, &mut out);
        let _ = out.flush();
        return match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("mcp_server: {e}");
                ExitCode::FAILURE
            }
        };
    }

    telemetry.start_interval_flush();
    serve();
    ExitCode::SUCCESS
}

fn serve() {
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let started = Instant::now();
        let Ok(msg) = serde_json::from_str::<Value>(&line) else {
            reply(&mut out, &error(Value::Null, -32700, "Parse error"));
            continue;
        };
        // Notifications (no id) get no answer.
        let Some(id) = msg.get("id").cloned() else {
            continue;
        };
        let params = msg.get("params").cloned().unwrap_or(Value::Null);
        match msg.get("method").and_then(Value::as_str) {
            Some("initialize") => {
                let info = &params["clientInfo"];
                let result = json!({
                    "protocolVersion": "2025-06-18",
                    "capabilities": {"tools": {}},
                    "serverInfo": {"name": "mcp-example", "version": env!("CARGO_PKG_VERSION")}
                });
                reply(&mut out, &ok(id, result));
                // (1) The client, once the handshake is answered.
                tally_telemetry::record_client(
                    info["name"].as_str().unwrap_or(""),
                    info["version"].as_str().unwrap_or(""),
                );
            }
            Some("tools/list") => {
                let result = json!({"tools": [
                    {"name": "add", "description": "a + b", "inputSchema": {"type": "object"}},
                    {"name": "divide", "description": "a / b", "inputSchema": {"type": "object"}},
                ]});
                reply(&mut out, &ok(id, result));
            }
            Some("tools/call") => {
                let (response, outcome) = call(id, &params);
                // (2) Reply first (written and flushed), then record.
                reply(&mut out, &response);
                tally_telemetry::record_tool_call("", outcome, started.elapsed());
            }
            _ => reply(&mut out, &error(id, -32601, "Method not found")),
        }
    }
}

/// Runs a tool: the response to send and the outcome to record.
fn call(id: Value, params: &Value) -> (Value, CallOutcome) {
    let args = &params["arguments"];
    let (a, b) = (args["a"].as_f64(), args["b"].as_f64());
    match (params["name"].as_str(), a, b) {
        (Some("add"), Some(a), Some(b)) => {
            (ok(id, text(&(a + b).to_string(), false)), CallOutcome::Ok)
        }
        (Some("divide"), Some(_), Some(0.0)) => (
            ok(id, text("cannot divide by zero", true)),
            CallOutcome::ToolError,
        ),
        (Some("divide"), Some(a), Some(b)) => {
            (ok(id, text(&(a / b).to_string(), false)), CallOutcome::Ok)
        }
        (Some("add" | "divide"), _, _) => (
            error(id, -32602, "a and b must be numbers"),
            CallOutcome::ProtocolError(ErrorClass::InvalidParams),
        ),
        _ => (
            error(id, -32602, "unknown tool"),
            CallOutcome::ProtocolError(ErrorClass::InvalidParams),
        ),
    }
}

fn text(t: &str, is_error: bool) -> Value {
    json!({"content": [{"type": "text", "text": t}], "isError": is_error})
}

fn ok(id: Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

fn error(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// Writes one message and flushes it: the client has it when this returns.
fn reply(out: &mut impl Write, v: &Value) {
    let mut bytes = serde_json::to_vec(v).expect("a Value always serializes");
    bytes.push(b'\n');
    if out.write_all(&bytes).and_then(|()| out.flush()).is_err() {
        // The client is gone; nothing more to serve.
        std::process::exit(0);
    }
}
