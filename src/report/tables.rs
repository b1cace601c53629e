//! What a store answers for a report, and what it is asked: the
//! [`Query`], the folded [`Tables`] each store computes its own way
//! (`report/sqlite.rs` in memory, `report/clickhouse.rs` in SQL), and the
//! [`Source`] trait over both. The stores' report modules and the report's
//! assembly (`report/build.rs`) all depend on this file and it on none of
//! them, so the dependencies point one way.

use tally_telemetry::schema::Date;

use crate::server::store::{AnyStore, StoreError};
use tally_telemetry::schema::{COMMAND_OUTCOMES, LATENCY_BUCKETS};

pub use crate::report::model::Dropped;

/// Default k for k-anonymity.
pub const DEFAULT_MIN_MACHINES: usize = 5;

/// What to report on.
#[derive(Clone, Debug)]
pub struct Query {
    /// First day included.
    pub since: Date,
    /// Last day included.
    pub until: Date,
    /// Only this application.
    pub app: Option<String>,
    /// The k of k-anonymity.
    pub min_machines: usize,
}

impl Query {
    /// The window of the same length that ends the day before this one
    /// starts, with the same app and k: what "against the previous period"
    /// compares with.
    pub fn previous(&self) -> Query {
        let until = self.since - 1;
        Query {
            since: until - (self.until - self.since),
            until,
            app: self.app.clone(),
            min_machines: self.min_machines,
        }
    }
}

/// A report failure.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// `--since` did not parse.
    #[error("--since {0:?} is not a number of days like `30d` or a date like `2026-11-01`")]
    Since(String),
    /// `--since` names a day after the window's end (today).
    #[error(
        "--since {since} is after the end of the window ({until}, today); give a date up to today, or a number of days like `30d`"
    )]
    SinceAfterUntil {
        /// The date given.
        since: String,
        /// The window's last day.
        until: String,
    },
    /// The ClickHouse store could not be read.
    #[error("reading the store: {0}")]
    Store(#[from] StoreError),
    /// The store could not be read.
    #[error("reading the store {path}: {source}")]
    Sqlite {
        /// The database.
        path: std::path::PathBuf,
        /// The SQLite error.
        source: rusqlite::Error,
    },
}
/// Separates the application from the name in a row label of
/// [`Tables::commands`] (ASCII unit separator: in no schema name).
pub const APP_SEP: char = '\u{1f}';

/// A command's label in [`Tables::commands`]: its application and name.
pub fn app_label(app: &str, name: &str) -> String {
    format!("{app}{APP_SEP}{name}")
}

/// One tool's numbers after folding.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ToolNums {
    /// Calls per outcome, in the order of `OUTCOMES`.
    pub outcomes: [u64; 5],
    /// Protocol errors per class, in the order of `ERROR_CLASSES`.
    pub classes: [u64; 7],
    /// Calls per latency bucket.
    pub latency: [u64; LATENCY_BUCKETS],
    /// Distinct machines.
    pub machines: usize,
}

/// One command's numbers after folding.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CommandNums {
    /// Runs per outcome, in the order of [`COMMAND_OUTCOMES`].
    pub outcomes: [u64; COMMAND_OUTCOMES.len()],
    /// Runs per duration bucket.
    pub duration: [u64; LATENCY_BUCKETS],
    /// Distinct machines.
    pub machines: usize,
}

/// What a store answers for a report: every table already aggregated and
/// folded for k-anonymity (rows below k merged into `other`, an `other`
/// below k left out and counted in `withheld`), unsorted. SQLite computes
/// it in memory (`report/sqlite.rs`), ClickHouse in SQL
/// (`report/clickhouse.rs`); `report::build` turns it into the `Report`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tables {
    /// Distinct machines active in the window.
    pub machines: usize,
    /// Of those, machines that reported a CI environment.
    pub ci_machines: usize,
    /// (day or `other`, machines).
    pub days: Vec<(String, usize)>,
    /// (application and command as [`app_label`], or `other`; numbers).
    pub commands: Vec<(String, CommandNums)>,
    /// ((application and command as [`app_label`], declared value or
    /// `other`), runs, machines): the per-value breakdown of commands whose
    /// host records a value, folded within each command.
    pub values: Vec<((String, String), u64, usize)>,
    /// (application and tool as [`app_label`], or `other`; numbers).
    pub tools: Vec<(String, ToolNums)>,
    /// ((client, major), sessions, machines).
    pub clients: Vec<((String, Option<u64>), u64, usize)>,
    /// ((app, version), machines).
    pub versions: Vec<((String, String), usize)>,
    /// ((os, arch), machines).
    pub platforms: Vec<((String, String), usize)>,
    /// (kind, count, machines).
    pub lifecycle: Vec<(String, u64, usize)>,
    /// ((fact, value), machines).
    pub facts: Vec<((String, String), usize)>,
    /// Drop counters.
    pub dropped: Dropped,
    /// Rows withheld.
    pub withheld: usize,
}

/// A store a report can be built from.
pub trait Source {
    /// The aggregated, folded tables for `q` (k is at least 1).
    #[doc(hidden)]
    fn tables(&self, q: &Query) -> Result<Tables, ReportError>;
}

impl Source for AnyStore {
    fn tables(&self, q: &Query) -> Result<Tables, ReportError> {
        match self {
            AnyStore::Sqlite(s) => s.tables(q),
            AnyStore::ClickHouse(c) => c.tables(q),
        }
    }
}
