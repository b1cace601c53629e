//! A real ClickHouse for the tests: Debian's `clickhouse-server` (installed
//! by scripts/test.sh), run without systemd from a temp dir on free
//! loopback ports with a config of its own. One server is started per test
//! binary and shared ([`shared`]); each test uses its own database
//! ([`database`]). A test that stops ClickHouse starts a private one
//! ([`ClickHouse::start`]).

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A running clickhouse-server.
pub struct ClickHouse {
    child: Option<Child>,
    dir: PathBuf,
    pub http_port: u16,
    tcp_port: u16,
    /// The HTTPS port, when started with a certificate.
    pub https_port: Option<u16>,
    options: Options,
    _tmp: Option<tempfile::TempDir>,
}

/// What a private server is started with beyond the defaults.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// A user `tally` with this password (beside the password-less
    /// `default` user the tests' own queries use).
    pub password: Option<String>,
    /// HTTPS with this certificate chain and key (PEM files).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// A node of a replicated cluster.
    pub cluster: Option<Node>,
    /// Where its temp dir goes (the system's temp dir if `None`).
    pub parent_dir: Option<PathBuf>,
    /// Every query logged in `system.query_log` (the ingest bench's
    /// `--query-log`).
    pub query_log: bool,
}

/// What a node of a replicated cluster is configured with: the cluster
/// (`remote_servers`: one shard, every node a replica), ZooKeeper, its
/// `{replica}` macro and its port for fetching parts.
#[derive(Clone, Debug)]
pub struct Node {
    /// The cluster's name.
    pub cluster: String,
    /// Every node's native (TCP) port, this one's included.
    pub tcp_ports: Vec<u16>,
    /// This node's native port (one of `tcp_ports`).
    pub tcp_port: u16,
    /// The ZooKeeper's client port.
    pub zookeeper: u16,
    /// This node's replica name.
    pub replica: String,
}

/// A port free on 127.0.0.1, below the kernel's range of ephemeral ports.
///
/// A port the kernel hands out (`bind` to port 0) is in the range it also
/// takes outgoing connections' local ports from, so any test's connection
/// could take it between the pick and ClickHouse's own `bind`, or while a
/// killed server restarts on it: `Address already in use`, and a test that
/// failed for nothing (`clickhouse_stopped_and_restarted_under_load_loses_
/// nothing_acknowledged`). Nothing takes a port below that range unasked;
/// each pick in this process moves on, so two servers never get one port.
pub fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const LOW: u32 = 20_000;
    let ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32_768);
    let span = ephemeral.saturating_sub(LOW).max(1_000);
    // Another test process (a second `cargo test`) starts elsewhere.
    let start = std::process::id().wrapping_mul(7_919) % span;
    for _ in 0..span {
        let port = LOW + (start + NEXT.fetch_add(1, Ordering::Relaxed)) % span;
        if TcpListener::bind(("127.0.0.1", port as u16)).is_ok() {
            return port as u16;
        }
    }
    panic!("no free port between {LOW} and {ephemeral}");
}

fn binary() -> &'static str {
    for b in ["clickhouse-server", "/usr/bin/clickhouse-server"] {
        if Command::new(b)
            .arg("--help")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
        {
            return b;
        }
    }
    panic!(
        "clickhouse-server is not installed; `apt-get install clickhouse-server` (scripts/test.sh does it)"
    );
}

impl ClickHouse {
    /// Starts a private server in a fresh temp dir.
    pub fn start() -> ClickHouse {
        ClickHouse::start_with(Options::default())
    }

    /// Starts a private server with `options`.
    pub fn start_with(options: Options) -> ClickHouse {
        let tmp = match &options.parent_dir {
            Some(parent) => tempfile::tempdir_in(parent).unwrap(),
            None => tempfile::tempdir().unwrap(),
        };
        let dir = tmp.path().to_path_buf();
        let mut ch = ClickHouse {
            child: None,
            dir,
            http_port: free_port(),
            tcp_port: options
                .cluster
                .as_ref()
                .map_or_else(free_port, |n| n.tcp_port),
            https_port: options.tls.as_ref().map(|_| free_port()),
            options,
            _tmp: Some(tmp),
        };
        ch.write_config();
        ch.resume();
        ch
    }

    fn write_config(&self) {
        let d = self.dir.display();
        std::fs::create_dir_all(self.dir.join("data")).unwrap();
        let system_users = "/etc/clickhouse-server/users.xml";
        assert!(
            Path::new(system_users).exists(),
            "{system_users} is missing; install clickhouse-server (scripts/test.sh does it)"
        );
        let users = match (&self.options.password, self.options.query_log) {
            (None, false) => system_users.to_owned(),
            (pw, query_log) => {
                let path = self.dir.join("users.xml");
                std::fs::write(&path, users_xml(pw.as_deref(), query_log)).unwrap();
                path.display().to_string()
            }
        };
        let query_log = if self.options.query_log {
            "<query_log><database>system</database><table>query_log</table><flush_interval_milliseconds>1000</flush_interval_milliseconds></query_log>"
        } else {
            ""
        };
        let tls = match (&self.options.tls, self.https_port) {
            (Some((cert, key)), Some(port)) => format!(
                "<https_port>{port}</https_port>
  <openSSL><server><certificateFile>{}</certificateFile><privateKeyFile>{}</privateKeyFile><verificationMode>none</verificationMode><loadDefaultCAFile>false</loadDefaultCAFile><cacheSessions>true</cacheSessions><disableProtocols>sslv2,sslv3</disableProtocols><preferServerCiphers>true</preferServerCiphers></server></openSSL>",
                cert.display(),
                key.display()
            ),
            _ => String::new(),
        };
        let cluster = match &self.options.cluster {
            None => String::new(),
            Some(n) => {
                let replicas: String = n
                    .tcp_ports
                    .iter()
                    .map(|p| format!("<replica><host>127.0.0.1</host><port>{p}</port></replica>"))
                    .collect();
                // A short ZooKeeper session: a killed node's replicas are
                // seen inactive, and it can take them back, within seconds.
                format!(
                    "<zookeeper><node><host>127.0.0.1</host><port>{zk}</port></node><session_timeout_ms>4000</session_timeout_ms></zookeeper>
  <remote_servers><{name}><shard><internal_replication>true</internal_replication>{replicas}</shard></{name}></remote_servers>
  <macros><replica>{replica}</replica></macros>
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <interserver_http_port>{inter}</interserver_http_port>",
                    zk = n.zookeeper,
                    name = n.cluster,
                    replica = n.replica,
                    inter = free_port(),
                )
            }
        };
        std::fs::write(
            self.dir.join("config.xml"),
            format!(
                r#"<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{d}/server.log</log><errorlog>{d}/server.err.log</errorlog><size>10M</size><count>1</count></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>{http}</http_port>
  <tcp_port>{tcp}</tcp_port>
  {tls}
  {cluster}
  <path>{d}/data/</path>
  <tmp_path>{d}/data/tmp/</tmp_path>
  <user_files_path>{d}/data/user_files/</user_files_path>
  <format_schema_path>{d}/data/format_schemas/</format_schema_path>
  <users_config>{users}</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
  {query_log}
</yandex>
"#,
                http = self.http_port,
                tcp = self.tcp_port,
            ),
        )
        .unwrap();
    }

    /// (Re)starts the server on the same ports and data, and waits until
    /// it answers.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "already running");
        let config = self.dir.join("config.xml");
        let child = Command::new(binary())
            .arg(format!("--config-file={}", config.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start clickhouse-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.query("SELECT 1").is_ok_and(|s| s.trim() == "1") {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("clickhouse-server did not start: {}", self.log());
    }

    /// The server's process id (for SIGSTOP and SIGCONT).
    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("running").id() as i32
    }

    /// Kills the server (SIGKILL: nothing it had not acknowledged survives).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The server's own log.
    pub fn log(&self) -> String {
        let mut s = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        s.push_str(&std::fs::read_to_string(self.dir.join("server.err.log")).unwrap_or_default());
        s
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `clickhouse://127.0.0.1:PORT/DATABASE`.
    pub fn url(&self, database: &str) -> String {
        format!("clickhouse://127.0.0.1:{}/{database}", self.http_port)
    }

    /// Runs `sql` over HTTP; the answer's text.
    pub fn query(&self, sql: &str) -> Result<String, String> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(60)))
            .http_status_as_error(false)
            .build()
            .into();
        let mut resp = agent
            .post(&format!("http://127.0.0.1:{}/", self.http_port))
            .send(sql.as_bytes())
            .map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_string()
            .map_err(|e| e.to_string())?;
        if status == 200 {
            Ok(text)
        } else {
            Err(format!("HTTP {status}: {text}"))
        }
    }

    /// Runs `sql`, panicking on failure.
    pub fn q(&self, sql: &str) -> String {
        self.query(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

impl Drop for ClickHouse {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A users.xml with the password-less `default` user (loopback only), a
/// user `tally` with `password` if given, and queries logged if asked.
fn users_xml(password: Option<&str>, query_log: bool) -> String {
    let user = |pw: &str| {
        format!(
            "<password>{pw}</password><networks><ip>::1</ip><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota>"
        )
    };
    let tally = password.map_or(String::new(), |pw| format!("<tally>{}</tally>", user(pw)));
    let log = if query_log {
        "<log_queries>1</log_queries>"
    } else {
        ""
    };
    format!(
        r#"<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>10000000000</max_memory_usage>{log}</default></profiles>
  <users><default>{}</default>{tally}</users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
"#,
        user("")
    )
}

/// The server shared by every test of this binary, started on first use.
/// It is never dropped (statics are not): a watchdog shell ends it when
/// the test process is gone.
pub fn shared() -> &'static ClickHouse {
    static SHARED: OnceLock<ClickHouse> = OnceLock::new();
    SHARED.get_or_init(|| {
        let ch = ClickHouse::start();
        if let Some(child) = &ch.child {
            let me = std::process::id();
            let server = child.id();
            let _ = Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "while kill -0 {me} 2>/dev/null && kill -0 {server} 2>/dev/null; do sleep 1; done; kill -9 {server} 2>/dev/null; rm -rf '{}'",
                    ch.dir.display()
                ))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
        }
        ch
    })
}

/// A fresh database name for one test.
pub fn database(test: &str) -> String {
    format!("t_{test}_{}", uuid::Uuid::new_v4().simple())
}

/// A standalone ZooKeeper (Debian's `zookeeper` package, run with `java`
/// from a temp dir on a free loopback port), for the replicated store.
pub struct ZooKeeper {
    child: Child,
    /// Its client port.
    pub port: u16,
    dir: tempfile::TempDir,
}

impl ZooKeeper {
    /// Starts one and waits until it serves (`ruok` answers `imok`).
    pub fn start() -> ZooKeeper {
        let jar = "/usr/share/java/zookeeper.jar";
        assert!(
            Path::new(jar).exists(),
            "{jar} is missing; `apt-get install zookeeper` (scripts/test.sh does it)"
        );
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let d = dir.path();
        std::fs::create_dir_all(d.join("data")).unwrap();
        // A short tick lets ClickHouse ask for a short session (between 2
        // and 20 ticks), so a killed node's session ends within seconds.
        std::fs::write(
            d.join("zoo.cfg"),
            format!(
                "tickTime=500\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n4lw.commands.whitelist=ruok\nmaxClientCnxns=0\n",
                d.join("data").display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(d.join("zookeeper.log")).unwrap();
        let child = Command::new("java")
            .args([
                "-Xmx256m",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-cp",
                &format!("/etc/zookeeper/conf:{jar}"),
                &format!("-Dzookeeper.log.dir={}", d.display()),
                "-Dzookeeper.root.logger=WARN,CONSOLE",
                "org.apache.zookeeper.server.ZooKeeperServerMain",
            ])
            .arg(d.join("zoo.cfg"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start ZooKeeper (java)");
        let zk = ZooKeeper { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if zk.four_letters("ruok").as_deref() == Some("imok") {
                return zk;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "ZooKeeper did not start: {}",
            std::fs::read_to_string(zk.dir.path().join("zookeeper.log")).unwrap_or_default()
        );
    }

    fn four_letters(&self, word: &str) -> Option<String> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        s.write_all(word.as_bytes()).ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out)
    }
}

impl Drop for ZooKeeper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
