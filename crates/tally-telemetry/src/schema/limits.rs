//! The limits of one batch, which both validators enforce: the general
//! one (`validate`) and the typed pass for clean batches (`wire`). Apart
//! from both so neither imports the other's.

use crate::schema::MAX_COUNT;

/// The most all counts in one batch may add up to. One machine's day of a
/// busy CLI or MCP server is thousands; this is a billion, and without it a
/// batch could carry its per-item limit hundreds of times over.
pub const MAX_BATCH_COUNT: u64 = MAX_COUNT;

/// Events in one batch at most.
pub(crate) const MAX_EVENTS: usize = 64;

/// How many days back an event's day may be.
pub const MAX_AGE_DAYS: i64 = 30;
