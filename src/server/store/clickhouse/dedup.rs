//! Exactly once across replicas: looking a group's batch ids up among the
//! stored ones (a primary-key lookup in `batch_ids`, before and after each
//! insert) and, for a batch stored more than once, recording every copy but the
//! one with the largest `seq` in `dups` and `dup_rows`, which the report
//! subtracts. Why it works this way is in the store's module documentation
//! (`mod.rs`); the insert that calls these is `ClickHouse::ingest_group`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::server::store::StoreError;
use crate::server::store::clickhouse::tables::{SUMS, usage_kinds};
use crate::server::store::clickhouse::{ClickHouse, KIND_BATCH, Located, encode, quote};

/// Batch ids looked up in one query at most: a whole group (the writer's
/// largest is 4,096), so a group costs one lookup before its insert and
/// one after. At about 40 bytes a quoted id, 4,096 stay well inside
/// ClickHouse's default `max_query_size` of 256 KiB. (With 1,024, the
/// lookups took over a third of the writer's time at 6,000 batches/s.)
const LOOKUP_CHUNK: usize = 4096;

/// On a cluster, batches kept for a second look at most: 20 s at 10,000
/// batches/s, about 5 MB. Past it the oldest are dropped unchecked (a copy
/// among them is then settled only by a later retry of the client).
const RECHECK_MAX: usize = 200_000;
/// How long after its insert a batch is looked up again at the earliest:
/// a copy another node stored before this one's insert has reached this
/// node's replication queue by then.
const RECHECK_AFTER: Duration = Duration::from_secs(2);
/// How often the second look runs at most.
const RECHECK_EVERY: Duration = Duration::from_secs(1);
/// Lookups one second look makes at most (the writer waits for them).
const RECHECK_CHUNKS: usize = 8;

/// The batch-id lookup, in `batch_ids` (`tables.rs`): ordered by batch id
/// in small granules, so ClickHouse reads only the granules where the ids
/// are. Measured with `benches/ingest.rs --query-log [--preload N]` at
/// 10,000 batches/s:
///
/// - The ids go in as one array literal, not as a tuple `IN ('…', '…')`:
///   18.16 parses each tuple element through its whole expression grammar
///   and names it, which was a tenth of ClickHouse's CPU; an array of
///   literals is parsed as one constant. 11.5 ms a lookup against 14.1-14.9.
/// - The ids are a `PREWHERE`: the other columns are read only where an id
///   matched.
/// - Before `batch_ids`, the lookup read the marker rows in `rows`, all of
///   them (a group's ids fall in every one of its 8,192-row granules), so
///   it grew with the month: 8 ms after 110,000 batches, 78 ms after 20
///   million (4.3 million rows, 69 MB read a lookup), when ingest fell to
///   6,118 batches/s with a p99 of 6.3 s. In `batch_ids`: 6 ms and 28-32
///   ms (433,000 rows, 7 MB), 8,328-9,322 batches/s. What is left at 20
///   million is 18.16 matching the id set against the index and checking
///   the rows read against it.
fn lookup(db: &str, ids: &[String]) -> String {
    let list: Vec<String> = ids.iter().map(|id| quote(id)).collect();
    format!(
        "SELECT toString(batch_id), seq, toString(received) FROM {db}.batch_ids
         PREWHERE batch_id IN (SELECT toUUID(arrayJoin([{}]))) WHERE kind = {KIND_BATCH} FORMAT TSV",
        list.join(",")
    )
}

impl ClickHouse {
    /// The stored copies (`seq`, `received`) of each of `ids`.
    pub(super) fn copies(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, Vec<(u64, String)>>, StoreError> {
        let mut out: HashMap<String, Vec<(u64, String)>> = HashMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        let mut text = String::new();
        for chunk in ids.chunks(LOOKUP_CHUNK) {
            text.push_str(&self.query_text(&lookup(&self.url.database, chunk))?);
        }
        for line in text.lines() {
            let mut f = line.split('\t');
            if let (Some(id), Some(seq), Some(received)) = (f.next(), f.next(), f.next()) {
                let seq = seq.parse().unwrap_or(0);
                let copies = out.entry(id.to_owned()).or_default();
                if !copies.iter().any(|(s, _)| *s == seq) {
                    copies.push((seq, received.to_owned()));
                }
            }
        }
        Ok(out)
    }

    /// Records every copy but the one with the largest `seq` of each batch
    /// stored more than once: its id in `dups`, and its summed rows in
    /// `dup_rows`, which the report subtracts from the aggregates the views
    /// built (they counted every copy). Both are idempotent: two replicas
    /// that settle the same race write the same rows, and a
    /// ReplacingMergeTree read with `FINAL` keeps one. `at` says where each
    /// batch's rows are (a copy stored elsewhere, only a forged batch can
    /// be, is left alone).
    pub(super) fn record_dups(
        &self,
        copies: &HashMap<String, Vec<(u64, String)>>,
        at: &HashMap<&str, &Located>,
    ) -> Result<(), StoreError> {
        let mut body = String::new();
        let mut found = Vec::new();
        for (id, seqs) in copies {
            let Some(keep) = seqs.iter().map(|(s, _)| *s).max() else {
                continue;
            };
            for (seq, received) in seqs.iter().filter(|(s, _)| *s != keep) {
                body.push_str(
                    &serde_json::json!({"received": received, "batch_id": id, "seq": seq})
                        .to_string(),
                );
                body.push('\n');
                if let Some(l) = at.get(id.as_str()).filter(|l| !l.days.is_empty()) {
                    let days: Vec<String> = l.days.iter().map(|d| quote(d)).collect();
                    found.push(format!(
                        "(app = {} AND day IN ({}) AND batch_id = toUUID({}) AND seq = {seq})",
                        quote(&l.app),
                        days.join(", "),
                        quote(id)
                    ));
                }
            }
        }
        if body.is_empty() {
            return Ok(());
        }
        let db = &self.url.database;
        // Sorting-key prefix (kind, app, day) first: a range scan per copy.
        // At most a few hundred bytes per copy: 128 stay inside max_query_size.
        for chunk in found.chunks(128) {
            self.execute(&format!(
                "INSERT INTO {db}.dup_rows SELECT received, seq, batch_id, kind, app, day, name, variant,
                   class, {} FROM {db}.rows WHERE {} AND ({})",
                SUMS.join(", "),
                usage_kinds(),
                chunk.join(" OR ")
            ))?;
        }
        let q = format!("INSERT INTO {db}.dups FORMAT JSONEachRow");
        self.post(
            &self.writer,
            &format!("query={}", encode(&q)),
            body.as_bytes(),
        )
        .map(drop)
    }

    /// Keeps the batches of an insert for their second look (on a cluster).
    pub(super) fn remember(&mut self, inserted: &[Located]) {
        let now = Instant::now();
        self.recheck
            .extend(inserted.iter().map(|l| (now, l.clone())));
        let over = self.recheck.len().saturating_sub(RECHECK_MAX);
        if over > 0 {
            self.recheck.drain(..over);
            // Once, and again every RECHECK_MAX batches: not once an insert.
            let before = self.dropped / RECHECK_MAX;
            self.dropped += over;
            if before == 0 && self.dropped == over || self.dropped / RECHECK_MAX != before {
                eprintln!(
                    "tally serve: {} batches so far dropped from the check for copies on other ClickHouse nodes (more than {RECHECK_MAX} waiting; is a node down?)",
                    self.dropped
                );
            }
        }
    }

    /// The second look on a cluster: once this node has fetched every part
    /// the other nodes announced (its replication queue holds no insert),
    /// batches inserted here at least [`RECHECK_AFTER`] ago are looked up
    /// again, and a copy another node stored is settled like a race on one
    /// node. While a node that announced a part is down, its parts stay in
    /// the queue and the batches wait.
    fn recheck(&mut self) -> Result<(), StoreError> {
        if self.recheck.is_empty() || self.rechecked.elapsed() < RECHECK_EVERY {
            return Ok(());
        }
        self.rechecked = Instant::now();
        let pending = self.query_text(&format!(
            "SELECT sum(inserts_in_queue) FROM system.replicas WHERE database = {} AND table = 'rows'",
            quote(&self.url.database)
        ))?;
        if pending.trim() != "0" {
            return Ok(());
        }
        for _ in 0..RECHECK_CHUNKS {
            let ready = self
                .recheck
                .iter()
                .take(LOOKUP_CHUNK)
                .take_while(|(at, _)| at.elapsed() >= RECHECK_AFTER)
                .count();
            if ready == 0 {
                break;
            }
            let due: Vec<(Instant, Located)> = self.recheck.drain(..ready).collect();
            let result = self
                .copies(&due.iter().map(|(_, l)| l.id.clone()).collect::<Vec<_>>())
                .and_then(|found| {
                    let raced: HashMap<String, Vec<(u64, String)>> =
                        found.into_iter().filter(|(_, c)| c.len() > 1).collect();
                    let at: HashMap<&str, &Located> =
                        due.iter().map(|(_, l)| (l.id.as_str(), l)).collect();
                    self.record_dups(&raced, &at)
                });
            if let Err(e) = result {
                for entry in due.into_iter().rev() {
                    self.recheck.push_front(entry);
                }
                return Err(e);
            }
        }
        Ok(())
    }

    /// The second look on a cluster ([`ClickHouse::recheck`]), a failure
    /// logged: it is tried again a second later.
    pub(super) fn recheck_logged(&mut self) {
        if let Err(e) = self.recheck() {
            eprintln!(
                "tally serve: looking for copies of recent batches on other ClickHouse nodes failed (tried again in a second): {e}"
            );
        }
    }

    /// Runs the check for concurrent copies still due: after each
    /// [`ClickHouse::ingest_group`], and when the writer is idle (the last
    /// group's check, or one that failed: ClickHouse down, the ids stay
    /// due; under load the next group's lookup makes it instead). A copy it never settles is settled by the client's
    /// next retry, which finds both.
    pub fn settle(&mut self) {
        self.recheck_logged();
        if let Err(e) = self.repair() {
            eprintln!(
                "tally serve: completing the aggregates of a failed insert failed (retried before the next insert): {e}"
            );
        }
        if self.unchecked.is_empty() {
            return;
        }
        let due = std::mem::take(&mut self.unchecked);
        let result = self
            .copies(&due.iter().map(|l| l.id.clone()).collect::<Vec<_>>())
            .and_then(|found| {
                let raced: HashMap<String, Vec<(u64, String)>> =
                    found.into_iter().filter(|(_, c)| c.len() > 1).collect();
                let at: HashMap<&str, &Located> = due.iter().map(|l| (l.id.as_str(), l)).collect();
                self.record_dups(&raced, &at)
            });
        if let Err(e) = result {
            self.unchecked = due;
            eprintln!(
                "tally serve: checking for copies another replica stored at the same instant failed (the next retry settles them): {e}"
            );
        }
    }
}
