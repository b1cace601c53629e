//! How a validated batch becomes rows of the ingest store, inside the
//! group-commit transaction: the batch row (whose unique id makes a resend a
//! no-op), one `machine_days` row per event day, `usage` rows that add up
//! per machine, day and counted thing, and the validator's drop counters.
//! Strings and machine ids are interned through in-memory caches, so a
//! typical batch costs only integer-keyed upserts.

use std::collections::HashMap;

use rusqlite::{CachedStatement, Transaction, params};
use time::Date;

use crate::schema::validate::{Drops, Validated};
use crate::schema::{CommandOutcome, Event, LATENCY_BUCKETS};
use crate::server::rows::{DROP_REASONS, Ingested, MACHINE_CACHE_MAX, RowKind, day_number};

/// The 16 bytes of a hyphenated UUID (the validator let only those through).
fn uuid_bytes(s: &str) -> rusqlite::Result<uuid::Uuid> {
    uuid::Uuid::try_parse(s).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

const INSERT_BATCH: &str = "INSERT INTO batches
    (batch_id, app, app_version, os, arch, ci, machine, received_day)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (batch_id) DO NOTHING";
const UPSERT_MACHINE_DAY: &str = "INSERT INTO machine_days
    (day, app, machine, version, os, arch, ci) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
    ON CONFLICT (day, app, machine) DO UPDATE SET
      version = excluded.version, os = excluded.os, arch = excluded.arch, ci = excluded.ci";
const UPSERT_USAGE: &str = "INSERT INTO usage
    (day, app, machine, kind, name, variant, class, count, l0, l1, l2, l3, l4, l5, l6)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
    ON CONFLICT (day, app, machine, kind, name, variant, class) DO UPDATE SET
      count = count + excluded.count,
      l0 = l0 + excluded.l0, l1 = l1 + excluded.l1, l2 = l2 + excluded.l2,
      l3 = l3 + excluded.l3, l4 = l4 + excluded.l4, l5 = l5 + excluded.l5,
      l6 = l6 + excluded.l6";
const UPSERT_DROPS: &str = "INSERT INTO drops (day, app, reason, count) VALUES (?1, ?2, ?3, ?4)
    ON CONFLICT (day, app, reason) DO UPDATE SET count = count + excluded.count";

/// One transaction's worth of writes: the statements, prepared once per
/// group, and the interning caches.
pub(crate) struct Writer<'a> {
    tx: &'a Transaction<'a>,
    dims: &'a mut HashMap<String, i64>,
    machines: &'a mut HashMap<u128, i64>,
    insert_batch: CachedStatement<'a>,
    upsert_machine_day: CachedStatement<'a>,
    upsert_usage: CachedStatement<'a>,
}

impl<'a> Writer<'a> {
    /// Prepares the statements for one transaction.
    pub(crate) fn new(
        tx: &'a Transaction<'a>,
        dims: &'a mut HashMap<String, i64>,
        machines: &'a mut HashMap<u128, i64>,
    ) -> rusqlite::Result<Self> {
        Ok(Writer {
            tx,
            dims,
            machines,
            insert_batch: tx.prepare_cached(INSERT_BATCH)?,
            upsert_machine_day: tx.prepare_cached(UPSERT_MACHINE_DAY)?,
            upsert_usage: tx.prepare_cached(UPSERT_USAGE)?,
        })
    }

    fn dim(&mut self, text: &str) -> rusqlite::Result<i64> {
        if let Some(id) = self.dims.get(text) {
            return Ok(*id);
        }
        self.tx
            .prepare_cached("INSERT INTO dims (text) VALUES (?1) ON CONFLICT (text) DO NOTHING")?
            .execute([text])?;
        let id = self
            .tx
            .prepare_cached("SELECT id FROM dims WHERE text = ?1")?
            .query_row([text], |r| r.get(0))?;
        self.dims.insert(text.to_owned(), id);
        Ok(id)
    }

    fn machine(&mut self, machine_id: &str) -> rusqlite::Result<i64> {
        let key = uuid_bytes(machine_id)?;
        if let Some(id) = self.machines.get(&key.as_u128()) {
            return Ok(*id);
        }
        self.tx
            .prepare_cached(
                "INSERT INTO machines (machine_id) VALUES (?1) ON CONFLICT (machine_id) DO NOTHING",
            )?
            .execute([&key.as_bytes()[..]])?;
        let id = self
            .tx
            .prepare_cached("SELECT id FROM machines WHERE machine_id = ?1")?
            .query_row([&key.as_bytes()[..]], |r| r.get(0))?;
        if self.machines.len() >= MACHINE_CACHE_MAX {
            self.machines.clear();
        }
        self.machines.insert(key.as_u128(), id);
        Ok(id)
    }

    /// Writes one validated batch, unless its id is already stored.
    pub(crate) fn batch(&mut self, v: &Validated, received: Date) -> rusqlite::Result<Ingested> {
        let e = &v.batch.envelope;
        let received = day_number(received);
        let batch_id = uuid_bytes(&e.batch_id)?;
        let app = self.dim(&e.app)?;
        let version = self.dim(&e.app_version)?;
        let os = self.dim(&e.os)?;
        let arch = self.dim(&e.arch)?;
        let machine = self.machine(&e.machine_id)?;
        let inserted = self.insert_batch.execute(params![
            &batch_id.as_bytes()[..],
            app,
            version,
            os,
            arch,
            e.ci,
            machine,
            received
        ])?;
        if inserted == 0 {
            return Ok(Ingested::Duplicate);
        }
        let mut seen_days: Vec<i64> = Vec::new();
        for event in &v.batch.events {
            let day_text = match event {
                Event::UsageRollup(r) => &r.day,
                Event::Lifecycle(l) => &l.day,
                Event::Facts(f) => &f.day,
            };
            // The validator kept only events with a valid day.
            let Some(day) = crate::os::clock::parse_day(day_text).map(day_number) else {
                continue;
            };
            if !seen_days.contains(&day) {
                seen_days.push(day);
                self.upsert_machine_day
                    .execute(params![day, app, machine, version, os, arch, e.ci])?;
            }
            let key = RowKey { day, app, machine };
            match event {
                Event::UsageRollup(r) => {
                    for c in &r.commands {
                        let name = self.dim(&c.command)?;
                        // Schema-1 clients sent no outcome: counted as unknown.
                        let outcome = c.outcome.unwrap_or(CommandOutcome::Unknown);
                        let outcome = self.dim(outcome.as_str())?;
                        self.row(
                            key,
                            RowKind::Command,
                            name,
                            outcome,
                            0,
                            c.count,
                            c.duration.as_ref(),
                        )?;
                    }
                    for t in &r.tool_calls {
                        let name = self.dim(t.tool.as_deref().unwrap_or(""))?;
                        let outcome = self.dim(t.outcome.as_str())?;
                        let class = self.dim(t.error_class.map_or("", |c| c.as_str()))?;
                        self.row(
                            key,
                            RowKind::Tool,
                            name,
                            outcome,
                            class,
                            t.count,
                            Some(&t.latency),
                        )?;
                    }
                    for c in &r.clients {
                        let name = self.dim(&c.client)?;
                        let major = match c.major {
                            Some(m) => self.dim(&m.to_string())?,
                            None => 0,
                        };
                        self.row(key, RowKind::Client, name, major, 0, c.count, None)?;
                    }
                    if r.dropped > 0 {
                        self.row(key, RowKind::ClientDropped, 0, 0, 0, r.dropped, None)?;
                    }
                }
                Event::Lifecycle(l) => {
                    let name = self.dim(l.kind.as_str())?;
                    self.row(key, RowKind::Lifecycle, name, 0, 0, l.count, None)?;
                }
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
                            let name = self.dim(fact)?;
                            let value = self.dim(value)?;
                            self.row(key, RowKind::Fact, name, value, 0, 1, None)?;
                        }
                    }
                }
            }
        }
        self.drops(received, app, &v.drops)?;
        Ok(Ingested::Stored)
    }

    #[allow(clippy::too_many_arguments)]
    fn row(
        &mut self,
        key: RowKey,
        kind: RowKind,
        name: i64,
        variant: i64,
        class: i64,
        count: u64,
        latency: Option<&[u64; LATENCY_BUCKETS]>,
    ) -> rusqlite::Result<()> {
        let l = latency.copied().unwrap_or_default().map(clamp);
        self.upsert_usage.execute(params![
            key.day,
            key.app,
            key.machine,
            kind as i64,
            name,
            variant,
            class,
            clamp(count),
            l[0],
            l[1],
            l[2],
            l[3],
            l[4],
            l[5],
            l[6]
        ])?;
        Ok(())
    }

    fn drops(&mut self, day: i64, app: i64, d: &Drops) -> rusqlite::Result<()> {
        let counts = [
            d.unknown_events,
            d.unknown_fields,
            d.invalid_values,
            d.out_of_window,
        ];
        for (reason, n) in DROP_REASONS.iter().zip(counts) {
            if n > 0 {
                self.tx.prepare_cached(UPSERT_DROPS)?.execute(params![
                    day,
                    app,
                    reason,
                    clamp(n)
                ])?;
            }
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
struct RowKey {
    day: i64,
    app: i64,
    machine: i64,
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
