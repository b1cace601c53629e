//! What a validated batch stores, independent of the store: the event days
//! it covers (one machine-day each), one usage row per counted thing, and
//! the validator's drop counters. Both stores write exactly these rows:
//! the ClickHouse store as they are, the SQLite writer (`server/ingest.rs`)
//! with names interned. Rows with the same key within one batch are merged
//! here (saturating), so a store never sees two rows of one batch with one
//! key: ClickHouse's `dup_rows`, a ReplacingMergeTree keyed by a copy's row
//! keys, would otherwise keep only one of them.

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::server::rows::{DROP_REASONS, RowKind, day_number};
use tally_telemetry::schema::validate::{Drops, Validated};
use tally_telemetry::schema::{CommandOutcome, Event, LATENCY_BUCKETS};

/// One counted thing of one batch on one day. `variant` and `class` are
/// generic: an outcome and an error class for tool calls, an outcome and
/// the declared argument's value (empty without one) for commands, a major
/// version for clients, a value for facts, empty otherwise.
/// The texts borrow from the batch (no allocation per row) where they can.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageRow<'a> {
    /// The event day, as a day number.
    pub day: i64,
    /// What is counted.
    pub kind: RowKind,
    /// Command path, tool, client, lifecycle kind or fact name.
    pub name: Cow<'a, str>,
    /// Outcome, major version or fact value.
    pub variant: Cow<'a, str>,
    /// Error class, or a command's value.
    pub class: Cow<'a, str>,
    /// How many.
    pub count: u64,
    /// Latency (or duration) buckets.
    pub buckets: [u64; LATENCY_BUCKETS],
}

/// Everything a batch adds to a store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchRows<'a> {
    /// The distinct event days, in the order they first appear.
    pub days: Vec<i64>,
    /// Usage rows, one per (day, kind, name, variant, class).
    pub usage: Vec<UsageRow<'a>>,
    /// Drop counters by reason (the reasons of [`DROP_REASONS`]), non-zero only.
    pub drops: Vec<(&'static str, u64)>,
}

type Key<'a> = (i64, RowKind, Cow<'a, str>, Cow<'a, str>, Cow<'a, str>);

/// Derives the rows of `v`.
pub fn derive<'a>(v: &'a Validated) -> BatchRows<'a> {
    let mut days = Vec::new();
    let mut rows: BTreeMap<Key<'a>, (u64, [u64; LATENCY_BUCKETS])> = BTreeMap::new();
    let mut add = |key: Key<'a>, count: u64, buckets: Option<&[u64; LATENCY_BUCKETS]>| {
        let e = rows.entry(key).or_default();
        e.0 = e.0.saturating_add(count);
        if let Some(b) = buckets {
            for (a, n) in e.1.iter_mut().zip(b) {
                *a = a.saturating_add(*n);
            }
        }
    };
    let s = |t: &'a str| Cow::Borrowed(t);
    for event in &v.batch.events {
        let day_text = match event {
            Event::UsageRollup(r) => &r.day,
            Event::Lifecycle(l) => &l.day,
            Event::Facts(f) => &f.day,
        };
        // The validator kept only events with a valid day.
        let Some(day) = tally_telemetry::schema::parse_day(day_text).map(day_number) else {
            continue;
        };
        if !days.contains(&day) {
            days.push(day);
        }
        match event {
            Event::UsageRollup(r) => {
                for c in &r.commands {
                    // Schema-1 clients sent no outcome: counted as unknown.
                    let outcome = c.outcome.unwrap_or(CommandOutcome::Unknown);
                    add(
                        (
                            day,
                            RowKind::Command,
                            s(&c.command),
                            s(outcome.as_str()),
                            // A command's value takes the generic slot
                            // tool calls use for their error class, which
                            // commands left empty: no store layout changes,
                            // and rows stored before values existed read as
                            // runs without one.
                            s(c.value.as_deref().unwrap_or("")),
                        ),
                        c.count,
                        c.duration.as_ref(),
                    );
                }
                for t in &r.tool_calls {
                    let key = (
                        day,
                        RowKind::Tool,
                        s(t.tool.as_deref().unwrap_or("")),
                        s(t.outcome.as_str()),
                        s(t.error_class.map_or("", |c| c.as_str())),
                    );
                    add(key, t.count, Some(&t.latency));
                }
                for c in &r.clients {
                    let major = c
                        .major
                        .map_or(Cow::Borrowed(""), |m| Cow::Owned(m.to_string()));
                    add(
                        (day, RowKind::Client, s(&c.client), major, s("")),
                        c.count,
                        None,
                    );
                }
                if r.dropped > 0 {
                    add(
                        (day, RowKind::ClientDropped, s(""), s(""), s("")),
                        r.dropped,
                        None,
                    );
                }
            }
            Event::Lifecycle(l) => add(
                (day, RowKind::Lifecycle, s(l.kind.as_str()), s(""), s("")),
                l.count,
                None,
            ),
            Event::Facts(f) => {
                let bool_word = |b: bool| if b { "true" } else { "false" };
                let facts: [(&str, Option<&str>); 9] = [
                    ("backend_count", f.backend_count.as_deref()),
                    ("auth_type", f.auth_type.as_deref()),
                    ("conflict_strategy", f.conflict_strategy.as_deref()),
                    ("uptime", f.uptime.as_deref()),
                    ("sessions", f.sessions.as_deref()),
                    ("protocol_version", f.protocol_version.as_deref()),
                    ("declares_tools", f.declares_tools.map(bool_word)),
                    ("declares_resources", f.declares_resources.map(bool_word)),
                    ("declares_prompts", f.declares_prompts.map(bool_word)),
                ];
                for (fact, value) in facts {
                    if let Some(value) = value {
                        add((day, RowKind::Fact, s(fact), s(value), s("")), 1, None);
                    }
                }
            }
        }
    }
    let usage = rows
        .into_iter()
        .map(
            |((day, kind, name, variant, class), (count, buckets))| UsageRow {
                day,
                kind,
                name,
                variant,
                class,
                count,
                buckets,
            },
        )
        .collect();
    BatchRows {
        days,
        usage,
        drops: drops(&v.drops),
    }
}

fn drops(d: &Drops) -> Vec<(&'static str, u64)> {
    let counts = [
        d.unknown_events,
        d.unknown_fields,
        d.invalid_values,
        d.out_of_window,
    ];
    DROP_REASONS
        .iter()
        .zip(counts)
        .filter(|(_, n)| *n > 0)
        .map(|(r, n)| (*r, n))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tally_telemetry::schema::parse_day;
    use tally_telemetry::schema::validate::validate;
    use tally_telemetry::schema::*;

    #[test]
    fn repeated_items_of_one_batch_become_one_row() {
        let today = parse_day("2026-11-21").unwrap();
        let b = Batch {
            envelope: tally_telemetry::schema::Envelope::new(
                "demo",
                "1.0.0",
                false,
                &uuid::Uuid::new_v4().to_string(),
                &uuid::Uuid::new_v4().to_string(),
            ),
            events: vec![Event::UsageRollup(UsageRollup {
                day: "2026-11-20".into(),
                commands: vec![
                    CommandCount {
                        command: "build".into(),
                        value: None,
                        outcome: None,
                        duration: None,
                        count: 7,
                    },
                    CommandCount {
                        command: "build".into(),
                        value: None,
                        outcome: None,
                        duration: None,
                        count: 5,
                    },
                ],
                ..Default::default()
            })],
        };
        let v = validate(&serde_json::to_vec(&b).unwrap(), today).unwrap();
        let rows = derive(&v);
        assert_eq!(rows.days, [day_number(parse_day("2026-11-20").unwrap())]);
        let builds: Vec<_> = rows.usage.iter().filter(|r| r.name == "build").collect();
        assert_eq!(builds.len(), 1, "{rows:?}");
        assert_eq!(builds[0].count, 12, "{rows:?}");
    }
}
