//! The ENVIRONMENT and FILES sections of `tally --help` and of every man
//! page, and the README's table of variables, from one list, so help, man
//! pages and README say the same.

/// One environment variable (or a family of them) and what it does.
pub struct Var {
    /// The names, each one a reader can copy.
    pub names: &'static [&'static str],
    /// Said after the names ("(or lower case)"), when something is.
    pub note: &'static str,
    /// What it does, in plain text (no Markdown, no roff).
    pub what: &'static str,
}

const fn var(names: &'static [&'static str], what: &'static str) -> Var {
    Var {
        names,
        note: "",
        what,
    }
}

/// Variables tally reads, with what each does: the one table `--help`,
/// every man page and the README's "Settings and files" are made from.
pub const ENVIRONMENT: &[Var] = &[
    var(
        &["TALLY_TELEMETRY"],
        "1/true/on/yes/enable(d): on; 0/false/off/no/disable(d)/never/none: off. Any other value also means off (status says so).",
    ),
    var(
        &["DO_NOT_TRACK"],
        "Set to anything but empty, 0 or false: off, for every tool that honours it.",
    ),
    var(
        &["TALLY_TELEMETRY_ENDPOINT"],
        "The URL batches are posted to.",
    ),
    var(
        &["TALLY_TELEMETRY_DIR"],
        "The state directory (for containers: a volume); an absolute path, else it is ignored (status says so).",
    ),
    var(
        &["TALLY_TELEMETRY_DEBUG"],
        "1: print each payload to stderr, never send.",
    ),
    var(
        &["TALLY_TELEMETRY_INSTANCE_ID"],
        "A UUID injected by a deployment, used instead of the stored machine id.",
    ),
    var(
        &["TALLY_TELEMETRY_FLUSH_INTERVAL"],
        "Seconds between flushes in long-running commands (default 6 hours).",
    ),
    var(
        &["TALLY_POLICY_FILE"],
        "A further policy file; it may only add restrictions to the system one (/etc/tally/telemetry.toml, or else /etc/tally/tally.toml). Naming a file that does not exist adds nothing, and status says so.",
    ),
    var(
        &["TALLY_TELEMETRY_NOW"],
        "Tests only, debug builds only: a fixed UTC date or RFC 3339 instant.",
    ),
    Var {
        names: &["HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"],
        note: " (or lower case)",
        what: "The proxy for the endpoint: http://, https://, socks4://, socks4a://, socks5:// or socks5h://. A setting that cannot be parsed means nothing is sent (never a direct connection), with the reason in status.",
    },
    var(
        &[
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        ],
        "Your own OpenTelemetry collector: the counts of completed days are also exported there as OTLP/HTTP metrics (/v1/metrics is appended to the first; the second is used as is). Its own switch: on when set, even with telemetry off.",
    ),
    var(
        &[
            "OTEL_EXPORTER_OTLP_HEADERS",
            "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
        ],
        "Headers for your collector (key=value, comma-separated, URL-encoded values).",
    ),
    var(
        &[
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
        ],
        "http/protobuf (the default) or http/json.",
    ),
    var(
        &["OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"],
        "The service.name (default: the tool's name) and further resource attributes of the export.",
    ),
    var(&["OTEL_SDK_DISABLED"], "true: no export to your collector."),
    var(
        &["TALLY_OTEL_MACHINE_ID"],
        "1: send the machine id to your own collector too (never otherwise).",
    ),
    Var {
        names: &["CI", "GITHUB_ACTIONS", "GITLAB_CI", "BUILDKITE"],
        note: ", …",
        what: "A CI environment: off, no question, no notice.",
    },
    var(&["NO_COLOR"], "No colour in output."),
    var(
        &["TALLY_STORE"],
        "serve and report: the store's URL when neither --store nor --db is given.",
    ),
    var(
        &["TALLY_STORE_PASSWORD_FILE"],
        "serve and report: a file holding the ClickHouse password (a mounted Secret).",
    ),
    var(
        &["TALLY_STORE_PASSWORD"],
        "serve and report: the ClickHouse password itself, when no file is named.",
    ),
    var(
        &["TALLY_TRUSTED_PROXIES"],
        "serve: comma-separated CIDRs of reverse proxies, when no --trusted-proxy is given.",
    ),
];

impl Var {
    /// The names as one line of plain text.
    fn plain(&self) -> String {
        format!("{}{}", self.names.join(", "), self.note)
    }
}

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
    for v in ENVIRONMENT {
        out.push_str(&format!("  {}\n          {}\n", v.plain(), v.what));
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
    let env: Vec<(String, &str)> = ENVIRONMENT.iter().map(|v| (v.plain(), v.what)).collect();
    let files: Vec<(String, &str)> = FILES.iter().map(|(n, w)| ((*n).to_owned(), *w)).collect();
    let mut out = String::new();
    for (title, items) in [("ENVIRONMENT", env), ("FILES", files)] {
        out.push_str(&format!(".SH {title}\n"));
        for (name, what) in items {
            out.push_str(&format!(".TP\n\\fB{}\\fR\n{}\n", esc(&name), esc(what)));
        }
    }
    out
}

/// The README's table of variables (between its markers), in Markdown.
pub fn markdown() -> String {
    let mut out = String::from("| variable | meaning |\n|---|---|\n");
    for v in ENVIRONMENT {
        let names: Vec<String> = v.names.iter().map(|n| format!("`{n}`")).collect();
        out.push_str(&format!(
            "| {}{} | {} |\n",
            names.join(", "),
            v.note,
            v.what.replace('|', "\\|")
        ));
    }
    out
}

/// The README's markers around [`markdown`].
pub const README_BEGIN: &str = "<!-- BEGIN GENERATED FROM src/cli/help.rs (the table --help and the man pages use): do not edit by hand; run `tally generate readme-env README.md` -->";
/// The end marker.
pub const README_END: &str = "<!-- END GENERATED environment -->";

/// `text` with the part between the README markers replaced by the table;
/// `None` when the markers are missing.
pub fn splice_readme(text: &str) -> Option<String> {
    let start = text.find(README_BEGIN)? + README_BEGIN.len();
    let end = start + text[start..].find(README_END)?;
    Some(format!(
        "{}\n{}{}",
        &text[..start],
        markdown(),
        &text[end..]
    ))
}
