//! The shape of stored rows, shared by the ingest that writes them and the
//! store and report that read them: what a `usage` row counts, the drop
//! reasons, and days as the numbers they are stored as.

use tally_telemetry::schema::Date;

/// What a `usage` row counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RowKind {
    /// A command path; `name` is the path.
    Command = 0,
    /// MCP tool calls; `name` is the tool (or empty), `variant` the outcome,
    /// `class` the JSON-RPC error class.
    Tool = 1,
    /// MCP client sessions; `name` is the client, `variant` its major version.
    Client = 2,
    /// A lifecycle event; `name` is its kind.
    Lifecycle = 3,
    /// A deployment fact; `name` is the fact, `variant` its value.
    Fact = 4,
    /// Rows the client lost before sending.
    ClientDropped = 5,
}

impl RowKind {
    /// The kind stored as `code`, if any.
    pub fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            0 => RowKind::Command,
            1 => RowKind::Tool,
            2 => RowKind::Client,
            3 => RowKind::Lifecycle,
            4 => RowKind::Fact,
            5 => RowKind::ClientDropped,
            _ => return None,
        })
    }
}

/// The reasons the validator drops things, as stored in `drops.reason`.
pub const DROP_REASONS: [&str; 4] = [
    "unknown_events",
    "unknown_fields",
    "invalid_values",
    "out_of_window",
];

/// Whether a batch was new or a resend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ingested {
    /// Stored for the first time.
    Stored,
    /// Its `batch_id` was already stored; nothing was written.
    Duplicate,
}

/// Days since 1970-01-01, the form days are stored in.
pub fn day_number(d: Date) -> i64 {
    d.unix_days()
}

/// The date of a stored day number.
pub fn day_from_number(n: i64) -> Option<Date> {
    Date::from_unix_days(n)
}
