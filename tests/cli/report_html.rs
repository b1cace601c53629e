//! `tally report --html`: batches from many machines go through a real
//! `tally serve`, the page is written by the real binary and opened in
//! headless Chromium, which must draw something (the screenshot has many
//! non-background pixels), log no error and fetch nothing. Names that try
//! to inject markup must stay text, whether the server refuses them or a
//! store already holds them; an empty store gives a page that says so.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::browser::{pixels, visit};
use crate::serve_support::*;
use crate::support::{Sandbox, text};

/// A rich batch for `machine` on `day`: commands with outcomes and
/// durations, MCP tool calls, a client, an install, facts.
fn rich_batch(machine: &str, day: &str, failures: u64) -> Value {
    let mut commands = vec![
        json!({"command": "build", "outcome": "success", "count": 9, "duration": [0, 2, 3, 4, 0, 0, 0]}),
        json!({"command": "deploy", "outcome": "success", "count": 3, "duration": [0, 0, 0, 0, 1, 2, 0]}),
        json!({"command": "config get", "outcome": "usage_error", "count": 1, "duration": [1, 0, 0, 0, 0, 0, 0]}),
    ];
    if failures > 0 {
        commands.push(json!({"command": "deploy", "outcome": "failure", "count": failures, "duration": [0, 0, 0, 0, failures, 0, 0]}));
    }
    json!({
        "envelope": {
            "app": "forge", "app_version": "1.4.1", "os": "linux", "arch": "x86_64",
            "ci": false, "schema": 2, "machine_id": machine, "batch_id": uuid()
        },
        "events": [
            {"type": "usage_rollup", "day": day, "commands": commands,
             "tool_calls": [
                {"tool": "search_code", "outcome": "ok", "count": 20, "latency": [5, 10, 5, 0, 0, 0, 0]},
                {"tool": "search_code", "outcome": "tool_error", "count": 2, "latency": [0, 0, 2, 0, 0, 0, 0]},
                {"tool": "run_tests", "outcome": "protocol_error", "error_class": "invalid_params", "count": 1, "latency": [1, 0, 0, 0, 0, 0, 0]}
             ],
             "clients": [{"client": "claude-code", "major": 2, "count": 3}]},
            {"type": "lifecycle", "day": day, "kind": "install", "count": 1},
            {"type": "facts", "day": day, "auth_type": "oidc"}
        ]
    })
}

/// Runs `tally report --html <file>` over `db` with k = `k` and `extra`
/// arguments; returns the page's path and its text.
fn html_report(sb: &Sandbox, db: &Path, k: usize, extra: &[&str]) -> (PathBuf, String) {
    let file = sb.root().join(format!("report-{}.html", uuid()));
    let (db, k, f) = (
        db.display().to_string(),
        k.to_string(),
        file.display().to_string(),
    );
    let mut args = vec!["report", "--db", &db, "--min-machines", &k, "--html", &f];
    args.extend_from_slice(extra);
    let printed = sb.ok(&args);
    assert_eq!(printed, "", "--html FILE prints nothing on stdout");
    let page = std::fs::read_to_string(&file).unwrap();
    (file, page)
}

/// The browser's verdict on a page: no console output, no request.
fn assert_clean(v: &crate::browser::Visit) {
    assert!(v.console.is_empty(), "console: {:#?}", v.console);
    assert!(v.requests.is_empty(), "network requests: {:#?}", v.requests);
}

const DOM_PROBES: [&str; 3] = [
    "document.querySelectorAll('script, img, iframe, object, embed, link, [onerror], [onload]').length",
    "document.body.innerText",
    "document.querySelectorAll('section svg rect').length",
];

#[test]
fn the_html_report_draws_in_chromium_without_script_error_or_request() {
    let sb = Sandbox::new();
    let srv = Server::start(&sb, &[]);
    // Six machines this period and three in the one before, so every row
    // passes k = 3 and each headline number has something to compare with.
    for m in 0..6 {
        let machine = uuid();
        for d in [-6, -4, -2] {
            let failures = if m % 2 == 0 { 2 } else { 0 };
            assert_eq!(
                post(srv.addr, &bytes(&rich_batch(&machine, &day(d), failures))).status,
                204
            );
        }
        if m < 3 {
            let b = rich_batch(&machine, &day(-12), 0);
            assert_eq!(post(srv.addr, &bytes(&b)).status, 204);
        }
    }
    let (status, log) = srv.stop();
    assert!(status.success(), "{log}");
    let db = sb.root().join("server.sqlite3");

    let (file, page) = html_report(&sb, &db, 3, &["--since", "9d"]);
    for needle in [
        "<!DOCTYPE html>",
        "Content-Security-Policy",
        "Active machines",
        "Commands run",
        "MCP tool calls",
        "Command failure rate",
        "Active machines per day",
        "Failing most often",
        "How long it takes",
        "MCP clients",
        "App versions",
        "OS and architecture",
        "Lifecycle events",
        "What was dropped",
        "search_code",
        "claude-code",
        "config get",
    ] {
        assert!(page.contains(needle), "{needle} missing");
    }
    // 6 machines now against 3 before: +100 %; runs 6 × 3 × 13 plus the
    // failures of three machines (3 × 3 × 2) = 252, shown as people read it.
    assert!(page.contains("▲\u{a0}100\u{a0}%"), "machines doubled");
    assert!(page.contains(">252<"), "commands run");
    assert!(!page.contains("<script"), "no script in the page");
    assert!(
        !page.contains("http://") && !page.contains("https://") && !page.contains("url(http"),
        "nothing to fetch"
    );

    // The same page on stdout with `-`.
    let dash = sb.ok(&[
        "report",
        "--db",
        &db.display().to_string(),
        "--min-machines",
        "3",
        "--since",
        "9d",
        "--html",
        "-",
    ]);
    assert_eq!(dash, page);

    let v = visit(&file, 1100, &DOM_PROBES);
    assert_clean(&v);
    assert_eq!(v.answers[0], 0, "no active element in the DOM");
    let body = v.answers[1].as_str().unwrap();
    assert!(
        body.contains("deploy") && body.contains("Failing most often"),
        "{body}"
    );
    assert!(v.answers[2].as_u64().unwrap() > 30, "bars were drawn");
    let p = pixels(&v.png);
    assert_eq!(p.width, 1100);
    assert!(p.height > 1500, "the whole page: {} px", p.height);
    let share = p.not_background as f64 / (p.width * p.height) as f64;
    assert!(
        share > 0.15 && p.colours > 200,
        "a blank-looking screenshot: {:.1} % drawn, {} colours",
        share * 100.0,
        p.colours
    );
}

#[test]
fn names_that_try_to_inject_markup_stay_text_in_the_html_report() {
    let sb = Sandbox::new();
    let srv = Server::start(&sb, &[]);
    let hostile = r#"x"'><script>console.error("xss")</script><img src="http://127.0.0.1:9/x" onerror="console.error(1)">"#;
    for _ in 0..2 {
        let mut b = rich_batch(&uuid(), &day(-2), 1);
        // Through the front door: the schema refuses such names.
        b["events"][0]["commands"]
            .as_array_mut()
            .unwrap()
            .push(json!({"command": hostile, "outcome": "success", "count": 1}));
        b["events"][0]["tool_calls"].as_array_mut().unwrap().push(
            json!({"tool": hostile, "outcome": "ok", "count": 1, "latency": [1, 0, 0, 0, 0, 0, 0]}),
        );
        let r = post(srv.addr, &bytes(&b));
        assert_eq!(r.status, 204, "{}", r.body);
    }
    let (status, log) = srv.stop();
    assert!(status.success(), "{log}");
    let db = sb.root().join("server.sqlite3");
    let (file, page) = html_report(&sb, &db, 1, &[]);
    assert!(!page.contains("xss"), "the server dropped the names");
    assert!(
        page.contains("values outside the schema"),
        "and the page says so"
    );

    // A store that holds such names anyway (written by another version or
    // backend, or edited by hand): they must render as inert text.
    let conn = rusqlite::Connection::open(&db).unwrap();
    for (from, to) in [
        ("build", hostile.to_owned()),
        ("search_code", format!("{hostile}2")),
        ("linux", format!("{hostile}3")),
        ("1.4.1", format!("{hostile}4")),
    ] {
        let n = conn
            .execute("UPDATE dims SET text = ?1 WHERE text = ?2", [&to, from])
            .unwrap();
        assert_eq!(n, 1, "{from} is a dimension of the store");
    }
    drop(conn);
    let (file2, page) = html_report(&sb, &db, 1, &["--app", "forge"]);
    assert!(!page.contains("<script"), "markup escaped");
    assert!(!page.contains("<img"), "markup escaped");
    assert!(page.contains("&lt;script&gt;console.error(&quot;xss&quot;)"));
    for f in [&file, &file2] {
        let v = visit(f, 1000, &DOM_PROBES);
        assert_clean(&v);
        assert_eq!(v.answers[0], 0, "no element came from a name");
        if f == &file2 {
            let body = v.answers[1].as_str().unwrap();
            assert!(body.contains(hostile), "shown as text: {body}");
        }
    }
}

#[test]
fn an_empty_store_gives_a_page_that_says_there_is_no_data() {
    let sb = Sandbox::new();
    let srv = Server::start(&sb, &[]);
    let (status, _) = srv.stop();
    assert!(status.success());
    let (file, page) = html_report(&sb, &sb.root().join("server.sqlite3"), 5, &[]);
    for said in [
        "No activity in this period.",
        "No commands were run in this period.",
        "No MCP tool calls in this period.",
        "No command reported its duration in this period.",
        "No MCP sessions in this period.",
        "No installs, upgrades or uninstalls in this period.",
        "Nothing was dropped in this period.",
    ] {
        assert!(page.contains(said), "{said} missing");
    }
    let v = visit(&file, 1000, &DOM_PROBES);
    assert_clean(&v);
    let body = v.answers[1].as_str().unwrap();
    assert!(body.contains("No activity in this period."), "{body}");
    let p = pixels(&v.png);
    assert!(
        p.not_background > 5_000,
        "even an empty page shows its frame"
    );

    // A file that cannot be written: the error names it and says what to do.
    let bad = sb.root().join("no-such-dir").join("r.html");
    let out = sb.tally(&[
        "report",
        "--db",
        &sb.root().join("server.sqlite3").display().to_string(),
        "--html",
        &bad.display().to_string(),
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("no-such-dir") && err.contains("directory"),
        "{err}"
    );
}

/// With rows only withheld (one machine, k = 5), the page said "No commands
/// were run in this period", and the header "at least 1 distinct machines".
#[test]
fn withheld_rows_are_not_reported_as_nothing_having_happened() {
    let sb = Sandbox::new();
    let srv = Server::start(&sb, &[]);
    let b = rich_batch(&uuid(), &day(-2), 1);
    assert_eq!(post(srv.addr, &bytes(&b)).status, 204);
    let (status, log) = srv.stop();
    assert!(status.success(), "{log}");
    let db = sb.root().join("server.sqlite3");
    let (_, page) = html_report(&sb, &db, 5, &[]);
    assert!(
        !page.contains("No commands were run in this period."),
        "the commands were run, on too few machines to show"
    );
    assert!(
        page.contains("no commands were run in this period. Or each row rested on fewer than 5 machines, and was withheld."),
        "{page}"
    );
    let (_, page) = html_report(&sb, &db, 1, &[]);
    assert!(
        page.contains("at least <b>1</b> distinct machine;"),
        "{page}"
    );
}
