//! Privacy is tested, not promised: a unique canary planted in arguments,
//! the working directory, the environment and the state path never reaches
//! the spool, the wire, `telemetry show` or the ledger.

use crate::delivery::{D1, D2, host_sandbox};
use crate::receiver::{Mode, Receiver};
use crate::support::{host_bin, tally_bin, text};

fn files_under(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn a_canary_in_args_cwd_env_and_paths_never_leaves_the_process() {
    let canary = format!("CANARY{}", uuid::Uuid::new_v4().simple());
    let rx = Receiver::start(Mode::Accept);
    let mut sb = host_sandbox(&rx.url());
    let cwd = sb.root().join(format!("work-{canary}"));
    std::fs::create_dir_all(&cwd).unwrap();
    let state = sb.root().join(format!("state-{canary}"));
    sb.set("HOST_TELEMETRY_DIR", state.display().to_string());
    sb.set("SECRET_TOKEN", &canary);
    sb.set("TALLY_TELEMETRY", "1");
    sb.set("TALLY_TELEMETRY_ENDPOINT", rx.url());
    sb.set(
        "TALLY_TELEMETRY_DIR",
        sb.root()
            .join(format!("tally-{canary}"))
            .display()
            .to_string(),
    );
    let path_arg = format!("/home/{canary}/project");
    let runs: Vec<Vec<&str>> = vec![
        vec!["build", "--target", &canary, &path_arg],
        vec!["serve"],
        vec!["exit-deep", "0"],
    ];
    for args in &runs {
        let out = sb
            .command(&host_bin(), args)
            .current_dir(&cwd)
            .env("HOST_TELEMETRY_NOW", D1)
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    let out = sb
        .command(
            &tally_bin(),
            &["config", "otel", "get", "usage-analytics-enabled"],
        )
        .current_dir(&cwd)
        .env("TALLY_TELEMETRY_NOW", D1)
        .output()
        .unwrap();
    assert!(out.status.success());

    let mut outputs = Vec::new();
    for (bin, prefix) in [(host_bin(), "HOST"), (tally_bin(), "TALLY")] {
        let show = sb
            .command(&bin, &["telemetry", "show", "--json"])
            .current_dir(&cwd)
            .env(format!("{prefix}_TELEMETRY_NOW"), D2)
            .output()
            .unwrap();
        outputs.push(text(&show.stdout));
        let flush = sb
            .command(&bin, &["telemetry", "flush"])
            .current_dir(&cwd)
            .env(format!("{prefix}_TELEMETRY_NOW"), D2)
            .output()
            .unwrap();
        assert!(
            text(&flush.stdout).starts_with("sent"),
            "{}",
            text(&flush.stdout)
        );
    }
    // The shows really contained the data (so the check below means something).
    assert!(
        outputs[0].contains("\"build\"") && outputs[0].contains("claude-code"),
        "{}",
        outputs[0]
    );
    assert!(outputs[1].contains("config otel get"), "{}", outputs[1]);
    let bodies = rx.raw_bodies();
    assert_eq!(bodies.len(), 2);
    for b in &bodies {
        assert!(
            !text(b).contains(&canary),
            "the wire carried the canary: {}",
            text(b)
        );
    }
    for o in &outputs {
        assert!(!o.contains(&canary), "show printed the canary: {o}");
    }
    // Every file tally wrote, including the ledger and any spool left.
    let mut files = Vec::new();
    files_under(&state, &mut files);
    files_under(&sb.root().join(format!("tally-{canary}")), &mut files);
    files_under(&sb.root().join("config"), &mut files);
    assert!(files.iter().any(|f| f.ends_with("sent.jsonl")));
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !text(&bytes).contains(&canary),
            "{} holds the canary",
            f.display()
        );
    }
}

/// The ClickHouse path: a canary everywhere a client could put it outside
/// the schema (unknown fields and events, invalid values, headers) is in
/// none of the store's tables and none of ClickHouse's or tally's logs.
#[cfg(feature = "server")]
#[test]
fn a_canary_posted_to_a_clickhouse_store_is_stored_nowhere() {
    use crate::clickhouse_support::{database, shared};
    use crate::serve_support::{Conn, Server, day, uuid};

    let canary = format!("CANARY{}", uuid::Uuid::new_v4().simple());
    let ch = shared();
    let db = database("canary");
    let url = ch.url(&db);
    let sb = crate::support::Sandbox::new();
    let server = Server::start_with_args(
        &sb,
        &sb.root().join("unused.sqlite3"),
        &["--store", &url, "--rate-limit", "0"],
    );
    let body = serde_json::json!({
        "envelope": {
            "app": "demo", "app_version": "1.0.0", "os": "linux", "arch": "x86_64",
            "ci": false, "schema": 1, "machine_id": uuid(), "batch_id": uuid(),
            "hostname": canary, &canary: 1
        },
        "events": [
            {"type": "usage_rollup", "day": day(-1), "path": canary,
             "commands": [{"command": "build", "count": 2}, {"command": canary, "count": 1},
                          {"command": "test", "count": 1, "args": canary}],
             "tool_calls": [{"tool": format!("/home/{canary}"), "outcome": "ok", "count": 1, "latency": [1, 0, 0, 0, 0, 0, 0]},
                            {"tool": "search", "outcome": canary, "count": 1, "latency": [1, 0, 0, 0, 0, 0, 0]},
                            {"tool": "search", "outcome": "ok", "count": 1, "latency": [1, 0, 0, 0, 0, 0, 0]}],
             "clients": [{"client": canary, "count": 1}]},
            {"type": canary, "day": day(-1)},
            {"type": "facts", "day": day(-1), "auth_type": canary, "backend_count": "1"},
            {"type": "lifecycle", "kind": canary, "day": day(-1), "count": 1}
        ]
    });
    let body = serde_json::to_vec(&body).unwrap();
    let mut req = format!(
        "POST /v1/batch HTTP/1.1\r\nHost: {canary}\r\nUser-Agent: {canary}\r\nX-Forwarded-For: {canary}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    let mut conn = Conn::open(server.addr);
    conn.send(&req);
    let r = conn.read_response().expect("a response");
    assert_eq!(r.status, 204, "{}", r.body);
    let (_, log) = server.stop();
    assert!(
        !log.contains(&canary),
        "tally serve logged the canary: {log}"
    );

    let tables = ch.q(&format!(
        "SELECT name FROM system.tables WHERE database = '{db}' ORDER BY name"
    ));
    let mut dump = String::new();
    for t in tables.lines() {
        dump.push_str(&ch.q(&format!("SELECT * FROM {db}.{t} FORMAT TSV")));
    }
    // The stored rows are really there (so the check means something).
    assert!(dump.contains("build") && dump.contains("search"), "{dump}");
    assert!(
        !dump.contains(&canary),
        "ClickHouse stored the canary: {dump}"
    );
    assert!(!ch.log().contains(&canary), "ClickHouse logged the canary");
}
