//! The receiving end: `tally serve`'s HTTP endpoint, the admission limits
//! in front of it, the ingest that turns a validated batch into rows, the
//! group-commit writer and the SQLite store those rows land in, and the
//! health of that store (readiness, the circuit breaker).

pub mod admission;
pub(crate) mod cache;
pub mod checkpoint;
pub mod config;
pub mod conn;
pub mod health;
pub mod http;
pub mod ingest;
pub mod metrics;
pub mod otlp_export;
pub mod proxy;
pub mod ratelimit;
mod routes;
pub mod rows;
pub mod store;
pub mod writer;

pub use config::*;
pub use http::*;
