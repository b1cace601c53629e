//! One MCP conversation as the proxy sees it: which `tools/call` requests
//! are in flight, how each one ended, which client connected, and the facts
//! of the session (protocol version, declared capabilities, uptime).
//!
//! [`McpSession`] is fed the [`Message`]s the sniffer extracts from both
//! directions and turns them into `record_*` calls through a [`Sink`]. The
//! proxy calls [`McpSession::from_client`] *before* forwarding a client
//! line (so a call is in flight before the server can possibly answer it)
//! and [`McpSession::from_server`] *after* a server line was written to the
//! client, so a call counts only once its answer was delivered.
//!
//! Outcomes: a result is `ok`, or `tool_error` with `isError: true`; a
//! JSON-RPC error is `protocol_error` with the class of its code; a
//! `notifications/cancelled` from the client for a call in flight is
//! `cancelled` (the server then owes no answer, and a late one is ignored);
//! whatever is still in flight when the session ends is `unanswered`.
//!
//! Tool names (only with `--tool-names`): a call is counted under its name
//! only when the server listed that name in a `tools/list` result of this
//! session, so a client cannot make tally store whatever it calls (a
//! secret pasted as a tool name, a made-up name per call). Any other call
//! counts under the fixed word [`UNLISTED`].

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::mcp::jsonrpc::{Capabilities, Id, Message};
use tally_telemetry::schema::{self, ErrorClass, Pattern};
use tally_telemetry::{self as recorder, CallOutcome};

/// Where a session's observations go. [`Recorder`] sends them to tally's
/// counters; tests collect them.
pub trait Sink {
    /// One finished tool call (`name` is empty when names are not kept).
    fn tool_call(&mut self, name: &str, outcome: CallOutcome, latency: Duration);
    /// A client said hello.
    fn client(&mut self, name: &str, version: &str);
    /// A session fact (a field of the schema's `facts` event).
    fn fact(&mut self, name: &str, value: &str);
}

/// The name a call is counted under when the server never listed its tool.
pub const UNLISTED: &str = "_unlisted";

/// The most tool names remembered as listed in one session.
const MAX_KNOWN: usize = 4096;
/// The most `tools/list` requests awaiting their result.
const MAX_LISTING: usize = 64;

/// The sink that records into tally's process-wide counters.
#[derive(Clone, Copy, Debug, Default)]
pub struct Recorder;

impl Sink for Recorder {
    fn tool_call(&mut self, name: &str, outcome: CallOutcome, latency: Duration) {
        recorder::record_tool_call(name, outcome, latency);
    }
    fn client(&mut self, name: &str, version: &str) {
        recorder::record_client(name, version);
    }
    fn fact(&mut self, name: &str, value: &str) {
        recorder::set_fact(name, value);
    }
}

#[derive(Debug)]
struct InFlight {
    /// The tool's name, when names are kept and it fits the schema.
    name: Option<Box<str>>,
    since: Instant,
}

/// The state of one proxied MCP conversation.
#[derive(Debug)]
pub struct McpSession<S: Sink = Recorder> {
    sink: S,
    tool_names: bool,
    started: Instant,
    calls: HashMap<Id, InFlight>,
    /// Ids of `initialize` requests waiting for their result.
    initializing: Vec<Id>,
    /// Ids of `tools/list` requests waiting for their result.
    listing: Vec<Id>,
    /// Tool names the server listed in this session.
    listed: HashSet<Box<str>>,
    protocol_version: Option<String>,
    capabilities: Option<Capabilities>,
    ended: bool,
}

impl<S: Sink> McpSession<S> {
    /// A session that started at `started`. With `tool_names`, calls are
    /// counted under their tool's name when the server listed it in this
    /// session and it matches the schema's [`Pattern::ToolName`], other
    /// calls under [`UNLISTED`]; without, only the outcome is counted.
    pub fn new(sink: S, tool_names: bool, started: Instant) -> Self {
        McpSession {
            sink,
            tool_names,
            started,
            calls: HashMap::new(),
            initializing: Vec::new(),
            listing: Vec::new(),
            listed: HashSet::new(),
            protocol_version: None,
            capabilities: None,
            ended: false,
        }
    }

    /// The sink (tests read what was recorded).
    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// Tool calls in flight.
    pub fn in_flight(&self) -> usize {
        self.calls.len()
    }

    /// A message from the client, seen before it is forwarded.
    pub fn from_client(&mut self, m: &Message, now: Instant) {
        if self.ended || !m.has_method {
            // Responses to the server's own requests (sampling, roots) are
            // not tool calls.
            return;
        }
        match (m.method.as_deref(), &m.id) {
            (Some("tools/call"), Some(id)) => {
                let name = self.tool_names.then(|| {
                    m.name
                        .as_deref()
                        .filter(|n| self.listed.contains(*n))
                        .map_or_else(|| Box::from(UNLISTED), Box::from)
                });
                let call = InFlight { name, since: now };
                if let Some(old) = self.calls.insert(id.clone(), call) {
                    // The client reused an id still in flight: the server can
                    // only answer one of them.
                    self.finish(old, CallOutcome::Unanswered, now);
                }
            }
            (Some("initialize"), Some(id)) => {
                // Sessions per day are the client rows (one per initialize),
                // which add up across processes; a per-process `sessions`
                // fact would not, since facts keep the last value of a day.
                self.sink.client(
                    m.client_name.as_deref().unwrap_or(""),
                    m.client_version.as_deref().unwrap_or(""),
                );
                self.initializing.push(id.clone());
            }
            (Some("tools/list"), Some(id))
                if self.tool_names && self.listing.len() < MAX_LISTING =>
            {
                self.listing.push(id.clone());
            }
            (Some("notifications/cancelled"), None) => {
                if let Some(call) = m.request_id.as_ref().and_then(|r| self.calls.remove(r)) {
                    self.finish(call, CallOutcome::Cancelled, now);
                }
            }
            _ => {}
        }
    }

    /// A message from the server, seen after it was written to the client
    /// and flushed.
    pub fn from_server(&mut self, m: &Message, now: Instant) {
        if self.ended || !m.is_response() {
            return;
        }
        let Some(id) = &m.id else { return };
        if let Some(call) = self.calls.remove(id) {
            let outcome = if m.has_error {
                CallOutcome::ProtocolError(
                    m.error_code
                        .map_or(ErrorClass::Other, ErrorClass::from_code),
                )
            } else if m.is_error {
                CallOutcome::ToolError
            } else {
                CallOutcome::Ok
            };
            self.finish(call, outcome, now);
        } else if let Some(i) = self.initializing.iter().position(|x| x == id) {
            self.initializing.swap_remove(i);
            if m.has_result && !m.has_error {
                self.protocol_version = m.protocol_version.clone();
                self.capabilities = Some(m.capabilities);
                self.protocol_facts();
            }
        }
    }

    /// A message from the server, seen *before* it is written to the
    /// client: the names a `tools/list` result declares are learnt here, so
    /// they are known before the client can call them (it cannot act on a
    /// result it has not received).
    pub fn before_server(&mut self, m: &Message, _now: Instant) {
        if self.ended || !m.is_response() || self.listing.is_empty() {
            return;
        }
        let Some(id) = &m.id else { return };
        let Some(i) = self.listing.iter().position(|x| x == id) else {
            return;
        };
        self.listing.swap_remove(i);
        if m.has_result && !m.has_error {
            for name in &m.listed_tools {
                if self.listed.len() < MAX_KNOWN && Pattern::ToolName.matches(name) {
                    self.listed.insert(name.as_str().into());
                }
            }
        }
    }

    /// The conversation is over: calls still in flight are `unanswered`,
    /// and the session's facts are set (again, in case a flush since took
    /// them or the day changed). Later messages are ignored.
    pub fn end(&mut self, now: Instant) {
        if self.ended {
            return;
        }
        self.ended = true;
        for (_, call) in std::mem::take(&mut self.calls) {
            self.finish(call, CallOutcome::Unanswered, now);
        }
        let uptime = now.saturating_duration_since(self.started).as_secs();
        self.sink.fact("uptime", schema::uptime_bucket(uptime));
        self.protocol_facts();
    }

    fn protocol_facts(&mut self) {
        if let Some(v) = &self.protocol_version {
            // The schema takes dated versions only; anything else is dropped
            // by set_fact.
            self.sink.fact("protocol_version", v);
        }
        if let Some(c) = self.capabilities {
            let word = |b: bool| if b { "true" } else { "false" };
            self.sink.fact("declares_tools", word(c.tools));
            self.sink.fact("declares_resources", word(c.resources));
            self.sink.fact("declares_prompts", word(c.prompts));
        }
    }

    fn finish(&mut self, call: InFlight, outcome: CallOutcome, now: Instant) {
        let latency = now.saturating_duration_since(call.since);
        self.sink
            .tool_call(call.name.as_deref().unwrap_or(""), outcome, latency);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::sniffer::Sniffer;

    #[derive(Debug, Default)]
    struct Log {
        calls: Vec<(String, CallOutcome)>,
        clients: Vec<(String, String)>,
        facts: Vec<(String, String)>,
    }

    impl Sink for Log {
        fn tool_call(&mut self, name: &str, outcome: CallOutcome, _: Duration) {
            self.calls.push((name.into(), outcome));
        }
        fn client(&mut self, name: &str, version: &str) {
            self.clients.push((name.into(), version.into()));
        }
        fn fact(&mut self, name: &str, value: &str) {
            self.facts.push((name.into(), value.into()));
        }
    }

    fn msgs(text: &str) -> Vec<Message> {
        let mut s = Sniffer::new();
        let mut out = Vec::new();
        s.feed(text.as_bytes(), &mut out);
        s.feed(b"\n", &mut out);
        out
    }

    struct Convo {
        s: McpSession<Log>,
        now: Instant,
    }

    impl Convo {
        fn new(names: bool) -> Self {
            let now = Instant::now();
            Convo {
                s: McpSession::new(Log::default(), names, now),
                now,
            }
        }
        fn client(&mut self, text: &str) -> &mut Self {
            for m in msgs(text) {
                self.s.from_client(&m, self.now);
            }
            self
        }
        fn server(&mut self, text: &str) -> &mut Self {
            for m in msgs(text) {
                self.s.before_server(&m, self.now);
                self.s.from_server(&m, self.now);
            }
            self
        }
        fn calls(&self) -> Vec<(&str, CallOutcome)> {
            self.s
                .sink()
                .calls
                .iter()
                .map(|(n, o)| (n.as_str(), *o))
                .collect()
        }
    }

    fn call(id: &str, name: &str) -> String {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{name}","arguments":{{}}}}}}"#
        )
    }

    #[test]
    fn every_outcome_in_any_order() {
        let mut c = Convo::new(false);
        c.client(&call("1", "a"))
            .client(&call("2", "b"))
            .client(&call("\"x\"", "c"))
            .client(&call("4", "d"))
            .client(&call("5", "e"));
        assert_eq!(c.s.in_flight(), 5);
        c.server(r#"{"jsonrpc":"2.0","id":"x","error":{"code":-32602,"message":"m"}}"#)
            .server(r#"{"jsonrpc":"2.0","id":2,"result":{"content":[],"isError":true}}"#)
            .server(r#"{"jsonrpc":"2.0","id":1,"result":{"content":[]}}"#)
            .client(
                r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":4}}"#,
            )
            // A late answer to a cancelled call, and an answer nobody asked for.
            .server(r#"{"jsonrpc":"2.0","id":4,"result":{}}"#)
            .server(r#"{"jsonrpc":"2.0","id":99,"result":{}}"#);
        c.s.end(c.now);
        c.s.end(c.now);
        assert_eq!(
            c.calls(),
            vec![
                ("", CallOutcome::ProtocolError(ErrorClass::InvalidParams)),
                ("", CallOutcome::ToolError),
                ("", CallOutcome::Ok),
                ("", CallOutcome::Cancelled),
                ("", CallOutcome::Unanswered),
            ]
        );
    }

    #[test]
    fn names_only_when_asked_when_listed_and_when_they_fit() {
        let mut c = Convo::new(true);
        let long = "t".repeat(65);
        c.client(r#"{"jsonrpc":"2.0","id":"l","method":"tools/list"}"#)
            .server(&format!(
                r#"{{"jsonrpc":"2.0","id":"l","result":{{"tools":[{{"name":"get-sum","inputSchema":{{"properties":{{"name":{{"type":"string"}}}}}}}},{{"name":"bad name"}},{{"name":"{long}"}}]}}}}"#
            ));
        c.client(&format!(
            "[{},{},{}]",
            call("1", "get-sum"),
            call("2", "bad name"),
            call("3", &long)
        ));
        c.server(r#"[{"id":3,"result":{}},{"id":2,"result":{}},{"id":1,"result":{}}]"#);
        assert_eq!(
            c.calls(),
            vec![
                (UNLISTED, CallOutcome::Ok),
                (UNLISTED, CallOutcome::Ok),
                ("get-sum", CallOutcome::Ok)
            ]
        );
        let mut c = Convo::new(false);
        c.client(&call("1", "get-sum"))
            .server(r#"{"id":1,"result":{}}"#);
        assert_eq!(c.calls(), vec![("", CallOutcome::Ok)]);
    }

    /// `--tool-names` recorded whatever the client called: a call to
    /// `CANARY_secret_toolname`, never declared by the server, was stored
    /// and sent.
    #[test]
    fn a_tool_the_server_never_listed_is_counted_under_a_fixed_word() {
        let mut c = Convo::new(true);
        c.client(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
            .server(r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"echo"}]}}"#)
            .client(&call("2", "CANARY_secret_toolname"))
            .client(&call("3", "echo"))
            .server(r#"{"id":2,"result":{}}"#)
            .server(r#"{"id":3,"result":{}}"#);
        // A name in a tools/call *request* or an unrelated result does not
        // count as listed.
        c.server(r#"{"jsonrpc":"2.0","id":9,"result":{"tools":[{"name":"sneaky"}]}}"#)
            .client(&call("4", "sneaky"))
            .server(r#"{"id":4,"result":{}}"#);
        assert_eq!(
            c.calls(),
            vec![
                (UNLISTED, CallOutcome::Ok),
                ("echo", CallOutcome::Ok),
                (UNLISTED, CallOutcome::Ok)
            ]
        );
    }

    /// The proxy handed a tools/list result to the session only after
    /// writing it, so a fast client's call to a listed tool could arrive
    /// first and count as `_unlisted`.
    #[test]
    fn listed_names_are_known_before_the_client_can_call_them() {
        let mut c = Convo::new(true);
        c.client(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
        let list = msgs(r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"echo"}]}}"#);
        c.s.before_server(&list[0], c.now);
        // The client got the list and calls before the write is confirmed.
        c.client(&call("2", "echo"));
        c.s.from_server(&list[0], c.now);
        c.server(r#"{"id":2,"result":{}}"#);
        assert_eq!(c.calls(), vec![("echo", CallOutcome::Ok)]);
    }

    #[test]
    fn server_requests_and_client_responses_are_not_calls() {
        let mut c = Convo::new(false);
        // The server asks the client for roots with id 1; the client answers.
        c.server(r#"{"jsonrpc":"2.0","id":1,"method":"roots/list"}"#)
            .client(r#"{"jsonrpc":"2.0","id":1,"result":{"roots":[]}}"#)
            .client(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
            .server(r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}"#);
        c.s.end(c.now);
        assert!(c.calls().is_empty());
    }

    #[test]
    fn initialize_gives_client_and_facts() {
        let mut c = Convo::new(false);
        c.client(r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"claude-code","version":"1.0.3"}}}"#)
            .server(r#"{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-06-18","capabilities":{"tools":{},"logging":{}},"serverInfo":{"name":"s","version":"1"}}}"#);
        c.s.end(c.now);
        let log = c.s.sink();
        assert_eq!(log.clients, vec![("claude-code".into(), "1.0.3".into())]);
        let facts: std::collections::BTreeMap<_, _> = log.facts.iter().cloned().collect();
        assert_eq!(facts["protocol_version"], "2025-06-18");
        assert_eq!(facts["declares_tools"], "true");
        assert_eq!(facts["declares_resources"], "false");
        assert_eq!(facts["declares_prompts"], "false");
        assert!(
            !facts.contains_key("sessions"),
            "sessions are the client rows"
        );
        assert_eq!(facts["uptime"], "<1h");
    }

    #[test]
    fn a_reused_id_leaves_the_first_call_unanswered() {
        let mut c = Convo::new(false);
        c.client(&call("1", "a"))
            .client(&call("1", "b"))
            .server(r#"{"id":1,"result":{}}"#);
        assert_eq!(
            c.calls(),
            vec![("", CallOutcome::Unanswered), ("", CallOutcome::Ok)]
        );
    }
}
