//! Recording and delivery through the example host (an opt-out host) and a
//! loopback receiver: exit paths, completed-day gating, the notice before
//! the first send, re-queue and backoff, exactly-once after a killed
//! sender, hung and unreachable endpoints. Days are simulated with
//! `HOST_TELEMETRY_NOW`.

use std::time::Duration;

use crate::receiver::{Mode, Receiver};
use crate::support::{Sandbox, text};

pub const D1: &str = "2026-03-10";
pub const D2: &str = "2026-03-11";
pub const D3: &str = "2026-03-12";

/// A sandbox where the example host has telemetry explicitly on and posts
/// to `url`.
pub fn host_sandbox(url: &str) -> Sandbox {
    let mut sb = Sandbox::new();
    sb.set("HOST_TELEMETRY", "1")
        .set("HOST_TELEMETRY_ENDPOINT", url);
    sb
}

/// Runs the host on simulated day `day`, asserting success.
pub fn host_on(sb: &Sandbox, day: &str, args: &[&str]) -> std::process::Output {
    let out = sb
        .command(&crate::support::host_bin(), args)
        .env("HOST_TELEMETRY_NOW", day)
        .output()
        .unwrap();
    assert!(
        out.status.success() || args[0] == "exit-deep" || args[0] == "panic",
        "host {args:?}: {}",
        text(&out.stderr)
    );
    out
}

/// Waits until no delivery helper of `sb` runs (it may still be finishing
/// after its ledger entry).
pub fn wait_no_helper(sb: &Sandbox) {
    let start = std::time::Instant::now();
    while !crate::helper::helpers_of(sb).is_empty() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `host telemetry flush --json` on `day`; it exits non-zero exactly when
/// the send failed or could not be attempted.
pub fn flush(sb: &Sandbox, day: &str) -> serde_json::Value {
    let out = sb
        .command(
            &crate::support::host_bin(),
            &["telemetry", "flush", "--json"],
        )
        .env("HOST_TELEMETRY_NOW", day)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&out.stderr)));
    // Exit 1 when the send failed or could not be attempted.
    let failed = [
        "failed",
        "not_sent",
        "disabled",
        "no_endpoint",
        "no_state_dir",
        "notice_pending",
    ]
    .iter()
    .any(|w| v["result"] == *w);
    assert_eq!(
        out.status.success(),
        !failed,
        "flush exits non-zero exactly when nothing could be delivered: {v} {}",
        text(&out.stderr)
    );
    v
}

/// `host telemetry show --json` on `day`.
pub fn show(sb: &Sandbox, day: &str) -> serde_json::Value {
    let out = host_on(sb, day, &["telemetry", "show", "--json"]);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Today's command counts from `show`.
pub fn today_commands(v: &serde_json::Value) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for e in v["today"].as_array().unwrap() {
        for c in e["commands"].as_array().into_iter().flatten() {
            out.push((
                c["command"].as_str().unwrap().to_owned(),
                c["count"].as_u64().unwrap(),
            ));
        }
    }
    out.sort();
    out
}

#[test]
fn process_exit_return_and_panic_all_land_their_counts() {
    let sb = host_sandbox("http://127.0.0.1:9/v1/batch");
    let out = host_on(&sb, D1, &["exit-deep", "7"]);
    assert_eq!(
        out.status.code(),
        Some(7),
        "the host's exit code is its own"
    );
    assert_eq!(text(&out.stdout), "exiting with 7\n");
    let out = host_on(&sb, D1, &["panic"]);
    assert_eq!(out.status.code(), Some(101));
    assert!(
        out.stdout.is_empty(),
        "nothing on stdout: {:?}",
        text(&out.stdout)
    );
    let out = host_on(&sb, D1, &["build", "x"]);
    assert_eq!(text(&out.stdout), "built\n");
    assert_eq!(
        today_commands(&show(&sb, D1)),
        vec![
            ("build".into(), 1),
            ("exit-deep".into(), 1),
            ("panic".into(), 1)
        ]
    );
}

#[test]
fn only_completed_days_are_sent_and_today_stays_local() {
    let rx = Receiver::start(Mode::Accept);
    let sb = host_sandbox(&rx.url());
    host_on(&sb, D1, &["build"]);
    host_on(&sb, D1, &["build"]);
    assert_eq!(flush(&sb, D1)["result"], "nothing_due");
    assert_eq!(rx.connections(), 0);
    // The first run of D2 starts the delivery helper; the flush waits for
    // it (one sender at a time) and finds nothing left, or sends itself.
    host_on(&sb, D2, &["build"]);
    let v = flush(&sb, D2);
    assert!(v["result"] == "sent" || v["result"] == "nothing_due", "{v}");
    assert_eq!(
        rx.command_counts().get("build"),
        Some(&2),
        "only D1's two runs"
    );
    let batches = rx.unique_batches();
    let days: Vec<_> = batches
        .values()
        .flat_map(|b| b.events.iter())
        .map(|e| match e {
            tally_telemetry::schema::Event::UsageRollup(r) => r.day.clone(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(days, vec![D1.to_owned()]);
    assert_eq!(today_commands(&show(&sb, D2)), vec![("build".into(), 1)]);
    assert_eq!(flush(&sb, D3)["result"], "sent");
    assert_eq!(rx.command_counts().get("build"), Some(&3));
    // The ledger lists both sends.
    let log = host_on(&sb, D3, &["telemetry", "log", "--json"]);
    let entries: serde_json::Value = serde_json::from_slice(&log.stdout).unwrap();
    assert_eq!(entries.as_array().unwrap().len(), 2);
}

#[test]
fn the_notice_comes_once_and_the_first_send_only_in_a_later_run() {
    let rx = Receiver::start(Mode::Accept);
    let mut sb = Sandbox::new();
    sb.set("HOST_TELEMETRY_ENDPOINT", rx.url());
    // Undecided opt-out host: the first counted run prints the notice.
    let out = host_on(&sb, D1, &["build"]);
    let err = text(&out.stderr);
    assert!(
        err.contains("host collects anonymous usage counts") && err.contains("host telemetry off"),
        "{err}"
    );
    assert_eq!(text(&out.stdout), "built\n");
    let out = host_on(&sb, D1, &["build"]);
    assert!(
        out.stderr.is_empty(),
        "the notice is shown once: {}",
        text(&out.stderr)
    );
    // A later process may send; the receiver never heard from the first one.
    assert_eq!(rx.connections(), 0);
    assert_eq!(flush(&sb, D2)["result"], "sent");
    assert_eq!(rx.command_counts().get("build"), Some(&2));
}

#[test]
fn nothing_is_sent_from_the_run_that_showed_the_notice() {
    let rx = Receiver::start(Mode::Accept);
    let mut sb = Sandbox::new();
    sb.set("HOST_TELEMETRY_ENDPOINT", rx.url());
    // Something from an earlier day is already waiting, yet the notice has
    // not been shown: neither a flush nor a long command may send.
    let state = sb.root().join("state/host");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(
        state.join("spool.jsonl"),
        format!("{{\"v\":1,\"day\":\"{D1}\",\"k\":\"command\",\"name\":\"build\",\"n\":1}}\n"),
    )
    .unwrap();
    assert_eq!(flush(&sb, D2)["result"], "notice_pending");
    let out = host_on(&sb, D2, &["wait-ms", "300"]);
    assert!(
        text(&out.stderr).contains("host collects"),
        "notice shown in this run"
    );
    assert_eq!(
        rx.connections(),
        0,
        "no send in the run that showed the notice"
    );
    // The next run delivers, from the helper it starts at exit.
    host_on(&sb, D2, &["build"]);
    crate::helper::wait_sent(&sb, 1);
    assert_eq!(rx.command_counts().get("build"), Some(&1));
}

#[test]
fn an_explicit_choice_skips_the_notice() {
    let rx = Receiver::start(Mode::Accept);
    let sb = host_sandbox(&rx.url());
    let out = host_on(&sb, D1, &["build"]);
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
}

#[test]
fn a_failed_send_keeps_the_data_and_backs_off() {
    let rx = Receiver::start(Mode::Status(500));
    let sb = host_sandbox(&rx.url());
    host_on(&sb, D1, &["build"]);
    let v = flush(&sb, D2);
    assert_eq!(v["result"], "failed", "{v}");
    assert!(
        !show(&sb, D2)["next_batch"].is_null(),
        "re-queued: still waiting"
    );
    let st = sb
        .command(
            &crate::support::host_bin(),
            &["telemetry", "status", "--json"],
        )
        .env("HOST_TELEMETRY_NOW", D2)
        .output()
        .unwrap();
    let st: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    assert!(st["backoff_until"].is_i64(), "{st}");
    assert!(
        st["last_error"].as_str().unwrap().contains("HTTP 500"),
        "{st}"
    );
    // The backoff stops background attempts: a long command does not connect.
    rx.set_mode(Mode::Accept);
    let before = rx.connections();
    host_on(&sb, D2, &["wait-ms", "500"]);
    assert_eq!(
        rx.connections(),
        before,
        "background send honoured the backoff"
    );
    // An explicit flush ignores it, and the same batch arrives once.
    assert_eq!(flush(&sb, D2)["result"], "sent");
    assert_eq!(rx.command_counts().get("build"), Some(&1));
    let all = rx.all_batches();
    assert_eq!(all.len(), 2, "the failed attempt and the retry");
    assert_eq!(
        all[0].envelope.batch_id, all[1].envelope.batch_id,
        "retried under the same batch id"
    );
    // After success the backoff is gone and background sends resume: the
    // D3 run's helper sends D2, the next day's run's helper sends D3.
    host_on(&sb, D3, &["build"]);
    crate::helper::wait_sent(&sb, 2);
    wait_no_helper(&sb);
    let before = rx.connections();
    host_on(&sb, "2026-03-13", &["build"]);
    crate::helper::wait_sent(&sb, 3);
    assert!(
        rx.connections() > before,
        "background send after the backoff cleared"
    );
}

#[test]
fn a_sender_killed_mid_request_causes_no_double_count() {
    let rx = Receiver::start(Mode::Hang);
    let sb = host_sandbox(&rx.url());
    host_on(&sb, D1, &["build"]);
    host_on(&sb, D1, &["build"]);
    let mut child = sb
        .command(&crate::support::host_bin(), &["telemetry", "flush"])
        .env("HOST_TELEMETRY_NOW", D2)
        .spawn()
        .unwrap();
    // Wait until the receiver has the whole body, then kill the sender.
    for _ in 0..200 {
        if !rx.raw_bodies().is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(rx.raw_bodies().len(), 1);
    child.kill().unwrap();
    child.wait().unwrap();
    rx.set_mode(Mode::Accept);
    assert_eq!(flush(&sb, D2)["result"], "sent");
    assert_eq!(rx.raw_bodies().len(), 2);
    assert_eq!(
        rx.unique_batches().len(),
        1,
        "the resend reused the batch id"
    );
    assert_eq!(rx.command_counts().get("build"), Some(&2));
    assert_eq!(flush(&sb, D2)["result"], "nothing_due");
}

#[test]
fn hung_and_unreachable_endpoints_leave_the_host_untouched() {
    let rx = Receiver::start(Mode::Hang);
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/v1/batch", l.local_addr().unwrap())
    };
    for url in [rx.url(), closed] {
        let sb = host_sandbox(&url);
        host_on(&sb, D1, &["build"]);
        for _ in 0..3 {
            let out = host_on(&sb, D2, &["build", "--target", "t"]);
            assert_eq!(out.status.code(), Some(0));
            assert_eq!(text(&out.stdout), "built\n");
            assert!(out.stderr.is_empty(), "silent: {}", text(&out.stderr));
        }
        let v = flush(&sb, D2);
        assert_eq!(v["result"], "failed", "{v}");
        assert!(!show(&sb, D2)["next_batch"].is_null(), "nothing lost");
    }
}

#[test]
fn debug_mode_prints_the_payload_and_sends_nothing() {
    let rx = Receiver::start(Mode::Accept);
    let mut sb = host_sandbox(&rx.url());
    host_on(&sb, D1, &["build"]);
    sb.set("HOST_TELEMETRY_DEBUG", "1");
    let out = host_on(&sb, D2, &["telemetry", "flush"]);
    let err = text(&out.stderr);
    assert!(
        err.contains("would POST") && err.contains("\"command\":\"build\""),
        "{err}"
    );
    assert_eq!(rx.connections(), 0);
    sb.unset("HOST_TELEMETRY_DEBUG");
    assert_eq!(flush(&sb, D2)["result"], "sent");
}

#[test]
fn show_prints_the_exact_bytes_the_sender_posts() {
    let rx = Receiver::start(Mode::Status(503));
    let sb = host_sandbox(&rx.url());
    host_on(&sb, D1, &["serve"]);
    // After a failed attempt the batch is claimed, so show knows its id and
    // must print exactly what was (and will again be) posted.
    assert_eq!(flush(&sb, D2)["result"], "failed");
    let out = host_on(&sb, D2, &["telemetry", "show"]);
    let shown = text(&out.stdout);
    let posted = text(&rx.raw_bodies()[0]);
    assert!(shown.contains(&posted), "show:\n{shown}\nposted:\n{posted}");
    assert!(
        posted.contains("\"client\":\"claude-code\"") && posted.contains("\"auth_type\":\"oidc\""),
        "{posted}"
    );
}

#[test]
fn long_running_commands_persist_on_the_flush_interval() {
    let mut sb = host_sandbox("http://127.0.0.1:9/v1/batch");
    sb.set("HOST_TELEMETRY_FLUSH_INTERVAL", "1");
    let spool = sb.root().join("state/host/spool.jsonl");
    let mut child = sb
        .command(&crate::support::host_bin(), &["wait-ms", "8000"])
        .env("HOST_TELEMETRY_NOW", D1)
        .spawn()
        .unwrap();
    let mut seen = false;
    for _ in 0..60 {
        // The tool calls it records reach the spool while it runs; the
        // command's own run counts when it ends, with its outcome.
        if std::fs::read_to_string(&spool).is_ok_and(|s| s.contains("\"k\":\"tool\"")) {
            seen = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let still_running = child.try_wait().unwrap().is_none();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(seen, "the count reached the spool while the command ran");
    assert!(still_running, "and before it exited");
}

#[test]
fn https_proxy_and_no_proxy_are_honoured() {
    // The receiver reads an absolute-form request like a forward proxy does.
    let proxy = Receiver::start(Mode::Accept);
    let mut sb = host_sandbox("http://telemetry.invalid:9/v1/batch");
    // Plain http to another machine needs the admin's permission.
    std::fs::write(
        sb.root().join("host-policy.toml"),
        "allow_plain_http = true\n",
    )
    .unwrap();
    sb.set("HTTP_PROXY", format!("http://{}", proxy.addr));
    host_on(&sb, D1, &["build"]);
    assert_eq!(
        flush(&sb, D2)["result"],
        "sent",
        "delivered through the proxy"
    );
    assert_eq!(proxy.command_counts().get("build"), Some(&1));
    sb.set("NO_PROXY", "localhost,.invalid");
    host_on(&sb, D2, &["build"]);
    let v = flush(&sb, D3);
    assert_eq!(
        v["result"], "failed",
        "NO_PROXY sends directly, to a host that does not exist: {v}"
    );
    assert_eq!(proxy.raw_bodies().len(), 1);
}

#[test]
fn a_long_running_process_shows_the_notice_once_not_per_flush() {
    let mut sb = Sandbox::new();
    sb.set("HOST_TELEMETRY_ENDPOINT", "http://127.0.0.1:9/v1/batch")
        .set("HOST_TELEMETRY_FLUSH_INTERVAL", "1");
    let out = host_on(&sb, D1, &["wait-ms", "3500"]);
    let err = text(&out.stderr);
    assert_eq!(
        err.matches("host collects anonymous usage counts").count(),
        1,
        "{err}"
    );
}

#[test]
fn telemetry_off_in_another_process_takes_effect_in_a_running_one() {
    let mut sb = Sandbox::new();
    sb.set("HOST_TELEMETRY_ENDPOINT", "http://127.0.0.1:9/v1/batch");
    assert!(sb.host(&["telemetry", "on"]).status.success());
    let state = sb.root().join("state/host");
    let mut child = sb
        .command(&crate::support::host_bin(), &["wait-ms", "1500"])
        .env("HOST_TELEMETRY_NOW", D1)
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let off = sb.host(&["telemetry", "off"]);
    assert!(off.status.success());
    assert!(child.wait().unwrap().success());
    // The running process saw the config change at exit and kept nothing.
    assert!(
        !state.join("spool.jsonl").exists(),
        "counts were written after off"
    );
    assert!(!state.join("machine_id").exists());
}

#[test]
fn an_injected_instance_id_replaces_the_machine_id() {
    let rx = Receiver::start(Mode::Accept);
    let mut sb = host_sandbox(&rx.url());
    let id = "6f0c1d2e-3a4b-4c5d-8e9f-0a1b2c3d4e5f";
    sb.set("HOST_TELEMETRY_INSTANCE_ID", id);
    host_on(&sb, D1, &["build"]);
    assert_eq!(flush(&sb, D2)["result"], "sent");
    let batches = rx.unique_batches();
    assert!(batches.values().all(|b| b.envelope.machine_id == id));
    assert!(
        !sb.root().join("state/host/machine_id").exists(),
        "no id of its own was minted"
    );
}
