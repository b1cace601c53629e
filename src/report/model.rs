//! The report as shown: the [`Report`] and its rows, the one value both the
//! JSON and the tables (and the HTML page) are made from, so all of them
//! hide the same things.

use std::collections::BTreeMap;

use serde::Serialize;

use tally_telemetry::schema::LATENCY_BUCKETS;

/// Machines active on one day.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct DayRow {
    /// The day, or `other`.
    pub day: String,
    /// Distinct machines.
    pub machines: usize,
}

/// A command's use.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CommandRow {
    /// The application, when the window holds more than one (the same
    /// command name in two applications is two rows); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// The command path, or `other`.
    pub command: String,
    /// Times run.
    pub count: u64,
    /// Runs per outcome (`success`, `failure`, `usage_error`,
    /// `interrupted`, `unknown`).
    pub outcomes: BTreeMap<String, u64>,
    /// Share of runs that failed (`failure`).
    pub failure_rate: f64,
    /// Share of runs that ended in a usage error.
    pub usage_error_rate: f64,
    /// Runs per duration bucket, in the order of `duration_buckets`
    /// (runs from clients that reported no duration are not in it).
    pub duration: [u64; LATENCY_BUCKETS],
    /// Distinct machines that ran it.
    pub machines: usize,
}

/// Runs of a command with one value of the argument its host records
/// (`Builder::record_value`).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ValueRow {
    /// The application, when the window holds more than one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// The command path.
    pub command: String,
    /// The value, or `other` (values backed by fewer than k machines).
    pub value: String,
    /// Runs with that value.
    pub count: u64,
    /// Distinct machines.
    pub machines: usize,
}

/// One MCP tool's calls (all tools together when names are off).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ToolRow {
    /// The application, when the window holds more than one (the same
    /// tool name in two applications is two rows); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// The tool name, `(unnamed)` for calls counted without names, or `other`.
    pub tool: String,
    /// All calls.
    pub calls: u64,
    /// Calls per outcome (`ok`, `tool_error`, `protocol_error`, `cancelled`, `unanswered`).
    pub outcomes: BTreeMap<String, u64>,
    /// Share of calls that succeeded.
    pub success_rate: f64,
    /// Share that ended in a tool error (`isError`).
    pub tool_error_rate: f64,
    /// Share that ended in a JSON-RPC error.
    pub protocol_error_rate: f64,
    /// Protocol errors by class.
    pub error_classes: BTreeMap<String, u64>,
    /// Calls per latency bucket, in the order of `latency_buckets`.
    pub latency: [u64; LATENCY_BUCKETS],
    /// Distinct machines.
    pub machines: usize,
}

/// Sessions from one MCP client.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ClientRow {
    /// The client, or `other`.
    pub client: String,
    /// Its major version, when known.
    pub major: Option<u64>,
    /// Sessions.
    pub sessions: u64,
    /// Distinct machines.
    pub machines: usize,
}

/// Machines on one app version.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct VersionRow {
    /// The application, or `other`.
    pub app: String,
    /// Its version, or `other`.
    pub version: String,
    /// Distinct machines.
    pub machines: usize,
}

/// Machines on one OS and architecture.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PlatformRow {
    /// The OS, or `other`.
    pub os: String,
    /// The architecture, or `other`.
    pub arch: String,
    /// Distinct machines.
    pub machines: usize,
}

/// Lifecycle events of one kind.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LifecycleRow {
    /// `install`, `uninstall`, `upgrade`, or `other`.
    pub kind: String,
    /// Events.
    pub count: u64,
    /// Distinct machines.
    pub machines: usize,
}

/// Machines that reported one fact value.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct FactRow {
    /// The fact, or `other`.
    pub fact: String,
    /// Its value, or `other`.
    pub value: String,
    /// Distinct machines.
    pub machines: usize,
}
/// What was lost before or at the server.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Dropped {
    /// Rows clients lost locally and reported as `dropped`.
    pub client_reported: u64,
    /// Events of an unknown type, removed by the server.
    pub unknown_events: u64,
    /// Unknown fields, removed by the server.
    pub unknown_fields: u64,
    /// Values outside the schema, removed by the server.
    pub invalid_values: u64,
    /// Events for days outside the accepted window.
    pub out_of_window: u64,
}
/// A whole report.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Report {
    /// First day included.
    pub since: String,
    /// Last day included.
    pub until: String,
    /// The application reported on, if one was chosen.
    pub app: Option<String>,
    /// The k of k-anonymity applied.
    pub min_machines: usize,
    /// Distinct machines active in the window.
    pub machines: usize,
    /// Of those, machines that reported a CI environment.
    pub ci_machines: usize,
    /// Active machines per day.
    pub days: Vec<DayRow>,
    /// Commands, most used first.
    pub commands: Vec<CommandRow>,
    /// Labels of the command duration buckets.
    pub duration_buckets: Vec<String>,
    /// Commands split by the value of their recorded argument, for
    /// commands whose host records one: by command, most runs first.
    pub values: Vec<ValueRow>,
    /// MCP tool calls, most called first.
    pub tools: Vec<ToolRow>,
    /// Labels of the latency buckets.
    pub latency_buckets: Vec<String>,
    /// MCP clients, most sessions first.
    pub clients: Vec<ClientRow>,
    /// Application versions, most machines first.
    pub versions: Vec<VersionRow>,
    /// OS and architecture, most machines first.
    pub platforms: Vec<PlatformRow>,
    /// Lifecycle events.
    pub lifecycle: Vec<LifecycleRow>,
    /// Deployment facts.
    pub facts: Vec<FactRow>,
    /// Drop counters.
    pub dropped: Dropped,
    /// Rows not shown because even folded into `other` they were backed
    /// by fewer than `min_machines` machines.
    pub withheld_rows: usize,
}
