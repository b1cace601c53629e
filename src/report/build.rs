//! `tally report`: what the store says, for a window of days and optionally
//! one application. Active machines per day, commands ranked by use, MCP
//! tool calls with outcome rates and latency buckets, MCP clients, app
//! versions, OS/arch, lifecycle events, facts, and what was dropped.
//!
//! k-anonymity: every row must be backed by at least `min_machines`
//! distinct machines over the window; rows below that are folded into one
//! `other` row per table, and an `other` row that is itself below the
//! threshold is withheld (only how many rows were withheld is shown). The
//! same [`Report`] value feeds the JSON and the tables, so both hide the
//! same things.
//!
//! The store is scanned once per table family and aggregated here in
//! memory, which keeps a report over a million rows well under a second.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::Hash;

use serde::Serialize;
use time::Date;

use crate::os::clock::{format_day, parse_day};
use crate::report::kanon::{Agg, fold, fold_agg};
pub use crate::report::text::render;
use crate::schema::{
    COMMAND_OUTCOMES, DURATION_LABELS, ERROR_CLASSES, LATENCY_BUCKETS, LATENCY_LABELS, OUTCOMES,
};
use crate::server::store::{RowKind, Store, day_from_number, day_number};

/// Default k for k-anonymity.
pub const DEFAULT_MIN_MACHINES: usize = 5;

/// What to report on.
#[derive(Clone, Debug)]
pub struct Query {
    /// First day included.
    pub since: Date,
    /// Last day included.
    pub until: Date,
    /// Only this application.
    pub app: Option<String>,
    /// The k of k-anonymity.
    pub min_machines: usize,
}

impl Query {
    /// The window of the same length that ends the day before this one
    /// starts, with the same app and k: what "against the previous period"
    /// compares with.
    pub fn previous(&self) -> Query {
        let until = self.since - time::Duration::days(1);
        Query {
            since: until - (self.until - self.since),
            until,
            app: self.app.clone(),
            min_machines: self.min_machines,
        }
    }
}

/// A report failure.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// `--since` did not parse.
    #[error("--since {0:?} is not a number of days like `30d` or a date like `2026-11-01`")]
    Since(String),
    /// The store could not be read.
    #[error("reading the store {path}: {source}")]
    Sqlite {
        /// The database.
        path: std::path::PathBuf,
        /// The SQLite error.
        source: rusqlite::Error,
    },
}

/// Parses `--since`: `Nd` (N days before `today`) or a `YYYY-MM-DD` date.
pub fn parse_since(s: &str, today: Date) -> Result<Date, ReportError> {
    let s = s.trim();
    if let Some(d) = parse_day(s) {
        return Ok(d);
    }
    s.strip_suffix('d')
        .and_then(|n| n.parse::<u32>().ok())
        .filter(|n| *n <= 36_500)
        .map(|n| today - time::Duration::days(i64::from(n)))
        .ok_or_else(|| ReportError::Since(s.to_owned()))
}

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

/// One MCP tool's calls (all tools together when names are off).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ToolRow {
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

#[derive(Default)]
struct CommandAgg {
    outcomes: [u64; COMMAND_OUTCOMES.len()],
    duration: [u64; LATENCY_BUCKETS],
    machines: HashSet<i64>,
}

impl CommandAgg {
    fn merge(&mut self, o: CommandAgg) {
        for (a, b) in self.outcomes.iter_mut().zip(o.outcomes) {
            *a = a.saturating_add(b);
        }
        for (a, b) in self.duration.iter_mut().zip(o.duration) {
            *a = a.saturating_add(b);
        }
        self.machines.extend(o.machines);
    }
}

#[derive(Default)]
struct ToolAgg {
    outcomes: [u64; 5],
    classes: [u64; 7],
    latency: [u64; LATENCY_BUCKETS],
    machines: HashSet<i64>,
}

impl ToolAgg {
    fn merge(&mut self, o: ToolAgg) {
        for (a, b) in self.outcomes.iter_mut().zip(o.outcomes) {
            *a = a.saturating_add(b);
        }
        for (a, b) in self.classes.iter_mut().zip(o.classes) {
            *a = a.saturating_add(b);
        }
        for (a, b) in self.latency.iter_mut().zip(o.latency) {
            *a = a.saturating_add(b);
        }
        self.machines.extend(o.machines);
    }
}

fn grouped<K: Eq + Hash>(map: HashMap<K, Agg>) -> Vec<(K, Agg)> {
    map.into_iter().collect()
}

fn rate(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        // Four decimals are plenty for a share, and keep the JSON stable.
        ((part as f64 / whole as f64) * 10_000.0).round() / 10_000.0
    }
}

/// A stored integer, whatever the file holds: the store writes only
/// integers, but a damaged or hand-edited file may hold a float (from an
/// overflow in an older version), text, a blob or NULL, and the report must
/// still come out. Floats saturate, anything else that is not a number is 0.
fn stored_int(r: &rusqlite::Row<'_>, i: usize) -> i64 {
    use rusqlite::types::ValueRef;
    match r.get_ref(i) {
        Ok(ValueRef::Integer(n)) => n,
        // `as` saturates, and maps NaN to 0.
        Ok(ValueRef::Real(f)) => f as i64,
        Ok(ValueRef::Text(t)) => std::str::from_utf8(t)
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0),
        _ => 0,
    }
}

/// A stored text, whatever the file holds (invalid UTF-8 is replaced).
fn stored_text(r: &rusqlite::Row<'_>, i: usize) -> String {
    use rusqlite::types::ValueRef;
    match r.get_ref(i) {
        Ok(ValueRef::Text(t) | ValueRef::Blob(t)) => String::from_utf8_lossy(t).into_owned(),
        Ok(ValueRef::Integer(n)) => n.to_string(),
        Ok(ValueRef::Real(f)) => f.to_string(),
        _ => String::new(),
    }
}

/// Builds the report for `q` from `store`.
pub fn build(store: &Store, q: &Query) -> Result<Report, ReportError> {
    let path = store.path().to_path_buf();
    let sqlerr = |source| ReportError::Sqlite {
        path: path.clone(),
        source,
    };
    let conn = store.connection();
    let mut dims: HashMap<i64, String> = HashMap::new();
    {
        let mut stmt = conn.prepare("SELECT id, text FROM dims").map_err(sqlerr)?;
        let mut rows = stmt.query([]).map_err(sqlerr)?;
        while let Some(r) = rows.next().map_err(sqlerr)? {
            dims.insert(stored_int(r, 0), stored_text(r, 1));
        }
    }
    let dim = |id: i64| dims.get(&id).map_or("", String::as_str);
    // An app that never reported matches nothing (id -1).
    let app_id: Option<i64> = q.app.as_ref().map(|name| {
        dims.iter()
            .find(|(_, t)| *t == name)
            .map_or(-1, |(id, _)| *id)
    });
    let since = day_number(q.since);
    let until = day_number(q.until);
    let k = q.min_machines.max(1);
    let mut withheld = 0usize;

    // Envelopes per machine-day: activity, versions, platforms.
    let mut all = HashSet::new();
    let mut ci = HashSet::new();
    let mut days: BTreeMap<i64, Agg> = BTreeMap::new();
    let mut versions: HashMap<(i64, i64), Agg> = HashMap::new();
    let mut platforms: HashMap<(i64, i64), Agg> = HashMap::new();
    {
        let mut stmt = conn
            .prepare(
                "SELECT day, app, machine, version, os, arch, ci FROM machine_days
                 WHERE day >= ?1 AND day <= ?2 AND (?3 IS NULL OR app = ?3)",
            )
            .map_err(sqlerr)?;
        let mut rows = stmt
            .query(rusqlite::params![since, until, app_id])
            .map_err(sqlerr)?;
        while let Some(r) = rows.next().map_err(sqlerr)? {
            let v = |i| Ok::<_, ReportError>(stored_int(r, i));
            let (day, app, machine, version, os, arch, is_ci) =
                (v(0)?, v(1)?, v(2)?, v(3)?, v(4)?, v(5)?, v(6)?);
            all.insert(machine);
            if is_ci != 0 {
                ci.insert(machine);
            }
            days.entry(day).or_default().machines.insert(machine);
            versions
                .entry((app, version))
                .or_default()
                .machines
                .insert(machine);
            platforms
                .entry((os, arch))
                .or_default()
                .machines
                .insert(machine);
        }
    }

    // Usage rows.
    let outcome_of: HashMap<i64, usize> = dims
        .iter()
        .filter_map(|(id, t)| OUTCOMES.iter().position(|o| o == t).map(|i| (*id, i)))
        .collect();
    let command_outcome_of: HashMap<i64, usize> = dims
        .iter()
        .filter_map(|(id, t)| {
            COMMAND_OUTCOMES
                .iter()
                .position(|o| o == t)
                .map(|i| (*id, i))
        })
        .collect();
    let class_of: HashMap<i64, usize> = dims
        .iter()
        .filter_map(|(id, t)| ERROR_CLASSES.iter().position(|o| o == t).map(|i| (*id, i)))
        .collect();
    let mut commands: HashMap<i64, CommandAgg> = HashMap::new();
    let mut tools: HashMap<i64, ToolAgg> = HashMap::new();
    let mut clients: HashMap<(i64, i64), Agg> = HashMap::new();
    let mut lifecycle: HashMap<i64, Agg> = HashMap::new();
    let mut facts: HashMap<(i64, i64), Agg> = HashMap::new();
    let mut dropped = Dropped::default();
    {
        let mut stmt = conn
            .prepare(
                "SELECT kind, name, variant, class, machine, count, l0, l1, l2, l3, l4, l5, l6
                 FROM usage WHERE day >= ?1 AND day <= ?2 AND (?3 IS NULL OR app = ?3)",
            )
            .map_err(sqlerr)?;
        let mut rows = stmt
            .query(rusqlite::params![since, until, app_id])
            .map_err(sqlerr)?;
        while let Some(r) = rows.next().map_err(sqlerr)? {
            let v = |i| Ok::<_, ReportError>(stored_int(r, i));
            let (kind, name, variant, class, machine) = (v(0)?, v(1)?, v(2)?, v(3)?, v(4)?);
            let count = v(5)?.max(0) as u64;
            let entry = |agg: &mut Agg| {
                agg.count = agg.count.saturating_add(count);
                agg.machines.insert(machine);
            };
            match RowKind::from_code(kind) {
                Some(RowKind::Command) => {
                    let c = commands.entry(name).or_default();
                    // Rows stored before outcomes existed have no variant:
                    // their runs ended in a way nobody reported.
                    let o = command_outcome_of
                        .get(&variant)
                        .copied()
                        .unwrap_or(COMMAND_OUTCOMES.len() - 1);
                    c.outcomes[o] = c.outcomes[o].saturating_add(count);
                    for (i, d) in c.duration.iter_mut().enumerate() {
                        *d = d.saturating_add(v(6 + i)?.max(0) as u64);
                    }
                    c.machines.insert(machine);
                }
                Some(RowKind::Tool) => {
                    let t = tools.entry(name).or_default();
                    if let Some(o) = outcome_of.get(&variant) {
                        t.outcomes[*o] = t.outcomes[*o].saturating_add(count);
                    }
                    if let Some(c) = class_of.get(&class) {
                        t.classes[*c] = t.classes[*c].saturating_add(count);
                    }
                    for (i, l) in t.latency.iter_mut().enumerate() {
                        *l = l.saturating_add(v(6 + i)?.max(0) as u64);
                    }
                    t.machines.insert(machine);
                }
                Some(RowKind::Client) => entry(clients.entry((name, variant)).or_default()),
                Some(RowKind::Lifecycle) => entry(lifecycle.entry(name).or_default()),
                Some(RowKind::Fact) => entry(facts.entry((name, variant)).or_default()),
                Some(RowKind::ClientDropped) => {
                    dropped.client_reported = dropped.client_reported.saturating_add(count)
                }
                None => {}
            }
        }
    }
    {
        let mut stmt = conn
            .prepare(
                // Summed here, saturating: SQLite's SUM fails on overflow.
                "SELECT reason, count FROM drops
                 WHERE day >= ?1 AND day <= ?2 AND (?3 IS NULL OR app = ?3)",
            )
            .map_err(sqlerr)?;
        let mut rows = stmt
            .query(rusqlite::params![since, until, app_id])
            .map_err(sqlerr)?;
        while let Some(r) = rows.next().map_err(sqlerr)? {
            let reason = stored_text(r, 0);
            let n = stored_int(r, 1).max(0) as u64;
            let total = match reason.as_str() {
                "unknown_events" => &mut dropped.unknown_events,
                "unknown_fields" => &mut dropped.unknown_fields,
                "invalid_values" => &mut dropped.invalid_values,
                "out_of_window" => &mut dropped.out_of_window,
                _ => continue,
            };
            *total = total.saturating_add(n);
        }
    }

    let other = || "other".to_owned();

    let day_rows: Vec<(String, Agg)> = days
        .into_iter()
        .map(|(d, a)| {
            let label = day_from_number(d).map_or_else(other, format_day);
            (label, a)
        })
        .collect();
    let (day_rows, w) = fold_agg(day_rows, k, other());
    withheld += w;
    let days_out = day_rows
        .into_iter()
        .map(|(day, a)| DayRow {
            day,
            machines: a.machines.len(),
        })
        .collect();

    let rows: Vec<(String, CommandAgg)> = commands
        .into_iter()
        .map(|(id, a)| (dim(id).to_owned(), a))
        .collect();
    let (rows, w) = fold(
        rows,
        k,
        other(),
        |a| a.machines.len(),
        CommandAgg::merge,
        CommandAgg::default,
    );
    withheld += w;
    let mut commands_out: Vec<CommandRow> = rows
        .into_iter()
        .map(|(command, a)| {
            let count = a.outcomes.iter().fold(0u64, |s, n| s.saturating_add(*n));
            CommandRow {
                command,
                count,
                outcomes: COMMAND_OUTCOMES
                    .iter()
                    .zip(a.outcomes)
                    .map(|(o, n)| ((*o).to_owned(), n))
                    .collect(),
                failure_rate: rate(a.outcomes[1], count),
                usage_error_rate: rate(a.outcomes[2], count),
                duration: a.duration,
                machines: a.machines.len(),
            }
        })
        .collect();
    commands_out.sort_by(|a, b| b.count.cmp(&a.count).then(a.command.cmp(&b.command)));

    let rows: Vec<(String, ToolAgg)> = tools
        .into_iter()
        .map(|(id, a)| {
            let name = match dim(id) {
                "" => "(unnamed)".to_owned(),
                n => n.to_owned(),
            };
            (name, a)
        })
        .collect();
    let (rows, w) = fold(
        rows,
        k,
        other(),
        |a| a.machines.len(),
        ToolAgg::merge,
        ToolAgg::default,
    );
    withheld += w;
    let mut tools_out: Vec<ToolRow> = rows
        .into_iter()
        .map(|(tool, a)| {
            let calls = a.outcomes.iter().fold(0u64, |s, n| s.saturating_add(*n));
            ToolRow {
                tool,
                calls,
                outcomes: OUTCOMES
                    .iter()
                    .zip(a.outcomes)
                    .map(|(o, n)| ((*o).to_owned(), n))
                    .collect(),
                success_rate: rate(a.outcomes[0], calls),
                tool_error_rate: rate(a.outcomes[1], calls),
                protocol_error_rate: rate(a.outcomes[2], calls),
                error_classes: ERROR_CLASSES
                    .iter()
                    .zip(a.classes)
                    .filter(|(_, n)| *n > 0)
                    .map(|(c, n)| ((*c).to_owned(), n))
                    .collect(),
                latency: a.latency,
                machines: a.machines.len(),
            }
        })
        .collect();
    tools_out.sort_by(|a, b| b.calls.cmp(&a.calls).then(a.tool.cmp(&b.tool)));

    let rows = grouped(clients)
        .into_iter()
        .map(|((c, major), a)| ((dim(c).to_owned(), dim(major).parse::<u64>().ok()), a))
        .collect();
    let (rows, w) = fold_agg(rows, k, (other(), None));
    withheld += w;
    let mut clients_out: Vec<ClientRow> = rows
        .into_iter()
        .map(|((client, major), a)| ClientRow {
            client,
            major,
            sessions: a.count,
            machines: a.machines.len(),
        })
        .collect();
    clients_out.sort_by(|a, b| {
        b.sessions
            .cmp(&a.sessions)
            .then(a.client.cmp(&b.client))
            .then(a.major.cmp(&b.major))
    });

    let pair_rows = |m: HashMap<(i64, i64), Agg>| -> Vec<((String, String), Agg)> {
        m.into_iter()
            .map(|((a, b), agg)| ((dim(a).to_owned(), dim(b).to_owned()), agg))
            .collect()
    };
    let by_machines_then = |a: &usize, b: &usize| b.cmp(a);

    let (rows, w) = fold_agg(pair_rows(versions), k, (other(), other()));
    withheld += w;
    let mut versions_out: Vec<VersionRow> = rows
        .into_iter()
        .map(|((app, version), a)| VersionRow {
            app,
            version,
            machines: a.machines.len(),
        })
        .collect();
    versions_out.sort_by(|a, b| {
        by_machines_then(&a.machines, &b.machines)
            .then(a.app.cmp(&b.app))
            .then(a.version.cmp(&b.version))
    });

    let (rows, w) = fold_agg(pair_rows(platforms), k, (other(), other()));
    withheld += w;
    let mut platforms_out: Vec<PlatformRow> = rows
        .into_iter()
        .map(|((os, arch), a)| PlatformRow {
            os,
            arch,
            machines: a.machines.len(),
        })
        .collect();
    platforms_out.sort_by(|a, b| {
        by_machines_then(&a.machines, &b.machines)
            .then(a.os.cmp(&b.os))
            .then(a.arch.cmp(&b.arch))
    });

    let rows = grouped(lifecycle)
        .into_iter()
        .map(|(id, a)| (dim(id).to_owned(), a))
        .collect();
    let (rows, w) = fold_agg(rows, k, other());
    withheld += w;
    let mut lifecycle_out: Vec<LifecycleRow> = rows
        .into_iter()
        .map(|(kind, a)| LifecycleRow {
            kind,
            count: a.count,
            machines: a.machines.len(),
        })
        .collect();
    lifecycle_out.sort_by(|a, b| a.kind.cmp(&b.kind));

    let (rows, w) = fold_agg(pair_rows(facts), k, (other(), other()));
    withheld += w;
    let mut facts_out: Vec<FactRow> = rows
        .into_iter()
        .map(|((fact, value), a)| FactRow {
            fact,
            value,
            machines: a.machines.len(),
        })
        .collect();
    facts_out.sort_by(|a, b| {
        a.fact
            .cmp(&b.fact)
            .then(by_machines_then(&a.machines, &b.machines))
            .then(a.value.cmp(&b.value))
    });

    Ok(Report {
        since: format_day(q.since),
        until: format_day(q.until),
        app: q.app.clone(),
        min_machines: k,
        machines: all.len(),
        ci_machines: ci.len(),
        days: days_out,
        commands: commands_out,
        duration_buckets: DURATION_LABELS.iter().map(|l| (*l).to_owned()).collect(),
        tools: tools_out,
        latency_buckets: LATENCY_LABELS.iter().map(|l| (*l).to_owned()).collect(),
        clients: clients_out,
        versions: versions_out,
        platforms: platforms_out,
        lifecycle: lifecycle_out,
        facts: facts_out,
        dropped,
        withheld_rows: withheld,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::validate::validate;
    use crate::schema::*;
    use crate::server::store::{Durability, Store};

    fn today() -> Date {
        parse_day("2026-11-21").unwrap()
    }

    fn post(store: &mut Store, machine: &str, commands: &[(&str, u64)], tool: Option<&str>) {
        let b = Batch {
            envelope: crate::record::rollup::envelope(
                "demo",
                "1.0.0",
                false,
                machine,
                &uuid::Uuid::new_v4().to_string(),
            ),
            events: vec![Event::UsageRollup(UsageRollup {
                day: "2026-11-20".into(),
                commands: commands
                    .iter()
                    .map(|(c, n)| CommandCount {
                        command: (*c).into(),
                        outcome: None,
                        duration: None,
                        count: *n,
                    })
                    .collect(),
                tool_calls: tool
                    .map(|t| {
                        vec![
                            ToolCallCount {
                                tool: Some(t.into()),
                                outcome: Outcome::Ok,
                                error_class: None,
                                count: 3,
                                latency: [3, 0, 0, 0, 0, 0, 0],
                            },
                            ToolCallCount {
                                tool: Some(t.into()),
                                outcome: Outcome::ProtocolError,
                                error_class: Some(ErrorClass::InvalidParams),
                                count: 1,
                                latency: [0, 1, 0, 0, 0, 0, 0],
                            },
                        ]
                    })
                    .unwrap_or_default(),
                ..Default::default()
            })],
        };
        let v = validate(&serde_json::to_vec(&b).unwrap(), today()).unwrap();
        store.ingest(&v, today()).unwrap();
    }

    fn query(k: usize) -> Query {
        Query {
            since: today() - time::Duration::days(30),
            until: today(),
            app: None,
            min_machines: k,
        }
    }

    #[test]
    fn rows_below_k_machines_fold_into_other_or_are_withheld() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("s.db"), Durability::Normal).unwrap();
        for _ in 0..3 {
            let m = uuid::Uuid::new_v4().to_string();
            post(&mut s, &m, &[("build", 2)], Some("search"));
        }
        // Two rare commands from one machine each: alone each is below k,
        // folded together they are backed by two machines.
        post(
            &mut s,
            &uuid::Uuid::new_v4().to_string(),
            &[("rare-a", 1)],
            None,
        );
        post(
            &mut s,
            &uuid::Uuid::new_v4().to_string(),
            &[("rare-b", 1)],
            None,
        );
        let r = build(&s, &query(2)).unwrap();
        let names: Vec<&str> = r.commands.iter().map(|c| c.command.as_str()).collect();
        assert_eq!(names, ["build", "other"]);
        assert_eq!(r.commands[1].count, 2);
        assert_eq!(r.commands[1].machines, 2);
        assert_eq!(r.machines, 5);
        let t = &r.tools[0];
        assert_eq!((t.tool.as_str(), t.calls), ("search", 12));
        assert_eq!(t.success_rate, 0.75);
        assert_eq!(t.protocol_error_rate, 0.25);
        assert_eq!(t.error_classes.get("invalid_params"), Some(&3));
        assert_eq!(t.latency[..2], [9, 3]);

        let r = build(&s, &query(4)).unwrap();
        let names: Vec<&str> = r.commands.iter().map(|c| c.command.as_str()).collect();
        assert_eq!(names, ["other"], "build (3 machines) folds in too");
        assert!(r.tools.is_empty(), "three machines are not enough");
        assert!(r.withheld_rows > 0);
        let text = {
            let mut out = Vec::new();
            render(&r, false, &mut out).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert!(
            !text.contains("rare-a") && !text.contains("search"),
            "{text}"
        );
        assert!(!text.contains('\u{1b}'), "no colour when asked for none");
    }

    #[test]
    fn the_app_filter_and_the_window_limit_what_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("s.db"), Durability::Normal).unwrap();
        post(
            &mut s,
            &uuid::Uuid::new_v4().to_string(),
            &[("build", 2)],
            None,
        );
        let mut q = query(1);
        q.app = Some("nope".into());
        assert_eq!(build(&s, &q).unwrap().commands, vec![]);
        q.app = Some("demo".into());
        assert_eq!(build(&s, &q).unwrap().commands.len(), 1);
        q.since = today();
        assert_eq!(build(&s, &q).unwrap().commands, vec![]);
    }

    /// Regression: a count pushed past i64::MAX was stored as a float and
    /// the report then failed. Whatever a damaged file holds, it comes out.
    #[test]
    fn hostile_values_in_the_file_do_not_stop_the_report() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("s.db"), Durability::Normal).unwrap();
        for _ in 0..3 {
            let m = uuid::Uuid::new_v4().to_string();
            post(&mut s, &m, &[("build", 1), ("test", 1)], Some("search"));
        }
        let c = s.connection();
        c.execute_batch(
            "UPDATE usage SET count = 9223372036854775807 WHERE kind = 0;
             UPDATE usage SET l0 = 1.0e30, l1 = 'lots', l2 = x'00ff' WHERE kind = 1;
             INSERT INTO drops (day, app, reason, count) VALUES
               (20777, 1, 'unknown_fields', 9223372036854775807),
               (20776, 1, 'unknown_fields', 9223372036854775807),
               (20775, 1, 'invalid_values', -5),
               (20775, 1, 'nonsense', 'x');
             INSERT INTO dims (id, text) VALUES (424242, x'ff00fe');",
        )
        .unwrap();
        // One command's count a float past i64::MAX, one text, the tool's
        // name a blob of invalid UTF-8.
        c.execute(
            "UPDATE usage SET count = 1.5e300 WHERE kind = 0 AND name =
               (SELECT id FROM dims WHERE text = 'test') AND machine =
               (SELECT MIN(machine) FROM usage)",
            [],
        )
        .unwrap();
        c.execute(
            "UPDATE usage SET count = 'NaN' WHERE kind = 0 AND name =
               (SELECT id FROM dims WHERE text = 'test') AND machine =
               (SELECT MAX(machine) FROM usage)",
            [],
        )
        .unwrap();
        c.execute("UPDATE usage SET name = 424242 WHERE kind = 1", [])
            .unwrap();
        let mut q = query(1);
        q.since = parse_day("2026-01-01").unwrap();
        q.until = parse_day("2027-01-01").unwrap();
        let r = build(&s, &q).unwrap();
        let build_row = r.commands.iter().find(|c| c.command == "build").unwrap();
        assert_eq!(build_row.count, u64::MAX, "summed, saturating");
        let test_row = r.commands.iter().find(|c| c.command == "test").unwrap();
        assert_eq!(
            test_row.count,
            2 * i64::MAX as u64,
            "a float saturated, text counted as 0"
        );
        assert_eq!(r.dropped.unknown_fields, 2 * i64::MAX as u64);
        assert_eq!(r.dropped.invalid_values, 0);
        assert_eq!(r.tools.len(), 1);
        assert_eq!(r.tools[0].tool, "\u{fffd}\u{0}\u{fffd}");
        assert_eq!(r.tools[0].latency[0], u64::MAX);
        assert_eq!(r.tools[0].latency[1], 0, "text and blobs count as 0");
        let mut out = Vec::new();
        render(&r, false, &mut out).unwrap();
        serde_json::to_string(&r).unwrap();
    }

    #[test]
    fn the_previous_period_has_the_same_length_and_ends_the_day_before() {
        let q = query(5);
        let p = q.previous();
        assert_eq!(p.until, q.since - time::Duration::days(1));
        assert_eq!(p.until - p.since, q.until - q.since);
        assert_eq!((p.app, p.min_machines), (q.app, q.min_machines));
    }

    #[test]
    fn since_parses_days_and_dates() {
        assert_eq!(
            parse_since("30d", today()).unwrap(),
            parse_day("2026-10-22").unwrap()
        );
        assert_eq!(
            parse_since("2026-01-02", today()).unwrap(),
            parse_day("2026-01-02").unwrap()
        );
        assert!(parse_since("yesterday", today()).is_err());
    }
}
