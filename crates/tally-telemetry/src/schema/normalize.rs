//! Mapping raw values onto the schema's allowlists: counts and uptimes into
//! buckets, durations into latency buckets, this build's OS and architecture
//! into the schema's names, and an MCP client's self-reported name and
//! version into an allowlisted client and a major number. Everything a
//! client reports passes through one of these before it is recorded.

use crate::schema::{
    ARCHES, CLIENTS, DURATION_BOUNDS_MS, LATENCY_BOUNDS_MS, LATENCY_BUCKETS, OSES,
};

/// Buckets a count into [`COUNT_BUCKETS`](crate::schema::COUNT_BUCKETS).
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

/// Buckets an uptime into [`UPTIME_BUCKETS`](crate::schema::UPTIME_BUCKETS).
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

/// The duration bucket a command's run time falls in.
pub fn duration_bucket(d: std::time::Duration) -> usize {
    let ms = d.as_millis();
    DURATION_BOUNDS_MS
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
