//! tally: privacy-first, consent-managed usage telemetry for command-line
//! tools and MCP servers.
//!
//! A host resolves consent once at start with [`Telemetry::builder`], counts
//! its commands with [`Telemetry::record_matches`] (or the `record_*`
//! functions), and flattens [`TelemetryCommand`] into its CLI so users get
//! `telemetry status|on|off`. Counts stay in memory until the process exits,
//! are appended to a local spool, and leave the machine only as daily
//! aggregates of what [`schema`] allows, sent from a later process.
//!
//! ```no_run
//! let t = tally::Telemetry::builder("mytool")
//!     .version("1.0.0")
//!     .default_policy(tally::DefaultPolicy::OptOut)
//!     .endpoint("https://telemetry.example.com/v1/batch")
//!     .init();
//! tally::record_command("build");
//! # let _ = t;
//! ```

pub mod app;
#[cfg(feature = "server")]
mod checkpoint;
pub mod cli;
pub mod clock;
pub mod command;
pub mod config;
pub mod consent;
pub mod docs;
pub mod env;
pub mod files;
#[cfg(feature = "server")]
mod ingest;
#[cfg(feature = "server")]
mod kanon;
#[cfg(feature = "server")]
pub mod metrics;
pub mod notice;
pub mod paths;
pub mod policy;
pub mod prompt;
#[cfg(feature = "server")]
pub mod ratelimit;
pub mod recorder;
#[cfg(feature = "server")]
pub mod report;
#[cfg(feature = "server")]
pub mod report_text;
pub mod rollup;
pub mod schema;
pub mod sender;
#[cfg(feature = "server")]
pub mod server;
pub mod settings;
pub mod spool;
pub mod state;
#[cfg(feature = "server")]
pub mod store;
pub mod telemetry;
pub mod validate;
#[cfg(feature = "server")]
pub mod writer;

pub use app::DefaultPolicy;
pub use command::{ConfigCommand, TelemetryArgs, TelemetryCommand};
pub use consent::Source;
pub use env::Env;
pub use recorder::{
    CallOutcome, record_client, record_command, record_lifecycle, record_tool_call, set_fact,
};
pub use schema::{ErrorClass, LifecycleKind};
pub use telemetry::{Builder, Telemetry, command_path, persist};
