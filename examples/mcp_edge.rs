//! A scriptable MCP server over stdio for the proxy's edge cases: the
//! integration tests drive `tally run -- mcp_edge` with it. Each tool is one
//! behaviour a real server may show:
//!
//! | tool      | does |
//! |-----------|------|
//! | `ok`      | answers with `arguments.text` (so a large request comes back as a large result) |
//! | `fail`    | answers with `isError: true` |
//! | `proto`   | answers with a JSON-RPC error of code `arguments.code` (default -32602) |
//! | `big`     | answers with `arguments.bytes` bytes of text, then `isError: arguments.is_error` *after* the content |
//! | `noise`   | writes a line that is not JSON, then answers |
//! | `hold`    | answers nothing yet |
//! | `release` | answers itself, then every held call, newest first (out of order) |
//! | `die`     | exits at once with code `arguments.code` (default 3), answering nothing |
//! | `kill`    | kills itself with signal `arguments.signal` (default 9) |
//!
//! A batch (JSON array) gets a batch of answers; a line that is not JSON
//! gets a parse error with a null id, as the spec asks; an unknown method
//! gets -32601; `notifications/cancelled` drops the held call it names. At
//! EOF on stdin it exits 0, leaving held calls unanswered. SIGHUP makes it
//! exit 42, so a test can tell a forwarded signal from a fatal one. With
//! `MCP_EDGE_LOG=path` it appends every line it receives, byte for byte.
//!
//! Run it: `cargo run --example mcp_edge`, then type
//! `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ok"}}`.

use std::io::{BufRead, Write};

use serde_json::{Value, json};

struct Server {
    held: Vec<Value>,
    log: Option<std::fs::File>,
}

fn main() {
    // SIGHUP → 42, from a thread, so a test can see that the proxy forwarded
    // the signal rather than dying of it.
    let mut hup = signal_hook::iterator::Signals::new([signal_hook::consts::SIGHUP])
        .expect("install SIGHUP handler");
    std::thread::spawn(move || {
        if hup.forever().next().is_some() {
            eprintln!("mcp_edge: got SIGHUP");
            std::process::exit(42);
        }
    });
    let log = std::env::var_os("MCP_EDGE_LOG").map(|p| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .expect("open MCP_EDGE_LOG")
    });
    let mut server = Server {
        held: Vec::new(),
        log,
    };
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut line = Vec::new();
    loop {
        line.clear();
        match input.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if let Some(log) = &mut server.log {
            log.write_all(&line).expect("write MCP_EDGE_LOG");
        }
        if line.ends_with(b"\n") {
            server.line(&line[..line.len() - 1]);
        }
    }
    // EOF: held calls stay unanswered.
}

impl Server {
    fn line(&mut self, raw: &[u8]) {
        if raw.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        let replies = match serde_json::from_slice::<Value>(raw) {
            Err(_) => vec![error(Value::Null, -32700, "Parse error")],
            Ok(Value::Array(items)) => {
                let replies: Vec<Value> = items.into_iter().flat_map(|m| self.message(m)).collect();
                if replies.is_empty() {
                    return;
                }
                vec![Value::Array(replies)]
            }
            Ok(m) => self.message(m),
        };
        for r in replies {
            send(&r);
        }
    }

    /// Handles one message; returns the replies to send now.
    fn message(&mut self, m: Value) -> Vec<Value> {
        let id = m.get("id").cloned();
        let method = m.get("method").and_then(Value::as_str).unwrap_or("");
        let params = m.get("params").cloned().unwrap_or(Value::Null);
        let Some(id) = id else {
            if method == "notifications/cancelled" {
                let target = params.get("requestId");
                self.held.retain(|h| Some(h) != target);
            }
            return vec![];
        };
        match method {
            "initialize" => vec![ok(
                id,
                json!({
                    "protocolVersion": "2025-06-18",
                    "capabilities": {"tools": {"listChanged": false}, "prompts": {}},
                    "serverInfo": {"name": "mcp_edge", "version": "1.0.0"}
                }),
            )],
            "tools/list" => {
                let tools: Vec<Value> = [
                    "ok", "fail", "proto", "big", "noise", "hold", "release", "die", "kill",
                ]
                .iter()
                .map(|n| json!({"name": n, "inputSchema": {"type": "object"}}))
                .collect();
                vec![ok(id, json!({ "tools": tools }))]
            }
            "tools/call" => self.call(id, &params),
            _ => vec![error(id, -32601, "Method not found")],
        }
    }

    fn call(&mut self, id: Value, params: &Value) -> Vec<Value> {
        let args = params.get("arguments").cloned().unwrap_or(json!({}));
        let int = |k: &str, d: i64| args.get(k).and_then(Value::as_i64).unwrap_or(d);
        match params.get("name").and_then(Value::as_str).unwrap_or("") {
            "ok" => {
                let text = args.get("text").and_then(Value::as_str).unwrap_or("ok");
                vec![ok(id, text_result(text, false))]
            }
            "fail" => vec![ok(id, text_result("it failed", true))],
            "proto" => vec![error(id, int("code", -32602), "protocol error")],
            "big" => {
                let text = "x".repeat(int("bytes", 0).max(0) as usize);
                let is_error = args
                    .get("is_error")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                vec![ok(id, text_result(&text, is_error))]
            }
            "noise" => {
                let mut out = std::io::stdout().lock();
                out.write_all(b"this line is not JSON\n").unwrap();
                out.flush().unwrap();
                vec![ok(id, text_result("after noise", false))]
            }
            "hold" => {
                self.held.push(id);
                vec![]
            }
            "release" => {
                let mut replies = vec![ok(id, text_result("released", false))];
                while let Some(h) = self.held.pop() {
                    replies.push(ok(h, text_result("was held", false)));
                }
                replies
            }
            "die" => std::process::exit(int("code", 3) as i32),
            "kill" => {
                // SAFETY: signalling our own process.
                unsafe {
                    libc::kill(libc::getpid(), int("signal", 9) as libc::c_int);
                }
                std::thread::sleep(std::time::Duration::from_secs(60));
                vec![]
            }
            other => vec![error(id, -32602, &format!("unknown tool {other}"))],
        }
    }
}

/// A tool result; `isError` comes after the content, as many servers write
/// it, so a proxy must read the whole line to see it.
fn text_result(text: &str, is_error: bool) -> Value {
    let mut r = serde_json::Map::new();
    r.insert("content".into(), json!([{"type": "text", "text": text}]));
    if is_error {
        r.insert("isError".into(), Value::Bool(true));
    }
    Value::Object(r)
}

fn ok(id: Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

fn error(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

fn send(v: &Value) {
    let mut out = std::io::stdout().lock();
    let mut bytes = serde_json::to_vec(v).expect("serialize");
    bytes.push(b'\n');
    // A client that went away is not this server's problem to report.
    let _ = out.write_all(&bytes).and_then(|()| out.flush());
}
