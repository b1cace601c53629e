//! ClickHouse as it is really run: frozen (SIGSTOPped) and killed under
//! `tally serve`, which answers 503 at once while the store is known down
//! and fails readiness; a user with a password (in the URL, a file or the
//! environment), which never shows in any output; HTTPS with the server's
//! certificate checked against a CA of the test's own. Statuses and
//! contents are asserted, never times: waits are bounded safety nets.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::clickhouse_support::{ClickHouse, Options};
use crate::serve_support::{Response, Server, batch, bytes, day, post, simple, uuid};
use crate::support::{Sandbox, text};

fn serve(sb: &Sandbox, store: &str, extra: &[&str]) -> Server {
    let mut args = vec!["--store", store, "--rate-limit", "0"];
    args.extend_from_slice(extra);
    Server::start_with_args(sb, &sb.root().join("unused.sqlite3"), &args)
}

/// Asks `path` until it answers `status`; the last answer.
fn wait_for(addr: SocketAddr, path: &str, status: u16) -> Response {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let r = simple(addr, "GET", path);
        if r.status == status {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "{path} still answers {} {}",
            r.status,
            r.body
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) on the test's own ClickHouse child.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "kill {sig}");
}

fn command_count(sb: &Sandbox, store: &str, name: &str) -> u64 {
    let out = sb.tally(&[
        "report",
        "--json",
        "--since",
        "40d",
        "--min-machines",
        "1",
        "--store",
        store,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    r["commands"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["command"] == name)
        .map_or(0, |c| c["count"].as_u64().unwrap())
}

fn metric(addr: SocketAddr, name: &str) -> u64 {
    let body = simple(addr, "GET", "/metrics").body;
    body.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing: {body}"))
}

#[test]
fn a_frozen_or_dead_clickhouse_fails_readiness_and_batches_get_503_at_once() {
    let mut ch = ClickHouse::start();
    let url = ch.url("frozen");
    let sb = Sandbox::new();
    let srv = serve(&sb, &url, &["--store-timeout", "1000"]);
    let a = srv.addr;
    let ok = |tag: &str| bytes(&batch(&uuid(), &uuid(), &day(-1), &[(tag, 1)]));
    assert_eq!(post(a, &ok("acked")).status, 204);
    assert_eq!(wait_for(a, "/readyz", 200).body.trim(), "ready");

    // Frozen: the insert waits out --store-timeout, then the store is down.
    signal(ch.pid(), libc::SIGSTOP);
    let r = post(a, &ok("late"));
    assert_eq!(r.status, 503, "{}", r.body);
    let r = wait_for(a, "/readyz", 503);
    assert!(r.body.contains("cannot take writes"), "{}", r.body);
    assert_eq!(simple(a, "GET", "/livez").status, 200);
    // While it is known down, batches are refused without waiting on it.
    let before = metric(a, "tally_store_refused_while_down_total");
    for _ in 0..20 {
        let r = post(a, &ok("refused"));
        assert_eq!(r.status, 503);
        assert!(r.header("retry-after").is_some());
    }
    assert!(metric(a, "tally_store_refused_while_down_total") >= before + 20);
    signal(ch.pid(), libc::SIGCONT);
    wait_for(a, "/readyz", 200);
    assert_eq!(post(a, &ok("acked")).status, 204);

    // Dead: refused connections; readiness fails until it is back.
    ch.kill();
    let r = wait_for(a, "/readyz", 503);
    assert!(r.body.contains("reachable"), "{}", r.body);
    assert_eq!(post(a, &ok("refused")).status, 503);
    ch.resume();
    wait_for(a, "/readyz", 200);
    assert_eq!(post(a, &ok("acked")).status, 204);

    let (status, log) = srv.stop();
    assert!(status.success(), "{log}");
    assert!(log.contains("store timeout 1000 ms"), "{log}");
    assert_eq!(command_count(&sb, &url, "acked"), 3);
    assert_eq!(command_count(&sb, &url, "refused"), 0);
}

const PASSWORD: &str = "p@ss:w0rd/x";
const PASSWORD_IN_URL: &str = "p%40ss%3Aw0rd%2Fx";

#[test]
fn a_clickhouse_user_with_a_password_from_the_url_a_file_or_the_environment() {
    let ch = ClickHouse::start_with(Options {
        password: Some(PASSWORD.into()),
        tls: None,
        ..Options::default()
    });
    let port = ch.http_port;
    let with_pw = format!("clickhouse://tally:{PASSWORD_IN_URL}@127.0.0.1:{port}/secured");
    let no_pw = format!("clickhouse://tally@127.0.0.1:{port}/secured");
    let mut sb = Sandbox::new();

    // A wrong password: start fails, says so, and echoes no password.
    let wrong = format!("clickhouse://tally:hunter2@127.0.0.1:{port}/secured");
    let out = sb.tally(&["serve", "--listen", "127.0.0.1:0", "--store", &wrong]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("tally:***@127.0.0.1"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    // A URL that does not parse is quoted back without its password.
    let out = sb.tally(&["serve", "--store", "clickhouse://tally:hunter2@h:1/bad;db"]);
    assert!(!out.status.success());
    assert!(
        !text(&out.stderr).contains("hunter2"),
        "{}",
        text(&out.stderr)
    );

    // In the URL (percent-encoded).
    let srv = serve(&sb, &with_pw, &[]);
    let body = bytes(&batch(&uuid(), &uuid(), &day(-1), &[("secured", 2)]));
    assert_eq!(post(srv.addr, &body).status, 204);
    let (_, log) = srv.stop();
    assert!(
        !log.contains("w0rd") && !log.contains(PASSWORD_IN_URL),
        "{log}"
    );

    // From a file (a mounted Secret, with a trailing newline).
    let file = sb.root().join("password");
    std::fs::write(&file, format!("{PASSWORD}\n")).unwrap();
    let file_text = file.display().to_string();
    let srv = serve(&sb, &no_pw, &["--store-password-file", &file_text]);
    let body = bytes(&batch(&uuid(), &uuid(), &day(-1), &[("secured", 3)]));
    assert_eq!(post(srv.addr, &body).status, 204);
    drop(srv);

    // From the environment, for serve and report alike.
    sb.set("TALLY_STORE_PASSWORD", PASSWORD);
    assert_eq!(command_count(&sb, &no_pw, "secured"), 5);
    let mut sb2 = Sandbox::new();
    sb2.set("TALLY_STORE_PASSWORD_FILE", &file_text);
    sb2.set("TALLY_STORE", &no_pw);
    let out = sb2.tally(&["report", "--min-machines", "1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("secured"));
    // Without any password the user is refused: the password is what let
    // the others in.
    let out = Sandbox::new().tally(&["report", "--store", &no_pw]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("tally@127.0.0.1") && err.contains("HTTP"),
        "{err}"
    );
}

/// A CA and a server certificate for 127.0.0.1 it signed (RSA), made by
/// the library's test helper: (ca.pem, server.pem, server.key).
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    crate::test_certs::certificates(dir, &["rsa:2048"]);
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

#[test]
fn https_to_clickhouse_checks_the_certificate() {
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(certs.path());
    let ch = ClickHouse::start_with(Options {
        password: Some(PASSWORD.into()),
        tls: Some((cert, key)),
        ..Options::default()
    });
    let port = ch.https_port.unwrap();
    let base = format!("clickhouse+https://tally:{PASSWORD_IN_URL}@127.0.0.1:{port}/tls");
    let sb = Sandbox::new();

    // The public roots do not vouch for the test's CA: refused.
    let out = sb.tally(&["serve", "--listen", "127.0.0.1:0", "--store", &base]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    assert!(!err.contains("w0rd"), "{err}");

    // With the CA: stored over HTTPS, and reported over it.
    let url = format!("{base}?ca={}", ca.display());
    let srv = serve(&sb, &url, &[]);
    let body = bytes(&batch(&uuid(), &uuid(), &day(-1), &[("encrypted", 4)]));
    assert_eq!(post(srv.addr, &body).status, 204);
    assert_eq!(wait_for(srv.addr, "/readyz", 200).body.trim(), "ready");
    let (_, log) = srv.stop();
    assert!(
        log.contains("clickhouse+https://tally:***@127.0.0.1"),
        "{log}"
    );
    assert_eq!(command_count(&sb, &url, "encrypted"), 4);
}
