//! Regression tests for the defects an audit of the shipped binary found
//! (issue 18), each driving what a user runs and named after what broke.

use crate::serve_support::Server;
use crate::support::{Sandbox, text};

/// With a yes stored under an older consent version, `config otel get`
/// printed `true` while `status` said disabled.
#[test]
fn config_otel_get_agrees_with_status_about_a_yes_under_an_older_consent_version() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.config_dir()).unwrap();
    std::fs::write(
        sb.config_file(),
        format!(
            "enabled = true\nconsent_version = {}\n",
            tally_telemetry::schema::CONSENT_VERSION - 1
        ),
    )
    .unwrap();
    assert_eq!(sb.status()["enabled"], false);
    let got = sb.ok(&["config", "otel", "get", "usage-analytics-enabled"]);
    assert!(got.starts_with("false (stored true"), "{got}");
    assert!(got.contains("consent version"), "{got}");
    // Agreeing again makes the stored value the one that decides.
    sb.ok(&["telemetry", "on"]);
    assert_eq!(sb.status()["enabled"], true);
    assert_eq!(
        sb.ok(&["config", "otel", "get", "usage-analytics-enabled"])
            .trim(),
        "true"
    );
}

/// DO_NOT_TRACK outranks a stored yes; `get` once printed the yes alone.
#[test]
fn config_otel_get_says_when_the_stored_value_is_outranked() {
    let mut sb = Sandbox::new();
    sb.ok(&["telemetry", "on"]);
    sb.set("DO_NOT_TRACK", "1");
    let got = sb.ok(&["config", "otel", "get", "usage-analytics-enabled"]);
    assert!(
        got.starts_with("false (stored true") && got.contains("DO_NOT_TRACK"),
        "{got}"
    );
}

/// Counts how often `needle` occurs in `hay`.
fn occurrences(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

/// `tally serve` on a busy port printed "Address already in use" twice.
#[test]
fn serve_on_a_busy_port_names_the_cause_once() {
    let sb = Sandbox::new();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let db = sb.root().join("s.sqlite3").display().to_string();
    let out = sb.tally(&["serve", "--listen", &addr, "--db", &db]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("pick another"), "{err}");
    assert_eq!(occurrences(&err, "Address already in use"), 1, "{err}");
}

/// A store file that is not SQLite printed "file is not a database" twice.
#[test]
fn a_store_that_is_not_a_database_is_named_once() {
    let sb = Sandbox::new();
    let db = sb.root().join("not.sqlite3");
    std::fs::write(&db, vec![b'x'; 4096]).unwrap();
    let db = db.display().to_string();
    for args in [
        vec!["report", "--db", db.as_str()],
        vec!["serve", "--listen", "127.0.0.1:0", "--db", db.as_str()],
    ] {
        let out = sb.tally(&args);
        assert!(!out.status.success(), "{args:?}");
        let err = text(&out.stderr);
        assert!(err.contains("not.sqlite3"), "{args:?}: {err}");
        assert_eq!(
            occurrences(&err, "file is not a database"),
            1,
            "{args:?}: {err}"
        );
    }
}

/// `report --since` a future date printed a window that ends before it
/// starts, and exited 0.
#[test]
fn report_since_a_future_date_is_a_usage_error() {
    let sb = Sandbox::new();
    let srv = Server::start(&sb, &[]);
    srv.stop();
    let db = sb.root().join("server.sqlite3").display().to_string();
    let out = sb.tally(&["report", "--db", &db, "--since", "2999-01-01"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains("--since 2999-01-01 is after the end of the window"),
        "{err}"
    );
    assert!(text(&out.stdout).is_empty());
    // A bad word is a usage error too, and today itself is a window.
    let out = sb.tally(&["report", "--db", &db, "--since", "last-week"]);
    assert_eq!(out.status.code(), Some(2));
    sb.ok(&["report", "--db", &db, "--since", "0d"]);
}

/// `<APP>_POLICY_FILE=/nonexistent` was ignored without a word, and a
/// broken file it named was called "the system policy file … ask your
/// administrator".
#[test]
fn a_policy_file_named_by_the_environment_is_reported_as_such() {
    let mut sb = Sandbox::new();
    let missing = sb.root().join("nonexistent.toml");
    sb.set("TALLY_POLICY_FILE", missing.display().to_string());
    let status = sb.ok(&["telemetry", "status"]);
    assert!(
        status.contains(&format!(
            "TALLY_POLICY_FILE={} names a file that does not exist",
            missing.display()
        )),
        "{status}"
    );
    let warnings = sb.status()["warnings"].to_string();
    assert!(warnings.contains("does not exist"), "{warnings}");
    // Debug mode says it too, on stderr, and the host's output is its own.
    let mut host = Sandbox::new();
    host.set("HOST_POLICY_FILE", missing.display().to_string());
    host.set("HOST_TELEMETRY_DEBUG", "1");
    let out = host.host(&["build", "x"]);
    assert_eq!(text(&out.stdout), "built\n");
    assert!(
        text(&out.stderr).contains("HOST_POLICY_FILE=")
            && text(&out.stderr).contains("does not exist"),
        "{}",
        text(&out.stderr)
    );
    // A broken file it names is the user's to fix, not an administrator's.
    std::fs::write(&missing, "telemetry = \"on\"\n").unwrap();
    let v = sb.status();
    assert_eq!(v["enabled"], false);
    let reason = v["reason"].as_str().unwrap_or_default().to_owned();
    assert!(
        reason.contains("named by TALLY_POLICY_FILE")
            && reason.contains("unset TALLY_POLICY_FILE")
            && !reason.contains("system policy")
            && !reason.contains("administrator"),
        "{reason}"
    );
}

/// `host telemetry status --json` on `day`.
fn host_status(sb: &Sandbox, day: &str) -> serde_json::Value {
    let out = sb
        .command(
            &crate::support::host_bin(),
            &["telemetry", "status", "--json"],
        )
        .env("HOST_TELEMETRY_NOW", day)
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A symlinked `sent.jsonl` hid a real send: `log` said nothing was sent,
/// and no error was recorded.
#[test]
fn a_send_whose_ledger_is_a_symlink_is_reported_not_hidden() {
    use crate::delivery::{D1, D2, flush, host_on, host_sandbox};
    use crate::receiver::{Mode, Receiver};
    let rx = Receiver::start(Mode::Accept);
    let sb = host_sandbox(&rx.url());
    host_on(&sb, D1, &["build"]);
    let state = sb.root().join("state").join("host");
    assert!(state.is_dir());
    let elsewhere = sb.root().join("elsewhere.jsonl");
    std::fs::write(&elsewhere, "").unwrap();
    std::os::unix::fs::symlink(&elsewhere, state.join("sent.jsonl")).unwrap();
    assert_eq!(flush(&sb, D2)["result"], "sent");
    assert_eq!(rx.command_counts().get("build"), Some(&1));
    // Refused, so nothing was written through the link ...
    assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "");
    // ... and said so: status keeps the error, log fails naming the file.
    let st = host_status(&sb, D2);
    let err = st["last_error"].as_str().unwrap_or_default();
    assert!(
        err.contains("was sent") && err.contains("sent.jsonl") && err.contains("symbolic link"),
        "{st}"
    );
    let out = sb.host(&["telemetry", "log"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!text(&out.stdout).contains("Nothing has been sent"));
    assert!(
        text(&out.stderr).contains("symbolic link"),
        "{}",
        text(&out.stderr)
    );
}

/// A receiver that never answers made `flush` say "failed: timeout:
/// global", naming neither what timed out nor the limit.
#[test]
fn a_hung_receiver_is_reported_with_what_timed_out_and_the_limit() {
    use crate::delivery::{D1, D2, flush, host_on, host_sandbox};
    use crate::receiver::{Mode, Receiver};
    let rx = Receiver::start(Mode::Hang);
    let sb = host_sandbox(&rx.url());
    host_on(&sb, D1, &["build"]);
    let v = flush(&sb, D2);
    assert_eq!(v["result"], "failed", "{v}");
    let st = host_status(&sb, D2);
    let err = st["last_error"].as_str().unwrap_or_default();
    assert!(
        err.contains("no complete answer within 2 s") && !err.contains("timeout: global"),
        "{st}"
    );
}

/// A HOME whose name is not UTF-8 stopped background delivery: only a
/// manual `flush` sent anything.
#[test]
fn a_home_that_is_not_utf8_still_delivers_in_the_background() {
    use crate::delivery::{D1, D2, host_sandbox};
    use crate::receiver::{Mode, Receiver};
    use std::os::unix::ffi::OsStrExt;
    let rx = Receiver::start(Mode::Accept);
    let sb = host_sandbox(&rx.url());
    let home = sb
        .root()
        .join(std::ffi::OsStr::from_bytes(b"home-caf\xe9-\xff"));
    std::fs::create_dir_all(&home).unwrap();
    let run = |day: &str| {
        let out = sb
            .command(&crate::support::host_bin(), &["build", "x"])
            .env("HOME", &home)
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_STATE_HOME")
            .env_remove("XDG_DATA_HOME")
            .env_remove("XDG_CACHE_HOME")
            .env("HOST_TELEMETRY_NOW", day)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "built\n");
    };
    run(D1);
    let state = home.join(".local").join("state").join("host");
    assert!(state.join("spool.jsonl").exists(), "D1 was not recorded");
    // The next day's run starts the helper, which sends D1 on its own.
    run(D2);
    let start = std::time::Instant::now();
    while !rx.command_counts().contains_key("build")
        && start.elapsed() < std::time::Duration::from_secs(15)
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(
        rx.command_counts().get("build"),
        Some(&1),
        "no background send; last error: {:?}",
        std::fs::read_to_string(state.join("last_error")).ok()
    );
}

/// `report` over all apps added up the same command name (and the same
/// MCP tool name) across apps, with no app column.
#[test]
fn report_over_several_apps_keeps_each_apps_commands_apart() {
    use crate::serve_support::{batch, bytes, day, post, report, uuid};
    let sb = Sandbox::new();
    let srv = Server::start(&sb, &[]);
    for (app, n) in [("alpha", 3), ("beta", 5)] {
        let mut b = batch(&uuid(), &uuid(), &day(-1), &[("build", n)]);
        b["envelope"]["app"] = app.into();
        b["events"][0]["tool_calls"] = serde_json::json!([
            {"tool": "search", "outcome": "ok", "count": n, "latency": [n, 0, 0, 0, 0, 0, 0]}
        ]);
        assert_eq!(post(srv.addr, &bytes(&b)).status, 204);
    }
    srv.stop();
    let db = sb.root().join("server.sqlite3");
    let r = report(&sb, &db, 1, &[]);
    let rows: Vec<(String, String, u64)> = r["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["app"].as_str().unwrap_or("-").to_owned(),
                c["command"].as_str().unwrap().to_owned(),
                c["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            ("beta".into(), "build".into(), 5),
            ("alpha".into(), "build".into(), 3)
        ]
    );
    let tools: Vec<(String, String, u64)> = r["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["app"].as_str().unwrap_or("-").to_owned(),
                t["tool"].as_str().unwrap().to_owned(),
                t["calls"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        tools,
        vec![
            ("beta".into(), "search".into(), 5),
            ("alpha".into(), "search".into(), 3)
        ]
    );
    let db_s = db.display().to_string();
    let text_out = sb.ok(&["report", "--db", &db_s, "--min-machines", "1"]);
    let header = text_out
        .lines()
        .find(|l| l.contains("command") && l.contains("runs"))
        .unwrap_or_default()
        .to_owned();
    assert!(header.trim_start().starts_with("app"), "{text_out}");
    assert!(
        text_out
            .lines()
            .any(|l| l.contains("beta") && l.contains("build")),
        "{text_out}"
    );
    let html = sb.ok(&[
        "report",
        "--db",
        &db_s,
        "--min-machines",
        "1",
        "--html",
        "-",
    ]);
    assert!(html.contains(">app</th>"), "no app column in the HTML");
    let tool_header = text_out
        .lines()
        .find(|l| l.contains("tool err") && l.contains("calls"))
        .unwrap_or_default()
        .to_owned();
    assert!(tool_header.trim_start().starts_with("app"), "{text_out}");
    let tools_section = html.split("id=\"tools\"").nth(1).unwrap_or_default();
    assert!(
        tools_section.contains(">app</th>"),
        "no app column in the HTML tools table"
    );
    // One application: no app column, as before.
    let r = report(&sb, &db, 1, &["--app", "alpha"]);
    assert!(r["commands"][0].get("app").is_none(), "{r}");
    assert!(r["tools"][0].get("app").is_none(), "{r}");
    assert_eq!(r["tools"][0]["calls"], 3, "{r}");
    let one = sb.ok(&[
        "report",
        "--db",
        &db_s,
        "--min-machines",
        "1",
        "--app",
        "beta",
    ]);
    assert!(
        one.lines()
            .any(|l| l.trim_start().starts_with("command") && l.contains("runs")),
        "{one}"
    );
}
