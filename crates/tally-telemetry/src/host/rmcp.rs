//! Counting an [rmcp](https://crates.io/crates/rmcp) server (the official
//! Rust MCP SDK) without touching its handler: [`RmcpCounter`] wraps the
//! server's transport, sees the client's `initialize` and `tools/call`
//! requests come in and the replies go out, and records the client once
//! its `initialize` reply is written, and each tool call once its reply is
//! written (ok, tool error or protocol error), or when the client cancels
//! it (rmcp then writes no reply). Calls still open when the transport
//! closes count as unanswered. Recording is the same in-memory update as
//! [`crate::record_tool_call`]: no I/O on the protocol's path.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rmcp::RoleServer;
use rmcp::model::{
    ClientJsonRpcMessage, ClientNotification, ClientRequest, RequestId, ServerJsonRpcMessage,
    ServerResult,
};
use rmcp::transport::{IntoTransport, Transport};

use crate::record::recorder::{self, CallOutcome};
use crate::schema::ErrorClass;

/// The most tool calls tracked at once; a client that opens more without
/// waiting for replies has the extra ones left uncounted.
const MAX_IN_FLIGHT: usize = 4096;

/// An rmcp server transport that counts the client and its tool calls.
/// Serve through it instead of the transport itself:
///
/// Declare [`Builder::tool_calls`](crate::Builder::tool_calls) on the
/// host's builder: undeclared tool calls and clients are not sent.
///
/// ```no_run
/// # async fn f<S: rmcp::ServerHandler>(server: S) -> Result<(), Box<dyn std::error::Error>> {
/// use rmcp::ServiceExt;
/// let transport = tally_telemetry::RmcpCounter::new(rmcp::transport::stdio());
/// server.serve(transport).await?.waiting().await?;
/// # Ok(()) }
/// ```
pub struct RmcpCounter<T> {
    inner: T,
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    /// Open calls: id → (tool name as recorded, when the request came in).
    calls: HashMap<RequestId, (String, Instant)>,
    /// The client of an `initialize` whose reply has not gone out yet.
    client: Option<(RequestId, String, String)>,
    names: bool,
}

impl RmcpCounter<()> {
    /// Wraps `transport` (anything rmcp can serve on, e.g.
    /// `rmcp::transport::stdio()`). Tool calls are counted by outcome only;
    /// see [`tool_names`](RmcpCounter::tool_names).
    #[allow(clippy::new_ret_no_self)]
    pub fn new<E, A>(
        transport: impl IntoTransport<RoleServer, E, A>,
    ) -> RmcpCounter<impl Transport<RoleServer, Error = E>>
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        RmcpCounter {
            inner: transport.into_transport(),
            state: Arc::default(),
        }
    }
}

impl<T> RmcpCounter<T> {
    /// Also record each tool's name (the schema's tool-name pattern). Off
    /// by default: turn it on only where the server's operator agreed.
    pub fn tool_names(self, on: bool) -> Self {
        lock(&self.state).names = on;
        self
    }
}

fn lock(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a reply going out completes.
enum Done {
    Call(String, Instant, CallOutcome),
    Client(String, String),
}

impl<T> Transport<RoleServer> for RmcpCounter<T>
where
    T: Transport<RoleServer>,
{
    type Error = T::Error;

    fn send(
        &mut self,
        item: ServerJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let done = if recorder::is_enabled() {
            completes(&mut lock(&self.state), &item)
        } else {
            None
        };
        let sent = self.inner.send(item);
        async move {
            let r = sent.await;
            // Only a reply that was written counts.
            if r.is_ok() {
                match done {
                    Some(Done::Call(name, started, outcome)) => {
                        recorder::record_tool_call(&name, outcome, started.elapsed())
                    }
                    Some(Done::Client(name, version)) => recorder::record_client(&name, &version),
                    None => {}
                }
            }
            r
        }
    }

    fn receive(&mut self) -> impl Future<Output = Option<ClientJsonRpcMessage>> + Send {
        let state = Arc::clone(&self.state);
        let received = self.inner.receive();
        async move {
            let msg = received.await;
            if let Some(m) = &msg
                && recorder::is_enabled()
            {
                observe(&mut lock(&state), m);
            }
            msg
        }
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        // Calls never answered before the end of the session.
        let open: Vec<_> = lock(&self.state).calls.drain().collect();
        for (_, (name, started)) in open {
            recorder::record_tool_call(&name, CallOutcome::Unanswered, started.elapsed());
        }
        self.inner.close()
    }
}

/// Notes an incoming `initialize` or `tools/call`, and counts a cancelled
/// call.
fn observe(st: &mut State, m: &ClientJsonRpcMessage) {
    match m {
        ClientJsonRpcMessage::Request(r) => match &r.request {
            ClientRequest::InitializeRequest(init) => {
                let info = &init.params.client_info;
                st.client = Some((r.id.clone(), info.name.clone(), info.version.clone()));
            }
            ClientRequest::CallToolRequest(call) if st.calls.len() < MAX_IN_FLIGHT => {
                let name = if st.names {
                    call.params.name.to_string()
                } else {
                    String::new()
                };
                st.calls.insert(r.id.clone(), (name, Instant::now()));
            }
            _ => {}
        },
        ClientJsonRpcMessage::Notification(n) => {
            if let ClientNotification::CancelledNotification(c) = &n.notification
                && let Some(id) = &c.params.request_id
                && let Some((name, started)) = st.calls.remove(id)
            {
                recorder::record_tool_call(&name, CallOutcome::Cancelled, started.elapsed());
            }
        }
        _ => {}
    }
}

/// What an outgoing message completes, if anything.
fn completes(st: &mut State, m: &ServerJsonRpcMessage) -> Option<Done> {
    let (id, outcome) = match m {
        ServerJsonRpcMessage::Response(r) => {
            let outcome = match &r.result {
                ServerResult::CallToolResult(c) if c.is_error == Some(true) => {
                    CallOutcome::ToolError
                }
                _ => CallOutcome::Ok,
            };
            (&r.id, outcome)
        }
        ServerJsonRpcMessage::Error(e) => (
            e.id.as_ref()?,
            CallOutcome::ProtocolError(ErrorClass::from_code(i64::from(e.error.code.0))),
        ),
        _ => return None,
    };
    if st.client.as_ref().is_some_and(|(cid, _, _)| cid == id) {
        let (_, name, version) = st.client.take()?;
        // A refused initialize opened no session: no client to count.
        return matches!(m, ServerJsonRpcMessage::Response(_))
            .then_some(Done::Client(name, version));
    }
    let (name, started) = st.calls.remove(id)?;
    Some(Done::Call(name, started, outcome))
}
