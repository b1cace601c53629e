//! The OTLP exporter: each completed UTC day's rollup, as OTLP/HTTP metrics,
//! to the user's own collector (see [`crate::consent::otel`] for when).
//!
//! It rides on delivery: [`export_due`] is called once at the top of every
//! [`deliver_due`](crate::deliver::deliver_due), so it runs wherever and
//! whenever delivery runs (the detached helper, `telemetry flush`, the
//! interval flush), never in a wait at exit. It keeps its own record,
//! `otlp.json` in the state directory (the staged lines beside it in
//! `otlp_pending.json`), under its own lock (`otlp.lock`):
//!
//! - **Staging.** Completed days not staged before are copied from the
//!   spool into the record (at most [`MAX_PENDING_DAYS`]), so the product
//!   sender may release them whenever it likes and a collector that is down
//!   for a while loses nothing. `staged_through` is the newest day staged,
//!   so a day is staged once. While product analytics is off, the staged
//!   lines are then removed from the spool: turning product analytics on
//!   later never sends a day recorded while it was off.
//! - **Export.** Staged days go oldest first, one request per day, with
//!   the day's UTC bounds as the points' start and end time; a day leaves
//!   the record once the collector answered 2xx (or a 4xx that will never
//!   change), so it is exported once.
//! - **Bounds.** 1 s connect and 2 s overall per request, at most
//!   [`MAX_DAYS_PER_ATTEMPT`] requests per attempt, no retries; after a
//!   failure a backoff of its own (1 h doubling to 24 h, or a longer
//!   `Retry-After`) that only `telemetry flush` ignores. Failures go to
//!   `telemetry status` and, in debug mode, stderr; never stdout.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::consent::otel::Protocol;
use crate::consent::paths::StateFiles;
use crate::consent::settings::Settings;
use crate::deliver::otlp_metrics::{self as om, Totals};
use crate::os::clock::{format_day, format_instant};
use crate::os::files;
use crate::record::rollup;
use crate::record::spool::{self, Line};
use crate::record::state::{BACKOFF_MAX, BACKOFF_MIN};

/// Days kept staged at most; older ones are dropped (and counted).
pub const MAX_PENDING_DAYS: usize = 31;
/// Requests per attempt at most.
pub const MAX_DAYS_PER_ATTEMPT: usize = 7;
/// The record's file name in the state directory.
pub const RECORD_FILE: &str = "otlp.json";
/// The staged days' lines, beside the record.
pub const PENDING_FILE: &str = "otlp_pending.json";
/// The exporter's lock file name.
pub const LOCK_FILE: &str = "otlp.lock";
/// Largest record file read back (staged days are bounded by the spool).
const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// What the exporter keeps between runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The newest completed day staged from the spool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staged_through: Option<String>,
    /// Staged days not yet exported, with their spool lines (kept in
    /// [`PENDING_FILE`], so a command start reads only the small head).
    #[serde(skip)]
    pub pending: BTreeMap<String, Vec<Line>>,
    /// The days in `pending`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_days: Vec<String>,
    /// The newest day the collector accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_exported: Option<String>,
    /// When that was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_exported_at: Option<String>,
    /// Days dropped unexported (over [`MAX_PENDING_DAYS`], or refused for good).
    #[serde(default)]
    pub dropped_days: u64,
    /// No background export before this Unix time.
    #[serde(default)]
    pub backoff_until: i64,
    /// The delay that produced `backoff_until`, seconds.
    #[serde(default)]
    pub backoff_delay: u64,
    /// The last failure, with its time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// What an export attempt did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exported {
    /// The destination is off, or there is no state directory.
    Off,
    /// Another process is exporting.
    Busy,
    /// A failure's backoff is in force until this Unix time.
    BackedOff(i64),
    /// Debug mode printed the requests instead.
    Printed,
    /// These days were exported (possibly none).
    Days(Vec<String>),
    /// The attempt failed after exporting these days.
    Failed(String, Vec<String>),
}

/// An export attempt in words for `telemetry flush`; `None` when the
/// destination is off.
pub fn words(settings: &Settings, e: &Exported) -> Option<(&'static str, String)> {
    let to = settings
        .otlp
        .endpoint
        .as_ref()
        .map(|e| crate::deliver::endpoint::redact(&e.value))
        .unwrap_or_default();
    let days = |d: &[String]| match d {
        [] => "no completed day was waiting".to_owned(),
        [one] => format!("{one} exported to {to}"),
        [first, .., last] => format!("{} days ({first} to {last}) exported to {to}", d.len()),
    };
    Some(match e {
        Exported::Off => return None,
        Exported::Busy => (
            "busy",
            "another process is exporting to the collector".into(),
        ),
        Exported::BackedOff(until) => (
            "backed_off",
            format!(
                "a failed export waits until {}",
                crate::os::clock::format_unix(*until)
            ),
        ),
        Exported::Printed => ("printed", "debug mode printed the export instead".into()),
        Exported::Days(d) => ("exported", days(d)),
        Exported::Failed(why, d) if d.is_empty() => ("failed", why.clone()),
        Exported::Failed(why, d) => ("failed", format!("{}, then: {why}", days(d))),
    })
}

fn record_path(state: &StateFiles) -> std::path::PathBuf {
    state.dir().join(RECORD_FILE)
}

fn read_json<T: serde::de::DeserializeOwned + Default>(path: &std::path::Path) -> T {
    files::read_optional(path)
        .ok()
        .flatten()
        .filter(|b| b.len() <= MAX_RECORD_BYTES)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// The stored record without the staged lines (for status and the check
/// at a command's start): one small file.
pub fn read_head(state: &StateFiles) -> Record {
    read_json(&record_path(state))
}

/// The stored record with the staged lines.
pub fn read_record(state: &StateFiles) -> Record {
    let mut r = read_head(state);
    let pending: BTreeMap<String, Vec<Line>> = read_json(&state.dir().join(PENDING_FILE));
    // Only the days the head lists: a crash between the two writes leaves
    // at worst a day the head does not know, which is staged again whole.
    r.pending = pending
        .into_iter()
        .filter(|(d, _)| r.pending_days.contains(d))
        .collect();
    r
}

/// Writes the staged lines, then the head that lists them.
fn write_record(state: &StateFiles, r: &Record) -> Result<(), files::FileError> {
    files::write_atomic(
        &state.dir().join(PENDING_FILE),
        &serde_json::to_vec(&r.pending).unwrap_or_default(),
        false,
    )?;
    let mut head = r.clone();
    head.pending_days = r.pending.keys().cloned().collect();
    head.pending.clear();
    files::write_atomic(
        &record_path(state),
        &serde_json::to_vec(&head).unwrap_or_default(),
        false,
    )
}

/// The hook the sender calls at the start of each attempt: stage what
/// completed, then export what is staged. `foreground` (`telemetry flush`)
/// ignores the backoff.
pub fn export_due(settings: &Settings, foreground: bool) -> Exported {
    let result = std::panic::catch_unwind(|| attempt(settings, foreground));
    result.unwrap_or_else(|_| Exported::Failed("the OTLP exporter panicked".into(), Vec::new()))
}

fn attempt(settings: &Settings, foreground: bool) -> Exported {
    let o = &settings.otlp;
    let (true, Some(state), Some(endpoint)) = (o.enabled, settings.paths.state(), &o.endpoint)
    else {
        return Exported::Off;
    };
    let lock = match files::ensure_private_dir(state.dir())
        .and_then(|()| files::open_lock_file(&state.dir().join(LOCK_FILE)))
    {
        Ok(f) => f,
        Err(_) => return Exported::Busy,
    };
    let locked = if foreground {
        crate::os::lock::lock(&lock).is_ok()
    } else {
        crate::os::lock::try_lock(&lock).is_ok()
    };
    if !locked {
        return Exported::Busy;
    }
    let mut rec = read_record(&state);
    let today = format_day(settings.clock.today());
    stage(settings, &state, &mut rec, &today);
    // The staged days are on disk before anything else happens to them, so
    // a process killed mid-export loses nothing.
    if write_record(&state, &rec).is_ok() && !settings.consent.enabled {
        drop_from_spool(&state, &today);
    }
    let now = settings.clock.unix();
    if settings.debug {
        print_debug(settings, &rec);
        let _ = write_record(&state, &rec);
        return Exported::Printed;
    }
    if !foreground && rec.backoff_until > now && !rec.pending.is_empty() {
        let _ = write_record(&state, &rec);
        return Exported::BackedOff(rec.backoff_until);
    }
    let machine_id = if o.with_machine_id() {
        crate::deliver::sender::machine_id(settings, &state).ok()
    } else {
        None
    };
    let resource = resource(settings, machine_id.as_deref());
    let days: Vec<String> = rec
        .pending
        .keys()
        .take(MAX_DAYS_PER_ATTEMPT)
        .cloned()
        .collect();
    let mut done = Vec::new();
    for day in days {
        let lines = rec.pending.get(&day).cloned().unwrap_or_default();
        let Some(body) = day_body(settings, &resource, &day, &lines) else {
            rec.pending.remove(&day);
            continue;
        };
        match post(settings, &endpoint.value, &body) {
            Ok((status, _)) if (200..300).contains(&status) => {
                rec.pending.remove(&day);
                rec.last_exported = Some(day.clone());
                rec.last_exported_at = Some(format_instant(settings.clock.now()));
                rec.backoff_until = 0;
                rec.backoff_delay = 0;
                rec.last_error = None;
                done.push(day);
            }
            Ok((status, retry_after)) if status == 408 || status == 429 || status >= 500 => {
                let msg = format!(
                    "the OTLP collector {} answered HTTP {status} for {day}; will retry later",
                    endpoint.value
                );
                return fail(settings, &state, &mut rec, msg, retry_after, done);
            }
            Ok((status, _)) => {
                // It will never accept this request; keeping it would block
                // every later day.
                rec.pending.remove(&day);
                rec.dropped_days += 1;
                rec.last_error = Some(format!(
                    "{}: the OTLP collector {} rejected {day} with HTTP {status}; that day was dropped",
                    format_instant(settings.clock.now()),
                    endpoint.value
                ));
            }
            Err(e) => {
                let msg = format!(
                    "exporting to the OTLP collector {} failed: {e}",
                    endpoint.value
                );
                return fail(settings, &state, &mut rec, msg, None, done);
            }
        }
    }
    let _ = write_record(&state, &rec);
    Exported::Days(done)
}

fn fail(
    settings: &Settings,
    state: &StateFiles,
    rec: &mut Record,
    msg: String,
    retry_after: Option<u64>,
    done: Vec<String>,
) -> Exported {
    let delay = if rec.backoff_delay == 0 {
        BACKOFF_MIN
    } else {
        (rec.backoff_delay * 2).clamp(BACKOFF_MIN, BACKOFF_MAX)
    };
    let delay = delay.max(retry_after.unwrap_or(0).min(BACKOFF_MAX));
    rec.backoff_delay = delay;
    rec.backoff_until = settings.clock.unix() + delay as i64;
    rec.last_error = Some(format!("{}: {msg}", format_instant(settings.clock.now())));
    let _ = write_record(state, rec);
    if settings.debug {
        eprintln!("[{} telemetry] {msg}", settings.app.name);
    }
    Exported::Failed(msg, done)
}

/// Copies completed days from the spool into the record, once each.
fn stage(settings: &Settings, state: &StateFiles, rec: &mut Record, today: &str) {
    let Ok(_lock) = spool::lock(state) else {
        return;
    };
    let Ok(parsed) = spool::read(state) else {
        return;
    };
    let after = rec.staged_through.clone().unwrap_or_default();
    let mut fresh: BTreeMap<String, Vec<Line>> = BTreeMap::new();
    for l in &parsed.lines {
        if l.day.as_str() < today && l.day > after {
            let mut l = l.clone();
            l.b = None;
            fresh.entry(l.day.clone()).or_default().push(l);
        }
    }
    let newest = fresh.keys().next_back().cloned();
    for (day, lines) in fresh {
        // A day already staged is never added to: that would count it twice.
        rec.pending
            .entry(day)
            .or_insert_with(|| spool::merge(lines));
    }
    // No line for a completed day arrives later (counts land on the day
    // they are persisted), so every day before today has now been seen.
    let yesterday = settings
        .clock
        .today()
        .previous_day()
        .map(format_day)
        .unwrap_or_default();
    rec.staged_through = newest.max(Some(yesterday)).max(rec.staged_through.take());
    while rec.pending.len() > MAX_PENDING_DAYS {
        rec.pending.pop_first();
        rec.dropped_days += 1;
    }
}

/// While product analytics is off, removes the completed days from the
/// spool once they are safely in the record: what product analytics may not
/// send must not wait there for a later `telemetry on`.
fn drop_from_spool(state: &StateFiles, today: &str) {
    let Ok(_lock) = spool::lock(state) else {
        return;
    };
    let Ok(parsed) = spool::read(state) else {
        return;
    };
    if parsed.bad > 0 || parsed.lines.iter().any(|l| l.day.as_str() < today) {
        let keep: Vec<Line> = parsed
            .lines
            .into_iter()
            .filter(|l| l.day.as_str() >= today)
            .collect();
        let _ = spool::rewrite(state, &keep);
    }
}

/// The resource of every request: `service.name`, `service.version`, the
/// OS and architecture, `OTEL_RESOURCE_ATTRIBUTES`, and the machine id as
/// `service.instance.id` only when the user asked for it.
fn resource(
    settings: &Settings,
    machine_id: Option<&str>,
) -> Vec<opentelemetry_proto::tonic::common::v1::KeyValue> {
    let o = &settings.otlp;
    // OTEL_SERVICE_NAME wins over a service.name in OTEL_RESOURCE_ATTRIBUTES,
    // which wins over the application's name.
    let service = match (
        &o.service_name.origin,
        o.resource_attributes
            .iter()
            .find(|(k, _)| k == "service.name"),
    ) {
        (crate::consent::origin::Origin::Env(_), _) | (_, None) => o.service_name.value.clone(),
        (_, Some((_, v))) => v.clone(),
    };
    let attrs: Vec<&(String, String)> = o
        .resource_attributes
        .iter()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "service.name" | "service.version" | "os.type" | "host.arch"
            )
        })
        .collect();
    let mut out = vec![
        om::kv_str("service.name", &service),
        om::kv_str("service.version", &settings.app.version),
        om::kv_str("os.type", crate::schema::current_os()),
        om::kv_str("host.arch", crate::schema::current_arch()),
    ];
    if let Some(id) = machine_id {
        out.push(om::kv_str("service.instance.id", id));
    }
    out.extend(attrs.iter().map(|(k, v)| om::kv_str(k, v)));
    out
}

/// The encoded request for one day, or `None` when it holds nothing.
fn day_body(
    settings: &Settings,
    resource: &[opentelemetry_proto::tonic::common::v1::KeyValue],
    day: &str,
    lines: &[Line],
) -> Option<(Vec<u8>, &'static str)> {
    let (start, end) = om::day_bounds(day)?;
    let mut totals = Totals::default();
    for e in rollup::events_from(lines) {
        totals.add(&e);
    }
    if totals.is_empty() {
        return None;
    }
    let req = om::request(vec![(resource.to_vec(), om::metrics(&totals, start, end))]);
    Some(om::encode(&req, settings.otlp.protocol.value))
}

fn print_debug(settings: &Settings, rec: &Record) {
    let resource = resource(settings, None);
    for (day, lines) in &rec.pending {
        let s = Settings {
            otlp: crate::consent::otel::OtlpSettings {
                protocol: crate::consent::origin::Sourced {
                    value: Protocol::Json,
                    origin: crate::consent::origin::Origin::Default,
                },
                ..settings.otlp.clone()
            },
            ..settings.clone()
        };
        if let Some((body, _)) = day_body(&s, &resource, day, lines) {
            eprintln!(
                "[{} telemetry debug] would export {day} to the OTLP collector {}: {}",
                settings.app.name,
                settings
                    .otlp
                    .endpoint
                    .as_ref()
                    .map_or("", |e| e.value.as_str()),
                String::from_utf8_lossy(&body)
            );
        }
    }
}

/// Posts one body with the user's headers; the HTTP status and any
/// `Retry-After` seconds.
pub fn post(
    settings: &Settings,
    endpoint: &str,
    (body, content_type): &(Vec<u8>, &'static str),
) -> Result<(u16, Option<u64>), String> {
    post_with(
        settings,
        &settings.otlp.headers,
        endpoint,
        body,
        content_type,
    )
}

/// Posts `body` to `endpoint` with `headers`, bounded like the product send.
pub fn post_with(
    settings: &Settings,
    headers: &[(String, String)],
    endpoint: &str,
    body: &[u8],
    content_type: &str,
) -> Result<(u16, Option<u64>), String> {
    let agent = crate::deliver::sender::agent(settings, endpoint)?;
    let mut req = agent.post(endpoint).header("content-type", content_type);
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let resp = req
        .send(body)
        .map_err(|e| crate::deliver::sender::describe(&e))?;
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    Ok((resp.status().as_u16(), retry_after))
}

/// Whether an export attempt is worth a thread at the start of a command:
/// the destination is on and a completed day is staged or in the spool,
/// with no backoff in force.
pub fn worth_trying(settings: &Settings) -> bool {
    let Some(state) = settings.paths.state() else {
        return false;
    };
    if !settings.otlp.enabled {
        return false;
    }
    let rec = read_head(&state);
    if rec.backoff_until > settings.clock.unix() {
        return false;
    }
    if !rec.pending_days.is_empty() {
        return true;
    }
    // Every completed day was staged already: nothing new until midnight.
    let yesterday = settings.clock.today().previous_day().map(format_day);
    if rec.staged_through >= yesterday {
        return false;
    }
    // Lines are appended for the day they are persisted on, so the spool's
    // first line holds its oldest day: a completed day waits only if that
    // one is before today. One bounded read, no parse of the whole spool,
    // so a command with nothing due starts no thread.
    oldest_spool_day(&state).is_some_and(|d| d < format_day(settings.clock.today()))
}

/// The day of the spool's first line, from its first 4 KB (opened as
/// carefully as every state file: no link followed, nothing but a regular
/// file of ours, never blocking).
fn oldest_spool_day(state: &StateFiles) -> Option<String> {
    #[derive(Deserialize)]
    struct Day {
        day: String,
    }
    let (buf, _) = crate::os::files::read_bounded(&state.spool(), 4096).ok()??;
    let line = buf.split(|b| *b == b'\n').next()?;
    serde_json::from_slice::<Day>(line).ok().map(|d| d.day)
}
