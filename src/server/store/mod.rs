//! The ingest stores, behind one interface. SQLite (`sqlite.rs`) is the
//! zero-setup default: one file, one writer thread, read by `tally report`
//! in place. ClickHouse (`clickhouse.rs`) is for a large user base and
//! several `tally serve` replicas. Both store the rows [`derive::derive`]
//! makes of a validated batch; the writer thread (`server/writer.rs`) groups
//! concurrent batches into one transaction or one insert for either.

pub mod clickhouse;
pub mod derive;
pub mod sqlite;

use std::path::PathBuf;

use tally_telemetry::schema::Date;

pub use sqlite::*;

use clickhouse::{ClickHouse, ClickHouseUrl};
use tally_telemetry::schema::validate::Validated;

/// Where the data is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreLocation {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A ClickHouse database.
    ClickHouse(ClickHouseUrl),
}

impl std::fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::Sqlite(p) => write!(f, "{}", p.display()),
            StoreLocation::ClickHouse(u) => write!(f, "{u}"),
        }
    }
}

impl StoreLocation {
    /// Reads a `--store` value:
    /// `clickhouse[+https]://[USER[:PASSWORD]@]HOST:PORT/DATABASE`, or
    /// `sqlite:PATH` (a plain path also means SQLite).
    pub fn parse(s: &str) -> Result<StoreLocation, String> {
        if s.starts_with("clickhouse://") || s.starts_with("clickhouse+https://") {
            return s.parse().map(StoreLocation::ClickHouse);
        }
        let path = s
            .strip_prefix("sqlite://")
            .or_else(|| s.strip_prefix("sqlite:"))
            .unwrap_or(s);
        if path.is_empty() || path.contains("://") {
            return Err(format!(
                "{:?} is not a store; expected clickhouse://[USER[:PASSWORD]@]HOST:PORT/DATABASE, clickhouse+https://… or sqlite:PATH",
                clickhouse::redact(s)
            ));
        }
        Ok(StoreLocation::Sqlite(PathBuf::from(path)))
    }
}

/// An open store of either kind.
#[derive(Debug)]
pub enum AnyStore {
    /// SQLite.
    Sqlite(Store),
    /// ClickHouse.
    ClickHouse(ClickHouse),
}

impl AnyStore {
    /// Opens (creating if needed) the store at `at` for writing.
    pub fn open(at: &StoreLocation, durability: Durability) -> Result<AnyStore, StoreError> {
        Ok(match at {
            StoreLocation::Sqlite(p) => AnyStore::Sqlite(Store::open(p, durability)?),
            StoreLocation::ClickHouse(u) => AnyStore::ClickHouse(ClickHouse::open(u)?),
        })
    }

    /// Opens an existing store for reading.
    pub fn open_read_only(at: &StoreLocation) -> Result<AnyStore, StoreError> {
        Ok(match at {
            StoreLocation::Sqlite(p) => AnyStore::Sqlite(Store::open_read_only(p)?),
            StoreLocation::ClickHouse(u) => AnyStore::ClickHouse(ClickHouse::open_read_only(u)?),
        })
    }

    /// Applies the server's limits: the SQLite WAL's size, ClickHouse's
    /// longest insert.
    pub fn set_limits(
        &mut self,
        wal_limit: u64,
        timeout: std::time::Duration,
    ) -> Result<(), StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.set_wal_limit(wal_limit),
            AnyStore::ClickHouse(c) => {
                c.set_timeout(timeout);
                Ok(())
            }
        }
    }

    /// How the health prober checks this store (`server/health.rs`): room
    /// on disk for the WAL to reach `wal_limit` twice, or ClickHouse
    /// answering.
    pub fn probe(&self, wal_limit: u64) -> crate::server::health::Probe {
        use crate::server::health::Probe;
        match self {
            AnyStore::Sqlite(s) => Probe::Sqlite {
                dir: s
                    .path()
                    .parent()
                    .filter(|d| !d.as_os_str().is_empty())
                    .map_or_else(|| PathBuf::from("."), PathBuf::from),
                min_free: wal_limit.saturating_mul(2),
            },
            AnyStore::ClickHouse(c) => Probe::ClickHouse(Box::new(c.probe_connection())),
        }
    }

    /// Stores a group of batches: all acknowledged, or an error.
    pub fn ingest_group(
        &mut self,
        items: &[(&Validated, Date)],
    ) -> Result<Vec<Ingested>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.ingest_group(items),
            AnyStore::ClickHouse(c) => c.ingest_group(items),
        }
    }

    /// Stores a group of batches for the writer, which answers them once
    /// the store's checks of them ran: at once for SQLite; for ClickHouse
    /// with the next group's lookup or [`AnyStore::idle`]
    /// ([`ClickHouse::ingest_group_deferred`]). `checked` runs once the
    /// previous group's check is over, exactly once.
    pub fn ingest_group_deferred(
        &mut self,
        items: &[(&Validated, Date)],
        checked: &mut dyn FnMut(),
    ) -> Result<Vec<Ingested>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => {
                checked();
                s.ingest_group(items)
            }
            AnyStore::ClickHouse(c) => c.ingest_group_deferred(items, checked),
        }
    }

    /// Whether a group's answers wait for the next group's lookup
    /// ([`AnyStore::ingest_group_deferred`]).
    pub fn defers_answers(&self) -> bool {
        matches!(self, AnyStore::ClickHouse(_))
    }

    /// Stores one batch.
    pub fn ingest(&mut self, v: &Validated, received: Date) -> Result<Ingested, StoreError> {
        let mut out = self.ingest_group(&[(v, received)])?;
        Ok(out.pop().unwrap_or(Ingested::Duplicate))
    }

    /// Removes data older than `retention_days`.
    pub fn prune(&mut self, today: Date, retention_days: u32) -> Result<Pruned, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.prune(today, retention_days),
            AnyStore::ClickHouse(c) => c.prune(today, retention_days),
        }
    }

    /// Work due when no batch is waiting (ClickHouse: the check for copies
    /// another replica stored at the same instant).
    pub fn idle(&mut self) {
        if let AnyStore::ClickHouse(c) = self {
            c.settle();
        }
    }

    /// Closes the store (checkpoints SQLite's WAL).
    pub fn close(mut self) -> Result<(), StoreError> {
        self.idle();
        match self {
            AnyStore::Sqlite(s) => s.close(),
            AnyStore::ClickHouse(_) => Ok(()),
        }
    }
}

impl From<Store> for AnyStore {
    fn from(s: Store) -> AnyStore {
        AnyStore::Sqlite(s)
    }
}
