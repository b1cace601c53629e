//! https through the README's features as a user gets them: the crate
//! written from the README alone (features `clap`, `prompt`,
//! `system-tls`) delivers a completed day from its detached helper to a
//! TLS server on loopback, through the system's OpenSSL that only the
//! sending run loads; the test CA is trusted the way an administrator adds
//! one for every OpenSSL program, through `SSL_CERT_FILE`. Without it the
//! same send is refused and says why in `telemetry status`; on a machine
//! without libssl (a mount namespace where it is /dev/null) the send fails
//! and status says what to install or build instead; a run that sends
//! nothing neither links libssl nor opens it.

use std::time::{Duration, Instant};

use crate::delivery::{D1, D2};
use crate::embedding::{build_readme_crate, readme};
use crate::support::{Sandbox, text};
use crate::test_certs::certificates;
use crate::test_tls_server::serve_once;

/// A sandbox where the README's host has telemetry on and posts to `url`.
fn readme_host_sandbox(url: &str) -> Sandbox {
    let mut sb = Sandbox::new();
    let policy = sb.root().join("mytool-policy.toml").display().to_string();
    sb.set("MYTOOL_TELEMETRY", "1")
        .set("MYTOOL_TELEMETRY_ENDPOINT", url)
        .set("MYTOOL_TELEMETRY_TEST_SYSTEM_POLICY_FILE", policy);
    sb
}

/// Runs the README's host on simulated day `day`, asserting success.
fn run_on(sb: &Sandbox, bin: &std::path::Path, day: &str, args: &[&str]) {
    let out = sb
        .command(bin, args)
        .env("MYTOOL_TELEMETRY_NOW", day)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mytool {args:?}: {}",
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout), "built\n", "nothing of tally's on stdout");
}

/// `mytool telemetry status --json` once its `last_error` or a sent batch
/// shows (the helper runs detached), within 20 s.
fn status_after_send(sb: &Sandbox, bin: &std::path::Path) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let out = sb
            .command(bin, &["telemetry", "status", "--json"])
            .env("MYTOOL_TELEMETRY_NOW", D2)
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let ledger = sb.root().join("state/mytool/sent.jsonl");
        let sent = std::fs::read_to_string(ledger).unwrap_or_default();
        if sent.contains("\"result\":\"sent\"") || !v["last_error"].is_null() {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no send from the helper: {v}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_readme_host_delivers_a_completed_day_over_https_through_the_systems_openssl() {
    assert!(
        readme().contains("features = [\"clap\", \"prompt\", \"system-tls\"]"),
        "this test drives the README's recommended features"
    );
    let bin = build_readme_crate();
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path(), &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]);
    let (addr, server) = serve_once(dir.path(), &[&rustls::version::TLS13]);
    let mut sb = readme_host_sandbox(&format!("https://{addr}/v1/batch"));
    sb.set(
        "SSL_CERT_FILE",
        dir.path().join("ca.pem").display().to_string(),
    );
    run_on(&sb, &bin, D1, &["build"]);
    // The first run of the next day starts the helper, which sends D1.
    run_on(&sb, &bin, D2, &["build"]);
    let status = status_after_send(&sb, &bin);
    assert!(status["last_error"].is_null(), "{status}");
    let seen = server.join().unwrap().unwrap();
    assert!(seen.starts_with("Some(TLSv1_3)\nPOST /v1/batch "), "{seen}");
    assert!(seen.contains(D1), "{seen}");
    assert!(seen.contains("\"build\""), "{seen}");
}

#[test]
fn without_the_ca_the_readme_hosts_send_is_refused_and_status_says_why() {
    let bin = build_readme_crate();
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path(), &["rsa:2048"]);
    let (addr, server) = serve_once(dir.path(), &[&rustls::version::TLS13]);
    let sb = readme_host_sandbox(&format!("https://{addr}/v1/batch"));
    run_on(&sb, &bin, D1, &["build"]);
    run_on(&sb, &bin, D2, &["build"]);
    let status = status_after_send(&sb, &bin);
    let err = status["last_error"].as_str().unwrap_or_default();
    assert!(
        err.contains("the certificate of 127.0.0.1 was refused"),
        "{status}"
    );
    assert!(server.join().unwrap().is_err(), "no request arrived");
}

#[test]
fn a_run_that_does_not_send_never_loads_openssl() {
    let bin = build_readme_crate();
    // Not linked: the loader never maps it.
    let dynamic = std::process::Command::new("readelf")
        .args(["-d", &bin.display().to_string()])
        .output()
        .unwrap();
    let dynamic = text(&dynamic.stdout);
    assert!(dynamic.contains("(NEEDED)"), "{dynamic}");
    assert!(!dynamic.contains("libssl"), "{dynamic}");
    // And not opened by a recording run with telemetry on (nothing due).
    let sb = readme_host_sandbox("https://127.0.0.1:9/v1/batch");
    let log = sb.root().join("strace.log");
    let out = std::process::Command::new("strace")
        .args(["-f", "-e", "trace=open,openat", "-o"])
        .arg(&log)
        .arg(&bin)
        .arg("build")
        .env_clear()
        .envs(sb.env())
        .env("MYTOOL_TELEMETRY_NOW", D1)
        .current_dir(sb.root())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("strace (Debian's strace package)");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let opened = std::fs::read_to_string(&log).unwrap();
    assert!(opened.contains("spool"), "the run recorded: {opened}");
    assert!(!opened.contains("libssl"), "{opened}");
    assert!(!opened.contains("libcrypto"), "{opened}");
}

#[test]
fn on_a_machine_without_openssl_the_send_fails_and_status_says_what_to_do() {
    // A machine without libssl, made for this test alone: in a mount
    // namespace of its own, every libssl the loader's cache lists is
    // /dev/null (root, as CI runs, can make one; the machine is untouched).
    let bin = build_readme_crate();
    let cache = std::process::Command::new("ldconfig")
        .arg("-p")
        .output()
        .expect("ldconfig");
    let libs: Vec<String> = text(&cache.stdout)
        .lines()
        .filter(|l| l.trim_start().starts_with("libssl.so"))
        .filter_map(|l| l.rsplit("=> ").next())
        .filter_map(|p| std::fs::canonicalize(p.trim()).ok())
        .map(|p| p.display().to_string())
        .collect();
    assert!(!libs.is_empty(), "this machine has no libssl to hide");
    // Something listens, so the send gets as far as TLS.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let sb = readme_host_sandbox(&format!(
        "https://{}/v1/batch",
        listener.local_addr().unwrap()
    ));
    let script = format!(
        "set -e; for f in {libs}; do mount --bind /dev/null \"$f\"; done; \
         MYTOOL_TELEMETRY_NOW={D1} \"$0\" build; MYTOOL_TELEMETRY_NOW={D2} \"$0\" build",
        libs = libs.join(" ")
    );
    let out = std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .arg(&bin)
        .env_clear()
        .envs(sb.env())
        .current_dir(sb.root())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("unshare (util-linux)");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "built\nbuilt\n",
        "the host's output only"
    );
    let status = status_after_send(&sb, &bin);
    let err = status["last_error"].as_str().unwrap_or_default();
    assert!(
        err.contains("https needs the system's OpenSSL") && err.contains("rustls"),
        "{status}"
    );
    drop(listener);
}
