//! `tally serve` operated for real: the SQLite WAL stays bounded through a
//! load burst, liveness and readiness part ways when the disk fills (a
//! small tmpfs, filled for real), and behind a trusted reverse proxy the
//! per-address limit counts the forwarded clients, not the proxy. Loopback
//! only (the proxy tests bind client sockets to other 127.0.0.0/8
//! addresses); sizes and statuses are asserted, never times: waits are
//! bounded safety nets.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::serve_support::*;
use crate::support::Sandbox;

const MIB: u64 = 1 << 20;

fn wal_of(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push("-wal");
    PathBuf::from(p)
}

fn size(p: &Path) -> u64 {
    std::fs::metadata(p).map_or(0, |m| m.len())
}

/// A batch of `n` distinct commands: about 60 bytes of rows per command.
fn wide_batch(n: usize) -> Vec<u8> {
    let commands: Vec<_> = (0..n)
        .map(|i| json!({"command": format!("wal-{i}"), "count": 1}))
        .collect();
    let mut b = batch(&uuid(), &uuid(), &day(-1), &[]);
    b["events"][0]["commands"] = json!(commands);
    bytes(&b)
}

#[test]
fn the_wal_stays_under_its_limit_through_a_load_burst() {
    let sb = Sandbox::new();
    let limit_mib = 1;
    let srv = Server::start(
        &sb,
        &[
            "--rate-limit",
            "0",
            "--source-rate",
            "0",
            "--global-rate",
            "0",
            "--wal-limit",
            &limit_mib.to_string(),
        ],
    );
    let wal = wal_of(&srv.db);
    let db_before = size(&srv.db);
    let done = Arc::new(AtomicBool::new(false));
    let (clients, per_client) = (4, 700);
    let senders: Vec<_> = (0..clients)
        .map(|_| {
            let addr = srv.addr;
            std::thread::spawn(move || {
                let mut c = Conn::open(addr);
                let mut statuses = std::collections::BTreeMap::new();
                for _ in 0..per_client {
                    let r = match c.post(&wide_batch(200)) {
                        Some(r) => r,
                        // Closed after --max-requests-per-connection.
                        None => {
                            c = Conn::open(addr);
                            c.post(&wide_batch(200)).expect("a response")
                        }
                    };
                    *statuses.entry(r.status).or_insert(0u32) += 1;
                }
                statuses
            })
        })
        .collect();
    // Sample the log's size while the burst runs (bounded: the senders end).
    let sampler = {
        let (wal, done) = (wal.clone(), Arc::clone(&done));
        std::thread::spawn(move || {
            let (mut max, mut samples) = (0u64, 0u64);
            while !done.load(Ordering::Relaxed) {
                max = max.max(size(&wal));
                samples += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
            (max, samples)
        })
    };
    for s in senders {
        let statuses = s.join().unwrap();
        assert_eq!(statuses.get(&204), Some(&per_client), "{statuses:?}");
    }
    done.store(true, Ordering::Relaxed);
    let (max_wal, samples) = sampler.join().unwrap();
    let wal_after = size(&wal);
    let db_grown = size(&srv.db).saturating_sub(db_before);
    let (status, log) = srv.stop();
    assert!(status.success(), "{log}");
    eprintln!(
        "WAL: max {max_wal} bytes over {samples} samples, {wal_after} after the burst; store grew {db_grown} bytes"
    );
    // Every page the store gained went through the log first: without the
    // bound, the log would have held many times the limit.
    let limit = limit_mib * MIB;
    assert!(
        db_grown >= 8 * limit,
        "the burst wrote too little to test the bound: {db_grown} bytes"
    );
    // The limit, plus the commits made while a truncation waited for the
    // background checkpoint, at most a few.
    assert!(
        max_wal <= 4 * limit,
        "the WAL reached {max_wal} bytes, limit {limit}: {log}"
    );
    assert!(wal_after <= 4 * limit, "{wal_after}");
    assert!(!log.contains("truncating the SQLite WAL failed"), "{log}");
}

/// A tmpfs of `mib` MiB mounted on a fresh directory; unmounted when
/// dropped. Needs root (CI runs as root); says so when it is not.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(mib: u64) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={}k", mib * 1024),
                "tmpfs",
            ])
            .arg(dir.path())
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mounting a {mib} MiB tmpfs needs root (CI runs as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Asks `path` until it answers `status`; the last answer.
fn wait_for(addr: SocketAddr, path: &str, status: u16) -> Response {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = simple(addr, "GET", path);
        if r.status == status {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "{path} still answers {} {}",
            r.status,
            r.body
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Fills the file system of `dir` with one file, to the last byte.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    // Bounded: the tmpfs is a few MiB.
    for _ in 0..4096 {
        if f.write_all(&chunk).is_err() {
            break;
        }
    }
    for _ in 0..64 * 1024 {
        if f.write_all(&[0u8]).is_err() {
            break;
        }
    }
    path
}

#[test]
fn a_full_disk_fails_readiness_not_liveness_and_batches_get_503_until_space_returns() {
    let fs = Tmpfs::mount(8);
    let sb = Sandbox::new();
    let db = fs.path().join("store.sqlite3");
    let srv = Server::start_with_db(&sb, &db, &["--rate-limit", "0", "--wal-limit", "1"]);
    let a = srv.addr;
    assert_eq!(wait_for(a, "/readyz", 200).body.trim(), "ready");
    let first = bytes(&batch(&uuid(), &uuid(), &day(-1), &[("before", 1)]));
    assert_eq!(post(a, &first).status, 204);

    let filler = fill(fs.path());
    let r = wait_for(a, "/readyz", 503);
    assert!(r.body.contains("disk full"), "{}", r.body);
    assert_eq!(simple(a, "GET", "/livez").status, 200, "alive all the same");
    assert_eq!(simple(a, "GET", "/healthz").status, 200);
    let during = bytes(&batch(&uuid(), &uuid(), &day(-1), &[("during", 1)]));
    let r = post(a, &during);
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.header("retry-after").is_some());
    let metrics = simple(a, "GET", "/metrics").body;
    assert!(
        metrics.contains("tally_store_ready{store=\"writes\"} 0"),
        "{metrics}"
    );

    std::fs::remove_file(&filler).unwrap();
    wait_for(a, "/readyz", 200);
    let after = bytes(&batch(&uuid(), &uuid(), &day(-1), &[("after", 1)]));
    assert_eq!(post(a, &after).status, 204);
    let (status, log) = srv.stop();
    assert!(status.success(), "{log}");
    assert!(log.contains("cannot take writes"), "{log}");
    assert!(log.contains("takes writes again"), "{log}");
    let stored = count(
        &db,
        "SELECT COUNT(*) FROM usage u JOIN dims d ON d.id = u.name WHERE d.text IN ('before', 'after')",
    );
    assert_eq!(stored, 2);
}

/// A connection to `to` from the loopback address `from` (any 127.0.0.0/8
/// address is this machine's).
fn connect_from(from: Ipv4Addr, to: SocketAddr) -> TcpStream {
    use std::os::fd::FromRawFd;
    let sin = |ip: Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    let SocketAddr::V4(to) = to else {
        panic!("IPv4 only")
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: a fresh socket bound and connected with valid sockaddr_in
    // structs; the descriptor is handed to TcpStream, which owns it.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let local = sin(from, 0);
        let rc = libc::bind(fd, (&local as *const libc::sockaddr_in).cast(), len);
        assert_eq!(rc, 0, "bind {from}: {}", std::io::Error::last_os_error());
        let remote = sin(*to.ip(), to.port());
        let rc = libc::connect(fd, (&remote as *const libc::sockaddr_in).cast(), len);
        assert_eq!(rc, 0, "connect: {}", std::io::Error::last_os_error());
        TcpStream::from_raw_fd(fd)
    }
}

/// POSTs a fresh batch from `from` with `headers`; the status.
fn post_via(from: Ipv4Addr, to: SocketAddr, headers: &str) -> u16 {
    let body = bytes(&batch(&uuid(), &uuid(), &day(-1), &[("proxied", 1)]));
    let mut req = format!(
        "POST /v1/batch HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{headers}Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    let mut c = Conn::from_stream(connect_from(from, to));
    c.send(&req);
    c.read_response().expect("a response").status
}

/// Statuses of `n` batches sent from `from` with the headers `h(i)`.
fn burst(from: Ipv4Addr, to: SocketAddr, n: usize, h: impl Fn(usize) -> String) -> Vec<u16> {
    (0..n).map(|i| post_via(from, to, &h(i))).collect()
}

#[test]
fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_source_limit() {
    let sb = Sandbox::new();
    // One batch a second per address: within a burst of 20, at most a few
    // get through from any one address, and the first from each always.
    let srv = Server::start(
        &sb,
        &[
            "--rate-limit",
            "0",
            "--source-rate",
            "1",
            "--trusted-proxy",
            "127.0.0.2/32",
            "--trusted-proxy",
            "127.0.3.0/24",
        ],
    );
    let a = srv.addr;
    let proxy = Ipv4Addr::new(127, 0, 0, 2);
    let n = 20;

    // Through the proxy, every forwarded client is a source of its own.
    let fresh = burst(proxy, a, n, |i| {
        format!("X-Forwarded-For: 127.0.1.{}\r\n", i + 1)
    });
    assert_eq!(fresh, vec![204; n], "one batch from each of {n} clients");
    let forwarded = burst(proxy, a, n, |i| {
        format!("Forwarded: for=\"127.0.2.{}:4711\";proto=http\r\n", i + 1)
    });
    assert_eq!(forwarded, vec![204; n], "RFC 7239 Forwarded");

    // One client through the proxy is limited like any address.
    let same = burst(proxy, a, n, |_| "X-Forwarded-For: 127.0.1.200\r\n".into());
    assert!(same.contains(&429), "{same:?}");
    assert_eq!(same[0], 204);

    // A client that forges the left of the chain is still the hop the
    // proxy appended (the rightmost untrusted one); trusted hops to its
    // right (a second proxy) are skipped.
    let forged = burst(proxy, a, n, |i| {
        format!(
            "X-Forwarded-For: 127.0.9.{}, 127.0.1.201, 127.0.3.7\r\n",
            i + 1
        )
    });
    assert!(forged.contains(&429), "{forged:?}");

    // The header from a peer that is not trusted is ignored: all of it is
    // that peer's.
    let untrusted = burst(Ipv4Addr::new(127, 0, 0, 4), a, n, |i| {
        format!("X-Forwarded-For: 127.0.4.{}\r\n", i + 1)
    });
    assert!(untrusted.contains(&429), "{untrusted:?}");
    assert_eq!(untrusted[0], 204);

    // The proxy without a usable header: the proxy is the source.
    let bare = burst(proxy, a, n, |_| "X-Forwarded-For: unknown\r\n".into());
    assert!(bare.contains(&429), "{bare:?}");

    let (status, log) = srv.stop();
    assert!(status.success(), "{log}");
    assert!(
        log.contains("trusting the proxies 127.0.0.2/32 127.0.3.0/24"),
        "{log}"
    );
    // Never logged, never stored.
    for forwarded in ["127.0.1.", "127.0.2.", "127.0.4.", "127.0.9."] {
        assert!(!log.contains(forwarded), "{forwarded} in the log: {log}");
    }
    let all = dump(&srv_db(&sb));
    for forwarded in ["127.0.1.", "127.0.2.", "127.0.0.2", "127.0.4."] {
        assert!(!all.contains(forwarded), "{forwarded} stored");
    }
}

fn srv_db(sb: &Sandbox) -> PathBuf {
    sb.root().join("server.sqlite3")
}

#[test]
fn trusted_proxies_come_from_the_environment_and_bad_ranges_are_refused() {
    let mut sb = Sandbox::new();
    sb.set("TALLY_TRUSTED_PROXIES", "127.0.0.2/32, 127.0.5.0/24");
    let srv = Server::start(&sb, &["--rate-limit", "0", "--source-rate", "1"]);
    let proxy = Ipv4Addr::new(127, 0, 0, 2);
    let fresh = burst(proxy, srv.addr, 5, |i| {
        format!("X-Forwarded-For: 127.0.6.{}\r\n", i + 1)
    });
    assert_eq!(fresh, vec![204; 5]);
    let (_, log) = srv.stop();
    assert!(
        log.contains("trusting the proxies 127.0.0.2/32 127.0.5.0/24"),
        "{log}"
    );

    let out = sb.tally(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--trusted-proxy",
        "10.0.0.0/33",
    ]);
    assert!(!out.status.success());
    let err = crate::support::text(&out.stderr);
    assert!(
        err.contains("--trusted-proxy") && err.contains("PREFIX"),
        "{err}"
    );
}

/// `tally serve --check URL`: the container image's health check (it has
/// no shell or curl), which prints nothing and exits 0 only for a 200.
#[test]
fn serve_check_probes_a_running_server_and_fails_for_anything_but_200() {
    let sb = Sandbox::new();
    let server = Server::start(&sb, &[]);
    let addr = server.addr;
    let url = |path: &str| format!("http://{addr}{path}");
    for path in ["/livez", "/readyz"] {
        let out = sb.tally(&["serve", "--check", &url(path)]);
        assert!(
            out.status.success(),
            "{path}: {}",
            crate::support::text(&out.stderr)
        );
        assert!(out.stdout.is_empty() && out.stderr.is_empty());
    }
    let out = sb.tally(&["serve", "--check", &url("/nothing-here")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(crate::support::text(&out.stderr).contains("HTTP 404"));
    drop(server);
    // Nothing listening any more.
    let out = sb.tally(&["serve", "--check", &url("/livez")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(crate::support::text(&out.stderr).contains("is tally serve running there?"));
    let out = sb.tally(&["serve", "--check", "https://example.invalid/livez"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(crate::support::text(&out.stderr).contains("not an http:// URL"));
}

/// A burst of clients deeper than tokio's default listen backlog (128)
/// connecting while the server cannot accept: every one is queued by the
/// kernel and answered once the server runs again. With the old backlog
/// the kernel dropped the 130th and later, and their SYNs were retried a
/// second later (a 1 s stall, the ingest bench's p99 in some runs).
#[test]
fn a_burst_of_connections_deeper_than_the_default_backlog_is_queued_not_dropped() {
    let somaxconn: usize = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    let n = 1500.min(somaxconn.saturating_sub(8));
    if n <= 1100 {
        eprintln!(
            "net.core.somaxconn is {somaxconn}: the kernel caps any backlog below this test's burst; skipped"
        );
        return;
    }
    crate::attack::raise_fd_limit(n as u64 + 256);
    let sb = Sandbox::new();
    let server = Server::start(&sb, &[]);
    let addr = server.addr;
    // The server cannot accept: only the kernel's backlog holds the burst.
    // SAFETY: kill() on the child's pid.
    unsafe { libc::kill(server.pid(), libc::SIGSTOP) };
    let mut conns = Vec::new();
    let mut refused = None;
    for i in 0..n {
        // A connect the backlog has room for completes at once; past it the
        // kernel drops the SYN and the first retry comes after 1 s.
        match TcpStream::connect_timeout(&addr, Duration::from_millis(700)) {
            Ok(s) => conns.push(s),
            Err(e) => {
                refused = Some((i, e));
                break;
            }
        }
    }
    // SAFETY: as above.
    unsafe { libc::kill(server.pid(), libc::SIGCONT) };
    assert!(
        refused.is_none(),
        "connection {:?} of {n} was not queued while the server was stopped",
        refused
    );
    // Every queued connection is a real one: a sample, the last included,
    // is answered.
    let last = conns.len() - 1;
    for (i, stream) in conns.into_iter().enumerate() {
        if i % 100 != 0 && i != last {
            continue;
        }
        let mut c = Conn::from_stream(stream);
        let r = c
            .post(&bytes(&batch(&uuid(), &uuid(), &day(-1), &[("build", 1)])))
            .unwrap_or_else(|| panic!("connection {i}: no answer"));
        assert_eq!(r.status, 204, "connection {i}");
    }
}
