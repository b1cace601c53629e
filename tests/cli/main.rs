//! The integration tests: one test binary that runs the built `tally`
//! binary and the example host in isolated HOME/XDG sandboxes.

mod support;

// The library's test certificates and TLS server (openssl makes the
// certificates; rustls serves them), shared with its own TLS tests.
#[path = "../../crates/tally-telemetry/src/deliver/test_certs.rs"]
mod test_certs;
#[path = "../../crates/tally-telemetry/src/deliver/test_tls_server.rs"]
mod test_tls_server;

mod attack;
mod audit_defects;
mod browser;
mod clickhouse;
mod clickhouse_ops;
mod clickhouse_replicated;
mod clickhouse_support;
mod client_files;
mod consent;
mod consent_holes;
mod delivery;
mod embedding;
mod generated;
mod helper;
mod helper_entry;
mod host_users;
mod hostile;
mod mcp_everything;
mod mcp_library;
mod off;
mod otlp;
mod otlp_tally;
mod outcomes;
mod peer;
mod privacy;
mod prompt;
mod prompt_host;
mod proxy;
mod receiver;
mod report;
mod report_html;
mod rmcp;
mod serve;
mod serve_ops;
mod serve_support;
mod stress;
mod system_tls;
mod validator_property;
mod values;
