//! Delivery: claims completed days from the spool, posts them as batches,
//! and records the result. Bounded in every direction: a 1 s connect and
//! 2 s overall timeout, no retries within an attempt, a backoff on disk
//! after a failure (1 h doubling to 24 h), one sender per machine at a time
//! (an `flock` on `send.lock`, released by the kernel if the sender dies),
//! and at most a few batches per attempt. Redirects are not followed, an
//! endpoint or proxy that cannot be used safely means no send (never a
//! silent direct connection), and credentials in the endpoint are never
//! shown or stored.

use std::fs::File;
use std::time::Duration;

use crate::consent::paths::StateFiles;
use crate::consent::settings::Settings;
use crate::deliver::endpoint;
use crate::deliver::proxy::{proxy_for, proxy_setting};
use crate::os::clock::{format_day, format_instant, parse_day};
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
    /// The endpoint or the proxy cannot be used (the reason).
    Unusable(String),
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
/// the stored random id (of the current period, when it rotates).
pub fn machine_id(settings: &Settings, state: &StateFiles) -> Result<String, files::FileError> {
    match settings.instance_id {
        Some(id) => Ok(id.to_string()),
        // Random, and replaced each period when a rotation is chosen.
        None => {
            crate::record::state::current_id(state, settings.rotation.value, settings.clock.today())
        }
    }
}

/// The rotation period of a spool day: one period's days per batch, when
/// the machine id rotates.
pub fn batch_period(settings: &Settings) -> impl Fn(&str) -> Option<String> {
    let rotation = settings.rotation.value;
    move |day: &str| parse_day(day).and_then(|d| rotation.period(d))
}

/// The machine id a batch of `lines` (all of one rotation period) is sent
/// under: that period's id, not the id of the day the send happens.
pub fn batch_machine_id(
    settings: &Settings,
    state: &StateFiles,
    lines: &[spool::Line],
) -> Result<String, files::FileError> {
    let day = lines.first().and_then(|l| parse_day(&l.day));
    match (settings.instance_id, day) {
        (None, Some(day)) => crate::record::state::id_for_day(
            state,
            settings.rotation.value,
            settings.clock.today(),
            day,
        ),
        _ => machine_id(settings, state),
    }
}

/// Why nothing may be sent to the configured endpoint, if anything stands
/// in the way: a URL that is not `http(s)://`, plain `http://` to another
/// machine without the admin's permission, or a proxy setting that cannot
/// be parsed (which must not silently mean a direct connection). The same
/// message for `telemetry status` and `flush`.
pub fn transport_problem(settings: &Settings) -> Option<String> {
    let e = settings.endpoint.as_ref()?;
    if let Some(p) = endpoint::problem(&e.value, &e.origin, settings.plain_http_allowed()) {
        return Some(p);
    }
    proxy_for(settings, &e.value).err()
}

/// Whether a send may happen in this process at all (consent, endpoint,
/// notice). The notice must have been shown by an *earlier* process, so a
/// user always had a chance to say no before the first byte leaves.
pub fn gate(settings: &Settings) -> Option<Outcome> {
    if !settings.consent.enabled {
        return Some(Outcome::Disabled);
    }
    if settings.endpoint.is_none() && !settings.debug {
        return Some(Outcome::NoEndpoint);
    }
    if let Some(p) = (!settings.debug)
        .then(|| transport_problem(settings))
        .flatten()
    {
        return Some(Outcome::Unusable(p));
    }
    if settings.paths.state_dir.is_none() {
        return Some(Outcome::NoStateDir);
    }
    if crate::consent::notice::blocks_sending(settings) {
        return Some(Outcome::NoticePending);
    }
    None
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

/// One attempt to deliver what is due, taking the send lock itself.
pub fn send_pending(settings: &Settings, mode: Mode) -> Outcome {
    send_with_lock(settings, mode, None)
}

/// One attempt to deliver what is due. `held` is `send.lock` already
/// locked by the caller (the delivery helper inherits it from the process
/// that started it, so no second sender can slip in between).
pub fn send_with_lock(settings: &Settings, mode: Mode, held: Option<File>) -> Outcome {
    if let Some(o) = gate(settings) {
        return o;
    }
    let Some(state) = settings.paths.state() else {
        return Outcome::NoStateDir;
    };
    let now = settings.clock.unix();
    if mode == Mode::Background {
        if let Some(b) = state::read_backoff(&state).filter(|b| b.until > now) {
            return Outcome::BackedOff(b.until);
        }
    }
    if settings.debug {
        return print_debug(settings, &state);
    }
    let lock = match held {
        Some(f) => f,
        None => {
            let lock = match files::ensure_private_dir(state.dir())
                .and_then(|()| files::open_lock_file(&state.send_lock()))
            {
                Ok(f) => f,
                Err(e) => return fail(settings, &state, e.to_string(), Vec::new()),
            };
            // An explicit flush waits for a sender already running (a
            // delivery helper started a moment ago) rather than report
            // "busy" and exit while it is mid-post. Senders are bounded by
            // their timeouts, so the wait is too.
            let locked = match mode {
                Mode::Foreground => crate::os::lock::lock(&lock).is_ok(),
                Mode::Background => crate::os::lock::try_lock(&lock).is_ok(),
            };
            if !locked {
                return Outcome::Busy;
            }
            lock
        }
    };
    if mode == Mode::Background {
        // Until this attempt ends well, count it as failed: a sender that
        // dies without a word (killed, or aborted by a panic in a
        // `panic = "abort"` build) must not be started again on every run.
        let _ = state::begin_attempt(&state, now);
    }
    let today = format_day(settings.clock.today());
    let endpoint = settings
        .endpoint
        .as_ref()
        .map(|e| endpoint::normalize(&e.value))
        .unwrap_or_default();
    let shown = endpoint::redact(&endpoint);
    let mut entries = Vec::new();
    for _ in 0..MAX_BATCHES {
        let period = batch_period(settings);
        let claimed =
            spool::lock(&state).and_then(|_l| spool::claim_by(&state, &today, MAX_LINES, &period));
        let (batch_id, lines) = match claimed {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => return fail(settings, &state, e.to_string(), entries),
        };
        let machine = match batch_machine_id(settings, &state, &lines) {
            Ok(m) => m,
            Err(e) => return fail(settings, &state, e.to_string(), entries),
        };
        let batch = build(settings, &machine, &batch_id, &lines);
        let body = encode(&batch);
        let entry = |result: &str, status: u16| LedgerEntry {
            at: format_instant(settings.clock.now()),
            batch_id: batch_id.clone(),
            result: result.to_owned(),
            status,
            bytes: body.len(),
            events: batch.events.len(),
            endpoint: shown.clone(),
        };
        if batch.events.is_empty() {
            // Every claimed line was invalid; nothing to post.
            let _ = spool::lock(&state).and_then(|_l| spool::release(&state, &batch_id));
            continue;
        }
        // Consent is checked again at the moment of sending: `telemetry
        // off` in another process since this one started stops the send.
        if !settings.reresolve().consent.enabled {
            state::end_attempt(&state);
            return Outcome::Disabled;
        }
        crate::deliver::testing::maybe_panic(settings);
        match post(settings, &endpoint, &body) {
            Ok(r) if (200..300).contains(&r.status) => {
                let e = entry("sent", r.status);
                let unrecorded = finish(&state, &batch_id, &e);
                state::clear_backoff(&state);
                state::clear_error(&state);
                if let Some(why) = unrecorded {
                    state::note_error(&state, &e.at, &why);
                }
                entries.push(e);
            }
            Ok(r) if (300..400).contains(&r.status) => {
                // Not followed (a redirect could lead anywhere, even to
                // plain http), and not a rejection: the batch stays.
                let _ = state::record_failure(&state, now, None);
                let to = r
                    .location
                    .map(|l| format!(" to {}", endpoint::redact(&l)))
                    .unwrap_or_default();
                let msg = format!(
                    "{shown} answered HTTP {}, a redirect{to}; redirects are not followed, so the batch stays queued. Set the endpoint to the final URL",
                    r.status
                );
                return fail(settings, &state, msg, entries);
            }
            Ok(r) if r.status == 408 || r.status == 429 || r.status >= 500 => {
                let _ = state::record_failure(&state, now, r.retry_after);
                let msg = format!("{shown} answered HTTP {}; will retry later", r.status);
                return fail(settings, &state, msg, entries);
            }
            Ok(r) => {
                // The receiver will never accept this batch; keeping it would
                // block every later one.
                let e = entry("rejected", r.status);
                let unrecorded = finish(&state, &batch_id, &e);
                let mut why = format!(
                    "{shown} rejected batch {batch_id} with HTTP {}; it was dropped",
                    r.status
                );
                if let Some(u) = unrecorded {
                    why = format!("{why}; {u}");
                }
                state::note_error(&state, &e.at, &why);
                entries.push(e);
            }
            Err(err) => {
                let _ = state::record_failure(&state, now, None);
                return fail(
                    settings,
                    &state,
                    match proxy_setting(settings, &endpoint).map(|(var, _)| var) {
                        // A refused or dead proxy is not the endpoint refusing.
                        Some(var) => format!(
                            "sending to {shown} through the proxy in {var} failed: {err} (check the proxy as well as the endpoint)"
                        ),
                        None => format!("sending to {shown} failed: {err}"),
                    },
                    entries,
                );
            }
        }
    }
    if mode == Mode::Background && entries.iter().all(|e| e.result != "sent") {
        // Nothing was due after all, or only rejections: no failure to wait on.
        state::end_attempt(&state);
    }
    drop(lock);
    if entries.is_empty() {
        Outcome::NothingDue
    } else {
        Outcome::Done(entries)
    }
}

/// Records a panic caught in a send as the last error, and backs off.
pub fn record_panic(settings: &Settings, message: &str) -> Outcome {
    let msg = format!(
        "internal error in {}'s telemetry sender ({message}); the data stays queued and the next attempt waits for the backoff. Please report this",
        settings.app.name
    );
    match settings.paths.state() {
        Some(state) => {
            let _ = state::record_failure(&state, settings.clock.unix(), None);
            fail(settings, &state, msg, Vec::new())
        }
        None => Outcome::Failed(msg, Vec::new()),
    }
}

/// Releases a batch the receiver answered for good and records it in the
/// ledger. A ledger that cannot be written (a symlinked `sent.jsonl`) once
/// hid a real send: `log` said nothing was sent and no error was kept. The
/// failure is noted as the last error, after whatever clears it.
fn finish(state: &StateFiles, batch_id: &str, entry: &LedgerEntry) -> Option<String> {
    let _ = spool::lock(state).and_then(|_l| spool::release(state, batch_id));
    state::ledger_append(state, entry).err().map(|e| {
        format!(
            "batch {batch_id} was {} (HTTP {}), but recording it failed: {e}",
            entry.result, entry.status
        )
    })
}

fn fail(
    settings: &Settings,
    state: &StateFiles,
    msg: String,
    entries: Vec<LedgerEntry>,
) -> Outcome {
    let msg = endpoint::redact_text(&msg);
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
    let period = batch_period(settings);
    let (id, lines, _) = spool::peek_outgoing(&lines, &today, MAX_LINES, &period);
    if lines.is_empty() {
        return Outcome::NothingDue;
    }
    let machine = batch_machine_id(settings, state, &lines).unwrap_or_default();
    let id = id.unwrap_or_else(|| crate::os::random::uuid().to_string());
    let body = encode(&build(settings, &machine, &id, &lines));
    eprintln!(
        "[{} telemetry debug] would POST to {}: {}",
        settings.app.name,
        settings
            .endpoint
            .as_ref()
            .map_or("(no endpoint)".into(), |e| endpoint::redact(&e.value)),
        String::from_utf8_lossy(&body)
    );
    Outcome::Printed
}

/// What the receiver answered.
struct Answer {
    status: u16,
    retry_after: Option<u64>,
    location: Option<String>,
}

/// The HTTP client of every send, product or OTLP: bounded in time, no
/// redirects followed, the proxy from the environment (a setting that
/// cannot be parsed is an error, never a direct connection), the TLS stack
/// the features chose.
pub(crate) fn agent(settings: &Settings, endpoint: &str) -> Result<ureq::Agent, String> {
    let proxy = proxy_for(settings, endpoint)?;
    let config = ureq::Agent::config_builder()
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_global(Some(REQUEST_TIMEOUT))
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(format!("tally/{}", env!("CARGO_PKG_VERSION")))
        .proxy(proxy);
    #[cfg(any(feature = "rustls", feature = "native-tls"))]
    let config = config.tls_config(crate::deliver::tls::config());
    // The system's TLS, when neither rustls nor native-tls was chosen.
    #[cfg(all(
        feature = "system-tls",
        not(any(feature = "rustls", feature = "native-tls"))
    ))]
    let agent = crate::deliver::system_tls::agent(
        config.build(),
        crate::deliver::system_tls::Roots::System,
    );
    #[cfg(not(all(
        feature = "system-tls",
        not(any(feature = "rustls", feature = "native-tls"))
    )))]
    let agent = config.build().into();
    Ok(agent)
}

/// A failed request in words. ureq says "timeout: global" for the
/// whole-request limit, which told a user neither what timed out nor after
/// how long.
pub(crate) fn describe(e: &ureq::Error) -> String {
    use ureq::Timeout;
    match e {
        ureq::Error::Timeout(Timeout::Connect | Timeout::Resolve) => format!(
            "no connection within {} s (tally's limit for connecting)",
            CONNECT_TIMEOUT.as_secs()
        ),
        ureq::Error::Timeout(_) => format!(
            "no complete answer within {} s (tally's limit for a whole request; the receiver is slow or hung)",
            REQUEST_TIMEOUT.as_secs()
        ),
        // A sentence of tally's own (the system TLS's errors): without
        // ureq's "io: " before it.
        ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::Other => e.to_string(),
        e => e.to_string(),
    }
}

/// Posts `body` to `endpoint`.
fn post(settings: &Settings, endpoint: &str, body: &[u8]) -> Result<Answer, String> {
    let resp = agent(settings, endpoint)?
        .post(endpoint)
        .header("content-type", "application/json")
        .send(body)
        .map_err(|e| describe(&e))?;
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_owned())
    };
    Ok(Answer {
        status: resp.status().as_u16(),
        retry_after: header("retry-after").and_then(|v| v.parse().ok()),
        location: header("location").map(|l| l.chars().take(200).collect()),
    })
}
