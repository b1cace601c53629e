//! A replicated ClickHouse store (`?cluster=NAME`): two clickhouse-server
//! nodes and a standalone ZooKeeper on loopback, a `tally serve` on each
//! node, and clients that, like a load balancer in front of them, send a
//! batch to the other replica when one answers 503. One node is killed
//! (SIGKILL) under load and restarted: every batch answered 204 is counted
//! exactly once, and the report is the same from either node. Waits are
//! bounded safety nets; what is asserted is counts and equality.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::clickhouse_support::{ClickHouse, Node, Options, ZooKeeper, free_port};
use crate::serve_support::{Server, batch, bytes, day, post, uuid};
use crate::support::{Sandbox, text};

const CLUSTER: &str = "tally_pair";

fn serve(sb: &Sandbox, store: &str) -> Server {
    // A short store timeout: a request to the killed node fails fast and
    // the client moves on to the other replica.
    let args = [
        "--store",
        store,
        "--rate-limit",
        "0",
        "--store-timeout",
        "2000",
    ];
    Server::start_with_args(sb, &sb.root().join("unused.sqlite3"), &args)
}

/// `tally report --json` read from `store`.
fn report(sb: &Sandbox, store: &str) -> Value {
    let out = sb.tally(&[
        "report",
        "--json",
        "--since",
        "40d",
        "--min-machines",
        "1",
        "--store",
        store,
    ]);
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

/// Two nodes of cluster [`CLUSTER`] on `zk`.
fn pair(zk: &ZooKeeper) -> (ClickHouse, ClickHouse) {
    let ports = vec![free_port(), free_port()];
    let node = |i: usize| {
        ClickHouse::start_with(Options {
            cluster: Some(Node {
                cluster: CLUSTER.into(),
                tcp_ports: ports.clone(),
                tcp_port: ports[i],
                zookeeper: zk.port,
                replica: format!("r{i}"),
            }),
            ..Options::default()
        })
    };
    let nodes = (node(0), node(1));
    // Each node reaches ZooKeeper before a tally serve needs it (on a
    // loaded machine a JVM's first sessions can take seconds).
    for ch in [&nodes.0, &nodes.1] {
        let deadline = Instant::now() + Duration::from_secs(60);
        while let Err(e) = ch.query("SELECT count() FROM system.zookeeper WHERE path = '/'") {
            assert!(Instant::now() < deadline, "no ZooKeeper: {e}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    nodes
}

#[test]
fn a_clickhouse_node_killed_under_load_loses_nothing_acknowledged_and_both_nodes_report_the_same() {
    let zk = ZooKeeper::start();
    let (mut ch1, ch2) = pair(&zk);
    let url1 = format!("{}?cluster={CLUSTER}", ch1.url("replicated"));
    let url2 = format!("{}?cluster={CLUSTER}", ch2.url("replicated"));
    let sb = Sandbox::new();
    let a = serve(&sb, &url1);
    let b = serve(&sb, &url2);
    // The tables are replicated ones, on both nodes.
    for ch in [&ch1, &ch2] {
        let engine = ch
            .q("SELECT engine FROM system.tables WHERE database = 'replicated' AND name = 'rows'");
        assert_eq!(engine.trim(), "ReplicatedMergeTree");
    }

    // A retry that reaches the other node before it fetched the first copy
    // (a node that stopped after storing, a slow fetch): that node cannot
    // see the copy at its insert, and looks again once it has fetched
    // everything announced.
    ch2.q("SYSTEM STOP FETCHES");
    let raced = bytes(&batch(&uuid(), &uuid(), &day(-1), &[("raced", 2)]));
    assert_eq!(post(a.addr, &raced).status, 204);
    assert_eq!(post(b.addr, &raced).status, 204);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        ch2.q("SELECT count() FROM replicated.rows WHERE kind = 100")
            .trim(),
        "1",
        "node 2 has only its own copy"
    );
    ch2.q("SYSTEM START FETCHES");

    let stop = Arc::new(AtomicBool::new(false));
    let acks = Arc::new(AtomicU64::new(0));
    let acked_ids = Arc::new(Mutex::new(Vec::new()));
    let replicas: [SocketAddr; 2] = [a.addr, b.addr];
    // Four clients, two starting on each replica, that keep a batch until
    // it is acknowledged and send it to the other replica after a 503.
    let clients: Vec<_> = (0..4)
        .map(|i| {
            let (stop, acks) = (Arc::clone(&stop), Arc::clone(&acks));
            let acked_ids = Arc::clone(&acked_ids);
            std::thread::spawn(move || {
                let mut at = i % 2;
                let mut failovers = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let id = uuid();
                    let body = bytes(&batch(&uuid(), &id, &day(-1), &[("load", 1)]));
                    loop {
                        let r = post(replicas[at], &body);
                        match r.status {
                            204 => break,
                            503 => {
                                failovers += 1;
                                at = 1 - at;
                                std::thread::sleep(Duration::from_millis(20));
                            }
                            s => panic!("unexpected {s}: {}", r.body),
                        }
                    }
                    acked_ids.lock().unwrap().push((id, at));
                    acks.fetch_add(1, Ordering::Relaxed);
                }
                failovers
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
    wait_for(40);
    ch1.kill();
    // The other node takes every batch meanwhile.
    let at_kill = acks.load(Ordering::Relaxed);
    wait_for(at_kill + 40);
    ch1.resume();
    let at_resume = acks.load(Ordering::Relaxed);
    wait_for(at_resume + 40);
    stop.store(true, Ordering::Relaxed);
    let failovers: u64 = clients.into_iter().map(|c| c.join().unwrap()).sum();
    let acked = acks.load(Ordering::Relaxed);
    assert!(failovers > 0, "the killed node's replica answered 503");

    // Once the restarted node has fetched what it missed (and the writers
    // have looked again for copies a retry made on the other node), both
    // nodes give the same report, counting every acknowledged batch once.
    let deadline = Instant::now() + Duration::from_secs(40);
    let settled = loop {
        let (r1, r2) = (report(&sb, &url1), report(&sb, &url2));
        let counts = [&r1, &r2].map(|r| {
            (
                command_count(r, "load"),
                r["machines"].clone(),
                command_count(r, "raced"),
            )
        });
        if r1["commands"] == r2["commands"] && counts[0] == (acked, (acked + 1).into(), 2) {
            break Ok(counts);
        }
        if Instant::now() > deadline {
            break Err(counts);
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    eprintln!(
        "replicated: {acked} acknowledged, {failovers} failovers, {} copies settled",
        ch2.q("SELECT count() FROM replicated.dups FINAL").trim()
    );
    let (s1, log1) = a.stop();
    let (s2, log2) = b.stop();
    if let Err(counts) = settled {
        let stored = ch2.q("SELECT toString(batch_id) FROM replicated.rows WHERE kind = 100");
        let missing: Vec<String> = acked_ids
            .lock()
            .unwrap()
            .iter()
            .filter(|(id, _)| !stored.contains(id.as_str()))
            .map(|(id, at)| {
                let on = |ch: &ClickHouse| {
                    ch.q(&format!(
                        "SELECT kind, seq, received FROM replicated.rows WHERE batch_id = toUUID('{id}') FORMAT TSV"
                    ))
                };
                format!("{id} (acknowledged by replica {at}): node 1 {:?}, node 2 {:?}", on(&ch1), on(&ch2))
            })
            .collect();
        let state = |ch: &ClickHouse| {
            let detached = std::fs::read_dir(ch.dir().join("data/data/replicated/rows/detached"))
                .map(|d| {
                    d.filter_map(|e| e.ok())
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            format!(
                "detached {detached:?}; queue {:?}",
                ch.query("SELECT table, type, new_part_name, last_exception FROM system.replication_queue FORMAT TSV")
            )
        };
        panic!(
            "{acked} acknowledged; (load, machines, raced) on each node: {counts:?}\nmissing: {missing:#?}\nnode 1: {}\nnode 2: {}\n{log1}\n{log2}",
            state(&ch1),
            state(&ch2)
        );
    }
    assert!(s1.success(), "{log1}");
    assert!(s2.success(), "{log2}");
    assert!(!log1.contains("dropped from the check"), "{log1}");

    // A cluster the node does not know is refused, saying what to do; so
    // is a single node's store named with a cluster (its tables are not
    // replicated).
    let refused = |store: &str| {
        let out = sb.tally(&["serve", "--listen", "127.0.0.1:0", "--store", store]);
        assert!(!out.status.success());
        text(&out.stderr)
    };
    let err = refused(&format!("{}?cluster=nosuch", ch2.url("refused")));
    assert!(err.contains("no cluster \"nosuch\""), "{err}");
    let single = ch2.url("single");
    let (status, log) = Server::start_with_args(
        &sb,
        &sb.root().join("unused.sqlite3"),
        &["--store", &single],
    )
    .stop();
    assert!(status.success(), "{log}");
    let err = refused(&format!("{single}?cluster={CLUSTER}"));
    assert!(err.contains("tables of a single node"), "{err}");
}
