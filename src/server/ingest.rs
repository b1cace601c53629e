//! How a validated batch becomes rows of the ingest store, inside the
//! group-commit transaction: the batch row (whose unique id makes a resend a
//! no-op), then the rows every store derives from a batch
//! (`server/store/derive.rs`): one `machine_days` row per event day, `usage`
//! rows that add up per machine, day and counted thing, and the validator's
//! drop counters.
//! Strings and machine ids are interned through bounded in-memory caches
//! (`Bounded`), so a typical batch costs only integer-keyed upserts.
//!
//! Counts add up with saturation at `i64::MAX`: SQLite turns an integer sum
//! that overflows into a float, which is never stored here.

use rusqlite::{CachedStatement, Transaction, params};
use tally_telemetry::schema::Date;

use crate::server::cache::Bounded;
use crate::server::rows::{Ingested, day_number};
use crate::server::store::derive::derive;
use tally_telemetry::schema::validate::{MAX_AGE_DAYS, Validated};

/// Interned texts (names, versions, apps) cached per generation; two
/// generations of 16,384 texts of at most 131 bytes are under 6 MB.
pub(crate) const DIM_CACHE: usize = 16_384;
/// Machine ids cached per generation (two of 65,536: about 4 MB).
pub(crate) const MACHINE_CACHE: usize = 65_536;
/// The interning caches, owned by the store and lent to each transaction.
pub(crate) type DimCache = Bounded<String, i64>;
/// See [`DimCache`].
pub(crate) type MachineCache = Bounded<u128, i64>;

/// Days a batch id is kept to recognise a resend. A resend can only double
/// count events the validator still accepts, and it accepts days back to
/// [`MAX_AGE_DAYS`] before the day of receipt (and one ahead): a batch
/// first received on day R holds no event after R + 1, and on day R + 32 or
/// later everything in it is out of the window. Past that the id says
/// nothing, so the table is pruned on this horizon, not the data's.
pub(crate) const BATCH_ID_DAYS: i64 = MAX_AGE_DAYS + 2;

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
// `min(a + b, MAX)` saturates: an integer sum past i64::MAX becomes a
// float of at least 2^63, larger than MAX, so MAX is taken; the CAST keeps
// whatever a damaged row held from spreading as a float.
const UPSERT_USAGE: &str = "INSERT INTO usage
    (day, app, machine, kind, name, variant, class, count, l0, l1, l2, l3, l4, l5, l6)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
    ON CONFLICT (day, app, machine, kind, name, variant, class) DO UPDATE SET
      count = CAST(min(count + excluded.count, 9223372036854775807) AS INTEGER),
      l0 = CAST(min(l0 + excluded.l0, 9223372036854775807) AS INTEGER),
      l1 = CAST(min(l1 + excluded.l1, 9223372036854775807) AS INTEGER),
      l2 = CAST(min(l2 + excluded.l2, 9223372036854775807) AS INTEGER),
      l3 = CAST(min(l3 + excluded.l3, 9223372036854775807) AS INTEGER),
      l4 = CAST(min(l4 + excluded.l4, 9223372036854775807) AS INTEGER),
      l5 = CAST(min(l5 + excluded.l5, 9223372036854775807) AS INTEGER),
      l6 = CAST(min(l6 + excluded.l6, 9223372036854775807) AS INTEGER)";
const UPSERT_DROPS: &str = "INSERT INTO drops (day, app, reason, count) VALUES (?1, ?2, ?3, ?4)
    ON CONFLICT (day, app, reason) DO UPDATE SET
      count = CAST(min(count + excluded.count, 9223372036854775807) AS INTEGER)";

/// One transaction's worth of writes: the statements, prepared once per
/// group, and the interning caches.
pub(crate) struct Writer<'a> {
    tx: &'a Transaction<'a>,
    dims: &'a mut DimCache,
    machines: &'a mut MachineCache,
    insert_batch: CachedStatement<'a>,
    upsert_machine_day: CachedStatement<'a>,
    upsert_usage: CachedStatement<'a>,
}

impl<'a> Writer<'a> {
    /// Prepares the statements for one transaction.
    pub(crate) fn new(
        tx: &'a Transaction<'a>,
        dims: &'a mut DimCache,
        machines: &'a mut MachineCache,
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
            return Ok(id);
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
            return Ok(id);
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
        // The rows are the ones every store derives from a batch (repeated
        // items already merged, saturating); SQLite adds them up per
        // machine, day and counted thing, with names interned.
        let rows = derive(v);
        for day in &rows.days {
            self.upsert_machine_day
                .execute(params![day, app, machine, version, os, arch, e.ci])?;
        }
        for r in &rows.usage {
            let name = self.dim(&r.name)?;
            let variant = self.dim(&r.variant)?;
            let class = self.dim(&r.class)?;
            let l = r.buckets.map(clamp);
            self.upsert_usage.execute(params![
                r.day,
                app,
                machine,
                r.kind as i64,
                name,
                variant,
                class,
                clamp(r.count),
                l[0],
                l[1],
                l[2],
                l[3],
                l[4],
                l[5],
                l[6]
            ])?;
        }
        for (reason, n) in &rows.drops {
            self.tx.prepare_cached(UPSERT_DROPS)?.execute(params![
                received,
                app,
                reason,
                clamp(*n)
            ])?;
        }
        Ok(Ingested::Stored)
    }
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::store::{Durability, Store};
    use tally_telemetry::schema::validate::validate;
    use tally_telemetry::schema::{format_day, parse_day};

    fn body(day: &str, machine: &str, commands: &[(&str, u64)]) -> Vec<u8> {
        let commands: Vec<serde_json::Value> = commands
            .iter()
            .map(|(c, n)| serde_json::json!({"command": c, "count": n}))
            .collect();
        serde_json::to_vec(&serde_json::json!({
            "envelope": {"app": "demo", "app_version": "1.0.0", "os": "linux", "arch": "x86_64",
                "ci": false, "schema": 1, "machine_id": machine,
                "batch_id": uuid::Uuid::new_v4().to_string()},
            "events": [{"type": "usage_rollup", "day": day, "commands": commands}]
        }))
        .unwrap()
    }

    fn one<T: rusqlite::types::FromSql>(s: &Store, sql: &str) -> T {
        s.connection().query_row(sql, [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn counts_saturate_at_i64_max_and_stay_integers() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("s.db"), Durability::Normal).unwrap();
        let today = parse_day("2026-11-21").unwrap();
        let m = uuid::Uuid::new_v4().to_string();
        let v = validate(&body("2026-11-20", &m, &[("build", 5)]), today).unwrap();
        s.ingest(&v, today).unwrap();
        s.connection()
            .execute("UPDATE usage SET count = 9223372036854775800", [])
            .unwrap();
        let v = validate(&body("2026-11-20", &m, &[("build", 1_000_000_000)]), today).unwrap();
        s.ingest(&v, today).unwrap();
        assert_eq!(
            one::<String>(&s, "SELECT typeof(count) FROM usage"),
            "integer"
        );
        assert_eq!(one::<i64>(&s, "SELECT count FROM usage"), i64::MAX);
    }

    #[test]
    fn batch_ids_are_pruned_after_the_resend_window_and_unused_names_with_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("s.db"), Durability::Normal).unwrap();
        let today = parse_day("2026-11-21").unwrap();
        let received = today - (BATCH_ID_DAYS + 1);
        let v = validate(
            &body(
                &format_day(received - (1)),
                &uuid::Uuid::new_v4().to_string(),
                &[("crafted-name", 1)],
            ),
            received,
        )
        .unwrap();
        s.ingest(&v, received).unwrap();
        let p = s.prune(today, 730).unwrap();
        assert_eq!((p.batches, p.usage), (1, 0), "ids go, data stays");
        assert!(!s.has_batch(&v.batch.envelope.batch_id).unwrap());
        // A resend now finds every event out of the window: nothing counts twice.
        let again = validate(&serde_json::to_vec(&v.batch).unwrap(), today).unwrap();
        assert!(again.batch.events.is_empty());
        // Names nothing refers to are pruned; the caches are cleared with
        // them, so the next batch interns afresh.
        s.connection().execute("DELETE FROM usage", []).unwrap();
        s.prune(today, 730).unwrap();
        let n: i64 = one(&s, "SELECT COUNT(*) FROM dims WHERE text = 'crafted-name'");
        assert_eq!(n, 0);
        let v = validate(
            &body(
                "2026-11-20",
                &uuid::Uuid::new_v4().to_string(),
                &[("crafted-name", 2)],
            ),
            today,
        )
        .unwrap();
        s.ingest(&v, today).unwrap();
        let name: String = one(
            &s,
            "SELECT d.text FROM usage u JOIN dims d ON d.id = u.name",
        );
        assert_eq!(name, "crafted-name");
    }
}
