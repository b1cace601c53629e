//! Helpers for the proxy tests: the example servers as binaries, a scripted
//! MCP client that talks to a server over pipes and records the bytes it
//! receives, and today's counts from `tally telemetry show --json`.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{Mutex, OnceLock};

use serde_json::Value;

use crate::support::{Sandbox, tally_bin, text};

/// An example binary: the binary crate's test server `mcp_edge`
/// (`examples/mcp_edge.rs`), or one of the library's examples. A plain
/// `cargo test` builds the examples; when only this test binary was built,
/// build it here once.
pub fn example_bin(name: &str) -> PathBuf {
    if name != "mcp_edge" {
        return crate::support::library_example(name);
    }
    static BUILD: Mutex<()> = Mutex::new(());
    let p = tally_bin().parent().unwrap().join("examples").join(name);
    let _one_at_a_time = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    if !p.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let st = Command::new(cargo)
            .args(["build", "--quiet", "--example", name])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build --example");
        assert!(st.success(), "building the example {name} failed");
    }
    p
}

/// The edge-case test server.
pub fn edge_bin() -> PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| example_bin("mcp_edge")).clone()
}

/// A client's end of a running server (direct or behind `tally run`).
pub struct Peer {
    pub child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    /// Every byte received so far.
    pub received: Vec<u8>,
}

impl Peer {
    /// Starts `cmd` with piped stdin/stdout (stderr is inherited, so a
    /// failing test shows the server's complaints).
    pub fn start(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the peer");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Peer {
            child,
            stdin,
            stdout,
            received: Vec::new(),
        }
    }

    /// `tally <args>` in the sandbox, e.g. `["run", "--", server]`.
    pub fn tally(sb: &Sandbox, args: &[&str]) -> Self {
        Self::start(sb.command(&tally_bin(), args))
    }

    /// The edge server behind `tally run [flags] --`.
    pub fn proxied_edge(sb: &Sandbox, flags: &[&str]) -> Self {
        let edge = edge_bin();
        let mut args = vec!["run"];
        args.extend_from_slice(flags);
        args.push("--");
        args.push(edge.to_str().unwrap());
        Self::tally(sb, &args)
    }

    /// The edge server on its own, in the sandbox's environment.
    pub fn direct_edge(sb: &Sandbox) -> Self {
        Self::start(sb.command(&edge_bin(), &[]))
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends one line (a newline is added).
    pub fn send(&mut self, line: &str) {
        let w = self.stdin.as_mut().expect("stdin still open");
        w.write_all(line.as_bytes()).unwrap();
        w.write_all(b"\n").unwrap();
        w.flush().unwrap();
    }

    /// Receives one line, without its newline.
    pub fn recv(&mut self) -> String {
        let mut line = Vec::new();
        let n = self.stdout.read_until(b'\n', &mut line).unwrap();
        assert!(n > 0, "the server closed stdout while a line was expected");
        self.received.extend_from_slice(&line);
        line.pop();
        String::from_utf8(line).expect("utf-8 line")
    }

    /// Receives one line and parses it.
    pub fn recv_json(&mut self) -> Value {
        let l = self.recv();
        serde_json::from_str(&l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:.200}"))
    }

    /// Closes the server's stdin.
    pub fn close(&mut self) {
        self.stdin = None;
    }

    /// Reads stdout to its end and waits for the exit with stdin still open
    /// (for a server that exits on its own, e.g. on a signal).
    pub fn exit(mut self) -> ExitStatus {
        let mut rest = Vec::new();
        self.stdout.read_to_end(&mut rest).unwrap();
        self.child.wait().unwrap()
    }

    /// Closes stdin, reads stdout to its end and waits for the exit.
    pub fn finish(mut self) -> (ExitStatus, Vec<u8>) {
        self.close();
        let mut rest = Vec::new();
        self.stdout.read_to_end(&mut rest).unwrap();
        self.received.extend_from_slice(&rest);
        let status = self.child.wait().unwrap();
        (status, self.received)
    }
}

/// A `tools/call` request line.
pub fn call(id: impl Into<Value>, name: &str, args: Value) -> String {
    serde_json::json!({
        "jsonrpc": "2.0",
        "id": id.into(),
        "method": "tools/call",
        "params": {"name": name, "arguments": args},
    })
    .to_string()
}

/// An `initialize` request line from `client`.
pub fn initialize(id: u64, client: &str, version: &str) -> String {
    serde_json::json!({
        "jsonrpc": "2.0", "id": id, "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": client, "version": version}
        }
    })
    .to_string()
}

/// Today's counts as `telemetry show --json` reports them.
#[derive(Debug, Default)]
pub struct Today {
    /// (tool, outcome, error class) → count.
    pub calls: BTreeMap<(Option<String>, String, Option<String>), u64>,
    /// (client, major) → count.
    pub clients: BTreeMap<(String, Option<u64>), u64>,
    /// command → count.
    pub commands: BTreeMap<String, u64>,
    /// The facts event, without `type` and `day`.
    pub facts: BTreeMap<String, Value>,
}

impl Today {
    /// Calls with this outcome (and error class), any tool.
    pub fn outcome(&self, outcome: &str, class: Option<&str>) -> u64 {
        self.calls
            .iter()
            .filter(|((_, o, c), _)| o == outcome && c.as_deref() == class)
            .map(|(_, n)| n)
            .sum()
    }

    pub fn total_calls(&self) -> u64 {
        self.calls.values().sum()
    }
}

/// `tally [--app NAME] telemetry show --json`, summarised. Also checks that
/// every row's latency histogram adds up to its count.
pub fn today(sb: &Sandbox, app: Option<&str>) -> Today {
    let mut args = vec![];
    if let Some(a) = app {
        args.extend(["--app", a]);
    }
    args.extend(["telemetry", "show", "--json"]);
    let out = sb.tally(&args);
    assert!(
        out.status.success(),
        "telemetry show failed: {}",
        text(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("show json");
    let mut t = Today::default();
    for e in v["today"].as_array().expect("today") {
        match e["type"].as_str() {
            Some("usage_rollup") => {
                for c in e["tool_calls"].as_array().into_iter().flatten() {
                    let n = c["count"].as_u64().unwrap();
                    let lat: u64 = c["latency"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|x| x.as_u64().unwrap())
                        .sum();
                    assert_eq!(lat, n, "latency buckets of {c}");
                    let key = (
                        c["tool"].as_str().map(str::to_owned),
                        c["outcome"].as_str().unwrap().to_owned(),
                        c["error_class"].as_str().map(str::to_owned),
                    );
                    *t.calls.entry(key).or_default() += n;
                }
                for c in e["clients"].as_array().into_iter().flatten() {
                    let key = (
                        c["client"].as_str().unwrap().to_owned(),
                        c["major"].as_u64(),
                    );
                    *t.clients.entry(key).or_default() += c["count"].as_u64().unwrap();
                }
                for c in e["commands"].as_array().into_iter().flatten() {
                    *t.commands
                        .entry(c["command"].as_str().unwrap().to_owned())
                        .or_default() += c["count"].as_u64().unwrap();
                }
            }
            Some("facts") => {
                for (k, val) in e.as_object().unwrap() {
                    if k != "type" && k != "day" {
                        t.facts.insert(k.clone(), val.clone());
                    }
                }
            }
            _ => {}
        }
    }
    t
}

/// A sandbox with tally's telemetry on (no endpoint: nothing is sent).
pub fn counting_sandbox() -> Sandbox {
    let mut sb = Sandbox::new();
    sb.set("TALLY_TELEMETRY", "1");
    sb
}

/// The peak resident memory of a running process, in KiB.
pub fn peak_rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/pid/status")
}
