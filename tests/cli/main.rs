//! The integration tests: one test binary that runs the built `tally`
//! binary and the example host in isolated HOME/XDG sandboxes.

mod support;

mod consent;
#[cfg(feature = "server")]
mod report;
#[cfg(feature = "server")]
mod serve;
#[cfg(feature = "server")]
mod serve_support;
#[cfg(feature = "server")]
mod validator_property;
