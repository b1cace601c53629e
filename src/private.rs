//! The crate's internals, one module per subsystem in the order data flows
//! (see the README's Layout). Reached from outside only as
//! `tally::__private`, by the `tally` binary, the benchmarks and the
//! integration tests; hosts use the re-exports at the crate root.

#![allow(missing_docs)]

#[path = "os/mod.rs"]
pub mod os;

#[path = "consent/mod.rs"]
pub mod consent;

#[path = "record/mod.rs"]
pub mod record;

#[path = "deliver/mod.rs"]
pub mod deliver;

#[path = "schema/mod.rs"]
pub mod schema;

#[path = "host/mod.rs"]
pub mod host;

// The stdio proxy behind `tally run`: the binary's only.
#[cfg(feature = "cli")]
#[path = "mcp/mod.rs"]
pub mod mcp;

#[cfg(feature = "server")]
#[path = "server/mod.rs"]
pub mod server;

#[cfg(feature = "server")]
#[path = "report/mod.rs"]
pub mod report;

#[cfg(feature = "cli")]
#[path = "cli/mod.rs"]
pub mod cli;
