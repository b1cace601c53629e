//! The ingest stores. SQLite (`sqlite.rs`) is the zero-setup default: one
//! file, one writer thread, read by `tally report` in place.

pub mod sqlite;

pub use sqlite::*;
