//! The integration tests: one test binary that runs the built `tally`
//! binary and the example host in isolated HOME/XDG sandboxes.

mod support;

mod consent;
mod delivery;
mod generated;
mod hostile;
mod mcp_everything;
mod mcp_library;
mod off;
mod peer;
mod privacy;
mod prompt;
mod proxy;
mod receiver;
mod stress;
