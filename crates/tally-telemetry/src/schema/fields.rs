//! The schema's declarative field table: every envelope and event field with
//! its type, limits and documentation. The server's validator walks it, and
//! TELEMETRY.md's field reference is generated from it; the typed structs in
//! [`crate::schema`] must describe exactly the same fields (a test checks).

use crate::schema::{
    ARCHES, AUTH_TYPES, CLIENTS, COMMAND_OUTCOMES, CONFLICT_STRATEGIES, COUNT_BUCKETS,
    ERROR_CLASSES, LATENCY_BUCKETS, LIFECYCLE_KINDS, MAX_COUNT, OSES, OUTCOMES, SCHEMA_VERSION,
    UPTIME_BUCKETS,
};

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
    /// One word of `[a-z0-9][a-z0-9_-]{0,31}`: a value of an argument the
    /// host declared with a closed set of values (a command path's word).
    Value,
    /// A UUID in its hyphenated form.
    Uuid,
    /// A `YYYY-MM-DD` calendar date.
    Day,
}

impl Pattern {
    /// Each pattern's word (`command_path`, …), as the conformance vectors
    /// and the Node.js and Python packages name them.
    pub const WORDS: &'static [(&'static str, Pattern)] = &[
        ("app_name", Pattern::AppName),
        ("version", Pattern::Version),
        ("command_path", Pattern::CommandPath),
        ("tool_name", Pattern::ToolName),
        ("value", Pattern::Value),
        ("uuid", Pattern::Uuid),
        ("day", Pattern::Day),
    ];

    /// The pattern a word of [`Pattern::WORDS`] names.
    pub fn from_word(word: &str) -> Option<Pattern> {
        Self::WORDS
            .iter()
            .find(|(w, _)| *w == word)
            .map(|(_, p)| *p)
    }

    /// A human description, for the docs and 400 reasons.
    pub fn describe(self) -> &'static str {
        match self {
            Pattern::AppName => "`[a-z0-9][a-z0-9_-]{0,39}`",
            Pattern::Version => "`[0-9A-Za-z][0-9A-Za-z.+-]{0,31}`",
            Pattern::CommandPath => {
                "1-4 words of `[a-z0-9][a-z0-9_-]{0,31}` separated by single spaces"
            }
            Pattern::ToolName => "`[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}`",
            Pattern::Value => "`[a-z0-9][a-z0-9_-]{0,31}`",
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
            Pattern::Value => word(s, 32, lower_digit, |c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-'
            }),
            Pattern::ToolName => word(
                s,
                64,
                |c| c.is_ascii_alphanumeric() || c == b'_',
                |c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-',
            ),
            Pattern::Uuid => crate::os::uuid::Uuid::parse(s).is_some(),
            Pattern::Day => crate::os::clock::parse_day(s).is_some(),
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
    opt(
        "value",
        Kind::Str(Pattern::Value),
        "Only for a command whose application declared one of its arguments as recorded: that argument's value (`init` with `bash`), always one of a closed set of values fixed in the application's code and listed in its own TELEMETRY.md, never text a user typed freely. Runs are counted per command, outcome and value. A receiver that does not know the field drops it and counts the runs under the command alone.",
    ),
    opt(
        "outcome",
        Kind::Enum(COMMAND_OUTCOMES),
        "How the runs ended: `success` (exit code 0), `failure` (another code), `usage_error` (exit code 2), `interrupted` (Ctrl-C or a termination signal), `unknown` (the process ended before the application said). Absent in schema version 1.",
    ),
    req("count", COUNT, "Runs with this outcome that day."),
    opt(
        "duration",
        Kind::IntArray {
            len: LATENCY_BUCKETS,
            max: MAX_COUNT,
        },
        "Runs per duration bucket: <0.1s, 0.1-0.5s, 0.5-1s, 1-5s, 5-30s, 30s-5min, >=5min. Absent in schema version 1.",
    ),
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
