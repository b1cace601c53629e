//! The ENVIRONMENT and FILES sections of `tally --help` and of every man
//! page, from one list, so help and man pages say the same.

/// Variables tally reads, with what each does.
pub const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "TALLY_TELEMETRY",
        "1/true/on/yes/enable(d): on; 0/false/off/no/disable(d)/never/none: off. Any other value also means off (status says so).",
    ),
    (
        "DO_NOT_TRACK",
        "Set to anything but empty, 0 or false: off, for every tool that honours it.",
    ),
    ("TALLY_TELEMETRY_ENDPOINT", "The URL batches are posted to."),
    (
        "TALLY_TELEMETRY_DIR",
        "The state directory (for containers: a volume).",
    ),
    (
        "TALLY_TELEMETRY_DEBUG",
        "1: print each payload to stderr, never send.",
    ),
    (
        "TALLY_TELEMETRY_INSTANCE_ID",
        "A UUID injected by a deployment, used instead of the stored machine id.",
    ),
    (
        "TALLY_TELEMETRY_FLUSH_INTERVAL",
        "Seconds between flushes in long-running commands (default 6 hours).",
    ),
    (
        "TALLY_POLICY_FILE",
        "A further policy file; it may only add restrictions to the system one.",
    ),
    (
        "CI, GITHUB_ACTIONS, GITLAB_CI, BUILDKITE, …",
        "A CI environment: off, no question, no notice.",
    ),
    ("NO_COLOR", "No colour in output."),
    (
        "TALLY_STORE",
        "serve and report: the store's URL when neither --store nor --db is given.",
    ),
    (
        "TALLY_STORE_PASSWORD_FILE",
        "serve and report: a file holding the ClickHouse password (a mounted Secret).",
    ),
    (
        "TALLY_STORE_PASSWORD",
        "serve and report: the ClickHouse password itself, when no file is named.",
    ),
    (
        "TALLY_TRUSTED_PROXIES",
        "serve: comma-separated CIDRs of reverse proxies, when no --trusted-proxy is given.",
    ),
];

/// Files tally reads and writes.
pub const FILES: &[(&str, &str)] = &[
    (
        "$XDG_CONFIG_HOME/tally/telemetry.toml",
        "The stored choice (telemetry on|off, the prompt), when and how it was made; mode 0600. A symbolic link of yours is followed.",
    ),
    (
        "/etc/tally/telemetry.toml",
        "The system policy: telemetry = \"off\", endpoint = \"…\", rotate_machine_id = \"monthly\". It always applies.",
    ),
    (
        "/etc/tally/tally.toml",
        "The system policy where earlier versions read it; read only when /etc/tally/telemetry.toml does not exist.",
    ),
    (
        "$XDG_STATE_HOME/tally/",
        "Mode 0700: machine_id, spool.jsonl (at most 256 KB), sent.jsonl (the ledger), backoff.json, last_error, last_version; deleted by telemetry off.",
    ),
];

/// Both sections as plain text, for `--help`.
pub fn text() -> String {
    let mut out = String::from("Environment:\n");
    for (name, what) in ENVIRONMENT {
        out.push_str(&format!("  {name}\n          {what}\n"));
    }
    out.push_str("\nFiles:\n");
    for (name, what) in FILES {
        out.push_str(&format!("  {name}\n          {what}\n"));
    }
    out
}

/// Both sections in roff, for man pages.
pub fn roff() -> String {
    let esc = |s: &str| s.replace('\\', "\\\\").replace('-', "\\-");
    let mut out = String::new();
    for (title, items) in [("ENVIRONMENT", ENVIRONMENT), ("FILES", FILES)] {
        out.push_str(&format!(".SH {title}\n"));
        for (name, what) in items {
            out.push_str(&format!(".TP\n\\fB{}\\fR\n{}\n", esc(name), esc(what)));
        }
    }
    out
}
