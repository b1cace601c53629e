//! `tally serve` from the outside: every status code with real requests on
//! loopback, the per-machine rate limit, idempotency, retention, slow
//! clients, the connection table and graceful shutdown with requests in
//! flight. No timing is asserted; waits are bounded safety nets.

use std::io::Write;
use std::time::Duration;

use serde_json::json;

use crate::serve_support::*;
use crate::support::Sandbox;

#[test]
fn routes_answer_with_the_documented_status_codes() {
    let sb = Sandbox::new();
    let srv = Server::start(&sb, &[]);
    let a = srv.addr;

    let index = simple(a, "GET", "/");
    assert_eq!(index.status, 200);
    assert!(index.body.contains("TELEMETRY.md"), "{}", index.body);
    assert!(index.body.contains("/v1/batch"));
    assert_eq!(simple(a, "GET", "/healthz").status, 200);
    assert_eq!(simple(a, "HEAD", "/").status, 200);

    let r = simple(a, "GET", "/v1/batch");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
    let r = simple(a, "DELETE", "/");
    assert_eq!(r.status, 405);
    assert!(r.header("allow").unwrap().contains("GET"));
    assert_eq!(simple(a, "GET", "/v2/batch").status, 404);
    assert_eq!(simple(a, "POST", "/anything").status, 404);

    let body = bytes(&batch(&uuid(), &uuid(), &day(-1), &[("build", 1)]));
    let no_type = format!(
        "POST /v1/batch HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut req = no_type.into_bytes();
    req.extend_from_slice(&body);
    assert_eq!(raw(a, &req).status, 415, "missing content type");
    let wrong = format!(
        "POST /v1/batch HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut req = wrong.into_bytes();
    req.extend_from_slice(&body);
    assert_eq!(raw(a, &req).status, 415, "wrong content type");

    let with_charset = format!(
        "POST /v1/batch HTTP/1.1\r\nHost: t\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut req = with_charset.into_bytes();
    req.extend_from_slice(&body);
    assert_eq!(raw(a, &req).status, 204);
}

#[test]
fn oversized_bodies_are_413_whether_declared_or_streamed() {
    let sb = Sandbox::new();
    let srv = Server::start(&sb, &[]);
    let big = vec![b' '; tally_telemetry::schema::MAX_BODY_BYTES + 1];
    assert_eq!(post(srv.addr, &big).status, 413);

    // Chunked: no length up front; the limit trips while reading.
    let mut c = Conn::open(srv.addr);
    c.send(
        b"POST /v1/batch HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    let chunk = vec![b' '; 8192];
    let mut status = None;
    for _ in 0..16 {
        let head = format!("{:x}\r\n", chunk.len());
        if c.stream.write_all(head.as_bytes()).is_err()
            || c.stream.write_all(&chunk).is_err()
            || c.stream.write_all(b"\r\n").is_err()
        {
            break;
        }
    }
    if let Some(r) = c.read_response() {
        status = Some(r.status);
    }
    assert_eq!(status, Some(413));

    // Exactly at the limit is fine as far as size goes (it is not JSON).
    let at = vec![b' '; tally_telemetry::schema::MAX_BODY_BYTES];
    assert_eq!(post(srv.addr, &at).status, 400);
}

#[test]
fn malformed_batches_are_400_with_a_one_line_reason() {
    let sb = Sandbox::new();
    let srv = Server::start(&sb, &[]);
    let mut wrong_type = batch(&uuid(), &uuid(), &day(-1), &[("build", 1)]);
    wrong_type["events"][0]["commands"][0]["count"] = json!("3");
    let mut bad_machine = batch(&uuid(), &uuid(), &day(-1), &[("build", 1)]);
    bad_machine["envelope"]["machine_id"] = json!("not-a-uuid");
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"{".to_vec(), "not JSON"),
        (b"[]".to_vec(), "object"),
        (b"{\"events\": []}".to_vec(), "envelope"),
        (bytes(&wrong_type), "count"),
        (bytes(&bad_machine), "envelope"),
    ];
    for (body, why) in cases {
        let r = post(srv.addr, &body);
        assert_eq!(r.status, 400, "{why}: {r:?}");
        assert!(r.body.contains(why), "{why}: {}", r.body);
        assert_eq!(r.body.trim_end().lines().count(), 1, "{}", r.body);
    }
    let (status, _) = srv.stop();
    assert!(status.success());
}

#[test]
fn unknown_and_out_of_schema_data_is_dropped_counted_and_still_204() {
    let sb = Sandbox::new();
    let srv = Server::start(&sb, &[]);
    let machine = uuid();
    let mut b = batch(&machine, &uuid(), &day(-1), &[("build", 2)]);
    b["envelope"]["hostname"] = json!("laptop");
    b["events"][0]["commands"][0]["args"] = json!("--token x");
    b["events"][0]["commands"]
        .as_array_mut()
        .unwrap()
        .push(json!({"command": "/etc/passwd", "count": 1}));
    let events = b["events"].as_array_mut().unwrap();
    events.push(json!({"type": "keystrokes", "day": day(-1)}));
    events.push(json!({"type": "lifecycle", "kind": "install", "day": day(-90), "count": 1}));
    assert_eq!(post(srv.addr, &bytes(&b)).status, 204);

    // Everything dropped: still accepted (a 4xx would make the client drop
    // data it cannot fix), and counted.
    let mut all_dropped = batch(&machine, &uuid(), &day(-1), &[]);
    all_dropped["events"] = json!([{"type": "future_event", "day": day(-1)}]);
    assert_eq!(post(srv.addr, &bytes(&all_dropped)).status, 204);

    let metrics = simple(srv.addr, "GET", "/metrics").body;
    assert!(
        metrics.contains("tally_dropped_total{reason=\"unknown_fields\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("tally_dropped_total{reason=\"unknown_events\"} 2"));
    assert!(metrics.contains("tally_dropped_total{reason=\"invalid_values\"} 2"));
    assert!(metrics.contains("tally_dropped_total{reason=\"out_of_window\"} 1"));
    assert!(metrics.contains("tally_batches_total{result=\"stored\"} 2"));
    let (status, _) = srv.stop();
    assert!(status.success());

    let r = report(&sb, &sb.root().join("server.sqlite3"), 1, &[]);
    assert_eq!(r["dropped"]["unknown_fields"], 2);
    assert_eq!(r["dropped"]["unknown_events"], 2);
    assert_eq!(r["dropped"]["invalid_values"], 2);
    assert_eq!(r["dropped"]["out_of_window"], 1);
    assert_eq!(
        command_counts(&r),
        json!([{"command": "build", "count": 2, "machines": 1}])
    );
}

#[test]
fn the_rate_limit_is_per_machine_and_says_when_to_retry() {
    let sb = Sandbox::new();
    let srv = Server::start(&sb, &["--rate-limit", "2"]);
    let noisy = uuid();
    for _ in 0..2 {
        let b = batch(&noisy, &uuid(), &day(-1), &[("build", 1)]);
        assert_eq!(post(srv.addr, &bytes(&b)).status, 204);
    }
    let b = batch(&noisy, &uuid(), &day(-1), &[("build", 1)]);
    let r = post(srv.addr, &bytes(&b));
    assert_eq!(r.status, 429);
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");

    let quiet = batch(&uuid(), &uuid(), &day(-1), &[("build", 1)]);
    assert_eq!(
        post(srv.addr, &bytes(&quiet)).status,
        204,
        "another machine is unaffected"
    );
}

#[test]
fn a_resent_batch_is_acknowledged_again_but_stored_once() {
    let sb = Sandbox::new();
    let srv = Server::start(&sb, &[]);
    let b = bytes(&batch(&uuid(), &uuid(), &day(-1), &[("build", 5)]));
    let mut c = Conn::open(srv.addr);
    for _ in 0..3 {
        assert_eq!(c.post(&b).unwrap().status, 204);
    }
    let (status, _) = srv.stop();
    assert!(status.success());
    let db = sb.root().join("server.sqlite3");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM batches"), 1);
    assert_eq!(count(&db, "SELECT SUM(count) FROM usage"), 5);
}

#[test]
fn days_past_retention_are_pruned_when_the_server_starts() {
    let sb = Sandbox::new();
    let srv = Server::start(&sb, &[]);
    let old = batch(&uuid(), &uuid(), &day(-5), &[("old-command", 1)]);
    let new = batch(&uuid(), &uuid(), &day(-1), &[("new-command", 1)]);
    assert_eq!(post(srv.addr, &bytes(&old)).status, 204);
    assert_eq!(post(srv.addr, &bytes(&new)).status, 204);
    srv.stop();

    let srv = Server::start(&sb, &["--retention-days", "3"]);
    let (status, log) = srv.stop();
    assert!(status.success());
    assert!(log.contains("retention: removed 1 usage rows"), "{log}");
    let r = report(&sb, &sb.root().join("server.sqlite3"), 1, &[]);
    assert_eq!(
        command_counts(&r),
        json!([{"command": "new-command", "count": 1, "machines": 1}])
    );
}

#[test]
fn slow_clients_are_cut_off_by_the_header_and_body_timeouts() {
    let sb = Sandbox::new();
    let srv = Server::start(&sb, &["--header-timeout", "1", "--body-timeout", "1"]);

    // Connects and never sends a byte.
    let mut silent = Conn::open(srv.addr);
    // Starts the headers and never finishes them.
    let mut trickle = Conn::open(srv.addr);
    trickle.send(b"POST /v1/batch HTTP/1.1\r\nHost: t\r\nContent-Type: appl");
    // Finishes the headers, promises a body and sends a tenth of it.
    let mut slow_body = Conn::open(srv.addr);
    slow_body.send(
        b"POST /v1/batch HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"envelope",
    );

    assert!(silent.closed_by_server(), "an idle connection is closed");
    assert!(trickle.closed_by_server(), "unfinished headers are cut off");
    let r = slow_body.read_response().expect("a 408 before closing");
    assert_eq!(r.status, 408);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(slow_body.closed_by_server());

    // The server is still fine for everyone else.
    let b = batch(&uuid(), &uuid(), &day(-1), &[("build", 1)]);
    assert_eq!(post(srv.addr, &bytes(&b)).status, 204);
}

/// Regression: with every slot held by an idle keep-alive connection, a
/// new connection used to wait in the kernel's backlog until one closed.
#[test]
fn a_full_table_does_not_queue_a_new_connection_behind_idle_ones() {
    let sb = Sandbox::new();
    let srv = Server::start(&sb, &["--max-connections", "1", "--header-timeout", "60"]);
    let mut first = Conn::open(srv.addr);
    first.send(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(first.read_response().unwrap().status, 200);

    // `first` is kept alive and idle in the only slot: it gives way.
    let mut second = Conn::open(srv.addr);
    second.send(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(second.read_response().unwrap().status, 200);
    assert!(first.closed_by_server(), "the idle connection was closed");
}

#[test]
fn sigterm_with_requests_in_flight_loses_nothing_acknowledged() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    let sb = Sandbox::new();
    let srv = Server::start(&sb, &["--rate-limit", "0", "--source-rate", "0"]);
    let addr = srv.addr;

    // One request is provably in flight: its headers and half its body are
    // in, the rest comes only after the signal.
    let pending_id = uuid();
    let pending = bytes(&batch(&uuid(), &pending_id, &day(-1), &[("pending", 1)]));
    let mut slow = Conn::open(addr);
    slow.send(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(slow.read_response().unwrap().status, 200);
    let (head, tail) = pending.split_at(pending.len() / 2);
    let mut req = format!(
        "POST /v1/batch HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        pending.len()
    )
    .into_bytes();
    req.extend_from_slice(head);
    slow.send(&req);

    // Meanwhile, a steady stream from several clients.
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let acked_count = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let acked = Arc::clone(&acked);
            let acked_count = Arc::clone(&acked_count);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let machine = uuid();
                while !stop.load(Ordering::Relaxed) {
                    let id = uuid();
                    let body = bytes(&batch(&machine, &id, &day(-1), &[("load", 1)]));
                    let Some(mut c) = Conn::try_open(addr) else {
                        break;
                    };
                    let mut req = format!(
                        "POST /v1/batch HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    req.extend_from_slice(&body);
                    if c.stream.write_all(&req).is_err() {
                        break;
                    }
                    match c.read_response() {
                        Some(r) if r.status == 204 => {
                            acked.lock().unwrap().push(id);
                            acked_count.fetch_add(1, Ordering::Relaxed);
                        }
                        Some(r) => panic!("unexpected {}", r.status),
                        None => break,
                    }
                }
            })
        })
        .collect();
    while acked_count.load(Ordering::Relaxed) < 40 {
        std::thread::sleep(Duration::from_millis(5));
    }
    srv.terminate();
    std::thread::sleep(Duration::from_millis(300));
    slow.send(tail);
    let r = slow
        .read_response()
        .expect("the in-flight request is answered");
    assert_eq!(r.status, 204);
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let (status, log) = srv.wait();
    assert!(status.success(), "{log}");
    assert!(log.contains("SIGTERM received"), "{log}");

    let db = sb.root().join("server.sqlite3");
    let mut acked = acked.lock().unwrap().clone();
    acked.push(pending_id);
    let stored = dump(&db);
    for id in &acked {
        assert!(
            stored.contains(id.as_str()),
            "acknowledged batch {id} was lost"
        );
    }
    assert!(acked.len() > 40);
}
