//! The client's files and transport under hostile conditions: a FIFO where
//! the spool should be, a world-writable state directory, a 1 GB spool,
//! credentials in the endpoint URL, a redirecting receiver, plain http to
//! another machine, an upper-case scheme and an endpoint that is not http
//! at all. Each must leave the host's run untouched and say what happened
//! in `telemetry status` or `flush`.

use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::delivery::{D1, D2, flush, host_on, host_sandbox, show};
use crate::helper::state_dir;
use crate::receiver::{Mode, Receiver};
use crate::support::{Sandbox, host_bin, text};

fn status_json(sb: &Sandbox) -> serde_json::Value {
    let out = sb
        .command(&host_bin(), &["telemetry", "status", "--json"])
        .env("HOST_TELEMETRY_NOW", D2)
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

fn status_text(sb: &Sandbox) -> String {
    let out = sb
        .command(&host_bin(), &["telemetry", "status"])
        .env("HOST_TELEMETRY_NOW", D2)
        .output()
        .unwrap();
    text(&out.stdout)
}

#[test]
fn a_fifo_at_spool_jsonl_does_not_hang_the_host() {
    let sb = host_sandbox("http://127.0.0.1:9/v1/batch");
    let dir = state_dir(&sb);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let fifo = std::ffi::CString::new(
        dir.join("spool.jsonl")
            .into_os_string()
            .into_encoded_bytes(),
    )
    .unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let mut child = sb
        .command(&host_bin(), &["build"])
        .env("HOST_TELEMETRY_NOW", D1)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(20) {
            child.kill().unwrap();
            panic!("the host hung on a FIFO at spool.jsonl");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "built\n");
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    let st = status_json(&sb);
    assert!(
        st["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("spool.jsonl") && e.contains("not a regular file")),
        "{st}"
    );
}

#[test]
fn a_world_writable_state_dir_is_reported_then_made_private() {
    let sb = host_sandbox("http://127.0.0.1:9/v1/batch");
    let dir = state_dir(&sb);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let st = status_text(&sb);
    assert!(
        st.contains("writable by other users (mode 777)"),
        "status says so before: {st}"
    );
    host_on(&sb, D1, &["build"]);
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "repaired: ours");
    assert!(!status_text(&sb).contains("writable by other users"));
    assert!(
        show(&sb, D1)["today"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );
}

#[test]
fn a_huge_spool_is_never_read_whole() {
    let sb = host_sandbox("http://127.0.0.1:9/v1/batch");
    let dir = state_dir(&sb);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    // 1 GB (sparse: no disk used), a completed day's line at its head.
    let spool = dir.join("spool.jsonl");
    std::fs::write(
        &spool,
        format!("{{\"v\":1,\"day\":\"{D1}\",\"k\":\"command\",\"name\":\"old\",\"n\":1}}\n"),
    )
    .unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&spool)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    // Less address space than reading the file whole would take.
    let mut cmd = sb.command(&host_bin(), &["build"]);
    cmd.env("HOST_TELEMETRY_NOW", D2);
    // SAFETY: setrlimit only, between fork and exec.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 768 << 20,
                rlim_max: 768 << 20,
            };
            libc::setrlimit(libc::RLIMIT_AS, &lim);
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{:?} {}",
        out.status,
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout), "built\n");
    let size = std::fs::metadata(&spool).unwrap().len();
    assert!(size <= 256 * 1024, "cut to the cap: {size}");
    let v = show(&sb, D2);
    let dropped: u64 = v["today"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["dropped"].as_u64())
        .sum();
    let next = v["next_batch"].to_string();
    assert!(
        dropped > 0 || next.contains("dropped"),
        "the excess counts as dropped: {v}"
    );
}

#[test]
fn credentials_in_the_endpoint_are_never_shown_or_stored() {
    let rx = Receiver::start(Mode::Status(500));
    let url = format!("http://alice:s3cret-pw@{}/v1/batch", rx.addr);
    let mut sb = host_sandbox(&url);
    host_on(&sb, D1, &["build"]);
    let mut seen = String::new();
    let v = flush(&sb, D2);
    assert_eq!(v["result"], "failed");
    seen += &v.to_string();
    for args in [
        &["telemetry", "status"][..],
        &["telemetry", "status", "--json"],
        &["telemetry", "show"],
        &["telemetry", "show", "--json"],
        &["telemetry", "on"],
    ] {
        let out = sb
            .command(&host_bin(), args)
            .env("HOST_TELEMETRY_NOW", D2)
            .output()
            .unwrap();
        seen += &text(&out.stdout);
        seen += &text(&out.stderr);
    }
    rx.set_mode(Mode::Accept);
    let v = flush(&sb, D2);
    assert_eq!(v["result"], "sent");
    seen += &v.to_string();
    for args in [&["telemetry", "log"][..], &["telemetry", "log", "--json"]] {
        seen += &text(&sb.host(args).stdout);
    }
    host_on(&sb, D2, &["build"]);
    sb.set("HOST_TELEMETRY_DEBUG", "1");
    let out = host_on(&sb, "2026-03-12", &["telemetry", "flush"]);
    seen += &text(&out.stderr);
    assert!(seen.contains("***@"), "the redacted form is shown: {seen}");
    assert!(!seen.contains("s3cret"), "a password was shown: {seen}");
    for f in std::fs::read_dir(state_dir(&sb)).unwrap().flatten() {
        let body = std::fs::read(f.path()).unwrap_or_default();
        assert!(
            !text(&body).contains("s3cret"),
            "stored in {}",
            f.path().display()
        );
    }
}

#[test]
fn a_redirect_keeps_the_batch_and_reports_the_error() {
    let rx = Receiver::start(Mode::Status(301));
    let sb = host_sandbox(&rx.url());
    host_on(&sb, D1, &["build"]);
    let v = flush(&sb, D2);
    assert_eq!(v["result"], "failed", "{v}");
    assert!(v["detail"].as_str().unwrap().contains("redirect"), "{v}");
    assert!(!show(&sb, D2)["next_batch"].is_null(), "the batch stays");
    rx.set_mode(Mode::Accept);
    assert_eq!(flush(&sb, D2)["result"], "sent");
    assert_eq!(rx.command_counts().get("build"), Some(&1));
    assert_eq!(rx.unique_batches().len(), 1, "the same batch id");
}

#[test]
fn plain_http_to_another_machine_is_refused_unless_the_policy_allows_it() {
    let sb = host_sandbox("http://telemetry.example/v1/batch");
    host_on(&sb, D1, &["build"]);
    let st = status_json(&sb);
    let problem = st["endpoint_problem"].as_str().unwrap().to_owned();
    assert!(problem.contains("allow_plain_http"), "{st}");
    let v = flush(&sb, D2);
    assert_eq!(v["result"], "not_sent");
    assert_eq!(v["detail"].as_str(), Some(problem.as_str()));
    let on = text(&sb.host(&["telemetry", "on"]).stdout);
    assert!(
        on.contains("Warning:") && on.contains("unencrypted"),
        "{on}"
    );
    // The admin allows it: no longer a problem, still a warning.
    std::fs::write(
        sb.root().join("host-policy.toml"),
        "allow_plain_http = true\n",
    )
    .unwrap();
    let st = status_json(&sb);
    assert!(st["endpoint_problem"].is_null(), "{st}");
    assert!(st["warnings"].to_string().contains("unencrypted"), "{st}");
}

#[test]
fn an_upper_case_scheme_is_accepted() {
    let rx = Receiver::start(Mode::Accept);
    let sb = host_sandbox(&format!("HTTP://{}/v1/batch", rx.addr));
    host_on(&sb, D1, &["build"]);
    let v = flush(&sb, D2);
    assert!(v["result"] == "sent" || v["result"] == "nothing_due", "{v}");
    assert_eq!(rx.command_counts().get("build"), Some(&1));
    assert!(status_json(&sb)["endpoint_problem"].is_null());
}

#[test]
fn an_ftp_endpoint_gets_one_message_in_status_and_flush() {
    let sb = host_sandbox("ftp://x");
    host_on(&sb, D1, &["build"]);
    let st = status_json(&sb);
    let problem = st["endpoint_problem"].as_str().unwrap();
    assert!(problem.contains("not an http:// or https:// URL"), "{st}");
    let v = flush(&sb, D2);
    assert_eq!(v["result"], "not_sent");
    assert_eq!(v["detail"].as_str(), Some(problem));
    assert!(status_text(&sb).contains(problem));
}

#[test]
fn a_world_writable_config_dir_is_reported_then_made_private() {
    let sb = host_sandbox("http://127.0.0.1:9/v1/batch");
    let dir = sb.root().join("config/host");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let st = status_text(&sb);
    assert!(
        st.contains(&format!("{} is writable by other users", dir.display())),
        "{st}"
    );
    assert!(sb.host(&["telemetry", "on"]).status.success());
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
}

/// A relative `<APP>_TELEMETRY_DIR` silently created the state directory
/// under the working directory of the run.
#[test]
fn a_relative_state_dir_is_ignored_with_a_warning_not_created_in_the_working_directory() {
    let mut sb = crate::support::Sandbox::new();
    sb.set("TALLY_TELEMETRY", "1")
        .set("TALLY_TELEMETRY_DIR", "rel-state");
    let cwd = sb.root().join("cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    let out = sb
        .command(&crate::support::tally_bin(), &["telemetry", "status"])
        .current_dir(&cwd)
        .output()
        .unwrap();
    let status = crate::support::text(&out.stdout);
    assert!(
        status.contains("TALLY_TELEMETRY_DIR=\"rel-state\" is not an absolute path"),
        "{status}"
    );
    let out = sb
        .command(
            &crate::support::tally_bin(),
            &["config", "otel", "get", "usage-analytics-enabled"],
        )
        .current_dir(&cwd)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        !cwd.join("rel-state").exists(),
        "state created under the working directory"
    );
}
