//! The ClickHouse store, for a large user base and several stateless
//! `tally serve` replicas: `--store clickhouse://HOST:PORT/DATABASE`.
//!
//! tally talks to ClickHouse over its HTTP interface with the blocking
//! `ureq` client it already uses for delivery: `INSERT … FORMAT
//! TabSeparated` to write (measured about twice as fast for ClickHouse to
//! parse as `JSONEachRow`, and half the bytes), `SELECT … FORMAT
//! JSONCompact` to read. That works from 18.16 (Debian's package) to
//! current releases; the `clickhouse` crate's RowBinary is documented as
//! mishandled by servers before 22.6, and it needs tokio in the writer
//! thread.
//!
//! Every row a batch stores goes to one table, `rows`, so the whole group
//! of batches one insert carries is one block in one partition and
//! ClickHouse commits it atomically: a batch's marker row, its machine-day
//! rows (the envelope), its usage rows and its drop counters are all there
//! or none is; the materialized views that pre-aggregate them for the
//! report (`tables.rs`) run as part of the same insert. `usage` rows mirror
//! SQLite's generically (kind, name, variant, class, count, seven bucket
//! columns), so new counted things need no schema change. Rows stay per
//! machine and batch: the batch id keeps every copy identifiable.
//!
//! Exactly once, across replicas, lives in ClickHouse (`dedup.rs`): before
//! inserting, the writer looks the group's batch ids up among the marker
//! rows (a primary-key lookup in `batch_ids`, the view-fed table that holds
//! them ordered by batch id) and skips those already stored. Two replicas
//! that get the same batch at the same instant can both insert it; every
//! row carries an insert-unique `seq`, and the writer that inserted second
//! finds two markers when it checks its insert (with its next lookup, or as
//! soon as it is idle) and records every copy but the one with the largest
//! `seq`: its id in `dups`, its summed rows in `dup_rows`, which the report
//! subtracts. Either way a report counts a batch once, whichever replica a
//! retry reached.
//!
//! On a cluster (`?cluster=NAME`, `tables.rs`) a copy can also hide in a
//! part another node stored and this one has not fetched yet: a client
//! whose replica's node died after storing its batch retries on a replica
//! of another node. Each writer keeps the batches it inserted and looks
//! them up again once its node has fetched every part the others
//! announced (`dedup.rs`).
//!
//! Partitions are calendar months of receipt (`received`), one per insert;
//! retention drops whole partitions past `--retention-days`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tally_telemetry::schema::Date;

use crate::server::rows::Ingested;
use crate::server::store::{Pruned, StoreError};
use tally_telemetry::schema::validate::Validated;

mod access;
mod dedup;
mod encode;
mod tables;
mod url;

use access::{Tls, basic_auth, tls_for};
pub use encode::machine_key;
use encode::{COLUMNS, days_of, group_row, rows_of};
use tables::{TABLES, repair_group};
pub use url::{ClickHouseUrl, Secret, quote, redact};

/// `kind` of a batch's marker row (usage kinds are [`RowKind`](crate::server::rows::RowKind) codes).
pub const KIND_BATCH: u8 = 100;
/// `kind` of a machine-day row: the envelope of one machine on one event day.
pub const KIND_MACHINE_DAY: u8 = 101;
/// `kind` of a drop counter row (`name` is the reason, `day` the receipt day).
pub const KIND_DROP: u8 = 102;
/// `kind` of the row that marks one insert, for the views (`tables.rs`).
pub const KIND_GROUP: u8 = 103;

/// Time to connect to ClickHouse at most; a refused connection fails at once.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest insert or lookup unless told otherwise
/// ([`ClickHouse::set_timeout`]: `tally serve --store-timeout`).
const WRITE_TIMEOUT: Duration = Duration::from_secs(8);
/// Longest report query (or bulk statement).
const READ_TIMEOUT: Duration = Duration::from_secs(3600);
/// Largest answer read from ClickHouse (reports are aggregated server-side).
const MAX_ANSWER: u64 = 256 * 1024 * 1024;

/// A connection to a ClickHouse store.
pub struct ClickHouse {
    url: ClickHouseUrl,
    endpoint: String,
    /// `Authorization: Basic …` when the URL names a user.
    auth: Option<String>,
    /// The roots an HTTPS store's certificate is checked against.
    tls: Tls,
    writer: ureq::Agent,
    reader: ureq::Agent,
    /// Batches inserted whose check for a concurrent copy is still due
    /// (it runs right after the insert; if that fails, with the next
    /// group's lookup or when the writer goes idle, [`ClickHouse::settle`]).
    unchecked: Vec<Located>,
    /// Inserts that failed, (tag, day received, repairs tried): ClickHouse
    /// may have stored the rows and not every view's share (`tables.rs`);
    /// checked and completed before the next insert.
    failed: Vec<(u64, Date, u32, Instant)>,
    /// On a cluster: batches inserted here, with when, whose copies another
    /// node may hold in a part this node has not fetched yet (`dedup.rs`,
    /// [`ClickHouse::recheck`]).
    recheck: VecDeque<(Instant, Located)>,
    /// When the recheck last ran.
    rechecked: Instant,
    /// Batches dropped from `recheck` unchecked, for the warning.
    dropped: usize,
}

/// Failed inserts remembered at most (one a second for an hour).
const MAX_FAILED: usize = 3600;
/// Attempts at completing one failed insert while ClickHouse answers, at
/// least [`REPAIR_SPACING`] apart: a minute at least.
const MAX_REPAIRS: u32 = 60;
/// Time between two counted repair attempts.
const REPAIR_SPACING: Duration = Duration::from_secs(1);

/// A batch id with where its summed rows are: its app and days (the
/// sorting key's prefix), so a copy's rows are found without a full scan.
#[derive(Clone, Debug)]
struct Located {
    id: String,
    app: String,
    days: Vec<String>,
}

impl fmt::Debug for ClickHouse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClickHouse")
            .field("url", &self.url.to_string())
            .finish()
    }
}

fn agent(timeout: Duration, tls: &Tls) -> ureq::Agent {
    let builder = ureq::Agent::config_builder();
    let builder = builder.tls_config(tls.clone());
    builder
        .timeout_connect(Some(CONNECT_TIMEOUT.min(timeout)))
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .max_idle_connections_per_host(4)
        .user_agent(format!("tally/{}", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// The `query_id` of the insert tagged `tag`: while ClickHouse runs it,
/// [`ClickHouse::repair`] waits.
fn insert_id(tag: u64) -> String {
    format!("tally-insert-{tag}")
}

/// Percent-encodes a query for the `query=` parameter.
fn encode(q: &str) -> String {
    let mut out = String::with_capacity(q.len() * 3 / 2);
    for b in q.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

impl ClickHouse {
    fn new(url: &ClickHouseUrl) -> Result<ClickHouse, StoreError> {
        let host = if url.host.contains(':') {
            format!("[{}]", url.host)
        } else {
            url.host.clone()
        };
        let tls = tls_for(url).map_err(|message| StoreError::ClickHouse {
            url: url.to_string(),
            message,
        })?;
        let scheme = if url.https { "https" } else { "http" };
        Ok(ClickHouse {
            url: url.clone(),
            endpoint: format!("{scheme}://{host}:{}/", url.port),
            auth: url
                .user
                .as_deref()
                .map(|u| basic_auth(u, url.password.as_ref().map_or("", |p| p.expose()))),
            writer: agent(WRITE_TIMEOUT, &tls),
            reader: agent(READ_TIMEOUT, &tls),
            tls,
            unchecked: Vec::new(),
            failed: Vec::new(),
            recheck: VecDeque::new(),
            rechecked: Instant::now(),
            dropped: 0,
        })
    }

    /// Connects for writing: creates the database, tables and views if
    /// missing (see `tables.rs`).
    pub fn open(url: &ClickHouseUrl) -> Result<ClickHouse, StoreError> {
        let ch = ClickHouse::new(url)?;
        tables::create(&ch)?;
        Ok(ch)
    }

    /// Connects for reading; fails if tally's tables are not there.
    pub fn open_read_only(url: &ClickHouseUrl) -> Result<ClickHouse, StoreError> {
        let ch = ClickHouse::new(url)?;
        // The aggregates came last: a store without them predates them.
        let found = ch.query_text(&format!("EXISTS TABLE {}.envelope_agg", url.database))?;
        if found.trim() != "1" {
            return Err(StoreError::ClickHouse {
                url: url.to_string(),
                message: format!(
                    "no tally store (or one from an older tally) in database {}; start `tally serve --store {url}` once to create or update it",
                    url.database
                ),
            });
        }
        Ok(ch)
    }

    /// Bounds every insert, lookup and probe to `timeout` (a frozen
    /// ClickHouse accepts connections and never answers).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.writer = agent(timeout, &self.tls);
    }

    /// A second connection to the same store, with the same timeout, for
    /// the health probe.
    pub fn probe_connection(&self) -> ClickHouse {
        ClickHouse {
            url: self.url.clone(),
            endpoint: self.endpoint.clone(),
            auth: self.auth.clone(),
            tls: self.tls.clone(),
            writer: self.writer.clone(),
            reader: self.reader.clone(),
            unchecked: Vec::new(),
            failed: Vec::new(),
            recheck: VecDeque::new(),
            rechecked: Instant::now(),
            dropped: 0,
        }
    }

    /// Whether ClickHouse answers `SELECT 1` (within the write timeout).
    pub fn ping(&self) -> Result<(), StoreError> {
        let answer = self.query_text("SELECT 1")?;
        if answer.trim() == "1" {
            Ok(())
        } else {
            Err(self.error(format!("SELECT 1 answered {:?}", answer.trim())))
        }
    }

    /// The store's URL.
    pub fn url(&self) -> &ClickHouseUrl {
        &self.url
    }

    /// The database name (safe to splice into SQL).
    pub fn database(&self) -> &str {
        &self.url.database
    }

    pub(super) fn error(&self, message: impl Into<String>) -> StoreError {
        StoreError::ClickHouse {
            url: self.url.to_string(),
            message: message.into(),
        }
    }

    fn post(&self, agent: &ureq::Agent, params: &str, body: &[u8]) -> Result<String, StoreError> {
        let url = format!("{}?{params}", self.endpoint);
        let mut req = agent.post(&url);
        if let Some(auth) = &self.auth {
            req = req.header("Authorization", auth);
        }
        let mut resp = req.send(body).map_err(|e| match e {
            ureq::Error::Timeout(_) => StoreError::ClickHouseTimeout {
                url: self.url.to_string(),
                message: format!("{e}; is ClickHouse frozen or overloaded?"),
            },
            e => self.error(format!("{e}; is ClickHouse running and reachable?")),
        })?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER)
            .read_to_string()
            .map_err(|e| self.error(format!("reading the answer: {e}")))?;
        if status != 200 {
            let first = text.lines().next().unwrap_or("").trim();
            return Err(self.error(format!("HTTP {status}: {first}")));
        }
        Ok(text)
    }

    /// Runs a statement that returns nothing.
    pub fn execute(&self, sql: &str) -> Result<(), StoreError> {
        self.post(&self.writer, "", sql.as_bytes()).map(drop)
    }

    /// Runs a long statement (a bulk `INSERT … SELECT`, say) with the
    /// report's timeout rather than the writer's.
    pub fn execute_long(&self, sql: &str) -> Result<(), StoreError> {
        self.post(&self.reader, "", sql.as_bytes()).map(drop)
    }

    pub(crate) fn query_text(&self, sql: &str) -> Result<String, StoreError> {
        self.post(&self.writer, "", sql.as_bytes())
    }

    /// Runs a `SELECT` and returns its rows (64-bit integers as numbers).
    pub fn select(&self, sql: &str) -> Result<Vec<Vec<serde_json::Value>>, StoreError> {
        let text = self.post(
            &self.reader,
            "output_format_json_quote_64bit_integers=0",
            format!("{sql} FORMAT JSONCompact").as_bytes(),
        )?;
        #[derive(serde::Deserialize)]
        struct Answer {
            data: Vec<Vec<serde_json::Value>>,
        }
        serde_json::from_str::<Answer>(&text)
            .map(|a| a.data)
            .map_err(|e| self.error(format!("unreadable answer: {e}")))
    }

    /// Stores a group of batches. Each run of batches received in the same
    /// month is one insert, which ClickHouse commits atomically; the answer
    /// comes only after it acknowledged every insert and the check for a
    /// copy another replica stored at the same instant ran.
    pub fn ingest_group(
        &mut self,
        items: &[(&Validated, Date)],
    ) -> Result<Vec<Ingested>, StoreError> {
        let out = self.ingest_group_deferred(items, &mut || {})?;
        self.settle();
        Ok(out)
    }

    /// Stores a group of batches like [`ClickHouse::ingest_group`], but
    /// leaves the check of this group's inserts for a concurrent copy to
    /// the next group's lookup (or [`ClickHouse::settle`]): one lookup per
    /// group instead of two, each group's own ids and the previous insert's
    /// together. `checked` runs once the previous insert's check is over
    /// (succeeded, failed and kept for later, or had nothing to check): the
    /// writer answers the previous group's batches then, so every batch is
    /// still answered only after its insert was looked at again. It runs
    /// exactly once, also when this returns an error.
    pub fn ingest_group_deferred(
        &mut self,
        items: &[(&Validated, Date)],
        checked: &mut dyn FnMut(),
    ) -> Result<Vec<Ingested>, StoreError> {
        let mut checked = Some(checked);
        let result = self.ingest_months(items, &mut checked);
        if let Some(f) = checked.take() {
            f();
        }
        // On a cluster, the second look runs at most once a second; it
        // must not wait for an idle writer, which a steady load never has.
        if result.is_ok() {
            self.recheck_logged();
        }
        result
    }

    fn ingest_months(
        &mut self,
        items: &[(&Validated, Date)],
        checked: &mut Option<&mut dyn FnMut()>,
    ) -> Result<Vec<Ingested>, StoreError> {
        let mut out = Vec::with_capacity(items.len());
        let mut start = 0;
        while start < items.len() {
            let month = |d: Date| (d.year(), d.month());
            let m = month(items[start].1);
            let end = items[start..]
                .iter()
                .position(|(_, d)| month(*d) != m)
                .map_or(items.len(), |n| start + n);
            out.extend(self.ingest_month(&items[start..end], checked)?);
            start = end;
        }
        Ok(out)
    }

    /// Completes the views' share of inserts that failed, where ClickHouse
    /// stored the rows anyway (see `tables.rs`). An insert still running
    /// (a timeout on tally's side) is left for the next call.
    fn repair(&mut self) -> Result<(), StoreError> {
        while let Some(&(tag, received, _, _)) = self.failed.first() {
            let running = self.query_text(&format!(
                "SELECT count() FROM system.processes WHERE query_id = {}",
                quote(&insert_id(tag))
            ))?;
            if running.trim() != "0" {
                return Ok(());
            }
            // ClickHouse answers; a repair that still fails this often is
            // given up rather than block every insert after it.
            if let Err(e) = repair_group(self, tag, received) {
                // Attempts count a second apart at most: a replica that
                // just restarted refuses writes (read-only) until its old
                // ZooKeeper session ends, and a burst of retried batches
                // must not use up the attempts in that time.
                let (_, _, tried, last) = &mut self.failed[0];
                if last.elapsed() >= REPAIR_SPACING {
                    *tried += 1;
                    *last = Instant::now();
                }
                if *tried < MAX_REPAIRS {
                    return Err(e);
                }
                eprintln!(
                    "tally serve: giving up completing the aggregates of insert {tag} after {MAX_REPAIRS} attempts; reports can miss its batches: {e}"
                );
            }
            self.failed.remove(0);
        }
        Ok(())
    }

    fn ingest_month(
        &mut self,
        items: &[(&Validated, Date)],
        checked: &mut Option<&mut dyn FnMut()>,
    ) -> Result<Vec<Ingested>, StoreError> {
        self.repair()?;
        let ids: Vec<String> = items
            .iter()
            .map(|(v, _)| {
                uuid::Uuid::try_parse(&v.batch.envelope.batch_id)
                    .map(|u| u.hyphenated().to_string())
                    .unwrap_or_default()
            })
            .collect();
        // One lookup: this group's ids, and the previous insert's, whose
        // check for a copy a concurrent replica stored is due.
        let due = std::mem::take(&mut self.unchecked);
        let mut lookup = ids.clone();
        lookup.extend(due.iter().map(|l| l.id.clone()));
        let found = match self.copies(&lookup) {
            Ok(f) => f,
            Err(e) => {
                self.unchecked = due;
                return Err(e);
            }
        };
        // Two copies of a batch (a retry of this group, or an earlier
        // insert that raced another replica's) are settled now.
        let settled: HashMap<String, Vec<(u64, String)>> = found
            .iter()
            .filter(|(_, c)| c.len() > 1)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !settled.is_empty() {
            // Where the raced batches' rows are: from this group's copy of
            // them (a retry), or as noted when they were inserted.
            let retried: Vec<Located> = items
                .iter()
                .zip(&ids)
                .filter(|(_, id)| settled.contains_key(*id))
                .map(|((v, received), id)| Located {
                    id: id.clone(),
                    app: v.batch.envelope.app.clone(),
                    days: days_of(v, *received),
                })
                .collect();
            let at: HashMap<&str, &Located> = due
                .iter()
                .chain(&retried)
                .map(|l| (l.id.as_str(), l))
                .collect();
            if let Err(e) = self.record_dups(&settled, &at) {
                self.unchecked = due;
                return Err(e);
            }
        }
        // The previous insert has had its second look.
        if let Some(f) = checked.take() {
            f();
        }
        let before: HashMap<&String, ()> = ids
            .iter()
            .filter(|id| found.contains_key(*id))
            .map(|id| (id, ()))
            .collect();

        // seq orders copies and envelopes: milliseconds since the epoch,
        // then 10 random bits (two replicas in one millisecond), then the
        // batch's place in the group (12 bits, groups are at most 4,096).
        let seq_base = {
            let ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            let r = uuid::Uuid::new_v4().as_u128() as u64 & 0x3ff;
            (ms << 22) | (r << 12)
        };
        debug_assert!(items.len() <= 1 << 12);
        let mut body: Vec<u8> = Vec::with_capacity(items.len() * 1024);
        let mut outcomes = Vec::with_capacity(items.len());
        let mut inserted: Vec<Located> = Vec::new();
        // A batch twice in one group is stored once. A set, not a scan of
        // `inserted`, which is quadratic: groups grow to thousands under a
        // backlog (`memcmp`, most likely that scan's, was 8 % of the
        // writer's time at groups of 330).
        let mut in_group: HashSet<&str> = HashSet::with_capacity(items.len());
        for (i, ((v, received), id)) in items.iter().zip(&ids).enumerate() {
            if id.is_empty() || before.contains_key(id) || !in_group.insert(id.as_str()) {
                outcomes.push(Ingested::Duplicate);
                continue;
            }
            outcomes.push(Ingested::Stored);
            let days = rows_of(&mut body, v, *received, id, seq_base + i as u64);
            inserted.push(Located {
                id: id.clone(),
                app: v.batch.envelope.app.clone(),
                days,
            });
        }
        if inserted.is_empty() {
            return Ok(outcomes);
        }
        let received = items[0].1;
        group_row(&mut body, received, seq_base);
        let q = format!(
            "INSERT INTO {}.rows ({COLUMNS}) FORMAT TabSeparated",
            self.url.database
        );
        let params = format!("query_id={}&query={}", insert_id(seq_base), encode(&q));
        if let Err(e) = self.post(&self.writer, &params, &body) {
            if self.failed.len() >= MAX_FAILED {
                self.failed.remove(0);
            }
            let counted = Instant::now()
                .checked_sub(REPAIR_SPACING)
                .unwrap_or_else(Instant::now);
            self.failed.push((seq_base, received, 0, counted));
            return Err(e);
        }
        // Acknowledged. Another replica may have stored the same batch in the
        // same instant; each looks after its insert and before it answers,
        // so whichever looks second sees both copies, and once both have
        // answered the copy is settled. The look is the next group's lookup
        // (`ingest_group_deferred`) or `settle`; if it fails, the one after
        // repeats it.
        if self.url.cluster.is_some() {
            self.remember(&inserted);
        }
        self.unchecked.extend(inserted);
        Ok(outcomes)
    }

    /// Drops the monthly partitions whose last day is more than
    /// `retention_days` before `today`.
    pub fn prune(&mut self, today: Date, retention_days: u32) -> Result<Pruned, StoreError> {
        let cutoff = today - (i64::from(retention_days));
        let db = &self.url.database;
        let parts = self.select(&format!(
            "SELECT DISTINCT toString(partition) FROM system.parts
             WHERE database = {} AND table IN ({}) AND active",
            quote(db),
            TABLES.map(quote).join(", ")
        ))?;
        let mut old = Vec::new();
        for p in parts {
            let Some(yyyymm) = p
                .first()
                .and_then(|v| v.as_str())
                .and_then(|s| s.parse::<i32>().ok())
            else {
                continue;
            };
            let (year, month) = (yyyymm / 100, yyyymm % 100);
            let Some(first) = u8::try_from(month)
                .ok()
                .and_then(|m| Date::from_calendar_date(year, m, 1))
            else {
                continue;
            };
            // The month's last day: the day before the next month's first.
            let next = first + 31;
            let last = (next - (i64::from(next.day()) - 1))
                .previous_day()
                .unwrap_or(first);
            if last < cutoff {
                old.push(yyyymm);
            }
        }
        if old.is_empty() {
            return Ok(Pruned::default());
        }
        let list: Vec<String> = old.iter().map(|p| p.to_string()).collect();
        let counts = self.select(&format!(
            "SELECT countIf(kind < {KIND_BATCH}), countIf(kind = {KIND_MACHINE_DAY}), countIf(kind = {KIND_BATCH})
             FROM {db}.rows WHERE toYYYYMM(received) IN ({})",
            list.join(",")
        ))?;
        let n = |i: usize| {
            counts
                .first()
                .and_then(|r| r.get(i))
                .and_then(|v| v.as_u64())
                .unwrap_or(0) as usize
        };
        let pruned = Pruned {
            usage: n(0),
            machine_days: n(1),
            batches: n(2),
        };
        for p in &old {
            for table in TABLES {
                self.execute(&format!("ALTER TABLE {db}.{table} DROP PARTITION {p}"))?;
            }
        }
        Ok(pruned)
    }
}
