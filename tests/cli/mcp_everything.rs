//! `tally run` between real third-party peers: the reference server
//! `@modelcontextprotocol/server-everything` (npm, pinned in
//! `tests/mcp/package-lock.json`) driven by the official MCP Python SDK
//! (`mcp`, pinned in `tests/mcp/requirements.txt`) through
//! `tests/mcp/client.py`, with `tests/mcp/record.py` recording the raw
//! bytes each way at the client's end. The recordings with and without the
//! proxy must be identical, nothing masked, and the counts exact.
//!
//! CI installs the peers, so a missing one fails the test with the command
//! that installs it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::peer::{counting_sandbox, today};
use crate::support::{Sandbox, tally_bin, text};

const INSTALL: &str = "the MCP test peers are missing; install them with:\n    npm ci --prefix tests/mcp\n    python3 -m pip install -r tests/mcp/requirements.txt\n(node >= 18 and python3 >= 3.10 must be on PATH)";

fn mcp_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("mcp")
}

/// The everything server's entry point and the Python interpreter that has
/// the SDK, or a failure that says how to install them.
fn peers() -> &'static (PathBuf, PathBuf) {
    static PEERS: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    PEERS.get_or_init(|| {
        let js =
            mcp_dir().join("node_modules/@modelcontextprotocol/server-everything/dist/index.js");
        assert!(js.exists(), "{} not found: {INSTALL}", js.display());
        let node = Command::new("node").arg("--version").output();
        assert!(
            node.as_ref().is_ok_and(|o| o.status.success()),
            "node does not run: {INSTALL}"
        );
        // The interpreter by absolute path: the sandbox's HOME is not the
        // one a version manager's shim expects.
        let py = Command::new("python3")
            .args(["-c", "import mcp, sys; print(sys.executable)"])
            .output()
            .expect("python3 does not run");
        assert!(
            py.status.success(),
            "python3 cannot import mcp ({}): {INSTALL}",
            text(&py.stderr).trim()
        );
        (js, PathBuf::from(text(&py.stdout).trim()))
    })
}

/// Runs the Python client against `server`, recording to `<root>/<name>`.
/// Returns the client's summary.
fn client(sb: &Sandbox, name: &str, server: &[&str]) -> Value {
    let (_, python) = peers();
    let prefix = sb.root().join(name);
    let client = mcp_dir().join("client.py");
    let mut args = vec![client.to_str().unwrap(), prefix.to_str().unwrap(), "--"];
    args.extend_from_slice(server);
    let out = sb.command(python, &args).output().expect("run client.py");
    assert!(
        out.status.success(),
        "client.py against {server:?} failed: {}",
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("client.py prints JSON")
}

fn recording(sb: &Sandbox, name: &str, dir: &str) -> Vec<u8> {
    std::fs::read(sb.root().join(format!("{name}.{dir}"))).expect("a recording")
}

#[test]
fn the_everything_server_through_the_python_sdk() {
    let (js, _) = peers();
    let js = js.to_str().unwrap();
    let tally = tally_bin();
    let tally = tally.to_str().unwrap();
    let sb = counting_sandbox();

    let direct = client(&sb, "direct", &["node", js, "stdio"]);
    let proxied = client(&sb, "proxied", &[tally, "run", "--", "node", js, "stdio"]);
    let named = client(
        &sb,
        "named",
        &[
            tally,
            "run",
            "--app",
            "everything",
            "--tool-names",
            "--",
            "node",
            js,
            "stdio",
        ],
    );

    // What the client saw, and every byte of it, is the same either way.
    assert_eq!(proxied, direct);
    assert_eq!(named, direct);
    for dir in ["c2s", "s2c"] {
        let d = recording(&sb, "direct", dir);
        assert!(!d.is_empty());
        for other in ["proxied", "named"] {
            assert!(
                recording(&sb, other, dir) == d,
                "{other}.{dir} differs from direct.{dir}"
            );
        }
    }
    let errors: Vec<bool> = direct["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["is_error"].as_bool().unwrap())
        .collect();
    assert_eq!(errors, [false, false, true, true, false], "{direct}");

    // tally's own counts: outcomes only.
    let t = today(&sb, None);
    assert_eq!(t.outcome("ok", None), 3, "{t:#?}");
    assert_eq!(t.outcome("tool_error", None), 2, "{t:#?}");
    assert_eq!(t.total_calls(), 5, "{t:#?}");
    assert_eq!(
        t.clients.into_iter().collect::<Vec<_>>(),
        [(("python-sdk".to_owned(), Some(0)), 1)]
    );
    assert_eq!(t.facts["protocol_version"], "2025-11-25");
    for cap in ["declares_tools", "declares_resources", "declares_prompts"] {
        assert_eq!(t.facts[cap], true, "{cap}");
    }
    assert!(
        !t.facts.contains_key("sessions"),
        "sessions are counted by the client rows"
    );

    // --app everything --tool-names: by name, under its own name.
    let e = today(&sb, Some("everything"));
    let key = |n: &str, o: &str| (Some(n.to_owned()), o.to_owned(), None);
    assert_eq!(
        e.calls,
        [
            (key("echo", "ok"), 1),
            (key("get-sum", "ok"), 1),
            (key("get-sum", "tool_error"), 1),
            (key("get-tiny-image", "ok"), 1),
            // Not listed by the server: the fixed word, never the name called.
            (key("_unlisted", "tool_error"), 1),
        ]
        .into_iter()
        .collect()
    );
    assert_eq!(e.clients.get(&("python-sdk".into(), Some(0))), Some(&1));
}
