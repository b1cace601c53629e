//! tally: privacy-first, consent-managed usage telemetry for command-line
//! tools and MCP servers.
//!
//! A host resolves consent once at start with [`Telemetry::builder`], counts
//! its commands with [`Telemetry::record_matches`] (or the `record_*`
//! functions), and flattens [`TelemetryCommand`] into its CLI so users get
//! `telemetry status|on|off`. Counts stay in memory until the process exits,
//! are appended to a local spool, and leave the machine only as daily
//! aggregates of what the schema (TELEMETRY.md) allows, sent from a later process.
//!
//! ```no_run
//! let t = tally_telemetry::Telemetry::builder("mytool")
//!     .version("1.0.0")
//!     .default_policy(tally_telemetry::DefaultPolicy::OptOut)
//!     .endpoint("https://telemetry.example.com/v1/batch")
//!     .init();
//! tally_telemetry::record_command("build");
//! # let _ = t;
//! ```
//!
//! # MCP servers
//!
//! An MCP server counts its tool calls with [`record_tool_call`] and the
//! connecting client with [`record_client`]; both are an uncontended mutex
//! and a map update, no I/O. Where they go in a request loop:
//!
//! ```no_run
//! # use std::io::{BufRead, Write};
//! # use std::time::Instant;
//! # fn handle(line: &str) -> (Vec<u8>, Option<tally_telemetry::CallOutcome>) { unimplemented!() }
//! let t = tally_telemetry::Telemetry::builder("my-server")
//!     .default_policy(tally_telemetry::DefaultPolicy::OptIn)
//!     .prompt(false) // stdin is the protocol channel
//!     .init();
//! t.start_interval_flush(); // a server runs for long
//! let mut out = std::io::stdout().lock();
//! for line in std::io::stdin().lock().lines() {
//!     let line = line.unwrap();
//!     let started = Instant::now(); // when the request was read
//!     let (reply, outcome) = handle(&line);
//!     out.write_all(&reply).unwrap();
//!     out.flush().unwrap(); // the answer is on its way…
//!     if let Some(outcome) = outcome {
//!         // …and only then the call counts. "" counts the outcome only;
//!         // pass the tool name only if your operator opted into names.
//!         tally_telemetry::record_tool_call("", outcome, started.elapsed());
//!     }
//!     // For `initialize`: tally_telemetry::record_client(clientInfo.name, clientInfo.version)
//! }
//! // Returning from main (or std::process::exit) persists the counts.
//! ```
//!
//! `examples/mcp_server.rs` is a complete one. A server in any language can
//! instead run behind `tally run -- <server>` (see the README), which counts the
//! same things from the outside.

#![deny(missing_docs)]

// Everything but `schema` is crate-private: a host sees only the
// re-exports below; the `tally` binary uses the same public API.
// The conformance vectors every implementation runs, for the `tally`
// binary's generator: not part of what a host uses.
#[cfg(any(test, feature = "conformance"))]
#[doc(hidden)]
pub mod conformance;
mod consent;
mod deliver;
mod host;
mod os;
#[cfg(feature = "otlp")]
pub mod otlp;
mod record;
pub mod schema;

pub use consent::app::DefaultPolicy;
pub use consent::precedence::Source;
pub use consent::rotation::Rotation;
pub use host::command::{ConfigCommand, OtelAction, TelemetryArgs, TelemetryCommand};
#[cfg(feature = "clap")]
pub use host::contract::{ContractError, check_contract, contract, write_contract};
pub use host::output::CommandError;
#[cfg(feature = "rmcp")]
pub use host::rmcp::RmcpCounter;
pub use host::status_api::Status;
#[cfg(feature = "clap")]
pub use host::telemetry::command_path;
pub use host::telemetry::{Builder, Telemetry, persist};
#[cfg(feature = "clap")]
pub use host::values::ValueError;
pub use os::env::Env;
pub use record::recorder::is_enabled as is_recording;
pub use record::recorder::{
    CallOutcome, finish_command, record_client, record_command, record_lifecycle, record_tool_call,
    set_fact,
};
pub use schema::{CommandOutcome, ErrorClass, LifecycleKind};
