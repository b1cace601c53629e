//! OTLP export of tally's own binary, to the user's collector as in
//! `otlp.rs` (whose loopback collector and Python parser these tests use):
//! `tally` exporting its own command counts with product analytics off, and
//! `tally serve` exporting the batches it accepted, periodically and at
//! shutdown, without a machine id.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::delivery::{D1, D2};
use crate::otlp::{Collector, metric, parse_with_python, point};
use crate::support::{Sandbox, tally_bin, text};

#[test]
fn tally_binary_exports_its_own_counts_with_product_analytics_off() {
    // tally ships with no product endpoint and opt-in: OTLP alone works.
    let c = Collector::start(Some(200));
    let mut sb = Sandbox::new();
    sb.set("OTEL_EXPORTER_OTLP_ENDPOINT", c.base())
        .set("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json");
    let out = sb
        .command(
            &tally_bin(),
            &["config", "otel", "get", "usage-analytics-enabled"],
        )
        .env("TALLY_TELEMETRY_NOW", D1)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = sb
        .command(&tally_bin(), &["telemetry", "flush"])
        .env("TALLY_TELEMETRY_NOW", D2)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let reqs = c.wait_for(1);
    assert_eq!(reqs.len(), 1);
    let parsed = parse_with_python(&reqs);
    assert_eq!(parsed[0][0]["resource"]["service.name"], "tally");
    let runs = metric(&parsed[0], "tally.command.runs");
    assert_eq!(
        point(
            runs,
            serde_json::json!({"command": "config otel get", "outcome": "success"})
        )["value"],
        1
    );
    let st: Value = serde_json::from_slice(
        &sb.command(&tally_bin(), &["telemetry", "status", "--json"])
            .env("TALLY_TELEMETRY_NOW", D2)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(st["enabled"], false);
    assert_eq!(st["otlp"]["enabled"], true);
    // Product analytics is off: nothing it could send later stays behind.
    let spool = sb.state_dir().join("spool.jsonl");
    let left = std::fs::read_to_string(&spool).unwrap_or_default();
    assert!(
        !left.contains(D1),
        "D1 lines kept for a later `telemetry on`: {left}"
    );
}

/// Sums `tally.command.runs` for `command` over parsed requests.
fn runs_of(parsed: &[Value], command: &str) -> i64 {
    parsed
        .iter()
        .flat_map(|req| req.as_array().unwrap().iter())
        .flat_map(|res| res["metrics"].as_array().unwrap().iter())
        .filter(|m| m["name"] == "tally.command.runs")
        .flat_map(|m| m["points"].as_array().unwrap().iter())
        .filter(|p| p["attributes"]["command"] == command)
        .map(|p| p["value"].as_i64().unwrap())
        .sum()
}

#[test]
fn tally_serve_exports_what_it_accepted_and_flushes_at_shutdown() {
    use crate::serve_support::{Server, batch, bytes, day, post, uuid};
    // Periodic export: two machines' batches, one resent (not counted twice).
    let c = Collector::start(Some(200));
    let mut sb = Sandbox::new();
    sb.set("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20op")
        .set("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod");
    let base = c.base();
    let server = Server::start(&sb, &["--otlp-endpoint", &base, "--otlp-interval", "1"]);
    let (m1, m2) = (uuid(), uuid());
    let b1 = bytes(&batch(&m1, &uuid(), &day(-1), &[("build", 3)]));
    assert_eq!(post(server.addr, &b1).status, 204);
    assert_eq!(post(server.addr, &b1).status, 204, "a resend");
    let b2 = bytes(&batch(&m2, &uuid(), &day(-1), &[("build", 4), ("test", 1)]));
    assert_eq!(post(server.addr, &b2).status, 204);
    let start = Instant::now();
    let mut parsed = Vec::new();
    while start.elapsed() < Duration::from_secs(10) {
        parsed = parse_with_python(&c.requests());
        if runs_of(&parsed, "build") >= 7 && runs_of(&parsed, "test") >= 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(runs_of(&parsed, "build"), 7, "{parsed:?}");
    assert_eq!(runs_of(&parsed, "test"), 1);
    let reqs = c.requests();
    assert!(reqs.iter().all(|r| r.path == "/v1/metrics"));
    assert!(
        reqs.iter()
            .all(|r| r.headers["authorization"] == "Bearer op")
    );
    for r in &reqs {
        let t = text(&r.body);
        assert!(
            !t.contains(&m1) && !t.contains(&m2),
            "a machine id reached the collector"
        );
    }
    let first = parsed
        .iter()
        .find(|p| !p.as_array().unwrap().is_empty())
        .unwrap();
    let res = &first[0]["resource"];
    assert_eq!(res["service.name"], "demo");
    assert_eq!(res["service.version"], "1.2.3");
    assert_eq!(res["deployment.environment"], "prod");
    assert!(res.get("service.instance.id").is_none());
    let (status, _) = server.stop();
    assert!(status.success());

    // A long interval: what is still in memory goes out at shutdown.
    let c = Collector::start(Some(200));
    let sb = Sandbox::new();
    let mut sb = sb;
    sb.set("OTEL_EXPORTER_OTLP_ENDPOINT", c.base())
        .set("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json");
    let server = Server::start(&sb, &["--otlp-interval", "3600"]);
    let b = bytes(&batch(&uuid(), &uuid(), &day(-1), &[("deploy", 2)]));
    assert_eq!(post(server.addr, &b).status, 204);
    std::thread::sleep(Duration::from_millis(300));
    assert!(c.requests().is_empty(), "exported before the interval");
    let (status, log) = server.stop();
    assert!(status.success(), "{log}");
    let reqs = c.wait_for(1);
    assert_eq!(reqs.len(), 1, "{log}");
    assert_eq!(reqs[0].headers["content-type"], "application/json");
    assert_eq!(runs_of(&parse_with_python(&reqs), "deploy"), 2);
}
