//! How a validated batch travels to ClickHouse: its rows (from the
//! store-independent [`derive`]) as `TabSeparated` lines, in the column
//! order of [`COLUMNS`]. One marker row per batch, one machine-day row per
//! event day, the usage rows, the drop counters.

use tally_telemetry::schema::Date;

use crate::server::rows::day_from_number;
use crate::server::store::clickhouse::{KIND_BATCH, KIND_DROP, KIND_GROUP, KIND_MACHINE_DAY};
use crate::server::store::derive::derive;
use tally_telemetry::schema::format_day;
use tally_telemetry::schema::validate::Validated;

/// The columns an insert sends, in order.
pub(crate) const COLUMNS: &str = "received, seq, batch_id, machine, app, day, kind, name, variant, class, \
                       count, l0, l1, l2, l3, l4, l5, l6, version, os, arch, ci";

/// One stored row, as sent in `TabSeparated`.
#[derive(Clone, Copy)]
struct Row<'a> {
    received: &'a str,
    seq: u64,
    batch_id: &'a str,
    machine: u64,
    app: &'a str,
    day: Option<&'a str>,
    kind: u8,
    name: &'a str,
    variant: &'a str,
    class: &'a str,
    count: u64,
    buckets: [u64; 7],
    version: &'a str,
    os: &'a str,
    arch: &'a str,
    ci: u8,
}

/// Appends `s` escaped for TabSeparated (the schema's strings never need
/// it; escaping keeps a row a row whatever they hold).
fn tsv_str(out: &mut Vec<u8>, s: &str) {
    for b in s.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0 => out.extend_from_slice(b"\\0"),
            _ => out.push(b),
        }
    }
}

impl Row<'_> {
    fn write(&self, out: &mut Vec<u8>) {
        use std::io::Write;
        let b = &self.buckets;
        let _ = write!(
            out,
            "{}\t{}\t{}\t{}\t",
            self.received, self.seq, self.batch_id, self.machine
        );
        tsv_str(out, self.app);
        let _ = write!(
            out,
            "\t{}\t{}\t",
            self.day.unwrap_or("0000-00-00"),
            self.kind
        );
        for s in [self.name, self.variant, self.class] {
            tsv_str(out, s);
            out.push(b'\t');
        }
        let _ = write!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t",
            self.count, b[0], b[1], b[2], b[3], b[4], b[5], b[6]
        );
        for s in [self.version, self.os, self.arch] {
            tsv_str(out, s);
            out.push(b'\t');
        }
        let _ = writeln!(out, "{}", self.ci);
    }
}

/// A machine id as the 64 bits the store keeps: enough to count distinct
/// machines, and less than the id itself.
pub fn machine_key(machine_id: &str) -> u64 {
    let u = uuid::Uuid::try_parse(machine_id).map_or(0, |u| u.as_u128());
    (u as u64) ^ ((u >> 64) as u64)
}

/// Appends the TabSeparated lines of one batch to `body`; returns the days
/// its summed rows are stored under (its event days and, for the drop
/// counters, the day of receipt): with the app, where to find them again.
pub(crate) fn rows_of(
    body: &mut Vec<u8>,
    v: &Validated,
    received: Date,
    id: &str,
    seq: u64,
) -> Vec<String> {
    let e = &v.batch.envelope;
    let received_text = format_day(received);
    let machine = machine_key(&e.machine_id);
    let rows = derive(v);
    let ci = u8::from(e.ci);
    let base = Row {
        received: &received_text,
        seq,
        batch_id: id,
        machine: 0,
        app: "",
        day: None,
        kind: KIND_BATCH,
        name: "",
        variant: "",
        class: "",
        count: 0,
        buckets: [0; 7],
        version: "",
        os: "",
        arch: "",
        ci: 0,
    };
    let mut push = |row: &Row| row.write(body);
    // The marker: all key columns but the batch id at their defaults, so a
    // lookup by batch id is a primary-key range scan.
    push(&base);
    let days: Vec<String> = rows
        .days
        .iter()
        .map(|d| day_from_number(*d).map(format_day).unwrap_or_default())
        .collect();
    for day in &days {
        push(&Row {
            machine,
            app: &e.app,
            day: Some(day),
            kind: KIND_MACHINE_DAY,
            version: &e.app_version,
            os: &e.os,
            arch: &e.arch,
            ci,
            ..base
        });
    }
    for r in &rows.usage {
        let day = day_from_number(r.day).map(format_day).unwrap_or_default();
        let b = r.buckets;
        push(&Row {
            machine,
            app: &e.app,
            day: Some(&day),
            kind: r.kind as u8,
            name: &r.name,
            variant: &r.variant,
            class: &r.class,
            count: r.count,
            buckets: b,
            ..base
        });
    }
    for (reason, n) in &rows.drops {
        push(&Row {
            app: &e.app,
            day: Some(&received_text),
            kind: KIND_DROP,
            name: reason,
            count: *n,
            ..base
        });
    }
    let mut located = days;
    if !rows.drops.is_empty() && !located.contains(&received_text) {
        located.push(received_text.clone());
    }
    located
}

/// The days [`rows_of`] returns for a batch, without encoding it.
pub(crate) fn days_of(v: &Validated, received: Date) -> Vec<String> {
    rows_of(&mut Vec::new(), v, received, "", 0)
}

/// Appends the row that marks one insert (see `tables.rs`): kind
/// [`KIND_GROUP`], the insert's `tag` as its name and version, so each
/// view passes it on to its table and a look there says whether the view
/// got the insert.
pub(crate) fn group_row(body: &mut Vec<u8>, received: Date, tag: u64) {
    let received = format_day(received);
    let name = tag.to_string();
    Row {
        received: &received,
        seq: tag,
        batch_id: "00000000-0000-0000-0000-000000000000",
        machine: 0,
        app: "",
        day: None,
        kind: KIND_GROUP,
        name: &name,
        variant: "",
        class: "",
        count: 1,
        buckets: [0; 7],
        version: &name,
        os: "",
        arch: "",
        ci: 0,
    }
    .write(body);
}
