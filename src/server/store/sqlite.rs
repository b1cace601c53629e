//! The SQLite ingest store: an embedded database that `tally serve` writes
//! validated batches into and `tally report` reads.
//!
//! Layout (migration 1): `batches` keeps one row per accepted batch (its
//! 16-byte `batch_id` is the unique idempotency key; rows are appended, so
//! only that key's index takes a write at a random place); `machine_days`
//! one row per machine, app and event day with that day's envelope
//! (version, OS, arch, CI); `usage` one row per machine, app, day and
//! counted thing (a command, a tool call outcome, a client, a lifecycle
//! event, a fact value, client-side drops), with counts and latency buckets
//! (a command's declared value sits in `class`, which only tool calls used
//! before: see `derive.rs`);
//! `drops` what the validator removed, per app and receive day. Strings that
//! repeat in every row (names, apps, versions) and machine ids are interned
//! into `dims` and `machines`, so the big tables hold small integers: that
//! keeps them compact and lets the report scan a million rows well within a
//! second. Rows stay per machine because k-anonymity needs distinct-machine
//! counts, which cannot be summed across days.
//!
//! Everything stored here passed [`tally_telemetry::schema::validate`] first: only schema
//! values, never an IP address, never a payload. How a batch becomes rows
//! is in `ingest.rs`; WAL checkpoints run on their own thread
//! (`checkpoint.rs`), and the writer only truncates the log when it passes
//! its limit.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension};
use tally_telemetry::schema::Date;

pub use crate::server::rows::{DROP_REASONS, Ingested, RowKind, day_from_number, day_number};
use tally_telemetry::schema::validate::Validated;

/// The store's file name inside the data directory.
pub const DEFAULT_FILE_NAME: &str = "store.sqlite3";

/// The migrations, in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE dims (
    id   INTEGER PRIMARY KEY,
    text TEXT NOT NULL UNIQUE
);
INSERT INTO dims (id, text) VALUES (0, '');
CREATE TABLE machines (
    id         INTEGER PRIMARY KEY,
    machine_id BLOB NOT NULL UNIQUE
);
CREATE TABLE batches (
    id           INTEGER PRIMARY KEY,
    batch_id     BLOB NOT NULL UNIQUE,
    app          INTEGER NOT NULL,
    app_version  INTEGER NOT NULL,
    os           INTEGER NOT NULL,
    arch         INTEGER NOT NULL,
    ci           INTEGER NOT NULL,
    machine      INTEGER NOT NULL,
    received_day INTEGER NOT NULL
);
CREATE INDEX batches_by_received_day ON batches (received_day);
CREATE TABLE machine_days (
    day     INTEGER NOT NULL,
    app     INTEGER NOT NULL,
    machine INTEGER NOT NULL,
    version INTEGER NOT NULL,
    os      INTEGER NOT NULL,
    arch    INTEGER NOT NULL,
    ci      INTEGER NOT NULL,
    PRIMARY KEY (day, app, machine)
) WITHOUT ROWID;
CREATE TABLE usage (
    day     INTEGER NOT NULL,
    app     INTEGER NOT NULL,
    machine INTEGER NOT NULL,
    kind    INTEGER NOT NULL,
    name    INTEGER NOT NULL,
    variant INTEGER NOT NULL,
    class   INTEGER NOT NULL,
    count   INTEGER NOT NULL,
    l0 INTEGER NOT NULL DEFAULT 0,
    l1 INTEGER NOT NULL DEFAULT 0,
    l2 INTEGER NOT NULL DEFAULT 0,
    l3 INTEGER NOT NULL DEFAULT 0,
    l4 INTEGER NOT NULL DEFAULT 0,
    l5 INTEGER NOT NULL DEFAULT 0,
    l6 INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, app, machine, kind, name, variant, class)
) WITHOUT ROWID;
CREATE TABLE drops (
    day    INTEGER NOT NULL,
    app    INTEGER NOT NULL,
    reason TEXT NOT NULL,
    count  INTEGER NOT NULL,
    PRIMARY KEY (day, app, reason)
) WITHOUT ROWID;
"#];

/// The schema version this build writes.
pub const STORE_VERSION: i64 = MIGRATIONS.len() as i64;

/// A failure of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The directory for the database could not be created.
    #[error("cannot create the store's directory {path}: {source}; create it or pass --db PATH")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The database does not exist (read-only open).
    #[error("no store at {0}; start `tally serve` once to create it, or pass --db PATH")]
    Missing(PathBuf),
    /// The database was written by a newer tally.
    #[error(
        "the store {path} has schema version {found}, newer than this tally understands ({STORE_VERSION}); upgrade tally"
    )]
    TooNew {
        /// The database.
        path: PathBuf,
        /// Its `user_version`.
        found: i64,
    },
    /// ClickHouse failed or could not be reached.
    #[error("store {url}: {message}")]
    ClickHouse {
        /// The store's URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// ClickHouse did not answer within the store timeout (frozen, or
    /// too slow): unlike a refusal, a retry would wait again.
    #[error("store {url}: {message}")]
    ClickHouseTimeout {
        /// The store's URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// SQLite failed.
    #[error("store {path}: {source}")]
    Sqlite {
        /// The database.
        path: PathBuf,
        /// The SQLite error.
        source: rusqlite::Error,
    },
}

/// How much a retention pass removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// `usage` rows.
    pub usage: usize,
    /// `machine_days` rows.
    pub machine_days: usize,
    /// `batches` rows.
    pub batches: usize,
}

/// How hard a commit pushes to disk.
///
/// `Full` is the default and, measured, also the faster choice under load:
/// with group commit one fsync covers a whole group, and syncing the WAL at
/// every commit keeps dirty pages from piling up until a checkpoint has to
/// flush megabytes at once (which stalls the writer and the tail latency).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Durability {
    /// WAL with `synchronous=NORMAL`: a commit survives a crash of the
    /// process, but the last commits before a power loss or kernel crash may
    /// be lost (the WAL is synced at checkpoints, not at every commit).
    Normal,
    /// WAL with `synchronous=FULL`: every commit is synced to disk before it
    /// is acknowledged.
    #[default]
    Full,
}

/// An open store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    dims: crate::server::ingest::DimCache,
    machines: crate::server::ingest::MachineCache,
    checkpointer: Option<crate::server::checkpoint::Checkpointer>,
    wal: Option<Box<crate::server::checkpoint::WalBound>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens the store for writing, creating the file and its directory and
    /// running pending migrations.
    pub fn open(path: &Path, durability: Durability) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(sql(path))?;
        let sync = match durability {
            Durability::Normal => "NORMAL",
            Durability::Full => "FULL",
        };
        conn.execute_batch(&format!(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous={sync}; PRAGMA busy_timeout=5000;
             PRAGMA foreign_keys=OFF; PRAGMA cache_size=-16384;"
        ))
        .map_err(sql(path))?;
        let mut store = Store::wrap(conn, path);
        store.migrate()?;
        // The interning caches start empty and fill with what is used: dims
        // are never loaded wholesale (crafted names would all come back).
        // Checkpoints move to their own thread; if it cannot start, SQLite's
        // automatic checkpoints (in the writer) stay on.
        if let Ok(c) = crate::server::checkpoint::Checkpointer::spawn(path, sync) {
            store
                .conn
                .execute_batch("PRAGMA wal_autocheckpoint=0;")
                .map_err(sql(path))?;
            store.checkpointer = Some(c);
        }
        store.set_wal_limit(crate::server::checkpoint::DEFAULT_WAL_LIMIT)?;
        Ok(store)
    }

    /// Opens an existing store read-only (for reports).
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        if !path.exists() {
            return Err(StoreError::Missing(path.to_path_buf()));
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sql(path))?;
        conn.execute_batch("PRAGMA busy_timeout=5000;")
            .map_err(sql(path))?;
        let store = Store::wrap(conn, path);
        let found = store.version()?;
        if found > STORE_VERSION {
            return Err(StoreError::TooNew {
                path: path.to_path_buf(),
                found,
            });
        }
        if found < STORE_VERSION {
            return Err(StoreError::Missing(path.to_path_buf()));
        }
        Ok(store)
    }

    fn wrap(conn: Connection, path: &Path) -> Store {
        Store {
            conn,
            path: path.to_path_buf(),
            dims: crate::server::cache::Bounded::new(crate::server::ingest::DIM_CACHE),
            machines: crate::server::cache::Bounded::new(crate::server::ingest::MACHINE_CACHE),
            checkpointer: None,
            wal: None,
        }
    }

    /// Keeps the write-ahead log at about `bytes` (plus one commit's
    /// pages): past it, the writer truncates it after its next commit.
    pub fn set_wal_limit(&mut self, bytes: u64) -> Result<(), StoreError> {
        let bound = crate::server::checkpoint::WalBound::new(
            &self.path,
            bytes,
            self.checkpointer.as_ref().map(|c| c.yield_flag()),
        );
        // Also what a log that was reset is cut back to.
        self.conn
            .execute_batch(&format!("PRAGMA journal_size_limit={};", bound.limit()))
            .map_err(sql(&self.path))?;
        self.wal = Some(Box::new(bound));
        Ok(())
    }

    /// The size of the write-ahead log now, in bytes, and the truncating
    /// checkpoints run so far.
    pub fn wal_state(&self) -> (u64, u64) {
        self.wal
            .as_ref()
            .map_or((0, 0), |w| (w.size(), w.truncations))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The underlying connection (for the report's queries).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The schema version recorded in the file.
    pub fn version(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(sql(&self.path))
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let found = self.version()?;
        if found > STORE_VERSION {
            return Err(StoreError::TooNew {
                path: self.path.clone(),
                found,
            });
        }
        for (n, step) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            let path = self.path.clone();
            let tx = self.conn.transaction().map_err(sql(&path))?;
            tx.execute_batch(step).map_err(sql(&path))?;
            tx.execute_batch(&format!("PRAGMA user_version = {}", n + 1))
                .map_err(sql(&path))?;
            tx.commit().map_err(sql(&path))?;
        }
        Ok(())
    }

    /// Stores one batch in its own transaction.
    pub fn ingest(&mut self, v: &Validated, received: Date) -> Result<Ingested, StoreError> {
        let mut out = self.ingest_group(&[(v, received)])?;
        Ok(out.pop().unwrap_or(Ingested::Duplicate))
    }

    /// Stores several batches in one transaction (group commit): either all
    /// of them are committed or none is.
    pub fn ingest_group(
        &mut self,
        items: &[(&Validated, Date)],
    ) -> Result<Vec<Ingested>, StoreError> {
        let path = self.path.clone();
        let result = (|| {
            let tx = self.conn.transaction()?;
            let mut out = Vec::with_capacity(items.len());
            {
                let mut w =
                    crate::server::ingest::Writer::new(&tx, &mut self.dims, &mut self.machines)?;
                for (v, received) in items {
                    out.push(w.batch(v, *received)?);
                }
            }
            tx.commit()?;
            Ok(out)
        })();
        if result.is_ok()
            && let Some(w) = &mut self.wal
        {
            w.after_commit(&self.conn);
        }
        result.map_err(|e| {
            // Ids handed out inside the rolled-back transaction do not exist.
            self.forget_cached();
            StoreError::Sqlite { path, source: e }
        })
    }

    fn forget_cached(&mut self) {
        self.machines.clear();
        self.dims.clear();
    }

    /// Deletes everything about days before `today - retention_days`, and
    /// machine ids no longer referenced.
    pub fn prune(&mut self, today: Date, retention_days: u32) -> Result<Pruned, StoreError> {
        let cutoff = day_number(today) - i64::from(retention_days);
        let path = self.path.clone();
        let result = (|| {
            let tx = self.conn.transaction()?;
            let usage = tx.execute("DELETE FROM usage WHERE day < ?1", [cutoff])?;
            let machine_days = tx.execute("DELETE FROM machine_days WHERE day < ?1", [cutoff])?;
            // Batch ids only need to outlive the resend window.
            let id_cutoff = cutoff.max(day_number(today) - crate::server::ingest::BATCH_ID_DAYS);
            let batches = tx.execute("DELETE FROM batches WHERE received_day < ?1", [id_cutoff])?;
            tx.execute("DELETE FROM drops WHERE day < ?1", [cutoff])?;
            tx.execute(
                "DELETE FROM machines WHERE id NOT IN
                   (SELECT machine FROM machine_days UNION SELECT machine FROM batches)",
                [],
            )?;
            // Names nothing refers to any more (crafted ones, mostly).
            tx.execute(
                "DELETE FROM dims WHERE id <> 0 AND id NOT IN (
                   SELECT name FROM usage UNION SELECT variant FROM usage
                   UNION SELECT class FROM usage UNION SELECT app FROM usage
                   UNION SELECT version FROM machine_days UNION SELECT os FROM machine_days
                   UNION SELECT arch FROM machine_days UNION SELECT app FROM machine_days
                   UNION SELECT app FROM batches
                   UNION SELECT app_version FROM batches UNION SELECT os FROM batches
                   UNION SELECT arch FROM batches UNION SELECT app FROM drops)",
                [],
            )?;
            tx.commit()?;
            Ok(Pruned {
                usage,
                machine_days,
                batches,
            })
        })();
        self.forget_cached();
        result.map_err(|source| StoreError::Sqlite { path, source })
    }

    /// Checkpoints the WAL into the main file and closes the database.
    pub fn close(mut self) -> Result<(), StoreError> {
        drop(self.checkpointer.take());
        let path = self.path.clone();
        self.conn
            .execute_batch("PRAGMA optimize; PRAGMA wal_checkpoint(TRUNCATE);")
            .map_err(sql(&path))?;
        self.conn
            .close()
            .map_err(|(_, source)| StoreError::Sqlite { path, source })
    }

    /// Whether a batch id is stored.
    pub fn has_batch(&self, batch_id: &str) -> Result<bool, StoreError> {
        let Ok(id) = uuid::Uuid::try_parse(batch_id) else {
            return Ok(false);
        };
        self.conn
            .query_row(
                "SELECT 1 FROM batches WHERE batch_id = ?1",
                [&id.as_bytes()[..]],
                |_| Ok(()),
            )
            .optional()
            .map(|o| o.is_some())
            .map_err(sql(&self.path))
    }
}

fn sql(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |source| StoreError::Sqlite {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tally_telemetry::schema::validate::validate;
    use tally_telemetry::schema::*;
    use tally_telemetry::schema::{format_day, parse_day};

    fn batch(day: &str, machine: &str) -> Vec<u8> {
        let b = Batch {
            envelope: tally_telemetry::schema::Envelope::new(
                "demo",
                "1.0.0",
                false,
                machine,
                &uuid::Uuid::new_v4().to_string(),
            ),
            events: vec![Event::UsageRollup(UsageRollup {
                day: day.into(),
                commands: vec![CommandCount {
                    command: "build".into(),
                    value: None,
                    outcome: None,
                    duration: None,
                    count: 2,
                }],
                ..Default::default()
            })],
        };
        serde_json::to_vec(&b).unwrap()
    }

    #[test]
    fn a_resent_batch_is_stored_once_and_counts_add_up_per_machine_day() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("s.db");
        let today = parse_day("2026-11-21").unwrap();
        let machine = uuid::Uuid::new_v4().to_string();
        let mut s = Store::open(&path, Durability::Normal).unwrap();
        let v = validate(&batch("2026-11-20", &machine), today).unwrap();
        assert_eq!(s.ingest(&v, today).unwrap(), Ingested::Stored);
        assert_eq!(s.ingest(&v, today).unwrap(), Ingested::Duplicate);
        let v2 = validate(&batch("2026-11-20", &machine), today).unwrap();
        assert_eq!(s.ingest(&v2, today).unwrap(), Ingested::Stored);
        let total: i64 = s
            .connection()
            .query_row("SELECT SUM(count) FROM usage", [], |r| r.get(0))
            .unwrap();
        assert_eq!(total, 4, "two distinct batches of 2, the resend ignored");
        let rows: i64 = s
            .connection()
            .query_row("SELECT COUNT(*) FROM usage", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 1, "same machine, day and command: one row");
    }

    #[test]
    fn reopening_keeps_data_and_does_not_rerun_migrations() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let today = parse_day("2026-11-21").unwrap();
        let v = validate(
            &batch("2026-11-20", &uuid::Uuid::new_v4().to_string()),
            today,
        )
        .unwrap();
        let mut s = Store::open(&path, Durability::Full).unwrap();
        s.ingest(&v, today).unwrap();
        s.close().unwrap();
        let mut s = Store::open(&path, Durability::Normal).unwrap();
        assert_eq!(s.version().unwrap(), STORE_VERSION);
        assert!(s.has_batch(&v.batch.envelope.batch_id).unwrap());
        assert_eq!(s.ingest(&v, today).unwrap(), Ingested::Duplicate);
        let ro = Store::open_read_only(&path).unwrap();
        assert!(ro.has_batch(&v.batch.envelope.batch_id).unwrap());
    }

    #[test]
    fn a_store_from_a_newer_tally_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        Store::open(&path, Durability::Normal)
            .unwrap()
            .connection()
            .execute_batch("PRAGMA user_version = 99")
            .unwrap();
        let err = Store::open(&path, Durability::Normal).unwrap_err();
        assert!(err.to_string().contains("newer"), "{err}");
        let missing = Store::open_read_only(&dir.path().join("nope.db")).unwrap_err();
        assert!(missing.to_string().contains("tally serve"), "{missing}");
    }

    #[test]
    fn prune_removes_old_days_and_orphaned_machines() {
        let dir = tempfile::tempdir().unwrap();
        let today = parse_day("2026-11-21").unwrap();
        let mut s = Store::open(&dir.path().join("s.db"), Durability::Normal).unwrap();
        let old_machine = uuid::Uuid::new_v4().to_string();
        let old_day = today - (20);
        let v = validate(&batch(&format_day(old_day), &old_machine), today).unwrap();
        s.ingest(&v, old_day).unwrap();
        let v = validate(
            &batch("2026-11-20", &uuid::Uuid::new_v4().to_string()),
            today,
        )
        .unwrap();
        s.ingest(&v, today).unwrap();
        let p = s.prune(today, 10).unwrap();
        assert_eq!(
            p,
            Pruned {
                usage: 1,
                machine_days: 1,
                batches: 1
            }
        );
        let old: i64 = s
            .connection()
            .query_row(
                "SELECT COUNT(*) FROM machines WHERE machine_id = ?1",
                [&uuid::Uuid::parse_str(&old_machine).unwrap().as_bytes()[..]],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(old, 0);
        // The machine comes back as a fresh row after pruning.
        let v = validate(&batch("2026-11-20", &old_machine), today).unwrap();
        assert_eq!(s.ingest(&v, today).unwrap(), Ingested::Stored);
    }

    #[test]
    fn day_numbers_round_trip() {
        let d = parse_day("2026-11-21").unwrap();
        assert_eq!(day_from_number(day_number(d)), Some(d));
        assert_eq!(day_number(parse_day("1970-01-01").unwrap()), 0);
    }
}
