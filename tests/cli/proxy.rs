//! `tally run` against our own edge-case server (`examples/mcp_edge.rs`):
//! the bytes each side sees are the same with and without the proxy, every
//! outcome is counted exactly, and the lifecycle (EOF, a dying server,
//! signals, exit codes, spawn failures) behaves like a shell would.
//! No test asserts timing.

use serde_json::{Value, json};

use crate::peer::{Peer, call, counting_sandbox, edge_bin, initialize, peak_rss_kib, today};
use crate::support::{Sandbox, files_under, text};

/// One scripted conversation with every kind of message the proxy must
/// handle, in a fixed order so the server's output is deterministic.
fn conversation(p: &mut Peer) {
    p.send(&initialize(0, "claude-code", "1.2.3"));
    assert_eq!(p.recv_json()["result"]["protocolVersion"], "2025-06-18");
    p.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    p.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
    p.recv();
    // ok, with a string id
    p.send(&call("s-1", "ok", json!({"text": "hello"})));
    assert_eq!(p.recv_json()["id"], "s-1");
    // isError
    p.send(&call(2, "fail", json!({})));
    assert_eq!(p.recv_json()["result"]["isError"], true);
    // JSON-RPC errors of two classes, and an unknown tool
    p.send(&call(3, "proto", json!({"code": -32601})));
    p.recv();
    p.send(&call(4, "proto", json!({"code": -32000})));
    p.recv();
    p.send(&call(5, "nope", json!({})));
    p.recv();
    // A line that is not JSON from the client: the server's parse error has
    // a null id and is no call.
    p.send("this is not JSON {");
    assert_eq!(p.recv_json()["error"]["code"], -32700);
    // A line that is not JSON from the server, then its answer.
    p.send(&call(6, "noise", json!({})));
    assert_eq!(p.recv(), "this line is not JSON");
    p.recv();
    // A batch: two calls and a notification in one line, one line back.
    p.send(&format!(
        "[{},{},{}]",
        call(7, "ok", json!({})),
        call(8, "fail", json!({})),
        r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{}}"#
    ));
    assert_eq!(p.recv_json().as_array().unwrap().len(), 2);
    // Out of order: two held calls answered after the call that releases
    // them, newest first.
    p.send(&call(9, "hold", json!({})));
    p.send(&call(10, "hold", json!({})));
    p.send(&call(11, "release", json!({})));
    let ids: Vec<Value> = (0..3).map(|_| p.recv_json()["id"].clone()).collect();
    assert_eq!(ids, [json!(11), json!(10), json!(9)]);
    // Cancellation: the server drops the held call and never answers it.
    p.send(&call(12, "hold", json!({})));
    p.send(
        r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":12,"reason":"user"}}"#,
    );
    // A ping is no tool call.
    p.send(r#"{"jsonrpc":"2.0","id":13,"method":"ping"}"#);
    assert_eq!(p.recv_json()["error"]["code"], -32601);
}

#[test]
fn the_conversation_is_byte_identical_and_counted_exactly() {
    let mut sb = counting_sandbox();
    let direct_log = sb.root().join("direct.log");
    let proxied_log = sb.root().join("proxied.log");

    sb.set("MCP_EDGE_LOG", direct_log.display().to_string());
    let mut direct = Peer::direct_edge(&sb);
    conversation(&mut direct);
    let (st_direct, out_direct) = direct.finish();

    sb.set("MCP_EDGE_LOG", proxied_log.display().to_string());
    let mut proxied = Peer::proxied_edge(&sb, &[]);
    conversation(&mut proxied);
    let (st_proxied, out_proxied) = proxied.finish();

    assert_eq!(st_direct.code(), Some(0));
    assert_eq!(st_proxied.code(), Some(0));
    assert_eq!(
        text(&out_proxied),
        text(&out_direct),
        "server → client bytes differ"
    );
    assert_eq!(
        std::fs::read(&proxied_log).unwrap(),
        std::fs::read(&direct_log).unwrap(),
        "client → server bytes differ"
    );

    let t = today(&sb, None);
    // ok: s-1, 6 (noise), 7, 9, 10, 11
    assert_eq!(t.outcome("ok", None), 6, "{t:#?}");
    assert_eq!(t.outcome("tool_error", None), 2, "{t:#?}");
    assert_eq!(
        t.outcome("protocol_error", Some("method_not_found")),
        1,
        "{t:#?}"
    );
    assert_eq!(
        t.outcome("protocol_error", Some("server_defined")),
        1,
        "{t:#?}"
    );
    assert_eq!(
        t.outcome("protocol_error", Some("invalid_params")),
        1,
        "{t:#?}"
    );
    assert_eq!(t.outcome("cancelled", None), 1, "{t:#?}");
    assert_eq!(t.outcome("unanswered", None), 0, "{t:#?}");
    assert_eq!(t.total_calls(), 12, "{t:#?}");
    assert!(
        t.calls.keys().all(|(name, _, _)| name.is_none()),
        "names are off by default"
    );
    assert_eq!(
        t.clients.into_iter().collect::<Vec<_>>(),
        [(("claude-code".to_owned(), Some(1)), 1)]
    );
    assert_eq!(t.commands.get("run"), Some(&1));
    assert_eq!(t.facts["protocol_version"], "2025-06-18");
    assert_eq!(t.facts["declares_tools"], true);
    assert_eq!(t.facts["declares_prompts"], true);
    assert_eq!(t.facts["declares_resources"], false);
    assert!(
        !t.facts.contains_key("sessions"),
        "sessions are counted by the client rows"
    );
    assert_eq!(t.facts["uptime"], "<1h");
}

#[test]
fn ten_megabyte_messages_pass_in_pieces() {
    let sb = counting_sandbox();
    let big = "y".repeat(10 * 1024 * 1024);
    let run = |p: &mut Peer| {
        // 10 MB each way: the request's text comes back as the result.
        p.send(&call(1, "ok", json!({ "text": big })));
        let echoed = p.recv();
        assert!(echoed.len() > big.len());
        // 10 MB of result with isError only after the content.
        p.send(&call(
            2,
            "big",
            json!({"bytes": 10 * 1024 * 1024, "is_error": true}),
        ));
        assert!(p.recv().ends_with(r#""isError":true}}"#));
    };
    let mut direct = Peer::direct_edge(&sb);
    run(&mut direct);
    let (_, out_direct) = direct.finish();

    let mut proxied = Peer::proxied_edge(&sb, &[]);
    // A small call first, so every buffer and thread exists.
    proxied.send(&call(0, "ok", json!({})));
    proxied.recv();
    let before = peak_rss_kib(proxied.pid());
    run(&mut proxied);
    // Forwarded in 64 KiB pieces, never held whole: the proxy's peak RSS
    // grows by far less than one message, let alone two.
    let after = peak_rss_kib(proxied.pid());
    let (st, out_proxied) = proxied.finish();
    assert_eq!(st.code(), Some(0));
    let out_proxied = &out_proxied[out_proxied.iter().position(|&b| b == b'\n').unwrap() + 1..];
    assert!(out_proxied == out_direct, "the large messages differ");
    assert!(
        after - before < 2 * 1024,
        "the proxy's peak RSS grew from {before} to {after} KiB for 10 MiB messages"
    );

    let t = today(&sb, None);
    assert_eq!(t.outcome("ok", None), 2, "{t:#?}");
    assert_eq!(t.outcome("tool_error", None), 1, "{t:#?}");
}

#[test]
fn a_server_that_dies_mid_call_leaves_calls_unanswered_and_its_exit_code() {
    let sb = counting_sandbox();
    let mut p = Peer::proxied_edge(&sb, &[]);
    p.send(&initialize(0, "cursor", "0.9"));
    p.recv();
    p.send(&call(1, "hold", json!({})));
    p.send(&call(2, "hold", json!({})));
    p.send(&call(3, "die", json!({"code": 3})));
    let (st, _) = p.finish();
    assert_eq!(st.code(), Some(3));

    // Killed by a signal: 128 + N, like a shell.
    let mut p = Peer::proxied_edge(&sb, &[]);
    p.send(&call(1, "kill", json!({"signal": 9})));
    let (st, _) = p.finish();
    assert_eq!(st.code(), Some(137));

    let t = today(&sb, None);
    assert_eq!(t.outcome("unanswered", None), 4, "{t:#?}");
    assert_eq!(t.total_calls(), 4, "{t:#?}");
}

#[test]
fn a_client_that_closes_stdin_early_still_gets_every_answer() {
    let sb = counting_sandbox();
    let mut p = Peer::proxied_edge(&sb, &[]);
    for id in 1..=5 {
        p.send(&call(id, "ok", json!({})));
    }
    p.send(&call(6, "hold", json!({})));
    // Close at once, without reading a thing; then read what comes.
    p.close();
    let (st, out) = p.finish();
    assert_eq!(st.code(), Some(0), "the server exits 0 at EOF");
    assert_eq!(text(&out).lines().count(), 5);
    let t = today(&sb, None);
    assert_eq!(t.outcome("ok", None), 5, "{t:#?}");
    assert_eq!(t.outcome("unanswered", None), 1, "{t:#?}");
}

#[test]
fn signals_are_forwarded_to_the_server_and_counts_survive() {
    let sb = counting_sandbox();
    for (sig, want) in [
        (libc::SIGHUP, 42), // the server's own handler: proof it was forwarded
        (libc::SIGTERM, 128 + libc::SIGTERM),
        (libc::SIGINT, 128 + libc::SIGINT),
    ] {
        let mut p = Peer::proxied_edge(&sb, &[]);
        // One round trip first, so the server is up and its handlers are set.
        p.send(&initialize(0, "zed", "1"));
        p.recv();
        p.send(&call(1, "hold", json!({})));
        // The server answers in order, so once this answer is back the held
        // call was forwarded (and is in flight) before the signal.
        p.send(&call(2, "ok", json!({})));
        p.recv();
        // SAFETY: signalling the tally process this test spawned.
        assert_eq!(unsafe { libc::kill(p.pid(), sig) }, 0);
        // stdin stays open: the exit is the signal's doing, not EOF's.
        let st = p.exit();
        assert_eq!(st.code(), Some(want), "signal {sig}");
    }
    let t = today(&sb, None);
    assert_eq!(t.outcome("unanswered", None), 3, "{t:#?}");
    assert_eq!(t.outcome("ok", None), 3, "{t:#?}");
    assert_eq!(t.clients.get(&("zed".into(), Some(1))), Some(&3));
}

#[test]
fn spawn_failures_exit_127_and_126_with_a_message_on_stderr() {
    let sb = counting_sandbox();
    let out = sb.tally(&["run", "--", "tally-test-no-such-command"]);
    assert_eq!(out.status.code(), Some(127));
    assert!(out.stdout.is_empty());
    let err = text(&out.stderr);
    assert!(
        err.contains("tally-test-no-such-command") && err.contains("not found"),
        "{err}"
    );

    let not_exec = sb.root().join("server.sh");
    std::fs::write(&not_exec, "#!/bin/sh\n").unwrap();
    let out = sb.tally(&["run", "--", not_exec.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(126));
    assert!(out.stdout.is_empty());
    assert!(text(&out.stderr).contains("permission denied"));

    // The command is required, after `--`.
    let out = sb.tally(&["run"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}

#[test]
fn the_exit_code_is_the_servers() {
    let sb = Sandbox::new();
    for code in [0, 1, 7, 255] {
        let out = sb.tally(&["run", "--", "sh", "-c", &format!("exit {code}")]);
        assert_eq!(out.status.code(), Some(code));
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn with_telemetry_off_it_is_a_plain_pipe_and_creates_nothing() {
    let sb = Sandbox::new();
    let mut direct = Peer::direct_edge(&sb);
    conversation(&mut direct);
    let (_, out_direct) = direct.finish();
    let mut proxied = Peer::proxied_edge(&sb, &[]);
    conversation(&mut proxied);
    let (st, out_proxied) = proxied.finish();
    assert_eq!(st.code(), Some(0));
    assert_eq!(text(&out_proxied), text(&out_direct));
    assert_eq!(sb.created(), Vec::<std::path::PathBuf>::new());
}

#[test]
fn tool_names_and_app_keep_their_own_counts() {
    let sb = counting_sandbox();
    let mut p = Peer::proxied_edge(&sb, &["--app", "edge-server", "--tool-names"]);
    p.send(&initialize(0, "vscode", "1.99"));
    p.recv();
    // Names count only once the server listed them in this session.
    p.send(r#"{"jsonrpc":"2.0","id":"list","method":"tools/list"}"#);
    p.recv();
    p.send(&call(1, "ok", json!({})));
    p.recv();
    p.send(&call(2, "fail", json!({})));
    p.recv();
    // Not a listed tool: counted under the fixed word.
    p.send(&call(3, "no such/tool!", json!({})));
    p.recv();
    let (st, _) = p.finish();
    assert_eq!(st.code(), Some(0));

    let app = today(&sb, Some("edge-server"));
    let key = |n: Option<&str>, o: &str, c: Option<&str>| {
        (n.map(str::to_owned), o.to_owned(), c.map(str::to_owned))
    };
    assert_eq!(
        app.calls,
        [
            (
                key(Some("_unlisted"), "protocol_error", Some("invalid_params")),
                1
            ),
            (key(Some("fail"), "tool_error", None), 1),
            (key(Some("ok"), "ok", None), 1),
        ]
        .into_iter()
        .collect()
    );
    assert_eq!(app.clients.get(&("vscode".into(), Some(1))), Some(&1));
    assert!(app.commands.is_empty(), "--app counts no tally command");
    // tally's own counts are apart.
    let own = today(&sb, None);
    assert_eq!(own.total_calls(), 0);

    let spool = sb.state_dir().join("apps/edge-server/spool.jsonl");
    assert!(spool.exists());
    // Consent is tally's: --app is refused for consent commands, and
    // `telemetry off` deletes the app's data too.
    let out = sb.tally(&["--app", "edge-server", "telemetry", "off"]);
    assert_eq!(out.status.code(), Some(2));
    let mut sb = sb;
    sb.unset("TALLY_TELEMETRY");
    sb.ok(&["telemetry", "off"]);
    assert_eq!(
        files_under(&sb.state_dir()),
        Vec::<std::path::PathBuf>::new()
    );
    assert!(!sb.state_dir().join("apps").exists());
}

#[test]
fn telemetry_off_during_a_session_keeps_nothing() {
    let sb = Sandbox::new();
    sb.ok(&["telemetry", "on"]);
    let mut p = Peer::proxied_edge(&sb, &[]);
    p.send(&initialize(0, "goose", "1"));
    p.recv();
    p.send(&call(1, "ok", json!({})));
    p.recv();
    // Another process turns telemetry off while the proxy runs.
    sb.ok(&["telemetry", "off"]);
    p.send(&call(2, "ok", json!({})));
    p.recv();
    let (st, _) = p.finish();
    assert_eq!(st.code(), Some(0));
    // The exit hook saw the new choice: nothing was written.
    assert_eq!(
        files_under(&sb.state_dir()),
        Vec::<std::path::PathBuf>::new()
    );
    assert_eq!(today(&sb, None).total_calls(), 0);
}

#[test]
fn the_edge_server_runs_on_its_own() {
    // Guards the other tests: the server itself behaves as documented.
    let sb = Sandbox::new();
    let out = sb.command(&edge_bin(), &[]).output().expect("run mcp_edge");
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
}
