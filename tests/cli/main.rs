//! The integration tests: one test binary that runs the built `tally`
//! binary and the example host in isolated HOME/XDG sandboxes.

mod support;

mod consent;
mod mcp_everything;
mod mcp_library;
mod peer;
mod proxy;
