//! Counting and keeping: the in-memory counters behind every `record_*`
//! call, the exit-time append to the spool, the rollup of spool lines into
//! per-day batches, and the small state files (machine id, backoff,
//! ledger) beside the spool.

pub mod lifecycle;
pub mod line;
pub mod recorder;
pub mod rollup;
pub mod spool;
pub mod state;
