//! Load generator for `tally serve`: starts the release binary on a free
//! loopback port with a fresh store, then posts realistic, unique ~1 KB
//! batches from this separate process over keep-alive connections at a
//! target rate, and prints throughput and latency percentiles.
//!
//! Latency is measured from each request's *scheduled* send time, so a
//! stalled server cannot hide its stall by slowing the generator down
//! (coordinated omission): a request sent late because the previous answer
//! came late is timed from when it should have gone out. The client runs on
//! a single thread.
//! The p99 of each 5 s of the schedule follows on its own line: a tail
//! spread over the run is a server at capacity, one in a few windows a
//! stall. With ClickHouse the bench also prints the inserts ClickHouse
//! delayed or refused itself (too many parts in a partition).
//!
//! ```text
//! cargo bench --bench ingest -- [--rate 10000] [--duration 10] [--connections 32]
//!                               [--sync full|normal] [--addr HOST:PORT]
//!                               [--store clickhouse|clickhouse://HOST:PORT/DB]
//!                               [--max-connections N] [--closed] [--clickhouse-dir DIR]
//!                               [--query-log] [--preload N]
//! ```
//!
//! `--closed` drops the schedule: every connection sends its next batch as
//! soon as the previous one is answered, until `--duration` is over (the
//! most this client can send, in bounded time; `scripts/wal.sh` uses it).
//! Without it, every scheduled request is sent, so a server slower than
//! `--rate` makes the run last longer than `--duration`.
//!
//! `TALLY_BENCH_BIN=PATH` benchmarks that `tally` binary instead of this
//! build's (say, a copy of the build before a change, run interleaved with
//! the new one under the same machine load).
//!
//! `--store clickhouse` starts a private clickhouse-server (Debian's package)
//! in a temp dir and points `tally serve --store` at it. ClickHouse answers
//! an insert in tens of milliseconds, so reaching a rate takes that many
//! requests in flight (Little's law): give it `--connections` (and the
//! server `--max-connections`) in the thousands. `--clickhouse-dir DIR`
//! puts that server's data under DIR (say `/dev/shm`, or a journaled file
//! system: on an ext4 without a journal the kernel skips every inode freed
//! in the last minute or so, and creating the ~100 files of each part
//! ClickHouse writes per insert then costs more CPU than anything tally
//! does, more with each run; docs/PERFORMANCE.md). `--query-log` has that
//! server log every query and prints, after the run, the five that took it
//! longest in all (warm-up included): how many, their average and p99
//! duration, and the rows and bytes each read (how the batch-id lookup's
//! cost was found and halved). `--preload N` stores N batches' marker rows
//! (as `INSERT … SELECT` in ClickHouse, before the warm-up), so the run
//! meets a store of a month of traffic instead of an empty one: the
//! batch-id lookup's cost must not grow with it.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Opts {
    rate: u64,
    duration: u64,
    connections: usize,
    sync: String,
    addr: Option<SocketAddr>,
    store: Option<String>,
    max_connections: Option<usize>,
    closed: bool,
    clickhouse_dir: Option<std::path::PathBuf>,
    query_log: bool,
    preload: u64,
}

fn opts() -> Opts {
    let mut o = Opts {
        rate: 10_000,
        duration: 10,
        connections: 32,
        sync: "full".into(),
        addr: None,
        store: None,
        max_connections: None,
        closed: false,
        clickhouse_dir: None,
        query_log: false,
        preload: 0,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let val = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--rate" => o.rate = val.parse().expect("--rate N"),
            "--duration" => o.duration = val.parse().expect("--duration SECS"),
            "--connections" => o.connections = val.parse().expect("--connections N"),
            "--sync" => o.sync = val,
            "--addr" => o.addr = Some(val.parse().expect("--addr HOST:PORT")),
            "--store" => o.store = Some(val),
            "--clickhouse-dir" => o.clickhouse_dir = Some(val.into()),
            "--preload" => o.preload = val.parse().expect("--preload N"),
            "--max-connections" => {
                o.max_connections = Some(val.parse().expect("--max-connections N"))
            }
            "--closed" => {
                o.closed = true;
                i += 1;
                continue;
            }
            "--query-log" => {
                o.query_log = true;
                i += 1;
                continue;
            }
            // `cargo bench` passes --bench; anything else is ignored too.
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    o
}

/// The server process; stopped with SIGTERM (a clean shutdown) when
/// dropped, also when the bench panics.
struct ServerProc(Child);

impl Drop for ServerProc {
    fn drop(&mut self) {
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.0.id() as i32, libc::SIGTERM);
        }
        let _ = self.0.wait();
    }
}

#[path = "../tests/cli/clickhouse_support.rs"]
mod clickhouse_support;

fn start_server(
    dir: &std::path::Path,
    sync: &str,
    store: Option<&str>,
    max_connections: Option<usize>,
) -> (ServerProc, SocketAddr) {
    // TALLY_BENCH_BIN runs another build (a copy of an earlier one, for a
    // before/after comparison in one session under the same load).
    let bin =
        std::env::var_os("TALLY_BENCH_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_tally").into());
    let mut cmd = Command::new(bin);
    // Every connection comes from loopback, one source: the per-source
    // limit would refuse the load; the global limit stays at its default.
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--source-rate",
        "0",
        "--sync",
        sync,
    ]);
    match store {
        Some(url) => cmd.args(["--store", url]),
        None => cmd.arg("--db").arg(dir.join("bench.sqlite3")),
    };
    if let Some(n) = max_connections {
        cmd.args(["--max-connections", &n.to_string()]);
    }
    let child = cmd
        .env("TALLY_TELEMETRY", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tally serve");
    let mut server = ServerProc(child);
    let mut lines = BufReader::new(server.0.stderr.take().expect("stderr"));
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).expect("read server stderr") == 0 {
            panic!("tally serve exited before listening");
        }
        if let Some(rest) = line.split("http://").nth(1) {
            let addr = rest.split('/').next().expect("address");
            // Keep draining the server's stderr so it never blocks on it.
            std::thread::spawn(move || for _ in lines.lines() {});
            return (server, addr.parse().expect("bound address"));
        }
    }
}

/// A realistic batch: one completed day of a CLI that is also an MCP proxy.
fn body(day: &str, seq: u64) -> Vec<u8> {
    let machine = uuid::Uuid::new_v4();
    let batch = uuid::Uuid::new_v4();
    const COMMANDS: [&str; 8] = [
        "build",
        "run",
        "config otel get",
        "config otel set",
        "list",
        "serve",
        "logs",
        "version",
    ];
    let commands: Vec<String> = COMMANDS
        .iter()
        .enumerate()
        .map(|(i, c)| {
            format!(
                r#"{{"command":"{c}","count":{}}}"#,
                1 + (seq + i as u64) % 17
            )
        })
        .collect();
    let tools: Vec<String> = ["search", "fetch", "write_file"]
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let n = 3 + (seq + i as u64) % 40;
            format!(
                r#"{{"tool":"{t}","outcome":"ok","count":{n},"latency":[{},{},1,0,0,0,0]}}"#,
                n - 2,
                1
            )
        })
        .collect();
    format!(
        concat!(
            r#"{{"envelope":{{"app":"benchtool","app_version":"2.{}.0","os":"linux","arch":"x86_64","ci":false,"schema":1,"#,
            r#""machine_id":"{}","batch_id":"{}"}},"events":[{{"type":"usage_rollup","day":"{}","commands":[{}],"#,
            r#""tool_calls":[{},{{"outcome":"protocol_error","error_class":"invalid_params","count":2,"latency":[2,0,0,0,0,0,0]}}],"#,
            r#""clients":[{{"client":"cursor","major":1,"count":2}},{{"client":"claude-code","major":2,"count":1}}]}},"#,
            r#"{{"type":"facts","day":"{}","auth_type":"oidc","backend_count":"2-5","uptime":"1-24h"}}]}}"#
        ),
        seq % 5,
        machine,
        batch,
        day,
        commands.join(","),
        tools.join(","),
        day
    )
    .into_bytes()
}

/// One keep-alive connection; requests are written whole and responses
/// parsed just enough (status, Content-Length, Connection: close).
struct Conn {
    stream: TcpStream,
    addr: SocketAddr,
    buf: Vec<u8>,
}

impl Conn {
    async fn open(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).ok();
        Conn {
            stream,
            addr,
            buf: Vec::with_capacity(4096),
        }
    }

    /// Posts one body, returns the status (0 on a connection error).
    async fn post(&mut self, body: &[u8]) -> u16 {
        let head = format!(
            "POST /v1/batch HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            body.len()
        );
        let mut req = head.into_bytes();
        req.extend_from_slice(body);
        if self.stream.write_all(&req).await.is_err() {
            *self = Conn::open(self.addr).await;
            return 0;
        }
        match self.read_response().await {
            Some((status, close)) => {
                if close {
                    *self = Conn::open(self.addr).await;
                }
                status
            }
            None => {
                *self = Conn::open(self.addr).await;
                0
            }
        }
    }

    async fn read_response(&mut self) -> Option<(u16, bool)> {
        self.buf.clear();
        let mut chunk = [0u8; 4096];
        let end = loop {
            if let Some(p) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            let n = self.stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&self.buf[..end]).to_ascii_lowercase();
        let status: u16 = head.get(9..12)?.parse().ok()?;
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let close = head.contains("connection: close");
        let mut have = self.buf.len() - end;
        while have < len {
            let n = self.stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            have += n;
        }
        Some((status, close))
    }
}

struct Results {
    latencies_us: Vec<u32>,
    /// Each latency with the second of the run it was scheduled in, for
    /// the timeline: whether the tail is spread or comes in bursts.
    timeline: Vec<(u16, u32)>,
    statuses: BTreeMap<u16, u64>,
}

/// Runs the load for `secs` on one thread: every connection is a task that
/// sends at its own fixed schedule. One thread, as in wrk, so the generator
/// does not crowd the server off the CPU with a thread per connection.
fn run_load(addr: SocketAddr, o: &Opts, secs: u64) -> (Results, Duration) {
    let day = {
        let d = tally_telemetry::schema::Timestamp::now().date() - 1;
        d.to_string()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let per_conn = Duration::from_secs_f64(o.connections as f64 / o.rate as f64);
    let connections = o.connections;
    let closed = o.closed;
    rt.block_on(async move {
        let start = Instant::now() + Duration::from_millis(50);
        let end = start + Duration::from_secs(secs);
        let tasks: Vec<_> = (0..connections)
            .map(|t| {
                let day = day.clone();
                tokio::spawn(async move {
                    let mut conn = Conn::open(addr).await;
                    let mut lat = Vec::new();
                    let mut statuses = BTreeMap::new();
                    // Spread the connections' send times over one interval.
                    let offset = per_conn.mul_f64(t as f64 / connections as f64);
                    let mut seq = t as u64 * 1_000_000_000;
                    let mut i = 0u32;
                    loop {
                        let scheduled = if closed {
                            Instant::now().max(start)
                        } else {
                            start + offset + per_conn * i
                        };
                        if scheduled >= end {
                            break;
                        }
                        let b = body(&day, seq);
                        seq += 1;
                        // Behind schedule (the previous answer came late):
                        // send now and count from the scheduled time, so a
                        // slow server pays for the wait it caused. On time:
                        // wait, and count from the actual send, so the
                        // timer's own lateness is not blamed on the server.
                        let from = if Instant::now() >= scheduled {
                            scheduled
                        } else {
                            tokio::time::sleep_until(scheduled.into()).await;
                            Instant::now()
                        };
                        let status = conn.post(&b).await;
                        let took = Instant::now().saturating_duration_since(from);
                        let second = from.saturating_duration_since(start).as_secs();
                        lat.push((
                            second.min(u16::MAX as u64) as u16,
                            took.as_micros().min(u32::MAX as u128) as u32,
                        ));
                        *statuses.entry(status).or_insert(0u64) += 1;
                        i += 1;
                    }
                    (lat, statuses)
                })
            })
            .collect();
        let mut r = Results {
            latencies_us: Vec::new(),
            timeline: Vec::new(),
            statuses: BTreeMap::new(),
        };
        for t in tasks {
            let (lat, st) = t.await.expect("load task");
            r.latencies_us.extend(lat.iter().map(|&(_, us)| us));
            r.timeline.extend(lat);
            for (k, v) in st {
                *r.statuses.entry(k).or_default() += v;
            }
        }
        (r, Instant::now().saturating_duration_since(start))
    })
}

/// CPU time (user + system) a process has used so far, from
/// /proc/PID/stat: per accepted batch, a figure that holds up on a busy
/// machine better than batches per second do.
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(Duration::from_micros(ticks * 1_000_000 / hz))
}

/// Stores `n` batches' marker rows as tally writes them (kind 100, a batch
/// id, a `seq`, received today, every other column empty), in chunks of a
/// million (each one `INSERT … SELECT` inside ClickHouse, which its views
/// see like any insert), then merged. The ids are MD5s of a counter,
/// formatted as UUIDs.
fn preload(ch: &clickhouse_support::ClickHouse, n: u64) {
    let start = Instant::now();
    let chunk = 1_000_000;
    let mut done = 0;
    while done < n {
        let k = chunk.min(n - done);
        ch.q(&format!(
            "INSERT INTO bench.rows (received, seq, batch_id, kind)
             SELECT today(), number, toUUID(concat(substring(h, 1, 8), '-', substring(h, 9, 4), '-',
                    substring(h, 13, 4), '-', substring(h, 17, 4), '-', substring(h, 21, 12))), 100
             FROM (SELECT number, lower(hex(MD5(concat('preload-', toString(number))))) AS h
                   FROM numbers({done}, {k}))"
        ));
        done += k;
    }
    // Merged now, so the run does not pay for merging the preload.
    for table in ["rows", "batch_ids"] {
        if ch.q(&format!("EXISTS TABLE bench.{table}")).trim() == "1" {
            ch.q(&format!("OPTIMIZE TABLE bench.{table} FINAL"));
        }
    }
    eprintln!(
        "preloaded {n} batches' marker rows in {:.1} s",
        start.elapsed().as_secs_f64()
    );
}

/// The kernel's count of connections dropped because a listen queue was
/// full (`TcpExt: ListenDrops` in /proc/net/netstat; all of this machine's
/// sockets, which during a bench are the server's). None off Linux.
fn listen_drops() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/netstat").ok()?;
    let mut tcp_ext = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let (names, values) = (tcp_ext.next()?, tcp_ext.next()?);
    let at = names.split_whitespace().position(|n| n == "ListenDrops")?;
    values.split_whitespace().nth(at)?.parse().ok()
}

fn pct(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

fn main() {
    let o = opts();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut clickhouse = None;
    let store = match o.store.as_deref() {
        Some("clickhouse") => {
            let ch = clickhouse_support::ClickHouse::start_with(clickhouse_support::Options {
                parent_dir: o.clickhouse_dir.clone(),
                query_log: o.query_log,
                ..Default::default()
            });
            let url = ch.url("bench");
            clickhouse = Some(ch);
            Some(url)
        }
        other => other.map(str::to_owned),
    };
    let (child, addr) = match o.addr {
        Some(a) => (None, a),
        None => {
            let (c, a) = start_server(dir.path(), &o.sync, store.as_deref(), o.max_connections);
            (Some(c), a)
        }
    };
    if let (Some(ch), true) = (&clickhouse, o.preload > 0) {
        preload(ch, o.preload);
    }
    eprintln!(
        "ingest bench: {} req/s target, {} s, {} connections, store {}, sync={}, server {addr}",
        o.rate,
        o.duration,
        o.connections,
        store.as_deref().unwrap_or("sqlite"),
        o.sync
    );
    // Warm-up: caches, page cache, first WAL growth.
    let (warm_up, _) = run_load(addr, &o, 2);
    let server_pid = child.as_ref().map(|c| c.0.id());
    let clickhouse_pid = clickhouse.as_ref().map(|c| c.pid() as u32);
    let cpu = |pid: Option<u32>| pid.and_then(cpu_time);
    let cpu_before = (cpu(server_pid), cpu(clickhouse_pid));
    let drops_before = listen_drops();
    let (mut r, took) = run_load(addr, &o, o.duration);
    let drops_after = listen_drops();
    let cpu_after = (cpu(server_pid), cpu(clickhouse_pid));
    r.latencies_us.sort_unstable();
    let ok = r.statuses.get(&204).copied().unwrap_or(0);
    let total: u64 = r.statuses.values().sum();
    let l = &r.latencies_us;
    println!(
        "ingest: {ok} accepted of {total} sent in {:.2} s = {:.0} accepted batches/s; latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms; statuses {:?}",
        took.as_secs_f64(),
        ok as f64 / took.as_secs_f64(),
        pct(l, 0.50),
        pct(l, 0.90),
        pct(l, 0.99),
        pct(l, 0.999),
        pct(l, 1.0),
        r.statuses
    );
    // p99 per 5 s of the schedule: a tail spread over the run is the
    // machine at capacity; one in a few windows is a stall (a merge, a
    // slow insert) worth a look in the query log.
    let mut windows: BTreeMap<u16, Vec<u32>> = BTreeMap::new();
    for &(second, us) in &r.timeline {
        windows.entry(second / 5).or_default().push(us);
    }
    let timeline: Vec<String> = windows
        .into_values()
        .map(|mut w| {
            w.sort_unstable();
            format!("{:.0}", pct(&w, 0.99))
        })
        .collect();
    println!("p99 ms per 5 s: {}", timeline.join(" "));
    let per_batch = |before: Option<Duration>, after: Option<Duration>| {
        let used = after?.checked_sub(before?)?;
        Some(used.as_secs_f64() * 1e6 / (ok.max(1) as f64))
    };
    if let (Some(a), Some(b)) = (drops_before, drops_after) {
        // Each drop is a connect retried a second later: a run with any
        // has a 1 s tail that is the kernel's, not the server's work.
        println!(
            "connections the kernel dropped from a full listen queue during the run: {}",
            b.saturating_sub(a)
        );
    }
    if let Some(us) = per_batch(cpu_before.0, cpu_after.0) {
        print!("server CPU {us:.0} us per accepted batch");
        if let Some(ch) = per_batch(cpu_before.1, cpu_after.1) {
            print!(", ClickHouse CPU {ch:.0} us per accepted batch");
        }
        println!();
    }
    if let Some(ch) = &clickhouse {
        // Nothing acknowledged lost: every batch answered 204 (warm-up
        // included) has its marker row. (The bench's batches are unique and
        // a 503 is not retried, so stored can exceed acknowledged only by
        // batches ClickHouse kept after tally gave up waiting.)
        let acked = ok + warm_up.statuses.get(&204).copied().unwrap_or(0);
        let stored: u64 = ch
            .q("SELECT uniqExact(batch_id) FROM bench.rows WHERE kind = 100")
            .trim()
            .parse()
            .unwrap_or(0);
        println!(
            "acknowledged {acked} batches, {stored} stored: {}",
            if stored >= acked {
                "nothing acknowledged lost".to_owned()
            } else {
                format!("{} MISSING", acked - stored)
            }
        );
        if o.query_log {
            // The log is flushed every second.
            std::thread::sleep(std::time::Duration::from_millis(1500));
            print!(
                "ClickHouse's queries that took longest in all (batch ids as U):\n{}",
                ch.q(
                    "SELECT substring(replaceRegexpAll(query, '[0-9a-f-]{36}', 'U'), 1, 60) AS query,
                            count() AS n, round(avg(query_duration_ms), 1) AS avg_ms,
                            round(quantile(0.99)(query_duration_ms)) AS p99_ms,
                            round(avg(read_rows)) AS read_rows, round(avg(read_bytes)) AS read_bytes,
                            round(sum(query_duration_ms) / 1000, 1) AS total_s
                     FROM system.query_log WHERE type = 2
                     GROUP BY query ORDER BY total_s DESC LIMIT 5
                     FORMAT PrettyCompactNoEscapes"
                )
            );
        }
        let rows = ch.q("SELECT count() FROM bench.rows");
        let parts = ch.q("SELECT count() FROM system.parts WHERE database = 'bench' AND active");
        println!(
            "clickhouse after the run: {} rows in {} active parts",
            rows.trim(),
            parts.trim()
        );
        // Inserts ClickHouse held back itself: past `parts_to_delay_insert`
        // active parts in a partition it sleeps before writing (up to
        // `max_delay_to_insert`, 1 s), which shows as the bench's tail.
        let delayed = ch.q(
            "SELECT groupArray(concat(event, ' ', toString(value))) FROM system.events
             WHERE event IN ('DelayedInserts', 'DelayedInsertsMilliseconds', 'RejectedInserts')",
        );
        println!("clickhouse's own insert throttling: {}", delayed.trim());
    }
    if store.is_some() {
        return;
    }
    if let Some(server) = child {
        drop(server);
        let db = dir.path().join("bench.sqlite3");
        let size = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
        println!("store after the run: {:.1} MB", size as f64 / 1e6);
    }
}
