//! The whole pipeline with nothing mocked: the `tally` binary counts its own
//! commands in a sandbox, sends completed days to a real `tally serve` on
//! loopback, and `tally report` shows exactly those counts. Plus the privacy
//! canary through every stage, k-anonymity and the report's output forms.

use serde_json::json;

use crate::serve_support::*;
use crate::support::{Sandbox, text};

/// A client sandbox with telemetry on and pointed at `srv`.
fn client(srv: &Server) -> Sandbox {
    let mut sb = Sandbox::new();
    sb.set("TALLY_TELEMETRY", "1")
        .set("TALLY_TELEMETRY_ENDPOINT", srv.endpoint());
    sb
}

#[test]
fn commands_counted_on_two_days_arrive_in_the_report_exactly() {
    let server_sb = Sandbox::new();
    let srv = Server::start(&server_sb, &[]);
    let mut sb = client(&srv);
    // Simulated days derived from the real date: the server drops days more
    // than 30 days old by its own clock.
    let (day1, day2, later) = (day(-3), day(-2), day(-1));

    sb.set("TALLY_TELEMETRY_NOW", &day1);
    sb.ok(&["config", "otel", "get", "usage-analytics-enabled"]);
    sb.ok(&["config", "otel", "get", "usage-analytics-enabled"]);
    sb.set("TALLY_TELEMETRY_NOW", &day2);
    sb.ok(&["config", "otel", "get", "usage-analytics-enabled"]);
    sb.set("TALLY_TELEMETRY_NOW", &later);
    let flush: serde_json::Value =
        serde_json::from_str(&sb.ok(&["telemetry", "flush", "--json"])).unwrap();
    // "nothing_due" when the flush process's own background send (started
    // at init) delivered first; the report below is what counts.
    assert!(
        flush["result"] == "sent" || flush["result"] == "nothing_due",
        "{flush}"
    );

    let (status, log) = srv.stop();
    assert!(status.success(), "{log}");
    let r = report(&server_sb, &server_sb.root().join("server.sqlite3"), 1, &[]);
    assert_eq!(
        command_counts(&r),
        json!([{"command": "config otel get", "count": 3, "machines": 1}]),
        "{r:#}"
    );
    // Each run said how it ended (tally's own commands finish with their
    // exit code) and how long it took.
    let c = &r["commands"][0];
    assert_eq!(c["outcomes"]["success"], 3, "{r:#}");
    assert_eq!(c["failure_rate"], 0.0);
    let timed: u64 = c["duration"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(timed, 3, "every run in a duration bucket: {r:#}");
    assert_eq!(
        r["days"],
        json!([{"day": day1, "machines": 1}, {"day": day2, "machines": 1}])
    );
    assert_eq!(r["machines"], 1);
    assert_eq!(r["versions"][0]["app"], "tally");
    assert_eq!(r["versions"][0]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        r["platforms"][0]["os"],
        tally_telemetry::schema::current_os()
    );
    assert_eq!(r["dropped"]["unknown_fields"], 0);
    assert_eq!(r["tools"], json!([]));

    let only_other_app = report(
        &server_sb,
        &server_sb.root().join("server.sqlite3"),
        1,
        &["--app", "someone-else"],
    );
    assert_eq!(only_other_app["commands"], json!([]));
}

#[test]
fn a_canary_planted_in_args_cwd_env_paths_and_unknown_fields_is_never_stored() {
    let canary = format!("zqxcanary{}", &uuid()[..8]);
    let server_sb = Sandbox::new();
    let srv = Server::start(&server_sb, &[]);

    let mut sb = client(&srv);
    let cwd = sb.root().join(format!("work-{canary}"));
    std::fs::create_dir_all(&cwd).unwrap();
    let state = sb.root().join(format!("state-{canary}"));
    sb.set("TALLY_TELEMETRY_DIR", state.display().to_string())
        .set(&format!("{}_VAR", canary.to_uppercase()), &canary)
        .set("TALLY_EXTRA", &canary);
    let run = |args: &[&str], now: &str| {
        let mut cmd = sb.command(&crate::support::tally_bin(), args);
        cmd.current_dir(&cwd).env("TALLY_TELEMETRY_NOW", now);
        cmd.output().expect("run tally")
    };
    // An argument value (an unknown key: the command fails but is counted).
    let out = run(&["config", "otel", "get", &canary], &day(-2));
    assert!(!out.status.success());
    run(
        &["config", "otel", "get", "usage-analytics-enabled"],
        &day(-2),
    );
    let out = run(&["telemetry", "flush", "--json"], &day(-1));
    let flushed = text(&out.stdout);
    assert!(
        flushed.contains("\"sent\"") || flushed.contains("\"nothing_due\""),
        "{flushed}"
    );

    // A hand-made batch carrying the canary everywhere the schema has no
    // place for it.
    let mut b = batch(&uuid(), &uuid(), &day(-1), &[("build", 1)]);
    b[&canary] = json!(canary);
    b["envelope"]["hostname"] = json!(canary);
    b["envelope"][format!("{canary}_key")] = json!(1);
    b["events"][0]["commands"][0]["args"] = json!(canary);
    // A command's value: the server cannot know the host's set, so it
    // refuses every value not of the schema's shape (a path, spaces, upper
    // case, over 32 characters) and keeps the runs under the command.
    for bad in [
        format!("/home/{canary}"),
        format!("{canary} x"),
        canary.to_uppercase(),
        canary.repeat(3),
    ] {
        b["events"][0]["commands"]
            .as_array_mut()
            .unwrap()
            .push(json!({"command": "build", "value": bad, "count": 1}));
    }
    b["events"][0]["cwd"] = json!(format!("/home/{canary}"));
    b["events"][0]["commands"]
        .as_array_mut()
        .unwrap()
        .push(json!({"command": format!("/home/{canary}/x"), "count": 1}));
    b["events"][0]["tool_calls"] = json!([{
        "tool": format!("{canary} with spaces"), "outcome": "ok", "count": 1,
        "latency": [1, 0, 0, 0, 0, 0, 0], "error_message": canary
    }]);
    b["events"][0]["clients"] = json!([{"client": canary, "count": 1}]);
    b["events"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": canary, "day": day(-1), "payload": canary}));
    b["events"].as_array_mut().unwrap().push(json!({
        "type": "facts", "day": day(-1), "auth_type": canary, "backend_count": canary
    }));
    assert_eq!(post(srv.addr, &bytes(&b)).status, 204);

    let (status, log) = srv.stop();
    assert!(status.success());
    assert!(
        !log.contains(&canary),
        "the server log carries the canary: {log}"
    );
    let db = server_sb.root().join("server.sqlite3");
    let dump = dump(&db);
    assert!(
        dump.contains("config otel get"),
        "the client's data arrived: {dump}"
    );
    assert!(dump.contains("build"), "the posted batch arrived");
    assert!(!dump.to_lowercase().contains(&canary), "{dump}");
    // Nor in any form of the report, the HTML page included.
    let db_text = db.display().to_string();
    for form in [&["--json"][..], &[], &["--html", "-"]] {
        let mut args = vec!["report", "--db", &db_text, "--min-machines", "1"];
        args.extend_from_slice(form);
        let out = server_sb.ok(&args);
        assert!(out.contains("config otel get"), "{form:?}: {out}");
        assert!(!out.to_lowercase().contains(&canary), "{form:?}: {out}");
    }
    // And not in the raw bytes either (free pages, WAL, anything).
    for entry in std::fs::read_dir(server_sb.root()).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("server.sqlite3") {
            let raw = std::fs::read(entry.path()).unwrap();
            assert!(
                !raw.windows(canary.len()).any(|w| w == canary.as_bytes()),
                "{name} contains the canary"
            );
        }
    }
}

/// Posts one batch per machine with `command`, from `machines` machines.
fn from_machines(srv: &Server, machines: usize, command: &str) {
    for _ in 0..machines {
        let b = batch(&uuid(), &uuid(), &day(-1), &[(command, 2)]);
        assert_eq!(post(srv.addr, &bytes(&b)).status, 204);
    }
}

#[test]
fn rows_from_fewer_than_k_machines_are_folded_into_other_in_json_and_tables() {
    let sb = Sandbox::new();
    let srv = Server::start(&sb, &[]);
    from_machines(&srv, 3, "common");
    from_machines(&srv, 1, "rare-one");
    from_machines(&srv, 1, "rare-two");
    srv.stop();
    let db = sb.root().join("server.sqlite3");

    let r = report(&sb, &db, 2, &[]);
    assert_eq!(
        command_counts(&r),
        json!([
            {"command": "common", "count": 6, "machines": 3},
            {"command": "other", "count": 4, "machines": 2}
        ])
    );
    let r = report(&sb, &db, 3, &[]);
    assert_eq!(
        command_counts(&r),
        json!([{"command": "common", "count": 6, "machines": 3}])
    );
    assert!(r["withheld_rows"].as_u64().unwrap() >= 2);
    let tables = sb.ok(&[
        "report",
        "--db",
        &db.display().to_string(),
        "--min-machines",
        "3",
    ]);
    assert!(tables.contains("common"), "{tables}");
    assert!(!tables.contains("rare-"), "{tables}");
}

#[test]
fn the_report_prints_aligned_tables_without_colour_when_piped() {
    let sb = Sandbox::new();
    let srv = Server::start(&sb, &[]);
    from_machines(&srv, 2, "build");
    srv.stop();
    let out = sb.ok(&[
        "report",
        "--db",
        &sb.root().join("server.sqlite3").display().to_string(),
        "--min-machines",
        "1",
    ]);
    assert!(
        !out.contains('\u{1b}'),
        "no escape codes on a pipe: {out:?}"
    );
    for section in [
        "Active machines per day",
        "Commands",
        "MCP tool calls",
        "MCP clients",
        "App versions",
        "OS / architecture",
        "Lifecycle events",
        "Dropped",
    ] {
        assert!(out.contains(section), "{section} missing: {out}");
    }
    let header = out.lines().find(|l| l.contains("command")).unwrap();
    let row = out.lines().find(|l| l.contains("build")).unwrap();
    assert_eq!(
        header.find("runs").map(|i| i + "runs".len()),
        row.find('4').map(|i| i + 1),
        "numbers are right-aligned under their header:\n{header}\n{row}"
    );
}

#[test]
fn a_report_without_a_store_says_where_it_looked_and_what_to_do() {
    let sb = Sandbox::new();
    let missing = sb.root().join("nope.sqlite3");
    let out = sb.tally(&["report", "--db", &missing.display().to_string()]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("nope.sqlite3") && err.contains("tally serve"),
        "{err}"
    );
    assert!(!missing.exists(), "a report never creates a store");

    let out = sb.tally(&["report", "--since", "last-week"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--since"));
}

/// `report | head` printed a broken-pipe error.
#[test]
fn a_report_into_a_closed_pipe_is_not_an_error() {
    let sb = Sandbox::new();
    let srv = Server::start(&sb, &[]);
    from_machines(&srv, 2, "build");
    srv.stop();
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe() returns.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: the read end is ours and closed once: the reader went away.
    unsafe { libc::close(fds[0]) };
    // SAFETY: the write end is a fresh descriptor owned by nothing else.
    let write_end =
        unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fds[1]) };
    let db = sb.root().join("server.sqlite3").display().to_string();
    for json in [false, true] {
        let mut args = vec!["report", "--db", &db, "--min-machines", "1"];
        if json {
            args.push("--json");
        }
        let out = sb
            .command(&crate::support::tally_bin(), &args)
            .stdout(std::process::Stdio::from(write_end.try_clone().unwrap()))
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        assert_eq!(text(&out.stderr), "", "{args:?}");
    }
}
