//! The report's query path over ClickHouse: the aggregation and the
//! k-anonymity fold run inside ClickHouse, and only the rows to show come
//! back, however many rows are stored.
//!
//! Each table is one query of two levels. The inner level groups by the
//! table's label and keeps, beside the sums, the set of distinct machines
//! as an aggregate state (`uniqExactState`). The outer level regroups: a
//! label backed by at least k machines keeps its own row, every other one
//! goes to `other`, whose machines are the union of the merged states
//! (`uniqExactMerge`) — exactly what the SQLite path computes with sets in
//! memory. `count()` on the outer level tells how many labels an `other`
//! row folded, which is what is withheld when `other` itself stays below k.
//!
//! A machine's envelope (version, OS, arch, CI) on a day is the one of its
//! latest batch (`argMax` by `seq`), as SQLite's upsert keeps it. Copies of
//! a batch recorded in `dups` are left out of every query.

use serde_json::Value;

use crate::os::clock::format_day;
use crate::report::build::{CommandNums, Dropped, Query, ReportError, Tables, ToolNums};
use crate::schema::{COMMAND_OUTCOMES, ERROR_CLASSES, OUTCOMES};
use crate::server::rows::{DROP_REASONS, RowKind};
use crate::server::store::clickhouse::{ClickHouse, KIND_DROP, KIND_MACHINE_DAY, quote};

/// The text of a cell.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A cell as a count (ClickHouse sends UInt64 as a number here).
fn num(v: &Value) -> u64 {
    match v {
        Value::Number(n) => n.as_u64().unwrap_or(0),
        Value::String(s) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

struct Ctx<'a> {
    ch: &'a ClickHouse,
    db: &'a str,
    k: usize,
    /// `WHERE` conditions every query shares: the window, the app, and the
    /// exclusion of recorded duplicate copies.
    common: String,
}

impl Ctx<'_> {
    fn select(&self, sql: &str) -> Result<Vec<Vec<Value>>, ReportError> {
        Ok(self.ch.select(sql)?)
    }

    fn filter(&self, kind: u8) -> String {
        format!("kind = {kind} AND {}", self.common)
    }

    /// The two-level fold: `keys` are the inner grouping columns, `labels`
    /// the outer label expressions (using `keep`, true when the group shows
    /// as itself), `sums` inner aggregate expressions whose outer value is
    /// their sum. Returns rows of labels, sums, machines, folded groups.
    fn fold(
        &self,
        from: &str,
        keys: &str,
        labels: &[String],
        sums: &[String],
    ) -> Result<Vec<Vec<Value>>, ReportError> {
        let inner_sums: Vec<String> = sums
            .iter()
            .enumerate()
            .map(|(i, s)| format!("{s} AS s{i}"))
            .collect();
        let outer_sums: Vec<String> = (0..sums.len()).map(|i| format!("sum(s{i})")).collect();
        let outer_labels: Vec<String> = labels
            .iter()
            .enumerate()
            .map(|(i, l)| format!("{l} AS label{i}"))
            .collect();
        let group: Vec<String> = (0..labels.len()).map(|i| format!("label{i}")).collect();
        let mut inner = vec![keys.to_owned()];
        inner.extend(inner_sums);
        let mut outer = outer_labels;
        outer.extend(outer_sums);
        self.select(&format!(
            "SELECT {}, uniqExactMerge(st), count()
             FROM (SELECT {}, uniqExactState(machine) AS st, finalizeAggregation(st) AS m
                   FROM {from} GROUP BY {keys})
             GROUP BY {}",
            outer.join(", "),
            inner.join(", "),
            group.join(", ")
        ))
    }

    fn keep(&self, not_other: &str) -> String {
        format!("(m >= {} AND NOT ({not_other}))", self.k)
    }

    fn rows(&self) -> String {
        format!("{}.rows", self.db)
    }

    /// Each machine-day's latest envelope.
    fn latest_machine_days(&self) -> String {
        format!(
            "(SELECT app, day, machine, argMax(version, seq) AS version, argMax(os, seq) AS os,
                     argMax(arch, seq) AS arch, argMax(ci, seq) AS ci
              FROM {} WHERE {} GROUP BY app, day, machine)",
            self.rows(),
            self.filter(KIND_MACHINE_DAY)
        )
    }
}

/// Splits folded rows into the shown ones and the withheld count: a row
/// labelled `other` (the fold's own) that is below k is withheld.
fn split<T>(
    rows: Vec<Vec<Value>>,
    k: usize,
    is_other: impl Fn(&[Value]) -> bool,
    mut make: impl FnMut(&[Value]) -> T,
    machines_at: usize,
) -> (Vec<T>, usize) {
    let mut out = Vec::new();
    let mut withheld = 0;
    for r in rows {
        let machines = r.get(machines_at).map_or(0, num) as usize;
        if is_other(&r) && machines < k {
            withheld += r.get(machines_at + 1).map_or(0, num) as usize;
            continue;
        }
        out.push(make(&r));
    }
    (out, withheld)
}

/// Runs the report's queries in ClickHouse.
pub(crate) fn tables(ch: &ClickHouse, q: &Query) -> Result<Tables, ReportError> {
    let db = ch.database();
    let k = q.min_machines.max(1);
    let mut common = format!(
        "day >= toDate({}) AND day <= toDate({})",
        quote(&format_day(q.since)),
        quote(&format_day(q.until))
    );
    if let Some(app) = &q.app {
        common.push_str(&format!(" AND app = {}", quote(app)));
    }
    let dups = ch.select(&format!("SELECT count() FROM {db}.dups"))?;
    if dups.first().and_then(|r| r.first()).map_or(0, num) > 0 {
        common.push_str(&format!(
            " AND (batch_id, seq) NOT IN (SELECT batch_id, seq FROM {db}.dups)"
        ));
    }
    let c = Ctx { ch, db, k, common };
    let mut t = Tables::default();
    let other = |r: &[Value]| r.first().map(text).as_deref() == Some("other");
    let other2 = |r: &[Value]| {
        r.first().map(text).as_deref() == Some("other")
            && r.get(1).map(text).as_deref() == Some("other")
    };

    // Machines, CI machines.
    let all = c.select(&format!(
        "SELECT uniqExact(machine), uniqExactIf(machine, ci = 1) FROM {}",
        c.latest_machine_days()
    ))?;
    if let Some(r) = all.first() {
        t.machines = r.first().map_or(0, num) as usize;
        t.ci_machines = r.get(1).map_or(0, num) as usize;
    }

    // Active machines per day.
    let rows = c.fold(
        &format!("{} WHERE {}", c.rows(), c.filter(KIND_MACHINE_DAY)),
        "day",
        &[format!("if(m >= {k}, toString(day), 'other')")],
        &[],
    )?;
    let (days, w) = split(rows, k, other, |r| (text(&r[0]), num(&r[1]) as usize), 1);
    t.days = days;
    t.withheld += w;

    // Versions and platforms, from each machine-day's latest envelope.
    for (a, b, out) in [
        ("app", "version", &mut t.versions),
        ("os", "arch", &mut t.platforms),
    ] {
        let keep = c.keep(&format!("{a} = 'other' AND {b} = 'other'"));
        let rows = c.fold(
            &c.latest_machine_days(),
            &format!("{a}, {b}"),
            &[
                format!("if({keep}, {a}, 'other')"),
                format!("if({keep}, {b}, 'other')"),
            ],
            &[],
        )?;
        let (rows, w) = split(
            rows,
            k,
            other2,
            |r| ((text(&r[0]), text(&r[1])), num(&r[2]) as usize),
            2,
        );
        *out = rows;
        t.withheld += w;
    }

    // Commands: outcomes (schema-1 rows, with no outcome stored, count as
    // unknown) and duration buckets.
    let unknown = COMMAND_OUTCOMES.len() - 1;
    let mut sums: Vec<String> = COMMAND_OUTCOMES
        .iter()
        .enumerate()
        .map(|(i, o)| {
            if i == unknown {
                let known: Vec<String> = COMMAND_OUTCOMES[..unknown]
                    .iter()
                    .map(|o| quote(o))
                    .collect();
                format!("sumIf(count, variant NOT IN ({}))", known.join(", "))
            } else {
                format!("sumIf(count, variant = {})", quote(o))
            }
        })
        .collect();
    sums.extend((0..7).map(|i| format!("sum(l{i})")));
    let keep = c.keep("name = 'other'");
    let rows = c.fold(
        &format!("{} WHERE {}", c.rows(), c.filter(RowKind::Command as u8)),
        "name",
        &[format!("if({keep}, name, 'other')")],
        &sums,
    )?;
    let n_out = COMMAND_OUTCOMES.len();
    let at = 1 + sums.len();
    let (commands, w) = split(
        rows,
        k,
        other,
        |r| {
            let mut nums = CommandNums {
                machines: num(&r[at]) as usize,
                ..Default::default()
            };
            for (i, o) in nums.outcomes.iter_mut().enumerate() {
                *o = num(&r[1 + i]);
            }
            for (i, d) in nums.duration.iter_mut().enumerate() {
                *d = num(&r[1 + n_out + i]);
            }
            (text(&r[0]), nums)
        },
        at,
    );
    t.commands = commands;
    t.withheld += w;

    // Lifecycle events: a name, a count.
    {
        let keep = c.keep("name = 'other'");
        let rows = c.fold(
            &format!("{} WHERE {}", c.rows(), c.filter(RowKind::Lifecycle as u8)),
            "name",
            &[format!("if({keep}, name, 'other')")],
            &["sum(count)".to_owned()],
        )?;
        let (rows, w) = split(
            rows,
            k,
            other,
            |r| (text(&r[0]), num(&r[1]), num(&r[2]) as usize),
            2,
        );
        t.lifecycle = rows;
        t.withheld += w;
    }

    // Tool calls: outcomes, error classes, latency buckets.
    let mut sums: Vec<String> = OUTCOMES
        .iter()
        .map(|o| format!("sumIf(count, variant = {})", quote(o)))
        .collect();
    sums.extend(
        ERROR_CLASSES
            .iter()
            .map(|e| format!("sumIf(count, class = {})", quote(e))),
    );
    sums.extend((0..7).map(|i| format!("sum(l{i})")));
    let tool = "if(name = '', '(unnamed)', name)";
    let keep = c.keep(&format!("{tool} = 'other'"));
    let rows = c.fold(
        &format!("{} WHERE {}", c.rows(), c.filter(RowKind::Tool as u8)),
        "name",
        &[format!("if({keep}, {tool}, 'other')")],
        &sums,
    )?;
    let n_out = OUTCOMES.len();
    let n_cls = ERROR_CLASSES.len();
    let at = 1 + sums.len();
    let (tools, w) = split(
        rows,
        k,
        other,
        |r| {
            let mut nums = ToolNums {
                machines: num(&r[at]) as usize,
                ..Default::default()
            };
            for (i, o) in nums.outcomes.iter_mut().enumerate().take(n_out) {
                *o = num(&r[1 + i]);
            }
            for (i, o) in nums.classes.iter_mut().enumerate().take(n_cls) {
                *o = num(&r[1 + n_out + i]);
            }
            for (i, o) in nums.latency.iter_mut().enumerate() {
                *o = num(&r[1 + n_out + n_cls + i]);
            }
            (text(&r[0]), nums)
        },
        at,
    );
    t.tools = tools;
    t.withheld += w;

    // MCP clients: (client, major) with sessions.
    let keep = c.keep("name = 'other' AND variant = ''");
    let rows = c.fold(
        &format!("{} WHERE {}", c.rows(), c.filter(RowKind::Client as u8)),
        "name, variant",
        &[
            format!("if({keep}, name, 'other')"),
            format!("if({keep}, variant, '')"),
        ],
        &["sum(count)".to_owned()],
    )?;
    let (clients, w) = split(
        rows,
        k,
        |r| other(r) && r.get(1).map(text).as_deref() == Some(""),
        |r| {
            (
                (text(&r[0]), text(&r[1]).parse::<u64>().ok()),
                num(&r[2]),
                num(&r[3]) as usize,
            )
        },
        3,
    );
    t.clients = clients;
    t.withheld += w;

    // Facts: (fact, value).
    let keep = c.keep("name = 'other' AND variant = 'other'");
    let rows = c.fold(
        &format!("{} WHERE {}", c.rows(), c.filter(RowKind::Fact as u8)),
        "name, variant",
        &[
            format!("if({keep}, name, 'other')"),
            format!("if({keep}, variant, 'other')"),
        ],
        &[],
    )?;
    let (facts, w) = split(
        rows,
        k,
        other2,
        |r| ((text(&r[0]), text(&r[1])), num(&r[2]) as usize),
        2,
    );
    t.facts = facts;
    t.withheld += w;

    // What was dropped, by the client and by the server.
    let mut dropped = Dropped::default();
    let rows = c.select(&format!(
        "SELECT sum(count) FROM {} WHERE {}",
        c.rows(),
        c.filter(RowKind::ClientDropped as u8)
    ))?;
    dropped.client_reported = rows.first().and_then(|r| r.first()).map_or(0, num);
    let rows = c.select(&format!(
        "SELECT name, sum(count) FROM {} WHERE {} GROUP BY name",
        c.rows(),
        c.filter(KIND_DROP)
    ))?;
    for r in rows {
        let n = r.get(1).map_or(0, num);
        match r.first().map(text).as_deref() {
            Some(reason) if reason == DROP_REASONS[0] => dropped.unknown_events += n,
            Some(reason) if reason == DROP_REASONS[1] => dropped.unknown_fields += n,
            Some(reason) if reason == DROP_REASONS[2] => dropped.invalid_values += n,
            Some(reason) if reason == DROP_REASONS[3] => dropped.out_of_window += n,
            _ => {}
        }
    }
    t.dropped = dropped;
    Ok(t)
}
