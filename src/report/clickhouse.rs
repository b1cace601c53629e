//! The report's query path over ClickHouse: the aggregation and the
//! k-anonymity fold run inside ClickHouse over the pre-aggregated tables
//! the store's views fill (`server/store/clickhouse/tables.rs`), a few
//! rows per day and name however many machines reported, and only the
//! rows to show come back.
//!
//! Each table is one query of two levels. The inner level groups by the
//! table's label and keeps, beside the sums, the union of its distinct
//! machine states (`uniqCombinedMergeState`). The outer level regroups: a
//! label backed by at least k machines keeps its own row, every other one
//! goes to `other`, whose machines are the union of the merged states
//! (`uniqCombinedMerge`), as the SQLite path computes with sets in memory.
//! `count()` on the outer level tells how many labels an `other` row
//! folded, which is what is withheld when `other` itself stays below k.
//!
//! Copies of a batch that two replicas inserted at the same instant were
//! summed twice by the views; the rows recorded in `dup_rows` are
//! subtracted, key by key, before the fold.
//!
//! Where this differs from SQLite: a machine that reported two envelopes on
//! one day (an upgrade between two batches) counts under both versions that
//! day (SQLite keeps the last), and distinct machines past a few thousand
//! per label are estimated (about 0.3 %); below that, where k-anonymity
//! decides, they are exact.

use serde_json::Value;

use crate::report::tables::{CommandNums, Dropped, Query, ReportError, Source, Tables, ToolNums};
use crate::server::rows::{DROP_REASONS, RowKind};
use crate::server::store::clickhouse::{ClickHouse, KIND_DROP, quote};
use tally_telemetry::schema::format_day;
use tally_telemetry::schema::{COMMAND_OUTCOMES, ERROR_CLASSES, OUTCOMES};

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

/// The summed columns of `usage_agg`.
const SUMS: [&str; 8] = ["count", "l0", "l1", "l2", "l3", "l4", "l5", "l6"];
/// Its key.
const KEY: &str = "kind, app, day, name, variant, class";

struct Ctx<'a> {
    ch: &'a ClickHouse,
    db: &'a str,
    k: usize,
    /// `WHERE` conditions every query shares: the window and the app.
    common: String,
    /// Whether `dup_rows` holds anything to subtract.
    dups: bool,
}

impl Ctx<'_> {
    fn select(&self, sql: &str) -> Result<Vec<Vec<Value>>, ReportError> {
        Ok(self.ch.select(sql)?)
    }

    /// The usage rows of `kind` in the window, duplicate copies taken out:
    /// a `FROM` clause with the columns of `usage_agg`.
    fn usage(&self, kind: u8) -> String {
        let filter = format!("kind = {kind} AND {}", self.common);
        if !self.dups {
            return format!("{}.usage_agg WHERE {filter}", self.db);
        }
        let agg: Vec<String> = SUMS.iter().map(|c| format!("sum({c}) AS a_{c}")).collect();
        let dup: Vec<String> = SUMS.iter().map(|c| format!("sum({c}) AS d_{c}")).collect();
        // A copy's rows are part of the aggregate, so the difference is
        // never negative; `greatest` keeps it so whatever is stored.
        let net: Vec<String> = SUMS
            .iter()
            .map(|c| format!("greatest(a_{c}, d_{c}) - d_{c} AS {c}"))
            .collect();
        format!(
            "(SELECT {KEY}, {}
              FROM (SELECT {KEY}, {} FROM {db}.usage_agg WHERE {filter} GROUP BY {KEY})
              ANY LEFT JOIN (SELECT {KEY}, {} FROM {db}.dup_rows FINAL WHERE {filter} GROUP BY {KEY})
              USING {KEY})",
            net.join(", "),
            agg.join(", "),
            dup.join(", "),
            db = self.db,
        )
    }

    /// The machine-day envelopes in the window.
    fn envelopes(&self) -> String {
        format!("{}.envelope_agg WHERE {}", self.db, self.common)
    }

    /// The distinct-machine states of `kind`'s labels in the window.
    fn machines(&self, kind: u8) -> String {
        format!(
            "(SELECT name, label_variant AS variant, machines FROM {}.machines_agg
              WHERE kind = {kind} AND {})",
            self.db, self.common
        )
    }

    /// [`machines`](Self::machines) with the application as a column.
    fn machines_by_app(&self, kind: u8) -> String {
        format!(
            "(SELECT app, name, label_variant AS variant, machines FROM {}.machines_agg
              WHERE kind = {kind} AND {})",
            self.db, self.common
        )
    }

    /// The two-level fold over the machine states in `states`: `keys` are
    /// the inner grouping columns, `labels` the outer label expressions
    /// (using `keep`, true when the group shows as itself). `sums`, if any,
    /// are (usage rows, aggregate expressions over them grouped by `keys`),
    /// whose outer value is their sum. Returns rows of labels, sums,
    /// machines, folded groups.
    fn fold(
        &self,
        states: &str,
        keys: &str,
        labels: &[String],
        sums: Option<(&str, &[String])>,
    ) -> Result<Vec<Vec<Value>>, ReportError> {
        let machines = format!(
            "SELECT {keys}, uniqCombinedMergeState(12)(machines) AS st, finalizeAggregation(st) AS m
             FROM {states} GROUP BY {keys}"
        );
        let n = sums.map_or(0, |(_, s)| s.len());
        let named: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
        let inner = match sums {
            None => machines,
            Some((from, sums)) => {
                let inner_sums: Vec<String> = sums
                    .iter()
                    .enumerate()
                    .map(|(i, s)| format!("{s} AS s{i}"))
                    .collect();
                // Every label with rows has a machine state and a sum.
                format!(
                    "SELECT {keys}, st, m, {}
                     FROM ({machines})
                     ANY LEFT JOIN (SELECT {keys}, {} FROM {from} GROUP BY {keys}) USING {keys}",
                    named.join(", "),
                    inner_sums.join(", ")
                )
            }
        };
        let outer_sums: Vec<String> = named.iter().map(|s| format!("sum({s})")).collect();
        let outer_labels: Vec<String> = labels
            .iter()
            .enumerate()
            .map(|(i, l)| format!("{l} AS label{i}"))
            .collect();
        let group: Vec<String> = (0..labels.len()).map(|i| format!("label{i}")).collect();
        let mut outer = outer_labels;
        outer.extend(outer_sums);
        self.select(&format!(
            "SELECT {}, uniqCombinedMerge(12)(st), count() FROM ({inner}) GROUP BY {}",
            outer.join(", "),
            group.join(", ")
        ))
    }

    fn keep(&self, not_other: &str) -> String {
        format!("(m >= {} AND NOT ({not_other}))", self.k)
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
    // Day 0 holds the rows that mark each insert (store/clickhouse/tables.rs).
    let mut common = format!(
        "day != toDate(0) AND day >= toDate({}) AND day <= toDate({})",
        quote(&format_day(q.since)),
        quote(&format_day(q.until))
    );
    if let Some(app) = &q.app {
        common.push_str(&format!(" AND app = {}", quote(app)));
    }
    let dups = ch.select(&format!("SELECT count() FROM {db}.dup_rows"))?;
    let dups = dups.first().and_then(|r| r.first()).map_or(0, num) > 0;
    let c = Ctx {
        ch,
        db,
        k,
        common,
        dups,
    };
    let mut t = Tables::default();
    let other = |r: &[Value]| r.first().map(text).as_deref() == Some("other");
    let other2 = |r: &[Value]| {
        r.first().map(text).as_deref() == Some("other")
            && r.get(1).map(text).as_deref() == Some("other")
    };

    // Machines, CI machines.
    let all = c.select(&format!(
        "SELECT uniqCombinedMerge(12)(machines), uniqCombinedMergeIf(12)(machines, ci = 1) FROM {}",
        c.envelopes()
    ))?;
    if let Some(r) = all.first() {
        t.machines = r.first().map_or(0, num) as usize;
        t.ci_machines = r.get(1).map_or(0, num) as usize;
    }

    // Active machines per day.
    let rows = c.fold(
        &c.envelopes(),
        "day",
        &[format!("if(m >= {k}, toString(day), 'other')")],
        None,
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
            &c.envelopes(),
            &format!("{a}, {b}"),
            &[
                format!("if({keep}, {a}, 'other')"),
                format!("if({keep}, {b}, 'other')"),
            ],
            None,
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
    // By application and name, as `app_label` joins them.
    let keep = c.keep("name = 'other'");
    let rows = c.fold(
        &c.machines_by_app(RowKind::Command as u8),
        "app, name",
        &[format!(
            "if({keep}, concat(app, unhex('1F'), name), 'other')"
        )],
        Some((&c.usage(RowKind::Command as u8), &sums)),
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

    // Per-value breakdown of commands with a declared value (stored in
    // `class`), folded within each command. No aggregate table keeps
    // machines per value, so their states come from `rows`: a scan of the
    // window's command rows that carry a value, and only of those.
    {
        let states = format!(
            "(SELECT app, name, class, uniqCombinedState(12)(machine) AS machines FROM {db}.rows
              WHERE kind = {} AND class != '' AND {} GROUP BY app, name, class)",
            RowKind::Command as u8,
            c.common
        );
        let keep = c.keep("class = 'other'");
        let rows = c.fold(
            &states,
            "app, name, class",
            &[
                "concat(app, unhex('1F'), name)".to_owned(),
                format!("if({keep}, class, 'other')"),
            ],
            Some((&c.usage(RowKind::Command as u8), &["sum(count)".to_owned()])),
        )?;
        let (values, w) = split(
            rows,
            k,
            |r| r.get(1).map(text).as_deref() == Some("other"),
            |r| ((text(&r[0]), text(&r[1])), num(&r[2]), num(&r[3]) as usize),
            3,
        );
        t.values = values;
        t.withheld += w;
    }

    // Lifecycle events: a name, a count.
    {
        let keep = c.keep("name = 'other'");
        let rows = c.fold(
            &c.machines(RowKind::Lifecycle as u8),
            "name",
            &[format!("if({keep}, name, 'other')")],
            Some((
                &c.usage(RowKind::Lifecycle as u8),
                &["sum(count)".to_owned()],
            )),
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
    // By application and name, as `app_label` joins them.
    let rows = c.fold(
        &c.machines_by_app(RowKind::Tool as u8),
        "app, name",
        &[format!(
            "if({keep}, concat(app, unhex('1F'), {tool}), 'other')"
        )],
        Some((&c.usage(RowKind::Tool as u8), &sums)),
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
        &c.machines(RowKind::Client as u8),
        "name, variant",
        &[
            format!("if({keep}, name, 'other')"),
            format!("if({keep}, variant, '')"),
        ],
        Some((&c.usage(RowKind::Client as u8), &["sum(count)".to_owned()])),
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
        &c.machines(RowKind::Fact as u8),
        "name, variant",
        &[
            format!("if({keep}, name, 'other')"),
            format!("if({keep}, variant, 'other')"),
        ],
        None,
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
        "SELECT sum(count) FROM {}",
        c.usage(RowKind::ClientDropped as u8)
    ))?;
    dropped.client_reported = rows.first().and_then(|r| r.first()).map_or(0, num);
    let rows = c.select(&format!(
        "SELECT name, sum(count) FROM {} GROUP BY name",
        c.usage(KIND_DROP)
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

impl Source for ClickHouse {
    fn tables(&self, q: &Query) -> Result<Tables, ReportError> {
        crate::report::clickhouse::tables(self, q)
    }
}
