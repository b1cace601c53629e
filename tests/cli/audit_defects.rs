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
