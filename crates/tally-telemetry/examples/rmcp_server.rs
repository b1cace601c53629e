//! An MCP server built on rmcp (the official Rust MCP SDK) and counted by
//! tally without a line in its handler: the transport it serves on is
//! wrapped in [`tally_telemetry::RmcpCounter`], which records the client once its
//! `initialize` reply is written, and each `tools/call` once its reply is
//! written, or when the client cancels it.
//!
//! Tools: `echo`, `get-sum` (an `isError` result for arguments that are
//! not numbers), `get-tiny-image`, and `slow` (waits until cancelled, or
//! 10 s). Opt-in like every MCP server: `RMCP_EXAMPLE_TELEMETRY=1`, or
//! `rmcp_server telemetry on`; `rmcp_server telemetry show` prints what
//! was counted.
//!
//! Run it: `cargo run --example rmcp_server --features rmcp`.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde_json::{Value, json};

#[derive(Parser)]
#[command(name = "rmcp_server", about = "An rmcp MCP server counted by tally")]
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

struct Tools;

fn schema(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

impl ServerHandler for Tools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let any = || schema(json!({"type": "object"}));
        Ok(ListToolsResult {
            tools: vec![
                Tool::new("echo", "Echoes the message", any()),
                Tool::new("get-sum", "Adds a and b", any()),
                Tool::new("get-tiny-image", "Returns a tiny PNG", any()),
                Tool::new("slow", "Waits until cancelled (at most 10 s)", any()),
            ],
            ..Default::default()
        })
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = request.arguments.unwrap_or_default();
        let text = |s: String| CallToolResult::success(vec![ContentBlock::text(s)]);
        let result = match request.name.as_ref() {
            "echo" => text(format!(
                "Echo: {}",
                args.get("message").and_then(Value::as_str).unwrap_or("")
            )),
            "get-sum" => match (
                args.get("a").and_then(Value::as_f64),
                args.get("b").and_then(Value::as_f64),
            ) {
                (Some(a), Some(b)) => text(format!("The sum of {a} and {b} is {}.", a + b)),
                _ => CallToolResult::error(vec![ContentBlock::text("a and b must be numbers")]),
            },
            "get-tiny-image" => text("a tiny image (text stands in for the PNG)".into()),
            "slow" => {
                tokio::select! {
                    _ = context.ct.cancelled() => {}
                    _ = tokio::time::sleep(Duration::from_secs(10)) => {}
                }
                text("done".into())
            }
            other => CallToolResult::error(vec![ContentBlock::text(format!("no tool {other}"))]),
        };
        Ok(result.into())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let telemetry = tally_telemetry::Telemetry::builder("rmcp-example")
        .version(env!("CARGO_PKG_VERSION"))
        .env_prefix("RMCP_EXAMPLE")
        .default_policy(tally_telemetry::DefaultPolicy::OptIn)
        // Tool calls and clients are sent only when declared (and then
        // described in the generated TELEMETRY.md).
        .tool_calls(true)
        .no_telemetry(cli.telemetry.no_telemetry)
        // stdin is the protocol channel: never ask a question on it.
        .prompt(false)
        .init();
    if let Some(Cmd::Telemetry { command }) = cli.command {
        return telemetry.run_command(&command).into();
    }
    telemetry.start_interval_flush();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let served = rt.block_on(async {
        let transport = tally_telemetry::RmcpCounter::new(rmcp::transport::stdio());
        Tools.serve(transport).await?.waiting().await?;
        Ok::<_, Box<dyn std::error::Error>>(())
    });
    // Returning from main persists the counts (the exit hook).
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rmcp_server: {e}");
            ExitCode::FAILURE
        }
    }
}
