//! Report benchmark: fills a fresh store with 1,000,000 `usage` rows (and
//! the matching machine-days) spread over the last 30 days, 20,000
//! machines per million rows, a long tail of commands and tools, then times
//! `tally report` over it: in process, and as the real release binary
//! (`--json` and tables), the way an operator runs it.
//!
//! `--store clickhouse` fills a ClickHouse store instead, server-side
//! (`INSERT … SELECT … FROM numbers(N)`, same shape), and times the report
//! with its aggregation pushed down; `--store both` fills both and times
//! them side by side in one run. A private clickhouse-server (Debian's
//! package) is started in a temp dir unless `--clickhouse URL` names one.
//!
//! ```text
//! cargo bench --bench report -- [--rows 1000000] [--keep PATH]
//!                               [--store sqlite|clickhouse|both] [--clickhouse URL]
//!                               [--runs 3]   (0: only generate the rows)
//! ```

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use rusqlite::params;
use tally_cli::report::{Query, build};
use tally_cli::server::store::clickhouse::{ClickHouse, ClickHouseUrl};
use tally_cli::server::store::{Durability, RowKind, Store, day_number};

#[path = "../tests/cli/clickhouse_support.rs"]
mod clickhouse_support;

/// Machines for a store of `rows` usage rows: 20,000 per million.
fn machines_for(rows: u64) -> u64 {
    20_000 * rows.div_ceil(1_000_000).max(1)
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// A small deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// Skewed towards small values, like real popularity.
    fn skewed(&mut self, n: u64) -> u64 {
        let a = self.below(n);
        self.below(a + 1)
    }
}

fn fill(path: &std::path::Path, rows: u64) {
    let store = Store::open(path, Durability::Normal).expect("open store");
    drop(store);
    let mut conn = rusqlite::Connection::open(path).expect("open");
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;")
        .unwrap();
    let tx = conn.transaction().unwrap();
    let dim = |text: &str| -> i64 {
        tx.execute(
            "INSERT INTO dims (text) VALUES (?1) ON CONFLICT (text) DO NOTHING",
            [text],
        )
        .unwrap();
        tx.query_row("SELECT id FROM dims WHERE text = ?1", [text], |r| r.get(0))
            .unwrap()
    };
    let commands: Vec<i64> = (0..300)
        .map(|i| dim(&format!("cmd{i} sub{}", i % 7)))
        .collect();
    let tools: Vec<i64> = (0..80).map(|i| dim(&format!("tool_{i}"))).collect();
    let outcomes: Vec<i64> = tally_telemetry::schema::OUTCOMES
        .iter()
        .map(|o| dim(o))
        .collect();
    let classes: Vec<i64> = tally_telemetry::schema::ERROR_CLASSES
        .iter()
        .map(|c| dim(c))
        .collect();
    let clients: Vec<i64> = tally_telemetry::schema::CLIENTS
        .iter()
        .map(|c| dim(c))
        .collect();
    let majors: Vec<i64> = (0..4).map(|m| dim(&m.to_string())).collect();
    let versions: Vec<i64> = (0..12).map(|v| dim(&format!("1.{v}.0"))).collect();
    let apps = [dim("benchtool"), dim("otherapp")];
    let oses = [dim("linux"), dim("macos"), dim("windows")];
    let arches = [dim("x86_64"), dim("aarch64")];
    let lifecycle = [dim("install"), dim("upgrade"), dim("uninstall")];
    let fact = [dim("auth_type"), dim("backend_count")];
    let fact_values = [dim("oidc"), dim("anonymous"), dim("2-5"), dim("1")];

    let machines = machines_for(rows);
    for m in 0..machines {
        tx.execute(
            "INSERT INTO machines (id, machine_id) VALUES (?1, ?2)",
            params![m as i64 + 1, &uuid::Uuid::new_v4().as_bytes()[..]],
        )
        .unwrap();
    }
    let today = day_number(tally_telemetry::schema::Timestamp::now().date());
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut usage = tx
        .prepare(
            "INSERT INTO usage (day, app, machine, kind, name, variant, class, count, l0, l1, l2, l3, l4, l5, l6)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 0, 0, 0, 0, 0)
             ON CONFLICT DO NOTHING",
        )
        .unwrap();
    let mut mday = tx
        .prepare(
            "INSERT INTO machine_days (day, app, machine, version, os, arch, ci)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
        )
        .unwrap();
    let mut written = 0u64;
    while written < rows {
        // One machine-day with a handful of rows, like one batch.
        let machine = 1 + rng.below(machines) as i64;
        let day = today - 1 - rng.below(29) as i64;
        let app = apps[(machine % 10 == 0) as usize];
        mday.execute(params![
            day,
            app,
            machine,
            versions[rng.skewed(12) as usize],
            oses[(machine % 3) as usize],
            arches[(machine % 2) as usize],
            machine % 50 == 0
        ])
        .unwrap();
        for _ in 0..10 {
            let (kind, name, variant, class, l0, l1) = match rng.below(10) {
                0..=5 => (
                    RowKind::Command,
                    commands[rng.skewed(300) as usize],
                    0,
                    0,
                    0,
                    0,
                ),
                6 | 7 => {
                    let o = rng.skewed(5) as usize;
                    let c = if o == 2 {
                        classes[rng.below(7) as usize]
                    } else {
                        0
                    };
                    (
                        RowKind::Tool,
                        tools[rng.skewed(80) as usize],
                        outcomes[o],
                        c,
                        rng.below(20) as i64,
                        rng.below(5) as i64,
                    )
                }
                8 => (
                    RowKind::Client,
                    clients[rng.skewed(clients.len() as u64) as usize],
                    majors[rng.below(4) as usize],
                    0,
                    0,
                    0,
                ),
                _ => {
                    if rng.below(2) == 0 {
                        (
                            RowKind::Lifecycle,
                            lifecycle[rng.skewed(3) as usize],
                            0,
                            0,
                            0,
                            0,
                        )
                    } else {
                        (
                            RowKind::Fact,
                            fact[rng.below(2) as usize],
                            fact_values[rng.below(4) as usize],
                            0,
                            0,
                            0,
                        )
                    }
                }
            };
            let count = 1 + rng.skewed(50) as i64;
            written += usage
                .execute(params![
                    day,
                    app,
                    machine,
                    kind as i64,
                    name,
                    variant,
                    class,
                    count,
                    l0,
                    l1
                ])
                .unwrap() as u64;
            if written >= rows {
                break;
            }
        }
    }
    drop(usage);
    drop(mday);
    tx.commit().unwrap();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
}

/// Rows one generating statement writes: chunks keep every statement well
/// inside the client's timeout and let two run at once (one per core; an
/// `INSERT … SELECT` inserts on one thread in 18.16).
const CHUNK: u64 = 5_000_000;

/// Fills a ClickHouse store with `rows` usage rows of the same shape as
/// [`fill`], generated inside ClickHouse through the store's own views, in
/// chunks two at a time; then merges the aggregates as ClickHouse's
/// background merges would in the minutes after.
fn fill_clickhouse(ch: &ClickHouse, rows: u64) {
    let chunks: Vec<(u64, u64)> = (0..rows.div_ceil(CHUNK))
        .map(|i| (i * CHUNK, CHUNK.min(rows - i * CHUNK)))
        .collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(&(start, len)) = chunks.get(i) else {
                        break;
                    };
                    fill_chunk(ch, rows, start, len);
                }
            });
        }
    });
    let t = Instant::now();
    for table in ["usage_agg", "machines_agg", "envelope_agg"] {
        ch.execute_long(&format!("OPTIMIZE TABLE {}.{table} FINAL", ch.database()))
            .expect("merge the aggregates");
    }
    eprintln!(
        "report bench: merged the aggregates in {:.1} s",
        t.elapsed().as_secs_f64()
    );
}

/// Usage rows `start..start + len` of a store of `rows`, and their
/// machine-days (one per ten rows).
fn fill_chunk(ch: &ClickHouse, rows: u64, start: u64, len: u64) {
    let db = ch.database();
    let m = machines_for(rows);
    let sk = |n: u64, seed: u64| {
        format!(
            "(cityHash64(n, {seed}) % (cityHash64(n, {}) % {n} + 1))",
            seed + 100
        )
    };
    let clients: Vec<String> = tally_telemetry::schema::CLIENTS
        .iter()
        .map(|c| format!("'{c}'"))
        .collect();
    let outcomes: Vec<String> = tally_telemetry::schema::OUTCOMES
        .iter()
        .map(|c| format!("'{c}'"))
        .collect();
    let classes: Vec<String> = tally_telemetry::schema::ERROR_CLASSES
        .iter()
        .map(|c| format!("'{c}'"))
        .collect();
    let usage = format!(
        "INSERT INTO {db}.rows (received, seq, batch_id, machine, app, day, kind, name, variant, class, count, l0, l1)
         SELECT today(), md, generateUUIDv4(), cityHash64(m), if(m % 10 = 0, 'otherapp', 'benchtool'),
                toDate(today() - 1 - (cityHash64(md, 1) % 29)), kind,
                multiIf(kind = 0, concat('cmd', toString(c300), ' sub', toString(c300 % 7)),
                        kind = 1, concat('tool_', toString({tool})),
                        kind = 2, [{clients}][1 + {client}],
                        kind = 3, ['install', 'upgrade', 'uninstall'][1 + {life}],
                        ['auth_type', 'backend_count'][1 + h % 2]),
                multiIf(kind = 1, [{outcomes}][1 + o],
                        kind = 2, toString(h % 4),
                        kind = 4, ['oidc', 'anonymous', '2-5', '1'][1 + (h % 4)],
                        ''),
                if(kind = 1 AND o = 2, [{classes}][1 + h % 7], ''),
                1 + {count},
                if(kind = 1, h % 20, 0), if(kind = 1, h % 5, 0)
         FROM (SELECT number AS n, intDiv(n, 10) AS md, cityHash64(md) % {m} + 1 AS m,
                      cityHash64(n, 7) AS h, h % 10 AS r,
                      multiIf(r <= 5, 0, r <= 7, 1, r = 8, 2, cityHash64(n, 8) % 2 = 0, 3, 4) AS kind,
                      {c300} AS c300, {o} AS o
               FROM (SELECT number + {start} AS number FROM numbers({len})))",
        tool = sk(80, 3),
        client = sk(clients.len() as u64, 4),
        life = sk(3, 5),
        count = sk(50, 6),
        c300 = sk(300, 1),
        o = sk(5, 2),
        clients = clients.join(", "),
        outcomes = outcomes.join(", "),
        classes = classes.join(", "),
    );
    ch.execute_long(&usage).expect("generate usage rows");
    let days = format!(
        "INSERT INTO {db}.rows (received, seq, batch_id, machine, app, day, kind, version, os, arch, ci)
         SELECT today(), md, generateUUIDv4(), cityHash64(m), if(m % 10 = 0, 'otherapp', 'benchtool'),
                toDate(today() - 1 - (cityHash64(md, 1) % 29)), 101,
                concat('1.', toString({v}), '.0'), ['linux', 'macos', 'windows'][1 + m % 3],
                ['x86_64', 'aarch64'][1 + m % 2], m % 50 = 0
         FROM (SELECT number + {} AS md, md AS n, cityHash64(md) % {m} + 1 AS m FROM numbers({}))",
        start / 10,
        len.div_ceil(10),
        v = sk(12, 9),
    );
    ch.execute_long(&days).expect("generate machine-day rows");
}

fn time_report(
    label: &str,
    count: u64,
    store: &impl tally_cli::report::Source,
    args: &[String],
) -> f64 {
    let today = tally_telemetry::schema::Timestamp::now().date();
    let q = Query {
        since: today - 30,
        until: today,
        app: None,
        min_machines: 5,
    };
    let runs: usize = arg("--runs").map_or(3, |r| r.parse().expect("--runs N"));
    if runs == 0 {
        return 0.0;
    }
    let mut best = f64::MAX;
    for _ in 0..runs {
        let t = Instant::now();
        let r = build(store, &q).unwrap();
        best = best.min(t.elapsed().as_secs_f64());
        assert!(r.machines > 0);
    }
    println!("report over {count} usage rows ({label}), in process: best of {runs} {best:.3} s");
    let in_process = best;
    for json in [true, false] {
        let mut best = f64::MAX;
        for _ in 0..runs {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_tally"));
            cmd.arg("report").args(args);
            if json {
                cmd.arg("--json");
            }
            let t = Instant::now();
            let st = cmd
                .env("TALLY_TELEMETRY", "0")
                .stdout(Stdio::null())
                .status()
                .expect("run tally report");
            best = best.min(t.elapsed().as_secs_f64());
            assert!(st.success());
        }
        println!(
            "report over {count} usage rows ({label}), `tally report{}` process: best of {runs} {:.3} s",
            if json { " --json" } else { "" },
            best
        );
    }
    in_process
}

fn main() {
    let rows: u64 = arg("--rows").map_or(1_000_000, |r| r.parse().expect("--rows N"));
    let which = arg("--store").unwrap_or_else(|| "sqlite".into());
    let mut times = Vec::new();
    if which == "sqlite" || which == "both" {
        let dir = tempfile::tempdir().expect("tempdir");
        let path: PathBuf =
            arg("--keep").map_or_else(|| dir.path().join("report.sqlite3"), PathBuf::from);
        if !path.exists() {
            let t = Instant::now();
            fill(&path, rows);
            eprintln!(
                "report bench: generated {rows} SQLite usage rows in {:.1} s ({})",
                t.elapsed().as_secs_f64(),
                path.display()
            );
        }
        let count: i64 = rusqlite::Connection::open(&path)
            .unwrap()
            .query_row("SELECT COUNT(*) FROM usage", [], |r| r.get(0))
            .unwrap();
        let store = Store::open_read_only(&path).unwrap();
        let args = vec!["--db".to_owned(), path.display().to_string()];
        times.push(("SQLite", time_report("SQLite", count as u64, &store, &args)));
    }
    if which == "clickhouse" || which == "both" {
        let mut private = None;
        let url: ClickHouseUrl = match arg("--clickhouse") {
            Some(u) => u.parse().expect("--clickhouse clickhouse://HOST:PORT/DB"),
            None => {
                let ch = clickhouse_support::ClickHouse::start();
                let u = ch.url("report_bench").parse().unwrap();
                private = Some(ch);
                u
            }
        };
        let ch = ClickHouse::open(&url).expect("open ClickHouse");
        let have = |ch: &ClickHouse| -> u64 {
            ch.select(&format!(
                "SELECT count() FROM {}.rows WHERE kind < 100",
                ch.database()
            ))
            .unwrap()[0][0]
                .as_u64()
                .unwrap()
        };
        if have(&ch) == 0 {
            let t = Instant::now();
            fill_clickhouse(&ch, rows);
            eprintln!(
                "report bench: generated {rows} ClickHouse usage rows in {:.1} s ({url})",
                t.elapsed().as_secs_f64()
            );
        }
        let count = have(&ch);
        let args = vec!["--store".to_owned(), url.to_string()];
        times.push(("ClickHouse", time_report("ClickHouse", count, &ch, &args)));
        drop(private);
    }
    if let [(_, lite), (_, house)] = times[..] {
        println!(
            "side by side: ClickHouse {house:.3} s vs SQLite {lite:.3} s: {:.1}x faster",
            lite / house
        );
    }
}
