//! Delivery: claims completed days from the spool, posts them as batches,
//! and records the result. Bounded in every direction: a 1 s connect and
//! 2 s overall timeout, no retries within an attempt, a backoff on disk
//! after a failure (1 h doubling to 24 h), one sender per machine at a time
//! (an `flock` on `send.lock`, released by the kernel if the sender dies),
//! and at most a few batches per attempt.

use std::time::Duration;

use crate::consent::paths::StateFiles;
use crate::consent::settings::Settings;
use crate::os::clock::{format_day, format_instant};
use crate::os::files;
use crate::record::rollup;
use crate::record::spool;
use crate::record::state::{self, LedgerEntry};
use crate::schema::Batch;

/// Connect timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Whole-request timeout.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// Batches per attempt at most.
pub const MAX_BATCHES: usize = 4;
/// Spool lines per batch at most (keeps a body well under 64 KB).
pub const MAX_LINES: usize = 250;

/// Whether the caller may wait (`telemetry flush`) or is a background
/// attempt that honours the backoff.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Opportunistic, honours the backoff.
    Background,
    /// Asked for explicitly; ignores the backoff.
    Foreground,
}

/// What a send attempt did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Telemetry is off.
    Disabled,
    /// No endpoint is configured.
    NoEndpoint,
    /// No state directory is known.
    NoStateDir,
    /// The notice has not been shown in an earlier run yet.
    NoticePending,
    /// A previous failure's backoff is in force.
    BackedOff(i64),
    /// Another process is sending.
    Busy,
    /// Nothing completed is waiting.
    NothingDue,
    /// Debug mode printed the payload instead of sending.
    Printed,
    /// Batches were delivered (or rejected for good); see the entries.
    Done(Vec<LedgerEntry>),
    /// The attempt failed; the data stays in the spool.
    Failed(String, Vec<LedgerEntry>),
}

/// The machine id to send under: the deployment's injected instance id, or
/// the stored random id.
pub fn machine_id(settings: &Settings, state: &StateFiles) -> Result<String, files::FileError> {
    match settings.instance_id {
        Some(id) => Ok(id.hyphenated().to_string()),
        None => state::ensure_machine_id(state),
    }
}

/// Whether a send may happen in this process at all (consent, endpoint,
/// notice). The notice must have been shown by an *earlier* process, so a
/// user always had a chance to say no before the first byte leaves.
pub fn gate(settings: &Settings) -> Option<Outcome> {
    if !settings.consent.enabled {
        return Some(Outcome::Disabled);
    }
    if !settings.can_send() && !settings.debug {
        return Some(Outcome::NoEndpoint);
    }
    if settings.paths.state_dir.is_none() {
        return Some(Outcome::NoStateDir);
    }
    if settings.undecided() && !crate::consent::notice::already_shown(settings) {
        return Some(Outcome::NoticePending);
    }
    None
}

/// A cheap check, for the start of a command, of whether a background send
/// is worth a thread: the spool or a backoff file exists and no backoff is
/// in force.
pub fn worth_trying(settings: &Settings) -> bool {
    #[cfg(feature = "otlp")]
    if crate::deliver::otlp::worth_trying(settings) {
        return true;
    }
    let Some(state) = settings.paths.state() else {
        return false;
    };
    if gate(settings).is_some() || files::size_of(&state.spool()) == 0 {
        return false;
    }
    state::read_backoff(&state).is_none_or(|b| b.until <= settings.clock.unix())
}

/// Builds the batch for `lines` under `batch_id`.
pub fn build(
    settings: &Settings,
    machine_id: &str,
    batch_id: &str,
    lines: &[spool::Line],
) -> Batch {
    let env = rollup::envelope(
        &settings.app.name,
        &settings.app.version,
        settings.ci.is_some(),
        machine_id,
        batch_id,
    );
    rollup::batch(env, lines)
}

/// The exact bytes posted for a batch.
pub fn encode(batch: &Batch) -> Vec<u8> {
    serde_json::to_vec(batch).unwrap_or_default()
}

/// One attempt to deliver what is due.
pub fn send_pending(settings: &Settings, mode: Mode) -> Outcome {
    // The user's own collector first, while the completed days are still
    // in the spool; it has its own switch, record and backoff.
    #[cfg(feature = "otlp")]
    crate::deliver::otlp::export_due(settings, mode == Mode::Foreground);
    if let Some(o) = gate(settings) {
        return o;
    }
    let Some(state) = settings.paths.state() else {
        return Outcome::NoStateDir;
    };
    let now = settings.clock.unix();
    if mode == Mode::Background
        && let Some(b) = state::read_backoff(&state).filter(|b| b.until > now)
    {
        return Outcome::BackedOff(b.until);
    }
    if settings.debug {
        return print_debug(settings, &state);
    }
    let lock = match files::ensure_private_dir(state.dir())
        .and_then(|()| files::open_lock_file(&state.send_lock()))
    {
        Ok(f) => f,
        Err(e) => return fail(settings, &state, e.to_string(), Vec::new()),
    };
    // An explicit flush waits for a sender already running (often this very
    // process's own background send, started at init) rather than report
    // "busy" and exit while that thread is mid-post. Senders are bounded
    // by their timeouts, so the wait is too.
    let locked = match mode {
        Mode::Foreground => lock.lock().is_ok(),
        Mode::Background => lock.try_lock().is_ok(),
    };
    if !locked {
        return Outcome::Busy;
    }
    let today = format_day(settings.clock.today());
    let mut entries = Vec::new();
    for _ in 0..MAX_BATCHES {
        let claimed = spool::lock(&state).and_then(|_l| spool::claim(&state, &today, MAX_LINES));
        let (batch_id, lines) = match claimed {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => return fail(settings, &state, e.to_string(), entries),
        };
        let machine = match machine_id(settings, &state) {
            Ok(m) => m,
            Err(e) => return fail(settings, &state, e.to_string(), entries),
        };
        let batch = build(settings, &machine, &batch_id, &lines);
        let body = encode(&batch);
        let endpoint = settings
            .endpoint
            .as_ref()
            .map(|e| e.value.clone())
            .unwrap_or_default();
        let entry = |result: &str, status: u16| LedgerEntry {
            at: format_instant(settings.clock.now()),
            batch_id: batch_id.clone(),
            result: result.to_owned(),
            status,
            bytes: body.len(),
            events: batch.events.len(),
            endpoint: endpoint.clone(),
        };
        if batch.events.is_empty() {
            // Every claimed line was invalid; nothing to post.
            let _ = spool::lock(&state).and_then(|_l| spool::release(&state, &batch_id));
            continue;
        }
        match post(settings, &endpoint, &body) {
            Ok((status, _)) if (200..300).contains(&status) => {
                let e = entry("sent", status);
                finish(&state, &batch_id, &e);
                state::clear_backoff(&state);
                state::clear_error(&state);
                entries.push(e);
            }
            Ok((status, retry_after)) if status == 408 || status == 429 || status >= 500 => {
                let _ = state::record_failure(&state, now, retry_after);
                let msg = format!("{endpoint} answered HTTP {status}; will retry later");
                return fail(settings, &state, msg, entries);
            }
            Ok((status, _)) => {
                // The receiver will never accept this batch; keeping it would
                // block every later one.
                let e = entry("rejected", status);
                finish(&state, &batch_id, &e);
                state::note_error(
                    &state,
                    &e.at,
                    &format!(
                        "{endpoint} rejected batch {batch_id} with HTTP {status}; it was dropped"
                    ),
                );
                entries.push(e);
            }
            Err(err) => {
                let _ = state::record_failure(&state, now, None);
                return fail(
                    settings,
                    &state,
                    format!("sending to {endpoint} failed: {err}"),
                    entries,
                );
            }
        }
    }
    drop(lock);
    if entries.is_empty() {
        Outcome::NothingDue
    } else {
        Outcome::Done(entries)
    }
}

fn finish(state: &StateFiles, batch_id: &str, entry: &LedgerEntry) {
    let _ = spool::lock(state).and_then(|_l| spool::release(state, batch_id));
    let _ = state::ledger_append(state, entry);
}

fn fail(
    settings: &Settings,
    state: &StateFiles,
    msg: String,
    entries: Vec<LedgerEntry>,
) -> Outcome {
    state::note_error(state, &format_instant(settings.clock.now()), &msg);
    if settings.debug {
        eprintln!("[{} telemetry] {msg}", settings.app.name);
    }
    Outcome::Failed(msg, entries)
}

fn print_debug(settings: &Settings, state: &StateFiles) -> Outcome {
    let today = format_day(settings.clock.today());
    let lines = match spool::lock(state).and_then(|_l| spool::read(state)) {
        Ok(p) => p.lines,
        Err(e) => return fail(settings, state, e.to_string(), Vec::new()),
    };
    let (id, lines) = spool::peek_outgoing(&lines, &today);
    if lines.is_empty() {
        return Outcome::NothingDue;
    }
    let machine = machine_id(settings, state).unwrap_or_default();
    let id = id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let body = encode(&build(settings, &machine, &id, &lines));
    eprintln!(
        "[{} telemetry debug] would POST to {}: {}",
        settings.app.name,
        settings
            .endpoint
            .as_ref()
            .map_or("(no endpoint)", |e| e.value.as_str()),
        String::from_utf8_lossy(&body)
    );
    Outcome::Printed
}

/// Posts `body`; returns the HTTP status and any `Retry-After` seconds.
fn post(settings: &Settings, endpoint: &str, body: &[u8]) -> Result<(u16, Option<u64>), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_global(Some(REQUEST_TIMEOUT))
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(format!("tally/{}", env!("CARGO_PKG_VERSION")))
        .proxy(proxy_for(settings, endpoint))
        .build()
        .into();
    let resp = agent
        .post(endpoint)
        .header("content-type", "application/json")
        .send(body)
        .map_err(|e| e.to_string())?;
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    Ok((resp.status().as_u16(), retry_after))
}

/// The proxy for `endpoint` from the environment snapshot: `HTTPS_PROXY` or
/// `HTTP_PROXY` by scheme (then `ALL_PROXY`), unless `NO_PROXY` matches.
pub fn proxy_for(settings: &Settings, endpoint: &str) -> Option<ureq::Proxy> {
    let env = &settings.env;
    let get = |k: &str| {
        env.non_empty(k)
            .or_else(|| env.non_empty(&k.to_ascii_lowercase()))
    };
    let https = endpoint.starts_with("https://");
    let proxy = if https {
        get("HTTPS_PROXY")
    } else {
        get("HTTP_PROXY")
    }
    .or_else(|| get("ALL_PROXY"))?;
    let host = host_of(endpoint)?;
    if let Some(list) = get("NO_PROXY")
        && no_proxy_matches(list, host)
    {
        return None;
    }
    ureq::Proxy::new(proxy).ok()
}

fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = host.strip_prefix('[') {
        return v6.split(']').next();
    }
    Some(host.split(':').next().unwrap_or(host))
}

/// `NO_PROXY` semantics: comma-separated hosts or domain suffixes
/// (`example.com`, `.example.com`, `*.example.com`), or `*` for all.
pub fn no_proxy_matches(list: &str, host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    list.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|e| {
            let e = e.to_ascii_lowercase();
            let e = e.split(':').next().unwrap_or(&e).to_owned();
            e == "*" || {
                let suffix = e.trim_start_matches('*').trim_start_matches('.');
                host == suffix || host.ends_with(&format!(".{suffix}"))
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_proxy_rules() {
        assert!(no_proxy_matches("localhost,127.0.0.1", "127.0.0.1"));
        assert!(no_proxy_matches(".example.com", "api.example.com"));
        assert!(no_proxy_matches("example.com", "api.example.com"));
        assert!(no_proxy_matches("*", "anything"));
        assert!(!no_proxy_matches("example.com", "example.org"));
        assert_eq!(
            host_of("http://user@h.example:8080/v1/batch"),
            Some("h.example")
        );
        assert_eq!(host_of("http://[::1]:80/x"), Some("::1"));
    }
}
