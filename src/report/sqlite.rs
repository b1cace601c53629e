//! The report's query path over SQLite: one scan per table family, the
//! aggregation and the k-anonymity fold in memory, keyed by the store's
//! interned ids (strings are looked up only for the rows that survive).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::Hash;

use crate::report::kanon::{Agg, fold, fold_agg};
use crate::report::tables::{CommandNums, Dropped, Query, ReportError, Source, Tables, ToolNums};
use crate::server::store::{RowKind, Store, day_from_number, day_number};
use tally_telemetry::schema::format_day;
use tally_telemetry::schema::{COMMAND_OUTCOMES, ERROR_CLASSES, LATENCY_BUCKETS, OUTCOMES};

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

fn grouped<K: Eq + Hash>(map: HashMap<K, Agg>) -> Vec<(K, Agg)> {
    map.into_iter().collect()
}

/// Scans the SQLite store for `q` and folds every table in memory.
pub(crate) fn tables(store: &Store, q: &Query) -> Result<Tables, ReportError> {
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
    // By application and name: the same command or tool name in two
    // applications is two rows (they were once added up).
    let mut commands: HashMap<(i64, i64), CommandAgg> = HashMap::new();
    let mut values: HashMap<(i64, i64, i64), Agg> = HashMap::new();
    let mut tools: HashMap<(i64, i64), ToolAgg> = HashMap::new();
    let mut clients: HashMap<(i64, i64), Agg> = HashMap::new();
    let mut lifecycle: HashMap<i64, Agg> = HashMap::new();
    let mut facts: HashMap<(i64, i64), Agg> = HashMap::new();
    let mut dropped = Dropped::default();
    {
        let mut stmt = conn
            .prepare(
                "SELECT kind, name, variant, class, machine, count, l0, l1, l2, l3, l4, l5, l6, app
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
                    let c = commands.entry((v(13)?, name)).or_default();
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
                    // The declared value, in the class slot (see
                    // `server/store/derive.rs`); 0 is the empty string.
                    if class != 0 {
                        entry(values.entry((v(13)?, name, class)).or_default());
                    }
                }
                Some(RowKind::Tool) => {
                    let t = tools.entry((v(13)?, name)).or_default();
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
    let counted = |rows: Vec<(String, Agg)>| -> Vec<(String, u64, usize)> {
        rows.into_iter()
            .map(|(l, a)| (l, a.count, a.machines.len()))
            .collect()
    };

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
        .map(|(day, a)| (day, a.machines.len()))
        .collect();

    let rows: Vec<(String, CommandAgg)> = commands
        .into_iter()
        .map(|((app, id), a)| {
            // A command named `other` joins the fold's own `other` row, in
            // every application, as ClickHouse's fold does.
            let label = match dim(id) {
                "other" => other(),
                name => crate::report::tables::app_label(dim(app), name),
            };
            (label, a)
        })
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
    let commands_out = rows
        .into_iter()
        .map(|(command, a)| {
            (
                command,
                CommandNums {
                    outcomes: a.outcomes,
                    duration: a.duration,
                    machines: a.machines.len(),
                },
            )
        })
        .collect();

    // Values, folded within each command: a value below k joins that
    // command's `other`, which is withheld when it is below k itself.
    type Labelled = Vec<((String, String), Agg)>;
    let mut by_command: BTreeMap<String, Labelled> = BTreeMap::new();
    for ((app, name, class), a) in values {
        let value = dim(class);
        if value.is_empty() {
            continue;
        }
        let label = crate::report::tables::app_label(dim(app), dim(name));
        by_command
            .entry(label.clone())
            .or_default()
            .push(((label, value.to_owned()), a));
    }
    let mut values_out = Vec::new();
    for (label, rows) in by_command {
        let (rows, w) = fold_agg(rows, k, (label, other()));
        withheld += w;
        values_out.extend(
            rows.into_iter()
                .map(|(l, a)| (l, a.count, a.machines.len())),
        );
    }

    let rows: Vec<(String, ToolAgg)> = tools
        .into_iter()
        .map(|((app, id), a)| {
            let label = match dim(id) {
                "other" => other(),
                "" => crate::report::tables::app_label(dim(app), "(unnamed)"),
                n => crate::report::tables::app_label(dim(app), n),
            };
            (label, a)
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
    let tools_out = rows
        .into_iter()
        .map(|(tool, a)| {
            (
                tool,
                ToolNums {
                    outcomes: a.outcomes,
                    classes: a.classes,
                    latency: a.latency,
                    machines: a.machines.len(),
                },
            )
        })
        .collect();

    let rows = grouped(clients)
        .into_iter()
        .map(|((c, major), a)| ((dim(c).to_owned(), dim(major).parse::<u64>().ok()), a))
        .collect();
    let (rows, w) = fold_agg(rows, k, (other(), None));
    withheld += w;
    let clients_out = rows
        .into_iter()
        .map(|(l, a)| (l, a.count, a.machines.len()))
        .collect();

    let pair_rows = |m: HashMap<(i64, i64), Agg>| -> Vec<((String, String), Agg)> {
        m.into_iter()
            .map(|((a, b), agg)| ((dim(a).to_owned(), dim(b).to_owned()), agg))
            .collect()
    };
    let machines_of = |rows: Vec<((String, String), Agg)>| -> Vec<((String, String), usize)> {
        rows.into_iter()
            .map(|(l, a)| (l, a.machines.len()))
            .collect()
    };

    let (rows, w) = fold_agg(pair_rows(versions), k, (other(), other()));
    withheld += w;
    let versions_out = machines_of(rows);

    let (rows, w) = fold_agg(pair_rows(platforms), k, (other(), other()));
    withheld += w;
    let platforms_out = machines_of(rows);

    let rows = grouped(lifecycle)
        .into_iter()
        .map(|(id, a)| (dim(id).to_owned(), a))
        .collect();
    let (rows, w) = fold_agg(rows, k, other());
    withheld += w;
    let lifecycle_out = counted(rows);

    let (rows, w) = fold_agg(pair_rows(facts), k, (other(), other()));
    withheld += w;
    let facts_out = machines_of(rows);

    Ok(Tables {
        machines: all.len(),
        ci_machines: ci.len(),
        days: days_out,
        commands: commands_out,
        values: values_out,
        tools: tools_out,
        clients: clients_out,
        versions: versions_out,
        platforms: platforms_out,
        lifecycle: lifecycle_out,
        facts: facts_out,
        dropped,
        withheld,
    })
}

impl Source for Store {
    fn tables(&self, q: &Query) -> Result<Tables, ReportError> {
        crate::report::sqlite::tables(self, q)
    }
}
