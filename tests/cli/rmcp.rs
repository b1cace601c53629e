//! `tally_telemetry::RmcpCounter` around a real rmcp server (`crates/tally-telemetry/examples/rmcp_server.rs`,
//! built with the `rmcp` feature), driven by the official MCP Python SDK
//! (`tests/mcp/client.py`) and, for cancellation, by raw JSON-RPC lines:
//! the client is counted, each call after its reply, a cancelled call as
//! `cancelled`, a call open at the end as `unanswered`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::{Value, json};

use crate::peer::{Peer, call, initialize};
use crate::support::{Sandbox, text};

fn rmcp_server() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| crate::support::library_example("rmcp_server"))
        .clone()
}

fn sandbox() -> Sandbox {
    let mut sb = Sandbox::new();
    sb.set(
        "RMCP_EXAMPLE_POLICY_FILE",
        sb.root().join("rmcp-policy.toml").display().to_string(),
    )
    .set("RMCP_EXAMPLE_TELEMETRY", "1");
    sb
}

/// Names with their counts.
type Counts = Vec<(String, u64)>;

/// (outcome, count) and (client, count) of today's rollup, via the
/// example's own `telemetry show --json`.
fn today(sb: &Sandbox) -> (Counts, Counts) {
    let out = sb
        .command(&rmcp_server(), &["telemetry", "show", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut calls = Vec::new();
    let mut clients = Vec::new();
    for e in v["today"].as_array().unwrap() {
        for c in e["tool_calls"].as_array().into_iter().flatten() {
            assert!(c.get("tool").is_none(), "outcome only: {c}");
            calls.push((
                c["outcome"].as_str().unwrap().to_owned(),
                c["count"].as_u64().unwrap(),
            ));
        }
        for c in e["clients"].as_array().into_iter().flatten() {
            clients.push((
                c["client"].as_str().unwrap().to_owned(),
                c["count"].as_u64().unwrap(),
            ));
        }
    }
    calls.sort();
    clients.sort();
    (calls, clients)
}

#[test]
fn an_rmcp_server_is_counted_through_the_python_sdk() {
    let sb = sandbox();
    let py = Command::new("python3")
        .args(["-c", "import mcp, sys; print(sys.executable)"])
        .output()
        .expect("python3 runs");
    assert!(
        py.status.success(),
        "python3 cannot import mcp: python3 -m pip install -r tests/mcp/requirements.txt"
    );
    let python = PathBuf::from(text(&py.stdout).trim());
    let client = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/client.py");
    let prefix = sb.root().join("rmcp");
    let server = rmcp_server();
    let out = sb
        .command(
            &python,
            &[
                client.to_str().unwrap(),
                prefix.to_str().unwrap(),
                "--",
                server.to_str().unwrap(),
            ],
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "client.py: {}", text(&out.stderr));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    let errors: Vec<bool> = summary["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["is_error"].as_bool().unwrap())
        .collect();
    assert_eq!(errors, [false, false, true, true, false], "{summary}");
    let (calls, clients) = today(&sb);
    assert_eq!(
        calls,
        [("ok".to_owned(), 3), ("tool_error".to_owned(), 2)],
        "{summary}"
    );
    assert_eq!(clients.iter().map(|c| c.1).sum::<u64>(), 1, "{clients:?}");
}

#[test]
fn a_cancelled_rmcp_call_counts_as_cancelled_and_an_open_one_as_unanswered() {
    let sb = sandbox();
    let mut p = Peer::start(sb.command(&rmcp_server(), &[]));
    p.send(&initialize(1, "Claude Code", "2.0.1"));
    assert!(p.recv_json()["result"]["protocolVersion"].is_string());
    p.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    p.send(&call(2, "echo", json!({"message": "x"})));
    assert_eq!(p.recv_json()["id"], 2);
    p.send(&call(3, "slow", json!({})));
    p.send(r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3}}"#);
    // The next reply is 4's: rmcp writes none for the cancelled call.
    p.send(&call(4, "echo", json!({"message": "y"})));
    assert_eq!(p.recv_json()["id"], 4);
    p.send(&call(5, "slow", json!({})));
    let (st, _) = p.finish();
    assert!(st.success());
    let (calls, clients) = today(&sb);
    assert_eq!(
        calls,
        [
            ("cancelled".to_owned(), 1),
            ("ok".to_owned(), 2),
            ("unanswered".to_owned(), 1)
        ]
    );
    assert_eq!(clients, [("claude-code".to_owned(), 1)]);
}
