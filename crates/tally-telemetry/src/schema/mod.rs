//! The schema: the one definition of everything tally can send.
//!
//! It exists in two forms, and a test (`validate::tests::every_typed_field_is_in_the_table`)
//! keeps them in step: the typed Rust structs here, which the client builds
//! batches from (so it *cannot* build a field that is not defined), and the
//! declarative table in [`crate::schema::fields`], with every field's type, limits and
//! documentation. The server validates incoming JSON against the table, and
//! `TELEMETRY.md`'s field reference is generated from it.

pub mod docs;
pub mod fields;
mod limits;
pub mod normalize;
pub mod validate;
mod wire;

use serde::{Deserialize, Serialize};

/// Version of the wire format. Bumped on any change to the field table
/// that a receiver must know about. 2 added each command's outcome and
/// duration buckets; batches of version 1 (without them) are still
/// accepted. A command's optional `value` came without a bump: a receiver
/// that predates it drops it as an unknown field and keeps the runs under
/// the command alone, which is what a bump would ask of it too.
pub const SCHEMA_VERSION: u32 = 2;

/// Version of what users were told is collected. Bumping it shows the
/// one-time notice again. 2: command outcomes and durations.
pub const CONSENT_VERSION: u32 = 2;

/// The HTTP path batches are posted to, on client and server alike.
pub const BATCH_PATH: &str = "/v1/batch";

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Upper bounds of the latency buckets in milliseconds; the last bucket is
/// everything slower.
pub const LATENCY_BOUNDS_MS: [u64; 6] = [10, 50, 100, 500, 1000, 5000];

/// Number of latency buckets.
pub const LATENCY_BUCKETS: usize = LATENCY_BOUNDS_MS.len() + 1;

/// Labels of the latency buckets, for reports and docs.
pub const LATENCY_LABELS: [&str; LATENCY_BUCKETS] = [
    "<10ms",
    "10-50ms",
    "50-100ms",
    "100-500ms",
    "0.5-1s",
    "1-5s",
    ">=5s",
];

/// Upper bounds of the command duration buckets in milliseconds; the last
/// bucket is everything slower. Coarser than tool latency: commands run
/// for seconds or minutes, and the coarser the buckets, the less a
/// duration says about the input a command was given.
pub const DURATION_BOUNDS_MS: [u64; 6] = [100, 500, 1_000, 5_000, 30_000, 300_000];

/// Labels of the command duration buckets, for reports and docs.
pub const DURATION_LABELS: [&str; LATENCY_BUCKETS] = [
    "<0.1s", "0.1-0.5s", "0.5-1s", "1-5s", "5-30s", "30s-5min", ">=5min",
];

/// Largest count a single row may carry.
pub const MAX_COUNT: u64 = 1_000_000_000;

/// A batch: one envelope and its events.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Batch {
    /// Who sent it.
    pub envelope: Envelope,
    /// What it reports.
    pub events: Vec<Event>,
}

/// The envelope every batch carries.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Envelope {
    /// Application name.
    pub app: String,
    /// Application version.
    pub app_version: String,
    /// Operating system family.
    pub os: String,
    /// CPU architecture.
    pub arch: String,
    /// Whether a CI environment was detected.
    pub ci: bool,
    /// Schema version.
    pub schema: u32,
    /// Random per-installation id.
    pub machine_id: String,
    /// Random per-batch id (idempotency key).
    pub batch_id: String,
}

impl Envelope {
    /// The envelope of a batch sent from this machine (its OS and
    /// architecture, the current schema version).
    pub fn new(app: &str, version: &str, ci: bool, machine_id: &str, batch_id: &str) -> Envelope {
        Envelope {
            app: app.to_owned(),
            app_version: version.to_owned(),
            os: current_os().to_owned(),
            arch: current_arch().to_owned(),
            ci,
            schema: SCHEMA_VERSION,
            machine_id: machine_id.to_owned(),
            batch_id: batch_id.to_owned(),
        }
    }
}

/// One event.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// One UTC day's aggregated usage.
    UsageRollup(UsageRollup),
    /// Install, uninstall or upgrade.
    Lifecycle(Lifecycle),
    /// Deployment facts for one day.
    Facts(Facts),
}

/// A day's usage.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct UsageRollup {
    /// The UTC day, `YYYY-MM-DD`.
    pub day: String,
    /// Commands run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<CommandCount>,
    /// MCP tool calls.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCallCount>,
    /// MCP clients that connected.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<ClientCount>,
    /// Rows lost locally (corrupt, over the size cap, or an unknown schema).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropped: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// How often a command ran.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CommandCount {
    /// The subcommand path, e.g. `config otel get`.
    pub command: String,
    /// The value of the argument the host declared for this command (see
    /// `Builder::record_value`), one of a closed set; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// How the runs ended; absent in batches of schema version 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<CommandOutcome>,
    /// How many times.
    pub count: u64,
    /// Runs per duration bucket (see [`DURATION_LABELS`]); absent in
    /// batches of schema version 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<[u64; LATENCY_BUCKETS]>,
}

/// How a command run ended, as the host reports it (usually from its exit
/// code, see [`CommandOutcome::from_exit_code`]).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CommandOutcome {
    /// It did what was asked (exit code 0).
    Success,
    /// It failed (any other exit code).
    Failure,
    /// The command line was wrong (exit code 2, clap's convention).
    UsageError,
    /// Ctrl-C or a termination signal (exit codes 129, 130, 143).
    Interrupted,
    /// The process ended without the host saying how the command ended.
    Unknown,
}

impl CommandOutcome {
    /// The outcome an exit code means by convention: 0 success, 2 a usage
    /// error, 128 + SIGHUP/SIGINT/SIGTERM interrupted, anything else a
    /// failure.
    pub fn from_exit_code(code: i32) -> Self {
        match code {
            0 => CommandOutcome::Success,
            2 => CommandOutcome::UsageError,
            129 | 130 | 143 => CommandOutcome::Interrupted,
            _ => CommandOutcome::Failure,
        }
    }

    /// The word on the wire.
    pub fn as_str(self) -> &'static str {
        COMMAND_OUTCOMES[self as usize]
    }

    /// The outcome a wire word names (`success`, `failure`, `usage_error`,
    /// `interrupted`, `unknown`).
    pub fn from_word(word: &str) -> Option<CommandOutcome> {
        [
            CommandOutcome::Success,
            CommandOutcome::Failure,
            CommandOutcome::UsageError,
            CommandOutcome::Interrupted,
            CommandOutcome::Unknown,
        ]
        .into_iter()
        .find(|o| o.as_str() == word)
    }
}

/// The command outcomes, in declaration order.
pub const COMMAND_OUTCOMES: &[&str] = &[
    "success",
    "failure",
    "usage_error",
    "interrupted",
    "unknown",
];

/// Tool calls with one outcome.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ToolCallCount {
    /// The tool's name, only when the operator opted into names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// The outcome.
    pub outcome: Outcome,
    /// The JSON-RPC error class, for protocol errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_class: Option<ErrorClass>,
    /// How many calls.
    pub count: u64,
    /// Calls per latency bucket (see [`LATENCY_LABELS`]).
    pub latency: [u64; LATENCY_BUCKETS],
}

/// How a tool call ended.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A result without `isError`.
    Ok,
    /// A result with `isError: true`.
    ToolError,
    /// A JSON-RPC error response.
    ProtocolError,
    /// Cancelled by the client.
    Cancelled,
    /// No response before the session ended.
    Unanswered,
}

/// The class of a JSON-RPC error code.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorClass {
    /// -32700.
    Parse,
    /// -32600.
    InvalidRequest,
    /// -32601.
    MethodNotFound,
    /// -32602.
    InvalidParams,
    /// -32603.
    Internal,
    /// -32000 to -32099.
    ServerDefined,
    /// Any other code.
    Other,
}

impl ErrorClass {
    /// Classifies a JSON-RPC error code.
    pub fn from_code(code: i64) -> Self {
        match code {
            -32700 => ErrorClass::Parse,
            -32600 => ErrorClass::InvalidRequest,
            -32601 => ErrorClass::MethodNotFound,
            -32602 => ErrorClass::InvalidParams,
            -32603 => ErrorClass::Internal,
            -32099..=-32000 => ErrorClass::ServerDefined,
            _ => ErrorClass::Other,
        }
    }
}

impl Outcome {
    /// The word on the wire.
    pub fn as_str(self) -> &'static str {
        OUTCOMES[self as usize]
    }
}

impl ErrorClass {
    /// The word on the wire.
    pub fn as_str(self) -> &'static str {
        ERROR_CLASSES[self as usize]
    }
}

/// The outcomes, in declaration order.
pub const OUTCOMES: &[&str] = &[
    "ok",
    "tool_error",
    "protocol_error",
    "cancelled",
    "unanswered",
];
/// The error classes, in declaration order.
pub const ERROR_CLASSES: &[&str] = &[
    "parse",
    "invalid_request",
    "method_not_found",
    "invalid_params",
    "internal",
    "server_defined",
    "other",
];

/// Connections from one MCP client.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ClientCount {
    /// The client, from [`CLIENTS`], or `other`.
    pub client: String,
    /// Its major version, when it parses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub major: Option<u64>,
    /// How many sessions.
    pub count: u64,
}

/// MCP clients recognised by name; any other is reported as `other`.
pub const CLIENTS: &[&str] = &[
    "claude-code",
    "claude-desktop",
    "claude-ai",
    "cursor",
    "vscode",
    "windsurf",
    "zed",
    "codex",
    "gemini-cli",
    "goose",
    "continue",
    "cline",
    "roo-code",
    "jetbrains",
    "copilot",
    "opencode",
    "amp",
    "mcp-inspector",
    "python-sdk",
    "typescript-sdk",
    "other",
];

/// A lifecycle event.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Lifecycle {
    /// Which one.
    pub kind: LifecycleKind,
    /// The UTC day it happened.
    pub day: String,
    /// How many times that day.
    pub count: u64,
}

/// Lifecycle kinds.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LifecycleKind {
    /// First installation.
    Install,
    /// Removal.
    Uninstall,
    /// A new version replaced an old one.
    Upgrade,
}

impl LifecycleKind {
    /// The word on the wire.
    pub fn as_str(self) -> &'static str {
        LIFECYCLE_KINDS[self as usize]
    }

    /// The kind a wire word names (`install`, `uninstall`, `upgrade`).
    pub fn from_word(word: &str) -> Option<LifecycleKind> {
        [
            LifecycleKind::Install,
            LifecycleKind::Uninstall,
            LifecycleKind::Upgrade,
        ]
        .into_iter()
        .find(|k| k.as_str() == word)
    }
}

/// The lifecycle kinds, in declaration order.
pub const LIFECYCLE_KINDS: &[&str] = &["install", "uninstall", "upgrade"];

/// Facts a deployment reports about itself for one day; each is an
/// allowlisted value, never free text.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Facts {
    /// The UTC day.
    pub day: String,
    /// Number of backends, bucketed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_count: Option<String>,
    /// Authentication type configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_type: Option<String>,
    /// Tool-name conflict resolution strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflict_strategy: Option<String>,
    /// Process uptime, bucketed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime: Option<String>,
    /// MCP sessions served that day, bucketed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<String>,
    /// Negotiated MCP protocol version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<String>,
    /// The MCP server declared the tools capability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declares_tools: Option<bool>,
    /// The MCP server declared the resources capability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declares_resources: Option<bool>,
    /// The MCP server declared the prompts capability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declares_prompts: Option<bool>,
}

/// Count buckets shared by several facts.
pub const COUNT_BUCKETS: &[&str] = &["0", "1", "2-5", "6-10", "11-50", "51+"];
/// Uptime buckets.
pub const UPTIME_BUCKETS: &[&str] = &["<1h", "1-24h", "1-7d", "7d+"];
/// Authentication types.
pub const AUTH_TYPES: &[&str] = &["anonymous", "oidc", "token_exchange", "api_key", "other"];
/// Conflict strategies.
pub const CONFLICT_STRATEGIES: &[&str] = &["prefix", "priority", "manual"];
/// Operating systems.
pub const OSES: &[&str] = &[
    "linux", "macos", "windows", "freebsd", "openbsd", "netbsd", "android", "ios", "other",
];
/// Architectures.
pub const ARCHES: &[&str] = &[
    "x86_64",
    "aarch64",
    "x86",
    "arm",
    "riscv64",
    "powerpc64",
    "s390x",
    "loongarch64",
    "other",
];

pub use crate::schema::normalize::{
    client_name, count_bucket, current_arch, current_os, duration_bucket, latency_bucket,
    major_version, uptime_bucket,
};

pub use crate::schema::fields::{ENVELOPE, EVENTS, EventDef, Field, Kind, Pattern, event_def};

/// Calendar days and instants in UTC, as batches carry them.
pub use crate::os::clock::{format_day, parse_day};
pub use crate::os::date::{Date, Timestamp};
