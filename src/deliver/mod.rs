//! Delivery: sending the completed days in the spool to the product's
//! endpoint, bounded in time and size, exactly once per batch id; and,
//! with the `otlp` feature, the same counts to the user's own collector.

#[cfg(feature = "otlp")]
pub mod otlp;
#[cfg(feature = "otlp")]
pub mod otlp_metrics;
pub mod sender;
