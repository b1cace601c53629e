//! Command outcomes and durations, the way a host produces them: the
//! example host's commands succeed, fail, exit through
//! `std::process::exit`, or are given a wrong command line; a later run
//! delivers the completed day to a real `tally serve`, and `tally report`
//! ranks the commands by failure rate.

use serde_json::json;

use crate::serve_support::*;
use crate::support::{Sandbox, text};

#[test]
fn command_outcomes_and_durations_reach_the_report_ranked_by_failure_rate() {
    let server_sb = Sandbox::new();
    let srv = Server::start(&server_sb, &[]);
    let mut sb = Sandbox::new();
    sb.set("HOST_TELEMETRY", "1")
        .set("HOST_TELEMETRY_ENDPOINT", srv.endpoint());
    let (yesterday, today) = (day(-2), day(-1));

    sb.set("HOST_TELEMETRY_NOW", &yesterday);
    for _ in 0..3 {
        sb.host(&["build"]);
    }
    let fail = sb.host(&["fail"]);
    assert_eq!(fail.status.code(), Some(1), "the host's own exit code");
    // Through std::process::exit, after telling tally the code.
    let deep = sb.host(&["exit-deep", "3"]);
    assert_eq!(deep.status.code(), Some(3));
    assert_eq!(
        text(&deep.stdout),
        "exiting with 3\n",
        "nothing added to stdout"
    );

    // The next day's first 2 ms command delivers yesterday, through the
    // delivery helper it starts at exit, as in any user's CLI.
    sb.set("HOST_TELEMETRY_NOW", &today);
    assert!(sb.host(&["build"]).status.success());
    crate::helper::wait_sent(&sb, 1);
    let (status, log) = srv.stop();
    assert!(status.success(), "{log}");

    let r = report(&server_sb, &server_sb.root().join("server.sqlite3"), 1, &[]);
    let row = |name: &str| {
        r["commands"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["command"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} row in {r:#}"))
    };
    let build = row("build");
    assert_eq!(build["count"], 3);
    assert_eq!(build["outcomes"]["success"], 3);
    assert_eq!(build["failure_rate"], 0.0);
    // A 2 ms command lands in the shortest duration bucket.
    assert_eq!(build["duration"], json!([3, 0, 0, 0, 0, 0, 0]), "{r:#}");
    assert_eq!(row("fail")["outcomes"]["failure"], 1);
    assert_eq!(row("fail")["failure_rate"], 1.0);
    assert_eq!(row("exit-deep")["outcomes"]["failure"], 1, "{r:#}");
    assert_eq!(r["duration_buckets"][0], "<0.1s");

    // The tables rank the failing commands.
    let tables = server_sb.ok(&[
        "report",
        "--db",
        &server_sb
            .root()
            .join("server.sqlite3")
            .display()
            .to_string(),
        "--min-machines",
        "1",
        "--since",
        "30d",
    ]);
    let ranked = tables
        .split("Commands by failure rate")
        .nth(1)
        .expect("a failure-rate section");
    let fail_at = ranked.find("fail").unwrap();
    assert!(ranked.contains("100.0%"), "{tables}");
    assert!(
        !ranked[..fail_at].contains("build"),
        "build never failed: {tables}"
    );
}

#[test]
fn a_command_that_never_says_how_it_ended_counts_as_unknown() {
    // A panic out of main never reaches `finish`; the process still exits
    // through the exit hook after unwinding, which counts the open run.
    let mut sb = Sandbox::new();
    sb.set("HOST_TELEMETRY", "1");
    sb.set("HOST_TELEMETRY_NOW", day(-2));
    let out = sb.host(&["panic"]);
    assert!(!out.status.success());
    let spool = std::fs::read_to_string(sb.root().join("state/host/spool.jsonl")).unwrap();
    let line = spool
        .lines()
        .find(|l| l.contains("\"name\":\"panic\""))
        .unwrap_or_else(|| panic!("the panicking run is in the spool: {spool}"));
    assert!(line.contains("\"outcome\":\"unknown\""), "{line}");
}
