//! The `tally` binary's subsystems, in the order data flows: the MCP stdio
//! proxy behind `tally run`, the ingest server behind `tally serve`, the
//! report, and the commands that tie them together. Everything here is
//! built on the `tally-telemetry` library's public API alone; this library
//! target exists so the binary's integration tests and benchmarks can
//! reach the subsystems, and is no API for anyone else.

#![allow(missing_docs)]

pub mod mcp;

pub mod server;

pub mod report;

pub mod cli;
