//! Delivery from the detached helper: a host of 2 ms commands delivers on
//! the first run after a day completes, exactly once, to a real `tally
//! serve` and to a receiver that answers after 300 ms; only one helper at a
//! time, none when nothing is due, consent re-checked at the moment of
//! sending, a helper killed mid-send loses and doubles nothing, and a panic
//! in tally's sender never reaches the host. Days are simulated with
//! `HOST_TELEMETRY_NOW`; faults the tests cannot cause for real (a slow or
//! hung receiver, a panic) come from `receiver.rs` and the debug-only
//! `HOST_TELEMETRY_TEST_*` switches.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::delivery::{D1, D2, flush, host_on, host_sandbox, show};
use crate::receiver::{Mode, Receiver};
use crate::support::{Sandbox, host_bin, text};

/// The example host's state directory in a sandbox.
pub fn state_dir(sb: &Sandbox) -> std::path::PathBuf {
    sb.root().join("state/host")
}

/// Waits until the ledger of `sb` lists `n` sent batches.
pub fn wait_sent(sb: &Sandbox, n: usize) {
    let ledger = state_dir(sb).join("sent.jsonl");
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        let sent = std::fs::read_to_string(&ledger)
            .map(|s| s.matches("\"result\":\"sent\"").count())
            .unwrap_or(0);
        if sent >= n {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no delivery from {}", sb.root().display());
}

/// Pids of delivery helpers started from sandbox `sb` (their environment
/// carries the marker and the sandbox's HOME).
pub fn helpers_of(sb: &Sandbox) -> Vec<i32> {
    let home = format!("HOME={}", sb.root().join("home").display());
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(env) = std::fs::read(e.path().join("environ")) else {
            continue;
        };
        let vars: Vec<&[u8]> = env.split(|&b| b == 0).collect();
        if vars
            .iter()
            .any(|v| v.starts_with(b"__TALLY_DELIVER_HELPER="))
            && vars.contains(&home.as_bytes())
            && !std::fs::read_to_string(e.path().join("stat")).is_ok_and(|s| s.contains(") Z "))
        {
            out.push(pid);
        }
    }
    out
}

/// Runs `trial` for 0..n on a few threads at once.
fn concurrently(n: usize, trial: impl Fn(usize) + Sync) {
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..6 {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= n {
                        break;
                    }
                    trial(i);
                }
            });
        }
    });
}

/// One trial: record yesterday, run one quick command today; the host's
/// output is its own and it does not wait; the delivery happens anyway.
fn record_yesterday_run_today(url: &str, yesterday: &str, today: &str) -> Sandbox {
    let sb = host_sandbox(url);
    host_on(&sb, yesterday, &["build"]);
    let out = host_on(&sb, today, &["build"]);
    assert_eq!(text(&out.stdout), "built\n");
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    wait_sent(&sb, 1);
    sb
}

#[test]
fn a_cli_of_quick_commands_delivers_on_the_first_run_after_a_day_exactly_once() {
    use crate::serve_support::{Server, count, day};
    let server_home = Sandbox::new();
    let server = Server::start(&server_home, &["--rate-limit", "1000"]);
    let (yesterday, today) = (day(-1), day(0));
    let trials = 100;
    concurrently(trials, |_| {
        let sb = record_yesterday_run_today(&server.endpoint(), &yesterday, &today);
        // Another run the same day finds nothing due and sends nothing.
        host_on(&sb, &today, &["build"]);
        std::thread::sleep(Duration::from_millis(100));
        assert!(helpers_of(&sb).is_empty(), "no second helper");
        assert_eq!(show(&sb, &today)["next_batch"], serde_json::Value::Null);
    });
    let db = server.db.clone();
    let (status, log) = server.stop();
    let db = &db;
    assert!(status.success(), "{log}");
    assert_eq!(
        count(db, "SELECT count(*) FROM batches"),
        trials as i64,
        "one batch per trial"
    );
    assert_eq!(
        count(db, "SELECT count(DISTINCT machine) FROM batches"),
        trials as i64
    );
    assert_eq!(
        count(db, "SELECT sum(count) FROM usage"),
        trials as i64,
        "each trial's one command of yesterday, counted once"
    );
}

#[test]
fn a_slow_receiver_still_gets_every_quick_command_exactly_once() {
    let rx = Receiver::start(Mode::Delay(Duration::from_millis(300)));
    let trials = 100;
    concurrently(trials, |_| {
        record_yesterday_run_today(&rx.url(), D1, D2);
    });
    assert_eq!(rx.raw_bodies().len(), trials, "no resends, no losses");
    let batches = rx.unique_batches();
    assert_eq!(batches.len(), trials);
    let machines: std::collections::BTreeSet<_> = batches
        .values()
        .map(|b| b.envelope.machine_id.clone())
        .collect();
    assert_eq!(machines.len(), trials);
    assert_eq!(rx.command_counts().get("build"), Some(&(trials as u64)));
}

#[test]
fn no_helper_when_nothing_is_due_in_backoff_or_off() {
    let rx = Receiver::start(Mode::Accept);
    // Only today's counts: nothing due, no send lock ever created.
    let sb = host_sandbox(&rx.url());
    host_on(&sb, D1, &["build"]);
    host_on(&sb, D1, &["build"]);
    assert!(!state_dir(&sb).join("send.lock").exists());
    // A completed day, but a backoff in force.
    let sb = host_sandbox(&rx.url());
    host_on(&sb, D1, &["build"]);
    std::fs::write(
        state_dir(&sb).join("backoff.json"),
        r#"{"until":99999999999,"delay":3600}"#,
    )
    .unwrap();
    host_on(&sb, D2, &["build"]);
    assert!(!state_dir(&sb).join("send.lock").exists());
    // A completed day, but telemetry off for this run.
    let mut sb = host_sandbox(&rx.url());
    host_on(&sb, D1, &["build"]);
    sb.set("HOST_TELEMETRY", "0");
    host_on(&sb, D2, &["build"]);
    assert!(!state_dir(&sb).join("send.lock").exists());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rx.connections(), 0);
}

#[test]
fn consent_withdrawn_after_the_helper_started_stops_the_send() {
    let rx = Receiver::start(Mode::Accept);
    let mut sb = Sandbox::new();
    sb.set("HOST_TELEMETRY_ENDPOINT", rx.url());
    assert!(sb.host(&["telemetry", "on"]).status.success());
    host_on(&sb, D1, &["build"]);
    sb.set("HOST_TELEMETRY_TEST_HELPER_DELAY_MS", "3000");
    host_on(&sb, D2, &["build"]);
    // Until the forked child has exec'd (on a busy machine that can take a
    // moment) its environment is still its parent's, without the marker.
    let start = Instant::now();
    while helpers_of(&sb).is_empty() && start.elapsed() < Duration::from_millis(2500) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(helpers_of(&sb).len(), 1, "a helper is waiting to send");
    assert!(sb.host(&["telemetry", "off"]).status.success());
    let start = Instant::now();
    while !helpers_of(&sb).is_empty() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(rx.connections(), 0, "nothing sent after off");
    let left: Vec<_> = std::fs::read_dir(state_dir(&sb))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "the helper re-created {left:?} after off");
}

#[test]
fn only_one_helper_runs_at_a_time_and_it_prints_nothing() {
    let rx = Receiver::start(Mode::Hang);
    let sb = host_sandbox(&rx.url());
    host_on(&sb, D1, &["build"]);
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                let out = host_on(&sb, D2, &["build"]);
                assert_eq!(text(&out.stdout), "built\n");
                assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
            });
        }
    });
    let start = Instant::now();
    while rx.raw_bodies().is_empty() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
    // The helper gives up after the 2 s request timeout; until then it is
    // the only one, and it is the only sender the receiver ever saw.
    assert!(helpers_of(&sb).len() <= 1, "one helper for eight runs");
    assert_eq!(rx.connections(), 1);
    for pid in helpers_of(&sb) {
        // SAFETY: kill(2) on a helper this test started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

#[test]
fn a_helper_killed_mid_send_loses_nothing_and_doubles_nothing() {
    let rx = Receiver::start(Mode::Hang);
    let sb = host_sandbox(&rx.url());
    host_on(&sb, D1, &["build"]);
    host_on(&sb, D1, &["build"]);
    host_on(&sb, D2, &["build"]);
    let start = Instant::now();
    while rx.raw_bodies().is_empty() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(rx.raw_bodies().len(), 1, "the helper posted");
    let pids = helpers_of(&sb);
    assert!(pids.len() <= 1, "{pids:?}");
    // Unless the helper already gave up (its 2 s request timeout passed on
    // a very busy machine), kill it mid-request.
    for pid in pids {
        // SAFETY: kill(2) on the helper this test started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let start = Instant::now();
    while !helpers_of(&sb).is_empty() && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    // The attempt counts as failed: later runs do not restart it at once…
    host_on(&sb, D2, &["build"]);
    assert!(helpers_of(&sb).is_empty(), "a dead attempt backs off");
    // …and the next send resends the same batch, which counts once.
    rx.set_mode(Mode::Accept);
    assert_eq!(flush(&sb, D2)["result"], "sent");
    assert_eq!(rx.raw_bodies().len(), 2);
    assert_eq!(rx.unique_batches().len(), 1, "resent under the same id");
    assert_eq!(rx.command_counts().get("build"), Some(&2));
}

fn status_json(sb: &Sandbox, day: &str) -> serde_json::Value {
    let out = sb
        .command(&host_bin(), &["telemetry", "status", "--json"])
        .env("HOST_TELEMETRY_NOW", day)
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_panic_in_the_sender_never_reaches_the_host() {
    let rx = Receiver::start(Mode::Accept);
    let mut sb = host_sandbox(&rx.url());
    host_on(&sb, D1, &["build"]);
    sb.set("HOST_TELEMETRY_TEST_PANIC", "1");
    // In the helper: the host's run is untouched; the panic is recorded.
    let out = host_on(&sb, D2, &["build"]);
    assert_eq!(text(&out.stdout), "built\n");
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    let start = Instant::now();
    while !state_dir(&sb).join("last_error").exists() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let st = status_json(&sb, D2);
    assert!(
        st["last_error"]
            .as_str()
            .unwrap()
            .contains("internal error"),
        "{st}"
    );
    assert!(st["backoff_until"].is_i64(), "backed off: {st}");
    // In the host's own process (`telemetry flush`): no panic message, no
    // exit code 101, an answer on stdout.
    let out = sb
        .command(&host_bin(), &["telemetry", "flush", "--json"])
        .env("HOST_TELEMETRY_NOW", D2)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["result"], "failed");
    assert_eq!(rx.connections(), 0);
    // Nothing was lost.
    sb.unset("HOST_TELEMETRY_TEST_PANIC");
    assert_eq!(flush(&sb, D2)["result"], "sent");
    assert_eq!(rx.command_counts().get("build"), Some(&1));
}

/// A SOCKS5 proxy on loopback that connects every CONNECT (any address
/// type, including a name it is asked to resolve: socks5h) to `target`,
/// and records the names asked for.
struct Socks {
    addr: std::net::SocketAddr,
    names: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Socks {
    fn start(target: std::net::SocketAddr) -> Socks {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let names = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = names.clone();
        std::thread::spawn(move || {
            for mut c in l.incoming().flatten() {
                let seen = seen.clone();
                std::thread::spawn(move || -> std::io::Result<()> {
                    let mut b = [0u8; 2];
                    c.read_exact(&mut b)?;
                    let mut methods = vec![0u8; b[1] as usize];
                    c.read_exact(&mut methods)?;
                    c.write_all(&[5, 0])?;
                    let mut head = [0u8; 4];
                    c.read_exact(&mut head)?;
                    let name = match head[3] {
                        1 => {
                            let mut a = [0u8; 4];
                            c.read_exact(&mut a)?;
                            std::net::Ipv4Addr::from(a).to_string()
                        }
                        3 => {
                            let mut n = [0u8; 1];
                            c.read_exact(&mut n)?;
                            let mut s = vec![0u8; n[0] as usize];
                            c.read_exact(&mut s)?;
                            String::from_utf8_lossy(&s).into_owned()
                        }
                        _ => {
                            let mut a = [0u8; 16];
                            c.read_exact(&mut a)?;
                            std::net::Ipv6Addr::from(a).to_string()
                        }
                    };
                    let mut port = [0u8; 2];
                    c.read_exact(&mut port)?;
                    seen.lock().unwrap().push(name);
                    let up = std::net::TcpStream::connect(target)?;
                    c.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0])?;
                    let (mut a, mut b) = (c.try_clone()?, up.try_clone()?);
                    std::thread::spawn(move || std::io::copy(&mut a, &mut b));
                    let (mut up, mut c) = (up, c);
                    let _ = std::io::copy(&mut up, &mut c);
                    let _ = c.shutdown(std::net::Shutdown::Both);
                    Ok(())
                });
            }
        });
        Socks { addr, names }
    }
}

#[test]
fn a_socks_proxy_delivers_instead_of_panicking() {
    let rx = Receiver::start(Mode::Accept);
    let socks = Socks::start(rx.addr);
    let mut sb = host_sandbox(&format!(
        "http://telemetry.invalid:{}/v1/batch",
        rx.addr.port()
    ));
    std::fs::write(
        sb.root().join("host-policy.toml"),
        "allow_plain_http = true\n",
    )
    .unwrap();
    sb.set("ALL_PROXY", format!("socks5h://{}", socks.addr));
    host_on(&sb, D1, &["build"]);
    let out = host_on(&sb, D2, &["build"]);
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    wait_sent(&sb, 1);
    assert_eq!(rx.command_counts().get("build"), Some(&1));
    assert_eq!(
        socks.names.lock().unwrap().as_slice(),
        ["telemetry.invalid"],
        "the name was resolved by the proxy (socks5h)"
    );
}

#[test]
fn an_unparseable_proxy_means_no_send_not_a_direct_connection() {
    let rx = Receiver::start(Mode::Accept);
    let mut sb = host_sandbox(&rx.url());
    sb.set("HTTP_PROXY", "gopher://user:pw@proxy.example:70");
    host_on(&sb, D1, &["build"]);
    host_on(&sb, D2, &["build"]);
    let st = status_json(&sb, D2);
    let problem = st["endpoint_problem"].as_str().unwrap();
    assert!(
        problem.contains("HTTP_PROXY") && !problem.contains("pw@"),
        "{st}"
    );
    let v = flush(&sb, D2);
    assert_eq!(v["result"], "not_sent", "{v}");
    assert_eq!(v["detail"].as_str(), Some(problem), "one message");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(rx.connections(), 0, "never a direct connection");
    assert!(!Path::new(&state_dir(&sb).join("send.lock")).exists());
}
