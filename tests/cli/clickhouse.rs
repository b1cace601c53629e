//! `tally serve` and `tally report` on a real ClickHouse: exactly once
//! across replicas, the same report as SQLite for the same batches,
//! nothing acknowledged lost when ClickHouse stops under load, retention
//! by monthly partitions, the report's aggregates built for a store from
//! before them.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::clickhouse_support::{ClickHouse, database, shared};
use crate::serve_support::{Server, batch, bytes, day, post, uuid};
use crate::support::{Sandbox, text};

fn serve(sb: &Sandbox, url: &str, extra: &[&str]) -> Server {
    let mut args = vec!["--store", url, "--rate-limit", "0"];
    args.extend_from_slice(extra);
    Server::start_with_args(sb, &sb.root().join("unused.sqlite3"), &args)
}

/// `tally report --json` on `store` (a URL or `--db` path) with k.
fn report(sb: &Sandbox, store_args: &[&str], k: usize, more: &[&str]) -> Value {
    let k = k.to_string();
    let mut args = vec!["report", "--json", "--since", "40d", "--min-machines", &k];
    args.extend_from_slice(store_args);
    let mut full: Vec<&str> = more.to_vec();
    full.extend(args);
    let out = sb.tally(&full);
    assert!(out.status.success(), "report failed: {}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn command_count(r: &Value, name: &str) -> u64 {
    r["commands"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["command"] == name)
        .map_or(0, |c| c["count"].as_u64().unwrap())
}

#[test]
fn a_batch_posted_to_two_replicas_is_counted_once() {
    let ch = shared();
    let url = ch.url(&database("replicas"));
    let sb = Sandbox::new();
    // What is tested is the counting, not the timeout: on a loaded machine
    // ClickHouse 18.16 can take longer than the 3 s default for an insert,
    // and a timeout opens the circuit (503 until a probe succeeds).
    let patient = ["--store-timeout", "30000"];
    let a = serve(&sb, &url, &patient);
    let b = serve(&sb, &url, &patient);

    // A retry that lands on the other replica.
    let body = bytes(&batch(&uuid(), &uuid(), &day(-1), &[("build", 3)]));
    assert_eq!(post(a.addr, &body).status, 204);
    assert_eq!(post(b.addr, &body).status, 204);

    // The same batch on both replicas at the same instant.
    let rounds = 20;
    for _ in 0..rounds {
        let body = Arc::new(bytes(&batch(&uuid(), &uuid(), &day(-1), &[("deploy", 1)])));
        let go = Arc::new(Barrier::new(2));
        let threads: Vec<_> = [a.addr, b.addr]
            .into_iter()
            .map(|addr| {
                let (body, go) = (Arc::clone(&body), Arc::clone(&go));
                std::thread::spawn(move || {
                    go.wait();
                    post(addr, &body).status
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), 204);
        }
    }
    let r = report(&sb, &["--store", &url], 1, &[]);
    assert_eq!(command_count(&r, "build"), 3, "{r:#}");
    assert_eq!(command_count(&r, "deploy"), rounds, "{r:#}");
    assert_eq!(r["machines"], 1 + rounds, "{r:#}");
}

#[test]
fn a_copy_that_raced_in_is_settled_by_the_next_retry_and_counted_once() {
    let ch = shared();
    let db = database("raced");
    let url = ch.url(&db);
    let sb = Sandbox::new();
    let a = serve(&sb, &url, &[]);
    let id = uuid();
    let body = bytes(&batch(&uuid(), &id, &day(-1), &[("build", 5)]));
    assert_eq!(post(a.addr, &body).status, 204);
    // What a second replica's insert in the same instant leaves behind: a
    // second copy with its own seq, after the first one's lookup.
    ch.q(&format!(
        "INSERT INTO {db}.rows SELECT received, seq + 1, batch_id, machine, app, day, kind, name,
           variant, class, count, l0, l1, l2, l3, l4, l5, l6, version, os, arch, ci
         FROM {db}.rows WHERE batch_id = toUUID('{id}')"
    ));
    let r = report(&sb, &["--store", &url], 1, &[]);
    assert_eq!(command_count(&r, "build"), 10, "the copy is there: {r:#}");
    // The client's retry (on any replica) finds two copies and settles them.
    assert_eq!(post(a.addr, &body).status, 204);
    let r = report(&sb, &["--store", &url], 1, &[]);
    assert_eq!(command_count(&r, "build"), 5, "{r:#}");
    // Merges change nothing: both copies stay in `rows` (the record of
    // what was subtracted), the aggregates fold, and the count stays 5.
    for table in ["rows", "usage_agg", "dup_rows"] {
        ch.q(&format!("OPTIMIZE TABLE {db}.{table} FINAL"));
    }
    let copies = ch.q(&format!(
        "SELECT count() FROM {db}.rows WHERE batch_id = toUUID('{id}') AND kind = 0"
    ));
    assert_eq!(copies.trim(), "2");
    let r = report(&sb, &["--store", &url], 1, &[]);
    assert_eq!(command_count(&r, "build"), 5, "{r:#}");
    // A second retry settles the same copy again: still subtracted once.
    assert_eq!(post(a.addr, &body).status, 204);
    let r = report(&sb, &["--store", &url], 1, &[]);
    assert_eq!(command_count(&r, "build"), 5, "{r:#}");
    assert_eq!(r["machines"], 1, "{r:#}");
}

#[test]
fn a_batch_twice_in_one_insert_group_is_stored_once() {
    use tally_cli::server::rows::Ingested;
    use tally_cli::server::store::clickhouse::ClickHouse as Store;
    use tally_telemetry::schema::validate::validate;

    let ch = shared();
    let db = database("twice_in_group");
    let url = ch.url(&db);
    let mut store = Store::open(&url.parse().unwrap()).unwrap();
    let today = tally_telemetry::schema::Timestamp::now().date();
    let id = uuid();
    let twice = validate(
        &bytes(&batch(&uuid(), &id, &day(-1), &[("build", 5)])),
        today,
    )
    .unwrap();
    let other = validate(
        &bytes(&batch(&uuid(), &uuid(), &day(-1), &[("build", 2)])),
        today,
    )
    .unwrap();
    // One group, as the writer makes under load: the batch, another, the
    // batch again (a client's retry that arrived while the first waited).
    let out = store
        .ingest_group(&[(&twice, today), (&other, today), (&twice, today)])
        .unwrap();
    assert_eq!(
        out,
        [Ingested::Stored, Ingested::Stored, Ingested::Duplicate]
    );
    let markers = ch.q(&format!(
        "SELECT count() FROM {db}.rows WHERE batch_id = toUUID('{id}') AND kind = 100"
    ));
    assert_eq!(markers.trim(), "1");
    let sb = Sandbox::new();
    let r = report(&sb, &["--store", &url], 1, &[]);
    assert_eq!(command_count(&r, "build"), 7, "{r:#}");
}

/// A varied set of batches: folds, CI, version changes within a day,
/// tools with and without names, clients, facts, lifecycle, drops.
const SHELLS: [&str; 3] = ["bash", "zsh", "fish"];

fn varied_batches() -> Vec<Value> {
    let mut out = Vec::new();
    let machines: Vec<String> = (0..9).map(|_| uuid()).collect();
    for (i, m) in machines.iter().enumerate() {
        for d in 1..=3i64 {
            let commands: Vec<Value> = [("build", 1 + i as u64), ("test", 2)]
                .iter()
                .map(|(c, n)| json!({"command": c, "count": n}))
                .chain((i % 3 == 0).then(|| json!({"command": format!("rare-{i}"), "count": 1})))
                .chain((i == 4).then(|| json!({"command": "other", "count": 7})))
                // A declared value: three shells over the machines, and one
                // machine's own, which only its command's `other` may show.
                .chain([json!({"command": "init", "value": SHELLS[i % 3], "count": 1 + i})])
                .chain((i == 2).then(|| json!({"command": "init", "value": "nu", "count": 1})))
                .collect();
            let tools = json!([
                {"tool": "search", "outcome": "ok", "count": 3, "latency": [2, 1, 0, 0, 0, 0, 0]},
                {"tool": "search", "outcome": "protocol_error", "error_class": "invalid_params",
                 "count": 1, "latency": [0, 0, 1, 0, 0, 0, 0]},
                {"outcome": "tool_error", "count": i + 1, "latency": [0, 0, 0, 0, 0, 0, i + 1]},
                {"tool": format!("t{}", i % 4), "outcome": "cancelled", "count": 1, "latency": [1, 0, 0, 0, 0, 0, 0]}
            ]);
            let mut clients = json!([
                {"client": "cursor", "major": 1 + i % 2, "count": 2},
                {"client": "zed", "count": 1}
            ]);
            if i == 5 {
                // One machine alone: withheld even as `other` at k = 2.
                clients
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"client": "windsurf", "count": 1}));
            }
            out.push(json!({
                "envelope": {
                    "app": if i < 7 { "demo" } else { "other-app" },
                    "app_version": format!("1.{}.0", i % 3), "os": if i % 2 == 0 { "linux" } else { "macos" },
                    "arch": "x86_64", "ci": i == 8, "schema": 1, "machine_id": m, "batch_id": uuid(),
                    "secret": "dropped"
                },
                "events": [
                    {"type": "usage_rollup", "day": day(-d), "commands": commands,
                     "tool_calls": tools, "clients": clients, "dropped": i % 2},
                    {"type": "lifecycle", "kind": "install", "day": day(-d), "count": 1},
                    {"type": "facts", "day": day(-d), "auth_type": if i % 2 == 0 { "oidc" } else { "bogus" },
                     "declares_tools": true, "uptime": "1-24h"},
                    {"type": "unheard_of", "day": day(-d)}
                ]
            }));
        }
        // The same machine and day again, upgraded: the later envelope wins.
        if i < 3 {
            out.push(json!({
                "envelope": {
                    "app": "demo", "app_version": "2.0.0", "os": "linux", "arch": "aarch64",
                    "ci": false, "schema": 1, "machine_id": m, "batch_id": uuid()
                },
                "events": [{"type": "lifecycle", "kind": "upgrade", "day": day(-1), "count": 1}]
            }));
        }
    }
    // Out of the window, for the drop counter.
    out.push(json!({
        "envelope": {
            "app": "demo", "app_version": "1.0.0", "os": "linux", "arch": "x86_64",
            "ci": false, "schema": 1, "machine_id": uuid(), "batch_id": uuid()
        },
        "events": [{"type": "lifecycle", "kind": "install", "day": day(-200), "count": 1}]
    }));
    out
}

#[test]
fn sqlite_and_clickhouse_give_identical_reports_for_the_same_batches() {
    let ch = shared();
    let url = ch.url(&database("same"));
    let sb = Sandbox::new();
    let db = sb.root().join("same.sqlite3");
    let lite = Server::start_with_db(&sb, &db, &["--rate-limit", "0"]);
    let house = serve(&sb, &url, &[]);
    for b in varied_batches() {
        let body = bytes(&b);
        assert_eq!(post(lite.addr, &body).status, 204, "{b}");
        assert_eq!(post(house.addr, &body).status, 204, "{b}");
    }
    // A resend changes nothing in either.
    let db_text = db.display().to_string();
    let mut compared = 0;
    for k in [1, 2, 3, 5, 8] {
        for app in [None, Some("demo"), Some("nope")] {
            let more: Vec<&str> = app.map(|a| vec!["--app", a]).unwrap_or_default();
            let a = report(&sb, &["--db", &db_text], k, &more);
            let b = report(&sb, &["--store", &url], k, &more);
            assert_eq!(
                serde_json::to_string_pretty(&a).unwrap(),
                serde_json::to_string_pretty(&b).unwrap(),
                "k={k} app={app:?}"
            );
            compared += 1;
        }
    }
    assert_eq!(compared, 15);
    // The comparison is not vacuous: folds, withheld rows and every table.
    let r = report(&sb, &["--store", &url], 2, &[]);
    for table in [
        "days",
        "commands",
        "values",
        "tools",
        "clients",
        "versions",
        "platforms",
        "lifecycle",
        "facts",
    ] {
        assert!(!r[table].as_array().unwrap().is_empty(), "{table}: {r:#}");
    }
    assert!(r["withheld_rows"].as_u64().unwrap() > 0, "{r:#}");
    assert!(command_count(&r, "other") > 0, "{r:#}");
    assert!(r["dropped"]["out_of_window"].as_u64().unwrap() > 0, "{r:#}");
    assert_eq!(r["ci_machines"], 1, "{r:#}");
    // The text report reads the same store too.
    let out = sb.tally(&["report", "--store", &url, "--min-machines", "2"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("build"));
}

#[test]
fn clickhouse_stopped_and_restarted_under_load_loses_nothing_acknowledged() {
    let mut ch = ClickHouse::start();
    let url = ch.url("load");
    let sb = Sandbox::new();
    let server = serve(&sb, &url, &[]);
    let addr = server.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let acks = Arc::new(AtomicU64::new(0));
    // Four clients that send unique batches and, like tally's sender, keep
    // a batch and resend it after a 503 until it is acknowledged.
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (stop, acks) = (Arc::clone(&stop), Arc::clone(&acks));
            std::thread::spawn(move || {
                let (mut unavailable, mut retry_after_seen) = (0u64, true);
                while !stop.load(Ordering::Relaxed) {
                    let body = bytes(&batch(&uuid(), &uuid(), &day(-1), &[("load", 1)]));
                    loop {
                        let r = post(addr, &body);
                        match r.status {
                            204 => break,
                            503 => {
                                unavailable += 1;
                                retry_after_seen &= r.header("retry-after").is_some();
                                std::thread::sleep(Duration::from_millis(50));
                            }
                            s => panic!("unexpected {s}: {}", r.body),
                        }
                    }
                    acks.fetch_add(1, Ordering::Relaxed);
                }
                (unavailable, retry_after_seen)
            })
        })
        .collect();
    let wait_for = |n: u64| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while acks.load(Ordering::Relaxed) < n {
            assert!(Instant::now() < deadline, "stuck at {n} acknowledgements");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait_for(30);
    ch.kill();
    std::thread::sleep(Duration::from_millis(1500));
    let before_restart = acks.load(Ordering::Relaxed);
    ch.resume();
    wait_for(before_restart + 30);
    stop.store(true, Ordering::Relaxed);
    let mut unavailable = 0;
    for c in clients {
        let (u, retry_after) = c.join().unwrap();
        assert!(retry_after, "every 503 carries Retry-After");
        unavailable += u;
    }
    let acked = acks.load(Ordering::Relaxed);
    assert!(unavailable > 0, "ClickHouse was down: some batches got 503");
    let r = report(&sb, &["--store", &url], 1, &[]);
    assert_eq!(command_count(&r, "load"), acked, "{r:#}");
    assert_eq!(r["machines"], acked, "{r:#}");
    drop(server);
    let started = Instant::now();
    drop(ch);
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn monthly_partitions_past_retention_are_dropped_at_start() {
    let ch = shared();
    let db = database("retention");
    let url = ch.url(&db);
    let sb = Sandbox::new();
    let first = serve(&sb, &url, &[]);
    assert_eq!(
        post(
            first.addr,
            &bytes(&batch(&uuid(), &uuid(), &day(-1), &[("build", 1)]))
        )
        .status,
        204
    );
    drop(first);
    // Rows received two years ago (as a server running then stored them).
    ch.q(&format!(
        "INSERT INTO {db}.rows (received, seq, batch_id, kind) VALUES ('2024-03-15', 1, toUUID('{}'), 100)",
        uuid()
    ));
    ch.q(&format!(
        "INSERT INTO {db}.dups (received, batch_id, seq) VALUES ('2024-03-15', toUUID('{}'), 1)",
        uuid()
    ));
    let partitions = |table: &str| {
        ch.q(&format!(
            "SELECT DISTINCT partition FROM system.parts WHERE database = '{db}' AND table = '{table}' AND active ORDER BY partition"
        ))
    };
    assert!(partitions("rows").contains("202403"));
    let server = serve(&sb, &url, &["--retention-days", "90"]);
    let (_, log) = server.stop();
    assert!(log.contains("retention: removed"), "{log}");
    let left = partitions("rows");
    assert!(!left.contains("202403"), "{left}");
    assert!(!left.trim().is_empty(), "this month's partition stays");
    assert!(!partitions("dups").contains("202403"));
    let r = report(&sb, &["--store", &url], 1, &[]);
    assert_eq!(command_count(&r, "build"), 1);
}

#[test]
fn an_unreachable_clickhouse_fails_start_with_the_url_and_report_says_what_to_do() {
    let sb = Sandbox::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("clickhouse://127.0.0.1:{port}/nothing");
    let out = sb.tally(&["serve", "--listen", "127.0.0.1:0", "--store", &url]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains(&url) && err.contains("reachable"), "{err}");
    let out = sb.tally(&["report", "--store", "clickhouse://h/bad;name"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("DATABASE"),
        "{}",
        text(&out.stderr)
    );
    // A database without tally's tables.
    let ch = shared();
    let out = sb.tally(&["report", "--store", &ch.url("default")]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("tally serve --store"),
        "{}",
        text(&out.stderr)
    );
    // TALLY_STORE names the store when no flag does.
    let mut sb = Sandbox::new();
    sb.set("TALLY_STORE", ch.url("default"));
    let out = sb.tally(&["report"]);
    assert!(
        text(&out.stderr).contains("tally serve --store"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_store_from_before_the_aggregates_gets_them_built_once_at_start() {
    let ch = shared();
    let db = database("upgrade");
    let url = ch.url(&db);
    let sb = Sandbox::new();
    let first = serve(&sb, &url, &[]);
    let bodies: Vec<Vec<u8>> = [(uuid(), 2), (uuid(), 3)]
        .into_iter()
        .map(|(machine, n)| bytes(&batch(&machine, &uuid(), &day(-1), &[("build", n)])))
        .collect();
    for body in &bodies {
        assert_eq!(post(first.addr, body).status, 204);
    }
    drop(first);
    // What an earlier tally left: the rows, no views, no aggregates, no
    // batch-id table.
    for view in [
        "usage_view",
        "machines_view",
        "envelope_view",
        "batch_ids_view",
    ] {
        ch.q(&format!("DROP TABLE {db}.{view}"));
    }
    for table in ["usage_agg", "machines_agg", "envelope_agg", "batch_ids"] {
        ch.q(&format!("DROP TABLE {db}.{table}"));
    }
    let out = sb.tally(&["report", "--store", &url]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("older tally") && text(&out.stderr).contains("tally serve"),
        "{}",
        text(&out.stderr)
    );
    // The next start builds them from the rows; later starts leave them be.
    drop(serve(&sb, &url, &[]));
    let r = report(&sb, &["--store", &url], 1, &[]);
    assert_eq!(command_count(&r, "build"), 5, "{r:#}");
    assert_eq!(r["machines"], 2, "{r:#}");
    let again = serve(&sb, &url, &[]);
    let body = bytes(&batch(&uuid(), &uuid(), &day(-1), &[("build", 1)]));
    assert_eq!(post(again.addr, &body).status, 204);
    // A retry of a batch stored before the upgrade is found in the batch-id
    // table built from the rows, and not counted again.
    assert_eq!(post(again.addr, &bodies[1]).status, 204);
    let r = report(&sb, &["--store", &url], 1, &[]);
    assert_eq!(command_count(&r, "build"), 6, "{r:#}");
    assert_eq!(r["machines"], 3, "{r:#}");
    let ids = ch.q(&format!(
        "SELECT count() FROM {db}.batch_ids WHERE kind = 100"
    ));
    assert_eq!(ids.trim(), "3", "one batch id each, none twice");
}

#[test]
fn an_insert_clickhouse_stored_only_in_part_is_completed_before_the_next() {
    let ch = shared();
    let db = database("partial");
    let url = ch.url(&db);
    let sb = Sandbox::new();
    let server = serve(&sb, &url, &[]);
    let first = bytes(&batch(&uuid(), &uuid(), &day(-1), &[("build", 2)]));
    assert_eq!(post(server.addr, &first).status, 204);
    // ClickHouse writes `rows`, then each view's table in turn (by name);
    // a view that fails between machines_view and usage_view leaves the
    // insert as a ClickHouse that stops there does.
    ch.q(&format!("CREATE TABLE {db}.sink (x UInt8) ENGINE = Memory"));
    ch.q(&format!(
        "CREATE MATERIALIZED VIEW {db}.n_fail TO {db}.sink AS
         SELECT throwIf(count = 3) AS x FROM {db}.rows"
    ));
    let second = bytes(&batch(&uuid(), &uuid(), &day(-1), &[("build", 3)]));
    assert_eq!(post(server.addr, &second).status, 503);
    let stored = ch.q(&format!(
        "SELECT count() FROM {db}.rows WHERE kind = 0 AND name = 'build'"
    ));
    assert_eq!(
        stored.trim(),
        "2",
        "the rows were stored, the sums were not"
    );
    ch.q(&format!("DROP TABLE {db}.n_fail"));
    // The client's retry finds the batch stored; the writer first completes
    // the sums of the insert that failed.
    assert_eq!(post(server.addr, &second).status, 204);
    let r = report(&sb, &["--store", &url], 1, &[]);
    assert_eq!(command_count(&r, "build"), 5, "{r:#}");
    assert_eq!(r["machines"], 2, "{r:#}");
    // Another insert, and the repaired one is not fed twice.
    let third = bytes(&batch(&uuid(), &uuid(), &day(-1), &[("build", 1)]));
    assert_eq!(post(server.addr, &third).status, 204);
    let r = report(&sb, &["--store", &url], 1, &[]);
    assert_eq!(command_count(&r, "build"), 6, "{r:#}");
    let (_, log) = server.stop();
    assert!(log.contains("completing usage_agg"), "{log}");
}

#[test]
fn an_insert_stored_before_any_view_saw_it_is_completed_and_its_retry_is_found() {
    let ch = shared();
    let db = database("partial_ids");
    let url = ch.url(&db);
    let sb = Sandbox::new();
    let server = serve(&sb, &url, &[]);
    // Views run by name: one that fails before batch_ids_view leaves the
    // rows without any view's share, the batch-id table's included, as a
    // ClickHouse that stops right after writing `rows` does.
    ch.q(&format!("CREATE TABLE {db}.sink (x UInt8) ENGINE = Memory"));
    ch.q(&format!(
        "CREATE MATERIALIZED VIEW {db}.a_fail TO {db}.sink AS
         SELECT throwIf(count = 3) AS x FROM {db}.rows"
    ));
    let body = bytes(&batch(&uuid(), &uuid(), &day(-1), &[("build", 3)]));
    assert_eq!(post(server.addr, &body).status, 503);
    let ids = ch.q(&format!("SELECT count() FROM {db}.batch_ids"));
    assert_eq!(ids.trim(), "0", "the batch-id table never saw the insert");
    ch.q(&format!("DROP TABLE {db}.a_fail"));
    // The retry: the writer completes the failed insert first, so the
    // lookup finds the batch and it is not stored a second time.
    assert_eq!(post(server.addr, &body).status, 204);
    let r = report(&sb, &["--store", &url], 1, &[]);
    assert_eq!(command_count(&r, "build"), 3, "{r:#}");
    let markers = ch.q(&format!("SELECT count() FROM {db}.rows WHERE kind = 100"));
    assert_eq!(markers.trim(), "1", "stored once");
    let (_, log) = server.stop();
    assert!(log.contains("completing batch_ids"), "{log}");
}
