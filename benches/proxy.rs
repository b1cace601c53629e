//! What `tally run` costs an MCP conversation: added latency per round
//! trip, throughput, and the proxy's memory over a million messages.
//!
//! The server is this benchmark binary itself, re-executed as a trivial
//! echo server (`TALLY_BENCH_ECHO=1`): for every request line it writes one
//! response line of the same size carrying the request's id, with one
//! `write(2)`. The client is the benchmark's main thread.
//!
//! - Latency: 1 KB `tools/call` requests, one at a time, each waiting for
//!   its 1 KB response; the same server directly, behind `tally run` with
//!   telemetry off, and behind `tally run` with telemetry on (an isolated
//!   HOME, `TALLY_TELEMETRY=1`, so every call is sniffed and counted). The
//!   added latency is the difference of the percentiles.
//! - Throughput: 1,000,000 requests written as fast as the pipes take them
//!   by one thread while another reads the responses; round trips per
//!   second through the proxy (telemetry on), and the proxy's RSS from
//!   `/proc` after a warm-up and after the million.
//!
//! Run: `cargo bench --bench proxy` (release build). `TALLY_BENCH_ROUNDS`
//! and `TALLY_BENCH_MESSAGES` change the counts.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

const MESSAGE_BYTES: usize = 1024;

fn main() {
    if std::env::var_os("TALLY_BENCH_ECHO").is_some() {
        echo_server();
        return;
    }
    let rounds = env_count("TALLY_BENCH_ROUNDS", 20_000);
    let messages = env_count("TALLY_BENCH_MESSAGES", 1_000_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path();

    println!("tally run: added latency per 1 KB round trip ({rounds} sequential round trips each)");
    let direct = latency(home, Via::Direct, rounds);
    let off = latency(home, Via::Proxy { telemetry: false }, rounds);
    let on = latency(home, Via::Proxy { telemetry: true }, rounds);
    println!(
        "  {:<26} {:>9} {:>9} {:>9} {:>9}",
        "", "p50", "p90", "p99", "p99.9"
    );
    for (label, s) in [
        ("direct", &direct),
        ("tally run, telemetry off", &off),
        ("tally run, telemetry on", &on),
    ] {
        println!(
            "  {label:<26} {:>7.1}µs {:>7.1}µs {:>7.1}µs {:>7.1}µs",
            us(s.p(0.50)),
            us(s.p(0.90)),
            us(s.p(0.99)),
            us(s.p(0.999))
        );
    }
    for (label, s) in [("off", &off), ("on", &on)] {
        println!(
            "  added, telemetry {label:<3}: p50 {:+.1}µs  p99 {:+.1}µs",
            us(s.p(0.50)) - us(direct.p(0.50)),
            us(s.p(0.99)) - us(direct.p(0.99))
        );
    }

    println!("\ntally run: 10 MB requests (1 KB responses), median of 20 round trips");
    let big_direct = large(home, Via::Direct);
    let big_on = large(home, Via::Proxy { telemetry: true });
    println!(
        "  direct {:.2} ms, tally run (telemetry on) {:.2} ms: {:+.2} ms, {:.0} MB/s through the proxy",
        big_direct.as_secs_f64() * 1e3,
        big_on.as_secs_f64() * 1e3,
        (big_on.as_secs_f64() - big_direct.as_secs_f64()) * 1e3,
        LARGE_BYTES as f64 / big_on.as_secs_f64() / 1e6
    );

    println!(
        "\ntally run: throughput and memory ({messages} pipelined 1 KB round trips, telemetry on)"
    );
    let direct_rate = throughput(home, Via::Direct, messages).0;
    let (rate, rss) = throughput(home, Via::Proxy { telemetry: true }, messages);
    println!("  direct:    {direct_rate:>10.0} round trips/s");
    println!(
        "  tally run: {rate:>10.0} round trips/s ({:.0} messages/s counting both directions)",
        rate * 2.0
    );
    if let Some((before, after, peak)) = rss {
        println!(
            "  tally run RSS: {before} KiB after 10,000 round trips, {after} KiB after {messages} (peak {peak} KiB)"
        );
    }
    // Proof that the telemetry-on runs sniffed and counted every call.
    let counted = counted_calls(home);
    let expected = 1_000 + rounds + messages + 20;
    println!("  calls counted by the telemetry-on runs: {counted} (expected {expected})");
    assert_eq!(counted, expected as u64, "every proxied call is counted");
}

/// Tool calls in today's counts, from `tally telemetry show --json`.
fn counted_calls(home: &Path) -> u64 {
    let out = Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(["telemetry", "show", "--json"])
        .env_clear()
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env("TALLY_POLICY_FILE", home.join("no-policy.toml"))
        .env("TALLY_TELEMETRY", "1")
        .output()
        .expect("tally telemetry show");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("show json");
    v["today"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|e| e["tool_calls"].as_array().into_iter().flatten())
        .filter_map(|c| c["count"].as_u64())
        .sum()
}

#[derive(Clone, Copy)]
enum Via {
    Direct,
    Proxy { telemetry: bool },
}

struct Conn {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

fn start(home: &Path, via: Via) -> Conn {
    let me = std::env::current_exe().expect("current exe");
    let mut cmd = match via {
        Via::Direct => Command::new(&me),
        Via::Proxy { .. } => {
            let mut c = Command::new(env!("CARGO_BIN_EXE_tally"));
            c.arg("run").arg("--").arg(&me);
            c
        }
    };
    let on = matches!(via, Via::Proxy { telemetry: true });
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env("TALLY_POLICY_FILE", home.join("no-policy.toml"))
        .env("TALLY_TELEMETRY", if on { "1" } else { "0" })
        .env("TALLY_BENCH_ECHO", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = cmd.spawn().expect("spawn");
    let stdin = child.stdin.take().unwrap();
    let stdout = BufReader::with_capacity(1 << 16, child.stdout.take().unwrap());
    Conn {
        child,
        stdin,
        stdout,
    }
}

fn finish(mut c: Conn) {
    drop(c.stdin);
    let mut rest = Vec::new();
    let _ = c.stdout.read_to_end(&mut rest);
    let st = c.child.wait().expect("wait");
    assert!(st.success(), "the server exited with {st}");
}

/// A `tools/call` line of exactly [`MESSAGE_BYTES`] bytes with its newline.
fn request(id: u64) -> Vec<u8> {
    let head = format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"text":""#
    );
    let tail = "\"}}}\n";
    let pad = MESSAGE_BYTES.saturating_sub(head.len() + tail.len());
    let mut v = head.into_bytes();
    v.resize(v.len() + pad, b'a');
    v.extend_from_slice(tail.as_bytes());
    v
}

struct Samples(Vec<Duration>);

impl Samples {
    fn p(&self, q: f64) -> Duration {
        let i = ((self.0.len() as f64 - 1.0) * q).round() as usize;
        self.0[i]
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn latency(home: &Path, via: Via, rounds: usize) -> Samples {
    let mut c = start(home, via);
    let mut line = Vec::with_capacity(2 * MESSAGE_BYTES);
    let warmup = 1_000;
    let mut samples = Vec::with_capacity(rounds);
    for id in 0..(warmup + rounds) as u64 {
        let req = request(id);
        line.clear();
        let t = Instant::now();
        c.stdin.write_all(&req).unwrap();
        c.stdout.read_until(b'\n', &mut line).unwrap();
        let d = t.elapsed();
        assert_eq!(
            line.len(),
            MESSAGE_BYTES,
            "a response of the request's size"
        );
        if id >= warmup as u64 {
            samples.push(d);
        }
    }
    finish(c);
    samples.sort_unstable();
    Samples(samples)
}

const LARGE_BYTES: usize = 10 * 1024 * 1024;

/// The median round trip of a 10 MB request.
fn large(home: &Path, via: Via) -> Duration {
    let mut c = start(home, via);
    let mut req = request(0);
    req.truncate(req.len() - 5);
    req.resize(LARGE_BYTES - 5, b'a');
    req.extend_from_slice(b"\"}}}\n");
    let mut line = Vec::new();
    let mut times: Vec<Duration> = (0..20)
        .map(|_| {
            line.clear();
            let t = Instant::now();
            c.stdin.write_all(&req).unwrap();
            c.stdout.read_until(b'\n', &mut line).unwrap();
            t.elapsed()
        })
        .collect();
    finish(c);
    times.sort_unstable();
    times[times.len() / 2]
}

/// Round trips per second, and for the proxy its RSS (after the warm-up,
/// after all messages, peak) in KiB.
fn throughput(home: &Path, via: Via, messages: usize) -> (f64, Option<(u64, u64, u64)>) {
    let mut c = start(home, via);
    let pid = c.child.id();
    let proxied = matches!(via, Via::Proxy { .. });
    let mut stdin = c.stdin;
    let writer = std::thread::spawn(move || {
        for id in 0..messages as u64 {
            stdin.write_all(&request(id)).unwrap();
        }
        stdin
    });
    let warmup = 10_000.min(messages);
    let mut line = Vec::with_capacity(2 * MESSAGE_BYTES);
    let mut before = 0;
    let start_t = Instant::now();
    for i in 0..messages {
        if i == warmup && proxied {
            before = status_kib(pid, "VmRSS:");
        }
        line.clear();
        c.stdout.read_until(b'\n', &mut line).unwrap();
        assert_eq!(line.len(), MESSAGE_BYTES);
    }
    let rate = messages as f64 / start_t.elapsed().as_secs_f64();
    let rss = proxied.then(|| (before, status_kib(pid, "VmRSS:"), status_kib(pid, "VmHWM:")));
    c.stdin = writer.join().unwrap();
    finish(c);
    (rate, rss)
}

fn status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn env_count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The echo server: one response line of [`MESSAGE_BYTES`] per request
/// line, carrying the request's id, written with one `write(2)`.
fn echo_server() {
    use std::os::fd::AsFd;
    let mut out = std::fs::File::from(
        std::io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .expect("dup stdout"),
    );
    let mut input = BufReader::with_capacity(1 << 16, std::io::stdin().lock());
    let mut line = Vec::with_capacity(2 * MESSAGE_BYTES);
    let mut resp = Vec::with_capacity(2 * MESSAGE_BYTES);
    loop {
        line.clear();
        match input.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let id = id_of(&line);
        resp.clear();
        resp.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
        resp.extend_from_slice(id);
        resp.extend_from_slice(br#","result":{"content":[{"type":"text","text":""#);
        let tail = b"\"}]}}\n";
        let pad = MESSAGE_BYTES.saturating_sub(resp.len() + tail.len());
        resp.resize(resp.len() + pad, b'b');
        resp.extend_from_slice(tail);
        if out.write_all(&resp).is_err() {
            return;
        }
    }
}

fn id_of(line: &[u8]) -> &[u8] {
    let key = b"\"id\":";
    let Some(at) = line.windows(key.len()).position(|w| w == key) else {
        return b"null";
    };
    let rest = &line[at + key.len()..];
    let end = rest
        .iter()
        .position(|&b| b == b',' || b == b'}')
        .unwrap_or(rest.len());
    &rest[..end]
}
