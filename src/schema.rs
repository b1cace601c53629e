//! The schema: the one definition of everything tally can send.
//!
//! It exists twice in one file, and a test keeps the halves in step: typed
//! Rust structs the client builds batches from (so it *cannot* build a field
//! that is not here), and a declarative table of every field with its type,
//! limits and documentation. The server validates incoming JSON against the
//! table, and `TELEMETRY.md`'s field reference is generated from it.

use serde::{Deserialize, Serialize};

/// Version of the wire format. Bumped on any change to the field table.
pub const SCHEMA_VERSION: u32 = 1;

/// Version of what users were told is collected. Bumping it shows the
/// one-time notice again.
pub const CONSENT_VERSION: u32 = 1;

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
    /// How many times.
    pub count: u64,
}

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

/// Buckets a count into [`COUNT_BUCKETS`].
pub fn count_bucket(n: u64) -> &'static str {
    match n {
        0 => "0",
        1 => "1",
        2..=5 => "2-5",
        6..=10 => "6-10",
        11..=50 => "11-50",
        _ => "51+",
    }
}

/// Buckets an uptime into [`UPTIME_BUCKETS`].
pub fn uptime_bucket(secs: u64) -> &'static str {
    match secs {
        0..3600 => "<1h",
        3600..86_400 => "1-24h",
        86_400..604_800 => "1-7d",
        _ => "7d+",
    }
}

/// The latency bucket a duration falls in.
pub fn latency_bucket(d: std::time::Duration) -> usize {
    let ms = d.as_millis();
    LATENCY_BOUNDS_MS
        .iter()
        .position(|&b| ms < u128::from(b))
        .unwrap_or(LATENCY_BUCKETS - 1)
}

/// This build's OS, as the schema names it.
pub fn current_os() -> &'static str {
    let os = std::env::consts::OS;
    OSES.iter().copied().find(|o| *o == os).unwrap_or("other")
}

/// This build's architecture, as the schema names it.
pub fn current_arch() -> &'static str {
    let arch = std::env::consts::ARCH;
    ARCHES
        .iter()
        .copied()
        .find(|a| *a == arch)
        .unwrap_or("other")
}

/// Maps an MCP `clientInfo.name` onto [`CLIENTS`]: lower-cased, spaces
/// and underscores as dashes, a few well-known aliases; anything else is
/// `other`.
pub fn client_name(raw: &str) -> &'static str {
    let n: String = raw
        .trim()
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c == ' ' || c == '_' { '-' } else { c })
        .collect();
    let alias = match n.as_str() {
        "claude" | "claude-desktop-app" => "claude-desktop",
        "visual-studio-code" | "vs-code" | "code" | "github-copilot" => "vscode",
        "cursor-vscode" => "cursor",
        "gemini" => "gemini-cli",
        "codex-mcp-client" | "codex-cli" => "codex",
        "inspector-client" | "mcp-inspector-client" => "mcp-inspector",
        "mcp" | "mcp-python" => "python-sdk",
        other => other,
    };
    CLIENTS
        .iter()
        .copied()
        .find(|c| *c == alias)
        .unwrap_or("other")
}

/// The major number of a version string (`"1.2.3"` → 1).
pub fn major_version(raw: &str) -> Option<u64> {
    let digits: String = raw
        .trim()
        .trim_start_matches('v')
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok().filter(|n| *n <= 9999)
}

// ---------------------------------------------------------------------------
// The declarative table.

/// A string shape, checked without regular expressions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// `[a-z0-9][a-z0-9_-]{0,39}`.
    AppName,
    /// `[0-9A-Za-z][0-9A-Za-z.+-]{0,31}`.
    Version,
    /// One to four words of `[a-z0-9][a-z0-9_-]{0,31}`, single spaces.
    CommandPath,
    /// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}`.
    ToolName,
    /// A UUID in its hyphenated form.
    Uuid,
    /// A `YYYY-MM-DD` calendar date.
    Day,
}

impl Pattern {
    /// A human description, for the docs and 400 reasons.
    pub fn describe(self) -> &'static str {
        match self {
            Pattern::AppName => "`[a-z0-9][a-z0-9_-]{0,39}`",
            Pattern::Version => "`[0-9A-Za-z][0-9A-Za-z.+-]{0,31}`",
            Pattern::CommandPath => {
                "1-4 words of `[a-z0-9][a-z0-9_-]{0,31}` separated by single spaces"
            }
            Pattern::ToolName => "`[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}`",
            Pattern::Uuid => "a hyphenated UUID",
            Pattern::Day => "a UTC date `YYYY-MM-DD`",
        }
    }

    /// Whether `s` has this shape.
    pub fn matches(self, s: &str) -> bool {
        fn word(w: &str, max: usize, first: fn(u8) -> bool, rest: fn(u8) -> bool) -> bool {
            let b = w.as_bytes();
            !b.is_empty() && b.len() <= max && first(b[0]) && b[1..].iter().all(|&c| rest(c))
        }
        let lower_digit = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        match self {
            Pattern::AppName => word(s, 40, lower_digit, |c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-'
            }),
            Pattern::Version => word(
                s,
                32,
                |c| c.is_ascii_alphanumeric(),
                |c| c.is_ascii_alphanumeric() || c == b'.' || c == b'+' || c == b'-',
            ),
            Pattern::CommandPath => {
                let words: Vec<&str> = s.split(' ').collect();
                (1..=4).contains(&words.len())
                    && words.iter().all(|w| {
                        word(w, 32, lower_digit, |c| {
                            c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-'
                        })
                    })
            }
            Pattern::ToolName => word(
                s,
                64,
                |c| c.is_ascii_alphanumeric() || c == b'_',
                |c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-',
            ),
            Pattern::Uuid => s.len() == 36 && uuid::Uuid::try_parse(s).is_ok(),
            Pattern::Day => crate::clock::parse_day(s).is_some(),
        }
    }
}

/// A field's type and limits.
#[derive(Debug)]
pub enum Kind {
    /// A string of a [`Pattern`].
    Str(Pattern),
    /// One of a fixed list of strings.
    Enum(&'static [&'static str]),
    /// An integer in a range.
    Int {
        /// Smallest allowed.
        min: u64,
        /// Largest allowed.
        max: u64,
    },
    /// `true` or `false`.
    Bool,
    /// An array of exactly `len` integers in `0..=max`.
    IntArray {
        /// Required length.
        len: usize,
        /// Largest element.
        max: u64,
    },
    /// An array of at most `max` objects with these fields.
    List {
        /// Most items allowed.
        max: usize,
        /// The item's fields.
        fields: &'static [Field],
    },
}

/// One field of the schema.
#[derive(Debug)]
pub struct Field {
    /// The JSON key.
    pub name: &'static str,
    /// Type and limits.
    pub kind: Kind,
    /// Whether an object without it is dropped.
    pub required: bool,
    /// What it means, for TELEMETRY.md.
    pub doc: &'static str,
}

/// One event type.
#[derive(Debug)]
pub struct EventDef {
    /// The `type` value.
    pub name: &'static str,
    /// What it reports.
    pub doc: &'static str,
    /// Its fields (besides `type`).
    pub fields: &'static [Field],
}

const fn req(name: &'static str, kind: Kind, doc: &'static str) -> Field {
    Field {
        name,
        kind,
        required: true,
        doc,
    }
}

const fn opt(name: &'static str, kind: Kind, doc: &'static str) -> Field {
    Field {
        name,
        kind,
        required: false,
        doc,
    }
}

const COUNT: Kind = Kind::Int {
    min: 1,
    max: MAX_COUNT,
};

/// The envelope's fields.
pub static ENVELOPE: &[Field] = &[
    req(
        "app",
        Kind::Str(Pattern::AppName),
        "Name of the application sending the batch.",
    ),
    req("app_version", Kind::Str(Pattern::Version), "Its version."),
    req("os", Kind::Enum(OSES), "Operating system family."),
    req("arch", Kind::Enum(ARCHES), "CPU architecture."),
    req(
        "ci",
        Kind::Bool,
        "Whether a CI environment was detected (CI runs normally send nothing; this is true only when telemetry was turned on explicitly there).",
    ),
    req(
        "schema",
        Kind::Int {
            min: 1,
            max: SCHEMA_VERSION as u64,
        },
        "Schema version of this batch.",
    ),
    req(
        "machine_id",
        Kind::Str(Pattern::Uuid),
        "Random UUID made on this machine when telemetry was first on; deleted by `telemetry off`, replaced by `telemetry reset`. Not derived from any hardware or account.",
    ),
    req(
        "batch_id",
        Kind::Str(Pattern::Uuid),
        "Random UUID of this batch, so the receiver stores a resent batch only once.",
    ),
];

static COMMAND_FIELDS: &[Field] = &[
    req(
        "command",
        Kind::Str(Pattern::CommandPath),
        "The subcommand path as the application defines it (`config otel get`); never argument values.",
    ),
    req("count", COUNT, "Times it ran that day."),
];

static TOOL_FIELDS: &[Field] = &[
    opt(
        "tool",
        Kind::Str(Pattern::ToolName),
        "The MCP tool's name; present only when the operator turned names on (`tally run --tool-names`).",
    ),
    req(
        "outcome",
        Kind::Enum(OUTCOMES),
        "`ok`, `tool_error` (result with isError), `protocol_error` (JSON-RPC error), `cancelled`, `unanswered`.",
    ),
    opt(
        "error_class",
        Kind::Enum(ERROR_CLASSES),
        "For protocol errors: the class of the JSON-RPC error code (never the message).",
    ),
    req("count", COUNT, "Calls with this outcome that day."),
    req(
        "latency",
        Kind::IntArray {
            len: LATENCY_BUCKETS,
            max: MAX_COUNT,
        },
        "Calls per latency bucket: <10ms, 10-50ms, 50-100ms, 100-500ms, 0.5-1s, 1-5s, >=5s.",
    ),
];

static CLIENT_FIELDS: &[Field] = &[
    req(
        "client",
        Kind::Enum(CLIENTS),
        "The MCP client (from `initialize`'s clientInfo.name), mapped onto a fixed list; anything else is `other`.",
    ),
    opt(
        "major",
        Kind::Int { min: 0, max: 9999 },
        "The client's major version number.",
    ),
    req("count", COUNT, "Sessions from that client that day."),
];

/// Every event type.
pub static EVENTS: &[EventDef] = &[
    EventDef {
        name: "usage_rollup",
        doc: "One completed UTC day of usage, aggregated on the machine. Today's counts stay local until the day is over.",
        fields: &[
            req("day", Kind::Str(Pattern::Day), "The UTC day counted."),
            opt(
                "commands",
                Kind::List {
                    max: 512,
                    fields: COMMAND_FIELDS,
                },
                "Commands run.",
            ),
            opt(
                "tool_calls",
                Kind::List {
                    max: 512,
                    fields: TOOL_FIELDS,
                },
                "MCP tool calls, by outcome.",
            ),
            opt(
                "clients",
                Kind::List {
                    max: 64,
                    fields: CLIENT_FIELDS,
                },
                "MCP clients that connected.",
            ),
            opt(
                "dropped",
                Kind::Int {
                    min: 0,
                    max: MAX_COUNT,
                },
                "Local rows lost before sending (corrupt, over the 256 KB cap, or from an unknown schema), so loss is visible rather than silent.",
            ),
        ],
    },
    EventDef {
        name: "lifecycle",
        doc: "An install, uninstall or upgrade of the application, when the application reports one.",
        fields: &[
            req("kind", Kind::Enum(LIFECYCLE_KINDS), "Which event."),
            req("day", Kind::Str(Pattern::Day), "The UTC day it happened."),
            req("count", COUNT, "Times that day."),
        ],
    },
    EventDef {
        name: "facts",
        doc: "Allowlisted facts a deployment reports about itself (e.g. an MCP proxy or gateway), one set per day.",
        fields: &[
            req("day", Kind::Str(Pattern::Day), "The UTC day."),
            opt(
                "backend_count",
                Kind::Enum(COUNT_BUCKETS),
                "Number of backends, bucketed.",
            ),
            opt(
                "auth_type",
                Kind::Enum(AUTH_TYPES),
                "Authentication type configured.",
            ),
            opt(
                "conflict_strategy",
                Kind::Enum(CONFLICT_STRATEGIES),
                "How tool-name conflicts are resolved.",
            ),
            opt(
                "uptime",
                Kind::Enum(UPTIME_BUCKETS),
                "Process uptime, bucketed.",
            ),
            opt(
                "sessions",
                Kind::Enum(COUNT_BUCKETS),
                "MCP sessions served that day, bucketed.",
            ),
            opt(
                "protocol_version",
                Kind::Str(Pattern::Day),
                "Negotiated MCP protocol version (a date such as 2025-06-18).",
            ),
            opt(
                "declares_tools",
                Kind::Bool,
                "The MCP server declared the tools capability.",
            ),
            opt(
                "declares_resources",
                Kind::Bool,
                "The MCP server declared the resources capability.",
            ),
            opt(
                "declares_prompts",
                Kind::Bool,
                "The MCP server declared the prompts capability.",
            ),
        ],
    },
];

/// Looks up an event definition by its `type`.
pub fn event_def(name: &str) -> Option<&'static EventDef> {
    EVENTS.iter().find(|e| e.name == name)
}
