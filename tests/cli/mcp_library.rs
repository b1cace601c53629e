//! The library API for Rust MCP servers, through `examples/mcp_server.rs`:
//! a server that records its own calls (after replying) and the client,
//! opt-in, with the shared `telemetry …` commands.

use serde_json::json;

use crate::peer::{Peer, call, example_bin, initialize};
use crate::support::{Sandbox, text};

fn server(sb: &Sandbox) -> Peer {
    Peer::start(sb.command(&example_bin("mcp_server"), &[]))
}

fn sandbox() -> Sandbox {
    let mut sb = Sandbox::new();
    sb.set(
        "MCP_EXAMPLE_TELEMETRY_TEST_SYSTEM_POLICY_FILE",
        sb.root().join("example-policy.toml").display().to_string(),
    );
    sb
}

fn talk(p: &mut Peer) {
    p.send(&initialize(1, "Claude Code", "2.0.1"));
    assert_eq!(p.recv_json()["result"]["protocolVersion"], "2025-06-18");
    p.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    p.send(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#);
    assert_eq!(p.recv_json()["result"]["tools"][0]["name"], "add");
    p.send(&call(3, "add", json!({"a": 1, "b": 2})));
    assert_eq!(p.recv_json()["result"]["content"][0]["text"], "3");
    p.send(&call(4, "divide", json!({"a": 1, "b": 0})));
    assert_eq!(p.recv_json()["result"]["isError"], true);
    p.send(&call(5, "nope", json!({})));
    assert_eq!(p.recv_json()["error"]["code"], -32602);
}

#[test]
fn an_mcp_server_counts_its_calls_once_opted_in() {
    let mut sb = sandbox();
    // Opt-in: by default nothing is recorded and nothing is created.
    let mut p = server(&sb);
    talk(&mut p);
    let (st, _) = p.finish();
    assert!(st.success());
    assert_eq!(sb.created(), Vec::<std::path::PathBuf>::new());

    sb.set("MCP_EXAMPLE_TELEMETRY", "1");
    let mut p = server(&sb);
    talk(&mut p);
    let (st, _) = p.finish();
    assert!(st.success());

    let out = sb
        .command(&example_bin("mcp_server"), &["telemetry", "show", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rollup = v["today"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "usage_rollup")
        .expect("a usage rollup");
    let mut calls: Vec<(String, Option<String>, u64)> = rollup["tool_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert!(c.get("tool").is_none(), "outcome only");
            (
                c["outcome"].as_str().unwrap().to_owned(),
                c["error_class"].as_str().map(str::to_owned),
                c["count"].as_u64().unwrap(),
            )
        })
        .collect();
    calls.sort();
    assert_eq!(
        calls,
        [
            ("ok".into(), None, 1),
            ("protocol_error".into(), Some("invalid_params".into()), 1),
            ("tool_error".into(), None, 1),
        ]
    );
    assert_eq!(
        rollup["clients"],
        json!([{"client": "claude-code", "major": 2, "count": 1}])
    );
}
