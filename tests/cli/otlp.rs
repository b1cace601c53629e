//! OTLP export to the user's own collector, driven as a user would: the
//! example host records on day D with `OTEL_EXPORTER_OTLP_*` set, and a
//! run on day D+1 exports. A small loopback collector captures every
//! request (path, headers, body), and the official `opentelemetry-proto`
//! Python package (tests/otlp/parse.py) parses every body, protobuf and
//! JSON, and prints what it says; the values must be what was recorded.
//! The `tally` binary's and `tally serve`'s own exports, with the same
//! collector and parser, are in `otlp_tally.rs`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::delivery::{D1, D2, D3};
use crate::support::{Sandbox, host_bin, text};

/// One captured request.
#[derive(Clone, Debug)]
pub struct Request {
    pub path: String,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

/// A loopback OTLP/HTTP collector that answers `status` (or never).
pub struct Collector {
    pub addr: std::net::SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    status: Arc<Mutex<Option<u16>>>,
}

impl Collector {
    pub fn start(status: Option<u16>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(Mutex::new(status));
        let (r, s) = (requests.clone(), status.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (r, s) = (r.clone(), s.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let path = line.split(' ').nth(1).unwrap_or("").to_owned();
                    let mut headers = BTreeMap::new();
                    loop {
                        let mut l = String::new();
                        if reader.read_line(&mut l).unwrap_or(0) == 0 {
                            return;
                        }
                        let l = l.trim_end();
                        if l.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = l.split_once(':') {
                            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
                        }
                    }
                    let len: usize = headers
                        .get("content-length")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    let mut body = vec![0; len];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    r.lock().unwrap().push(Request {
                        path,
                        headers,
                        body,
                    });
                    let status = *s.lock().unwrap();
                    let Some(status) = status else {
                        std::thread::sleep(Duration::from_secs(3600));
                        return;
                    };
                    let mut stream = stream;
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    );
                });
            }
        });
        Collector {
            addr,
            requests,
            status,
        }
    }

    /// The base URL for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_status(&self, s: Option<u16>) {
        *self.status.lock().unwrap() = s;
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// Waits up to 10 s for `n` requests.
    pub fn wait_for(&self, n: usize) -> Vec<Request> {
        let start = Instant::now();
        while self.requests().len() < n && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.requests()
    }
}

/// Every body parsed by the official Python bindings: one JSON value per
/// request (a list of resources with their metrics).
pub fn parse_with_python(requests: &[Request]) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![format!(
        "{}/tests/otlp/parse.py",
        env!("CARGO_MANIFEST_DIR")
    )];
    for (i, r) in requests.iter().enumerate() {
        let p = dir.path().join(format!("req{i}"));
        std::fs::write(&p, &r.body).unwrap();
        // parse.py reads the content type from FILE.type.
        std::fs::write(
            format!("{}.type", p.display()),
            r.headers.get("content-type").cloned().unwrap_or_default(),
        )
        .unwrap();
        args.push(p.display().to_string());
    }
    let out = Command::new("python3")
        .args(&args)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "opentelemetry-proto could not parse a captured body (run scripts/test.sh to install it): {}",
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A sandbox where product analytics is off (HOST_TELEMETRY=0) and the
/// user's collector is configured.
fn otel_sandbox(c: &Collector) -> Sandbox {
    let mut sb = Sandbox::new();
    sb.set("HOST_TELEMETRY", "0")
        .set("OTEL_EXPORTER_OTLP_ENDPOINT", c.base());
    sb
}

fn run(sb: &Sandbox, day: &str, args: &[&str]) -> std::process::Output {
    let out = sb
        .command(&host_bin(), args)
        .env("HOST_TELEMETRY_NOW", day)
        .output()
        .unwrap();
    assert!(
        out.status.code().is_some(),
        "host {args:?}: {}",
        text(&out.stderr)
    );
    out
}

fn status(sb: &Sandbox, day: &str) -> Value {
    let out = run(sb, day, &["telemetry", "status", "--json"]);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Day D's UTC bounds in Unix nanoseconds, as strings.
fn bounds(day: &str) -> (String, String) {
    let d = tally_telemetry::schema::parse_day(day).unwrap();
    let s = i128::from(d.midnight_unix()) * 1_000_000_000;
    (s.to_string(), (s + 86_400_000_000_000).to_string())
}

pub(crate) fn metric<'a>(parsed: &'a Value, name: &str) -> &'a Value {
    parsed[0]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {parsed}"))
}

pub(crate) fn point(m: &Value, attrs: Value) -> &Value {
    m["points"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["attributes"] == attrs)
        .unwrap_or_else(|| panic!("no point {attrs} in {m}"))
}

/// Records on D1: three successful builds, one failure, one MCP-style run
/// (a tool call and a client).
fn record_day_one(sb: &Sandbox) {
    for _ in 0..3 {
        run(sb, D1, &["build", "--target", "x"]);
    }
    assert_eq!(run(sb, D1, &["fail"]).status.code(), Some(1));
    run(sb, D1, &["serve"]);
}

fn check_day_one(parsed: &Value, service: &str) {
    let (start, end) = bounds(D1);
    let res = &parsed[0]["resource"];
    assert_eq!(res["service.name"], service, "{res}");
    assert!(
        res.get("service.instance.id").is_none(),
        "machine id sent by default: {res}"
    );
    let runs = metric(parsed, "tally.command.runs");
    assert_eq!(runs["kind"], "sum");
    assert_eq!(runs["monotonic"], true);
    assert_eq!(runs["temporality"], "AGGREGATION_TEMPORALITY_DELTA");
    assert_eq!(runs["scope"], "tally");
    let build = point(
        runs,
        serde_json::json!({"command": "build", "outcome": "success"}),
    );
    assert_eq!(build["value"], 3);
    assert_eq!(
        (
            build["start"].as_str().unwrap(),
            build["end"].as_str().unwrap()
        ),
        (start.as_str(), end.as_str())
    );
    assert_eq!(
        point(
            runs,
            serde_json::json!({"command": "fail", "outcome": "failure"})
        )["value"],
        1
    );
    assert_eq!(
        point(
            runs,
            serde_json::json!({"command": "serve", "outcome": "success"})
        )["value"],
        1
    );
    assert_eq!(runs["points"].as_array().unwrap().len(), 3, "{runs}");
    let dur = metric(parsed, "tally.command.duration");
    assert_eq!(dur["kind"], "histogram");
    assert_eq!(dur["unit"], "ms");
    let p = point(
        dur,
        serde_json::json!({"command": "build", "outcome": "success"}),
    );
    assert_eq!(p["count"], 3);
    assert_eq!(
        p["bounds"],
        serde_json::json!([100.0, 500.0, 1000.0, 5000.0, 30000.0, 300000.0])
    );
    assert_eq!(p["buckets"].as_array().unwrap().len(), 7);
    let calls = metric(parsed, "tally.mcp.tool_calls");
    assert_eq!(
        point(calls, serde_json::json!({"outcome": "ok"}))["value"],
        1
    );
    let lat = metric(parsed, "tally.mcp.tool_call.latency");
    let p = point(lat, serde_json::json!({"outcome": "ok"}));
    assert_eq!(
        p["buckets"],
        serde_json::json!([1, 0, 0, 0, 0, 0, 0]),
        "3 ms is in <10ms"
    );
    assert_eq!(
        p["bounds"],
        serde_json::json!([10.0, 50.0, 100.0, 500.0, 1000.0, 5000.0])
    );
    let clients = metric(parsed, "tally.mcp.client_sessions");
    assert_eq!(
        point(
            clients,
            serde_json::json!({"client": "claude-code", "client_major_version": 1})
        )["value"],
        1
    );
}

#[test]
fn a_completed_day_reaches_the_collector_once_in_protobuf_and_json() {
    for protocol in ["http/protobuf", "http/json"] {
        let c = Collector::start(Some(200));
        let mut sb = otel_sandbox(&c);
        sb.set("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
            .set(
                "OTEL_EXPORTER_OTLP_HEADERS",
                "x-api-key=s%3Dcret,x-team = blue team",
            )
            .set(
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment=test%20lab",
            );
        record_day_one(&sb);
        assert!(c.requests().is_empty(), "nothing before the day completes");
        // D2: a command that runs long enough for the background export.
        let out = run(&sb, D2, &["wait-ms", "1500"]);
        assert_eq!(text(&out.stdout), "waited\n", "stdout is the host's");
        assert!(out.stderr.is_empty(), "silent: {}", text(&out.stderr));
        let reqs = c.wait_for(1);
        assert_eq!(reqs.len(), 1, "{protocol}");
        let r = &reqs[0];
        assert_eq!(r.path, "/v1/metrics");
        assert_eq!(r.headers["x-api-key"], "s=cret");
        assert_eq!(r.headers["x-team"], "blue team");
        let ctype = if protocol == "http/json" {
            "application/json"
        } else {
            "application/x-protobuf"
        };
        assert_eq!(r.headers["content-type"], ctype);
        let parsed = parse_with_python(&reqs);
        check_day_one(&parsed[0], "host");
        assert_eq!(
            parsed[0][0]["resource"]["deployment.environment"],
            "test lab"
        );

        // Exactly once: later runs and an explicit flush export nothing again.
        run(&sb, D2, &["build"]);
        run(&sb, D2, &["telemetry", "flush"]);
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(c.requests().len(), 1, "D1 exported twice ({protocol})");

        let st = status(&sb, D2);
        assert_eq!(st["enabled"], false, "product analytics stays off");
        assert_eq!(st["decided_by"], "env");
        assert_eq!(st["otlp"]["enabled"], true);
        assert_eq!(st["otlp"]["decided_by"], "otel_env");
        assert_eq!(st["otlp"]["last_exported_day"], D1);
        assert_eq!(st["otlp"]["protocol"], protocol);
        assert_eq!(
            st["otlp"]["header_names"],
            serde_json::json!(["x-api-key", "x-team"])
        );
        assert!(
            !st.to_string().contains("s=cret"),
            "status shows a header value"
        );

        // D3 exports D2 (the build above), and only D2.
        run(&sb, D3, &["telemetry", "flush"]);
        let reqs = c.wait_for(2);
        assert_eq!(reqs.len(), 2);
        let parsed = parse_with_python(&reqs[1..]);
        let runs = metric(&parsed[0], "tally.command.runs");
        assert_eq!(
            point(
                runs,
                serde_json::json!({"command": "build", "outcome": "success"})
            )["value"],
            1
        );
        assert_eq!(runs["points"][0]["start"], bounds(D2).0);
    }
}

#[test]
fn the_metrics_endpoint_is_used_as_is_and_the_machine_id_only_on_request() {
    let c = Collector::start(Some(200));
    let mut sb = Sandbox::new();
    sb.set("HOST_TELEMETRY", "1")
        .set("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
        .set(
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            format!("{}/custom/path", c.base()),
        )
        .set("OTEL_SERVICE_NAME", "my-cli")
        .set("HOST_OTEL_MACHINE_ID", "1");
    record_day_one(&sb);
    run(&sb, D2, &["telemetry", "flush"]);
    let reqs = c.wait_for(1);
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].path, "/custom/path");
    let parsed = parse_with_python(&reqs);
    let st = status(&sb, D2);
    assert_eq!(st["otlp"]["machine_id_sent"], true);
    let id = st["machine_id"].as_str().expect("product on: a machine id");
    assert_eq!(parsed[0][0]["resource"]["service.instance.id"], id);
    assert_eq!(parsed[0][0]["resource"]["service.name"], "my-cli");
}

#[test]
fn otel_sdk_disabled_and_do_not_track_turn_it_off() {
    for (var, value, word) in [
        ("OTEL_SDK_DISABLED", "true", "otel_sdk_disabled"),
        ("DO_NOT_TRACK", "1", "do_not_track"),
    ] {
        let c = Collector::start(Some(200));
        let mut sb = otel_sandbox(&c);
        sb.set(var, value);
        record_day_one(&sb);
        run(&sb, D2, &["wait-ms", "600"]);
        run(&sb, D2, &["telemetry", "flush"]);
        std::thread::sleep(Duration::from_millis(200));
        assert!(c.requests().is_empty(), "{var} exported");
        let st = status(&sb, D2);
        assert_eq!(st["otlp"]["enabled"], false);
        assert_eq!(st["otlp"]["decided_by"], word);
        // Both destinations off: nothing was recorded at all.
        assert!(
            sb.created().iter().all(|p| !p.ends_with("spool.jsonl")),
            "{var}: a spool was written"
        );
    }
}

#[test]
fn a_failing_collector_backs_off_on_disk_and_loses_no_day() {
    let c = Collector::start(Some(503));
    let sb = otel_sandbox(&c);
    record_day_one(&sb);
    run(&sb, D2, &["telemetry", "flush"]);
    assert_eq!(c.requests().len(), 1);
    let st = status(&sb, D2);
    assert!(
        st["otlp"]["last_error"]
            .as_str()
            .unwrap()
            .contains("HTTP 503"),
        "{st}"
    );
    assert!(st["otlp"]["backoff_until"].is_i64(), "{st}");
    assert_eq!(st["otlp"]["pending_days"], serde_json::json!([D1]));
    let out = run(&sb, D2, &["telemetry", "status"]);
    assert!(
        text(&out.stdout).contains("HTTP 503"),
        "{}",
        text(&out.stdout)
    );
    // Background runs honour the backoff: no new request.
    run(&sb, D2, &["wait-ms", "600"]);
    assert_eq!(c.requests().len(), 1, "the backoff was ignored");
    // An explicit flush does not, and the day arrives whole.
    c.set_status(Some(200));
    run(&sb, D2, &["telemetry", "flush"]);
    let reqs = c.wait_for(2);
    assert_eq!(reqs.len(), 2);
    check_day_one(&parse_with_python(&reqs[1..])[0], "host");
    let st = status(&sb, D2);
    assert!(st["otlp"]["last_error"].is_null(), "{st}");
    assert_eq!(st["otlp"]["pending_days"], serde_json::json!([]));
}

#[test]
fn a_hung_collector_is_left_to_the_delivery_helper_and_loses_no_day() {
    let c = Collector::start(None);
    let sb = otel_sandbox(&c);
    record_day_one(&sb);
    // The first run of D2 hands the export to the detached delivery helper
    // at exit; the collector takes the body and never answers. The command
    // itself ends as usual, with nothing of tally's on its output (how long
    // an exit takes is measured by scripts/bench_command.sh, otlp-hung).
    let out = run(&sb, D2, &["build"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "built\n");
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    let reqs = c.wait_for(1);
    assert_eq!(reqs.len(), 1, "the helper sent the day");
    // Product analytics is off, so D1 left the spool; it was on disk in
    // otlp.json first, and arrives whole once the collector answers (the
    // flush waits for the helper to give up on the hung request).
    c.set_status(Some(200));
    run(&sb, D2, &["telemetry", "flush"]);
    let reqs = c.wait_for(2);
    assert_eq!(reqs.len(), 2);
    check_day_one(&parse_with_python(&reqs[1..])[0], "host");
}

#[test]
fn debug_mode_prints_the_otlp_request_and_sends_nothing() {
    let c = Collector::start(Some(200));
    let mut sb = otel_sandbox(&c);
    record_day_one(&sb);
    sb.set("HOST_TELEMETRY_DEBUG", "1");
    let out = run(&sb, D2, &["telemetry", "flush"]);
    let err = text(&out.stderr);
    assert!(
        err.contains("would export 2026-03-10 to the OTLP collector")
            && err.contains("\"tally.command.runs\""),
        "{err}"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(c.requests().is_empty(), "debug mode sent");
    sb.unset("HOST_TELEMETRY_DEBUG");
    run(&sb, D2, &["telemetry", "flush"]);
    assert_eq!(c.wait_for(1).len(), 1, "the day was kept for a real export");
}

/// `flush` with only a collector configured said `no_endpoint` (or
/// `disabled`) and nothing about the export it had just made.
#[test]
fn flush_with_only_a_collector_reports_the_export() {
    let c = Collector::start(Some(200));
    let mut sb = otel_sandbox(&c);
    // Product analytics undecided and without an endpoint.
    sb.unset("HOST_TELEMETRY");
    record_day_one(&sb);
    let out = run(&sb, D2, &["telemetry", "flush"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(
        said.contains(&format!(
            "OpenTelemetry collector: exported: {D1} exported to"
        )),
        "{said}"
    );
    assert_eq!(c.wait_for(1).len(), 1);
    // A failing collector: the flush fails, saying why.
    c.set_status(Some(503));
    run(&sb, D3, &["build"]);
    let out = run(&sb, "2026-03-13", &["telemetry", "flush", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["otlp"]["result"], "failed", "{v}");
    assert!(
        v["otlp"]["detail"].as_str().unwrap().contains("HTTP 503"),
        "{v}"
    );
    assert_eq!(out.status.code(), Some(1));
}
