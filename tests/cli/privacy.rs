//! Privacy is tested, not promised: a unique canary planted in arguments
//! (beside an argument whose closed-set value the host records),
//! the working directory, the environment and the state path never reaches
//! the spool, the wire (the product endpoint and the OTLP collector),
//! `telemetry show` or the ledger.

use crate::delivery::{D1, D2, host_sandbox};
use crate::receiver::{Mode, Receiver};
use crate::support::{files_under, host_bin, tally_bin, text};

#[test]
fn a_canary_in_args_cwd_env_and_paths_never_leaves_the_process() {
    let canary = format!("CANARY{}", uuid::Uuid::new_v4().simple());
    let rx = Receiver::start(Mode::Accept);
    // The user's own OTLP collector gets the same counts: the canary must
    // stay out of those bodies too.
    let otlp = Receiver::start(Mode::Accept);
    let mut sb = host_sandbox(&rx.url());
    sb.set(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        format!("http://{}", otlp.addr),
    );
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
        // `init`'s shell is recorded (one of a closed set); the free text
        // beside it is not.
        vec!["init", "zsh", "--rc-file", &path_arg],
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
        outputs[0].contains("\"build\"")
            && outputs[0].contains("claude-code")
            && outputs[0].contains("\"zsh\""),
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
    let otlp_bodies = otlp.raw_bodies();
    assert_eq!(
        otlp_bodies.len(),
        2,
        "one OTLP export each from host and tally"
    );
    assert!(
        text(&otlp_bodies.concat()).contains("config otel get"),
        "the OTLP bodies carried the data"
    );
    for b in &otlp_bodies {
        assert!(
            !text(b).contains(&canary),
            "an OTLP body carried the canary: {}",
            text(b)
        );
    }
    for o in &outputs {
        assert!(!o.contains(&canary), "show printed the canary: {o}");
    }
    // Every file tally wrote, including the ledger and any spool left.
    let mut files = Vec::new();
    files.extend(files_under(&state));
    files.extend(files_under(&sb.root().join(format!("tally-{canary}"))));
    files.extend(files_under(&sb.root().join("config")));
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

/// `--tool-names` recorded whatever the client called: a call to a canary
/// tool the server never declared was stored and sent.
#[test]
fn a_canary_tool_name_the_server_never_listed_never_reaches_the_spool_or_the_wire() {
    use crate::peer::{Peer, call, counting_sandbox};
    let canary = format!("CANARY_{}", uuid::Uuid::new_v4().simple());
    let rx = Receiver::start(Mode::Accept);
    let mut sb = counting_sandbox();
    sb.set("TALLY_TELEMETRY_ENDPOINT", rx.url());
    sb.set("TALLY_TELEMETRY_NOW", D1);
    let mut p = Peer::proxied_edge(&sb, &["--tool-names"]);
    p.send(r#"{"jsonrpc":"2.0","id":0,"method":"tools/list"}"#);
    p.recv();
    p.send(&call(1, &canary, serde_json::json!({})));
    p.recv();
    p.send(&call(2, "ok", serde_json::json!({})));
    p.recv();
    let (st, _) = p.finish();
    assert!(st.success());
    let spool = std::fs::read_to_string(sb.state_dir().join("spool.jsonl")).unwrap();
    assert!(
        spool.contains("\"ok\"") && spool.contains("_unlisted"),
        "{spool}"
    );
    assert!(
        !spool.contains(&canary),
        "the spool holds the canary: {spool}"
    );
    sb.set("TALLY_TELEMETRY_NOW", D2);
    let flush = sb.ok(&["telemetry", "flush"]);
    assert!(flush.starts_with("sent"), "{flush}");
    for b in rx.raw_bodies() {
        assert!(!text(&b).contains(&canary), "the wire carried the canary");
    }
}

/// A persistent random id made the data pseudonymous forever: every day a
/// machine reported could be linked to every other.
#[test]
fn an_admin_monthly_rotation_gives_one_id_per_month_and_new_ones_after() {
    use crate::delivery::{flush, host_on};
    let rx = Receiver::start(Mode::Accept);
    let sb = host_sandbox(&rx.url());
    std::fs::write(
        sb.root().join("host-policy.toml"),
        "rotate_machine_id = \"monthly\"\n",
    )
    .unwrap();
    let ids = |rx: &Receiver| -> std::collections::BTreeSet<String> {
        rx.unique_batches()
            .values()
            .map(|b| b.envelope.machine_id.to_string())
            .collect()
    };
    host_on(&sb, "2026-03-10", &["build"]);
    host_on(&sb, "2026-03-11", &["build"]);
    assert_eq!(flush(&sb, "2026-03-12")["result"], "sent");
    host_on(&sb, "2026-03-20", &["build"]);
    assert_eq!(flush(&sb, "2026-03-21")["result"], "sent");
    let march = ids(&rx);
    assert_eq!(march.len(), 1, "one id within the month: {march:?}");
    host_on(&sb, "2026-04-02", &["build"]);
    assert_eq!(flush(&sb, "2026-04-03")["result"], "sent");
    let both = ids(&rx);
    assert_eq!(both.len(), 2, "a new id in the next month: {both:?}");
    let out = sb
        .command(&host_bin(), &["telemetry", "status", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["machine_id_rotation"], "monthly");
    assert!(
        v["machine_id_rotation_source"]
            .as_str()
            .unwrap()
            .starts_with("policy"),
        "{v}"
    );
}

#[test]
fn a_canary_never_leaves_through_the_delivery_helper() {
    let canary = format!("CANARY{}", uuid::Uuid::new_v4().simple());
    let rx = Receiver::start(Mode::Accept);
    let mut sb = host_sandbox(&rx.url());
    let cwd = sb.root().join(format!("work-{canary}"));
    std::fs::create_dir_all(&cwd).unwrap();
    let state = sb.root().join(format!("state-{canary}"));
    sb.set("HOST_TELEMETRY_DIR", state.display().to_string());
    sb.set("SECRET_TOKEN", &canary);
    let path_arg = format!("/home/{canary}/project");
    for day in [D1, D2] {
        // The D2 run's exit starts the helper, which sends D1.
        let out = sb
            .command(&host_bin(), &["build", "--target", &canary, &path_arg])
            .current_dir(&cwd)
            .env("HOST_TELEMETRY_NOW", day)
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    let ledger = state.join("sent.jsonl");
    let start = std::time::Instant::now();
    while !std::fs::read_to_string(&ledger).is_ok_and(|l| l.contains("\"sent\""))
        && start.elapsed() < std::time::Duration::from_secs(20)
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let bodies = rx.raw_bodies();
    assert_eq!(bodies.len(), 1, "the helper delivered");
    assert!(text(&bodies[0]).contains("\"build\""));
    assert!(!text(&bodies[0]).contains(&canary), "{}", text(&bodies[0]));
    let mut files = Vec::new();
    files.extend(files_under(&state));
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
        // Every column as text; distinct-machine states (binary) as counts.
        let columns = ch.q(&format!(
            "SELECT if(type LIKE 'AggregateFunction%', concat('finalizeAggregation(', name, ')'), name)
             FROM system.columns WHERE database = '{db}' AND table = '{t}'"
        ));
        let columns: Vec<&str> = columns.lines().collect();
        dump.push_str(&ch.q(&format!(
            "SELECT {} FROM {db}.{t} FORMAT TSV",
            columns.join(", ")
        )));
    }
    // The stored rows are really there (so the check means something).
    assert!(dump.contains("build") && dump.contains("search"), "{dump}");
    assert!(
        !dump.contains(&canary),
        "ClickHouse stored the canary: {dump}"
    );
    assert!(!ch.log().contains(&canary), "ClickHouse logged the canary");
}
