//! Closed-set dimensions, as a user meets them: the example host records
//! which shell `init` targets (`Builder::record_value("init", "shell")`,
//! a `ValueEnum`), its completed day goes to a real `tally serve`, and
//! `tally report` splits `init` per shell in every form. Free text typed
//! next to it, a value outside the set, and a declaration on a free-text
//! argument never reach the spool, the wire, the store or the report.

use serde_json::json;

use crate::serve_support::*;
use crate::support::{Sandbox, files_under, host_bin, text};

#[test]
fn init_runs_arrive_in_the_report_per_shell_and_free_text_never_leaves() {
    let canary = format!("zqxcanary{}", &uuid()[..8]);
    let server_sb = Sandbox::new();
    let srv = Server::start(&server_sb, &[]);
    let mut sb = Sandbox::new();
    let state = sb.root().join("host-state");
    sb.set("HOST_TELEMETRY", "1")
        .set("HOST_TELEMETRY_ENDPOINT", srv.endpoint())
        .set("HOST_TELEMETRY_DIR", state.display().to_string())
        // `build`'s free-text path declared as recorded: refused.
        .set("HOST_EXAMPLE_RECORD_FREE_TEXT", "1");
    let (day1, later) = (day(-2), day(-1));
    let rc = format!("/home/{canary}/.rc");
    let run = |args: &[&str], now: &str| {
        sb.command(&host_bin(), args)
            .env("HOST_TELEMETRY_NOW", now)
            .output()
            .expect("run host")
    };
    for args in [
        &["init", "zsh"][..],
        &["init", "zsh", "--rc-file", &rc],
        &["init", "bash"],
        &["init", "pwsh"],
        &["build", &rc],
    ] {
        let out = run(args, &day1);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    }
    // A host that records from its own matches records the value too.
    let out = sb
        .command(&host_bin(), &["init", "fish"])
        .env("HOST_TELEMETRY_NOW", &day1)
        .env("HOST_EXAMPLE_RECORD_MATCHES", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Outside the set: clap refuses it before anything is recorded.
    let out = run(&["init", &canary], &day1);
    assert_eq!(out.status.code(), Some(2));

    // What `show` says is waiting, and what the spool holds.
    let show = text(&run(&["telemetry", "show", "--json"], &later).stdout);
    assert!(
        show.contains("\"value\":\"zsh\"") || show.contains("\"value\": \"zsh\""),
        "{show}"
    );
    let status = text(&run(&["telemetry", "status"], &later).stdout);
    assert!(
        status.contains("`path` takes any value, so it is never recorded"),
        "{status}"
    );
    let flush = run(&["telemetry", "flush", "--json"], &later);
    let flushed = text(&flush.stdout);
    assert!(
        flushed.contains("\"sent\"") || flushed.contains("\"nothing_due\""),
        "{flushed}"
    );
    let (st, log) = srv.stop();
    assert!(st.success(), "{log}");

    let db = server_sb.root().join("server.sqlite3");
    let r = report(&server_sb, &db, 1, &[]);
    let init = r["commands"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["command"] == "init")
        .unwrap_or_else(|| panic!("{r:#}"));
    assert_eq!(init["count"], 5, "{r:#}");
    assert_eq!(
        r["values"],
        json!([
            {"command": "init", "value": "zsh", "count": 2, "machines": 1},
            {"command": "init", "value": "bash", "count": 1, "machines": 1},
            {"command": "init", "value": "fish", "count": 1, "machines": 1},
            {"command": "init", "value": "pwsh", "count": 1, "machines": 1},
        ]),
        "{r:#}"
    );
    assert_eq!(r["dropped"]["invalid_values"], 0, "{r:#}");
    let db_text = db.display().to_string();
    let table = server_sb.ok(&["report", "--db", &db_text, "--min-machines", "1"]);
    assert!(table.contains("Commands by value"), "{table}");
    let html = server_sb.ok(&[
        "report",
        "--db",
        &db_text,
        "--min-machines",
        "1",
        "--html",
        "-",
    ]);
    assert!(html.contains("By value") && html.contains("pwsh"), "{html}");

    // The canary: nowhere in the client's files, the store, or the report.
    let mut files = Vec::new();
    files.extend(files_under(&state));
    assert!(files.iter().any(|f| f.ends_with("sent.jsonl")), "{files:?}");
    for f in files {
        let t = text(&std::fs::read(&f).unwrap());
        assert!(
            !t.contains(&canary),
            "{} holds the canary: {t}",
            f.display()
        );
    }
    assert!(!dump(&db).contains(&canary));
    for out in [&show, &flushed, &table, &html, &r.to_string()] {
        assert!(!out.contains(&canary), "{out}");
    }
}

/// The server cannot know a host's set; it takes only values of the
/// schema's shape, and keeps the runs of any other under the command.
#[test]
fn a_posted_value_outside_the_schema_is_dropped_and_its_runs_kept() {
    let server_sb = Sandbox::new();
    let srv = Server::start(&server_sb, &[]);
    let mut b = batch(&uuid(), &uuid(), &day(-1), &[("init", 1)]);
    b["events"][0]["commands"] = json!([
        {"command": "init", "value": "bash", "count": 2},
        {"command": "init", "value": "/home/zqxsecret/.rc", "count": 1},
        {"command": "init", "value": "Zsh", "count": 1},
        {"command": "init", "value": "x".repeat(33), "count": 1},
    ]);
    assert_eq!(post(srv.addr, &bytes(&b)).status, 204);
    let (st, log) = srv.stop();
    assert!(st.success(), "{log}");
    let db = server_sb.root().join("server.sqlite3");
    let r = report(&server_sb, &db, 1, &[]);
    assert_eq!(r["commands"][0]["count"], 5, "{r:#}");
    assert_eq!(
        r["values"],
        json!([{"command": "init", "value": "bash", "count": 2, "machines": 1}])
    );
    assert_eq!(r["dropped"]["invalid_values"], 3, "{r:#}");
    let d = dump(&db);
    assert!(
        !d.contains("zqxsecret") && !d.contains("Zsh") && !d.contains("xxxx"),
        "{d}"
    );
}
