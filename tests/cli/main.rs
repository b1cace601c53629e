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
#[cfg(feature = "otlp")]
mod otlp;
#[cfg(feature = "server")]
mod outcomes;
mod peer;
mod privacy;
mod prompt;
mod proxy;
mod receiver;
#[cfg(feature = "server")]
mod report;
#[cfg(feature = "server")]
mod serve;
#[cfg(feature = "server")]
mod serve_support;
mod stress;
#[cfg(feature = "server")]
mod validator_property;
