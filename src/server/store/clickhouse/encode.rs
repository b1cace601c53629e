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
    if !s
        .bytes()
        .any(|b| matches!(b, b'\\' | b'\t' | b'\n' | b'\r' | 0))
    {
        out.extend_from_slice(s.as_bytes());
        return;
    }
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

/// Appends `n` in decimal. The encoder writes about twenty integers per
/// row, tens of thousands of rows a second: `fmt`'s machinery showed up in
/// profiles, this does not.
fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    // Most of a row's integers are zero or one digit (empty buckets, kinds).
    if n < 10 {
        out.push(b'0' + n as u8);
        return;
    }
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

impl Row<'_> {
    fn write(&self, out: &mut Vec<u8>) {
        let field = |out: &mut Vec<u8>, n: u64| {
            push_u64(out, n);
            out.push(b'\t');
        };
        out.extend_from_slice(self.received.as_bytes());
        out.push(b'\t');
        field(out, self.seq);
        out.extend_from_slice(self.batch_id.as_bytes());
        out.push(b'\t');
        field(out, self.machine);
        tsv_str(out, self.app);
        out.push(b'\t');
        out.extend_from_slice(self.day.unwrap_or("0000-00-00").as_bytes());
        out.push(b'\t');
        field(out, u64::from(self.kind));
        for s in [self.name, self.variant, self.class] {
            tsv_str(out, s);
            out.push(b'\t');
        }
        field(out, self.count);
        for n in self.buckets {
            field(out, n);
        }
        for s in [self.version, self.os, self.arch] {
            tsv_str(out, s);
            out.push(b'\t');
        }
        push_u64(out, u64::from(self.ci));
        out.push(b'\n');
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
        // Every usage row's day is one of the batch's days, formatted above.
        let owned;
        let day = match rows.days.iter().position(|d| *d == r.day) {
            Some(i) => days[i].as_str(),
            None => {
                owned = day_from_number(r.day).map(format_day).unwrap_or_default();
                owned.as_str()
            }
        };
        let b = r.buckets;
        push(&Row {
            machine,
            app: &e.app,
            day: Some(day),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_written_in_decimal() {
        for n in [0, 7, 10, 99, 1_000_000_000, u64::MAX] {
            let mut out = Vec::new();
            push_u64(&mut out, n);
            assert_eq!(out, n.to_string().into_bytes());
        }
    }

    #[test]
    fn a_row_is_one_tab_separated_line_in_column_order() {
        let row = Row {
            received: "2026-11-21",
            seq: 42,
            batch_id: "b",
            machine: 7,
            app: "a\tb",
            day: None,
            kind: KIND_BATCH,
            name: "n",
            variant: "v",
            class: "",
            count: 3,
            buckets: [1, 2, 0, 0, 0, 0, 10],
            version: "1.0",
            os: "linux",
            arch: "x86_64",
            ci: 1,
        };
        let mut out = Vec::new();
        row.write(&mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2026-11-21\t42\tb\t7\ta\\tb\t0000-00-00\t100\tn\tv\t\t3\t1\t2\t0\t0\t0\t0\t10\t1.0\tlinux\tx86_64\t1\n"
        );
        assert_eq!(COLUMNS.split(", ").count(), 22);
    }
}
