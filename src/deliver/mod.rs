//! Delivery: sending the completed days in the spool to the product's
//! endpoint, bounded in time and size, exactly once per batch id.

pub mod sender;
