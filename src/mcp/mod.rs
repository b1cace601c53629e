//! MCP tool-call analytics: a streaming JSON-RPC sniffer for the stdio
//! transport, the session state that turns requests and replies into
//! outcomes, and the transparent proxy behind `tally run`.

pub mod jsonrpc;
pub mod proxy;
pub mod session;
pub mod sniffer;
