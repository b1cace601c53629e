//! The integration tests: one test binary that runs the built `tally`
//! binary and the example host in isolated HOME/XDG sandboxes.

mod support;

#[cfg(feature = "server")]
mod attack;
#[cfg(feature = "server")]
mod browser;
#[cfg(feature = "server")]
mod builder_property;
#[cfg(feature = "server")]
mod clickhouse;
#[cfg(feature = "server")]
mod clickhouse_ops;
#[cfg(feature = "server")]
mod clickhouse_support;
mod client_files;
mod consent;
mod consent_holes;
mod delivery;
mod embedding;
mod generated;
mod helper;
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
mod report_html;
mod rmcp;
#[cfg(feature = "server")]
mod serve;
#[cfg(feature = "server")]
mod serve_ops;
#[cfg(feature = "server")]
mod serve_support;
mod stress;
#[cfg(feature = "server")]
mod validator_property;
