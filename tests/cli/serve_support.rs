//! Helpers for the server tests: a real `tally serve` on a free loopback
//! port (it prints the bound address on stderr), raw HTTP/1.1 over
//! `TcpStream` so every byte and status is visible, batch builders, and a
//! text dump of a whole SQLite store.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Sandbox, tally_bin};

/// A running `tally serve`.
pub struct Server {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub db: PathBuf,
    log: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Starts `tally serve --listen 127.0.0.1:0 --db <sandbox>/server.sqlite3 <extra>`.
    pub fn start(sb: &Sandbox, extra: &[&str]) -> Server {
        let db = sb.root().join("server.sqlite3");
        Server::start_with_db(sb, &db, extra)
    }

    /// Starts a server on an explicit store.
    pub fn start_with_db(sb: &Sandbox, db: &Path, extra: &[&str]) -> Server {
        let db_text = db.display().to_string();
        let mut args = vec!["--db", db_text.as_str()];
        args.extend_from_slice(extra);
        Server::start_with_args(sb, db, &args)
    }

    /// Starts `tally serve --listen 127.0.0.1:0 <args>`; `db` is only recorded.
    pub fn start_with_args(sb: &Sandbox, db: &Path, extra: &[&str]) -> Server {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let mut child = sb
            .command(&tally_bin(), &args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tally serve");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr"));
        let log = Arc::new(Mutex::new(String::new()));
        let mut addr = None;
        let mut line = String::new();
        while addr.is_none() {
            line.clear();
            let n = lines.read_line(&mut line).expect("read server stderr");
            assert!(
                n > 0,
                "tally serve exited before listening: {}",
                log.lock().unwrap()
            );
            log.lock().unwrap().push_str(&line);
            if let Some(rest) = line.split("listening on http://").nth(1) {
                addr = rest.split('/').next().map(|a| a.parse().expect("address"));
            }
        }
        let sink = Arc::clone(&log);
        let reader = std::thread::spawn(move || {
            for l in lines.lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&l);
                s.push('\n');
            }
        });
        Server {
            child: Some(child),
            addr: addr.unwrap(),
            db: db.to_path_buf(),
            log,
            reader: Some(reader),
        }
    }

    /// The URL clients post batches to.
    pub fn endpoint(&self) -> String {
        format!("http://{}/v1/batch", self.addr)
    }

    /// The process id (for signals).
    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("running").id() as i32
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        // SAFETY: plain kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(self.pid(), libc::SIGTERM) };
        assert_eq!(rc, 0, "kill failed");
    }

    /// SIGTERM, then waits for the exit; returns the status and all stderr.
    pub fn stop(mut self) -> (ExitStatus, String) {
        self.terminate();
        let status = self.child.take().unwrap().wait().expect("wait");
        if let Some(r) = self.reader.take() {
            r.join().ok();
        }
        let log = self.log.lock().unwrap().clone();
        (status, log)
    }

    /// Waits for an exit that was already caused.
    pub fn wait(mut self) -> (ExitStatus, String) {
        let status = self.child.take().unwrap().wait().expect("wait");
        if let Some(r) = self.reader.take() {
            r.join().ok();
        }
        let log = self.log.lock().unwrap().clone();
        (status, log)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A connection that reads one response at a time.
pub struct Conn {
    pub stream: TcpStream,
    buf: Vec<u8>,
    head_only: bool,
}

impl Conn {
    pub fn open(addr: SocketAddr) -> Conn {
        Conn::try_open(addr).expect("connect")
    }

    /// Wraps a connected stream.
    pub fn from_stream(stream: TcpStream) -> Conn {
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        Conn {
            stream,
            buf: Vec::new(),
            head_only: false,
        }
    }

    /// Connects, or `None` if nothing listens any more.
    pub fn try_open(addr: SocketAddr) -> Option<Conn> {
        let stream = TcpStream::connect(addr).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        Some(Conn {
            stream,
            buf: Vec::new(),
            head_only: false,
        })
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Reads one response; `None` if the server closed the connection first.
    pub fn read_response(&mut self) -> Option<Response> {
        let mut chunk = [0u8; 8192];
        let end = loop {
            if let Some(p) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                // With SO_RCVTIMEO set, Linux returns EINTR for any signal
                // the test process catches, SA_RESTART or not.
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("reading a response: {e}"),
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .filter(|_| !self.head_only)
            .unwrap_or(0);
        while self.buf.len() < end + len {
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => panic!("reading a body: {e}"),
            }
        }
        let body = String::from_utf8_lossy(&self.buf[end..end + len]).into_owned();
        self.buf.drain(..end + len);
        Some(Response {
            status,
            headers,
            body,
        })
    }

    /// Whether the server closed the connection (EOF or reset), reading
    /// and discarding anything it sent first.
    pub fn closed_by_server(&mut self) -> bool {
        let mut chunk = [0u8; 8192];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }

    /// POSTs `body` as JSON on this (keep-alive) connection.
    pub fn post(&mut self, body: &[u8]) -> Option<Response> {
        let mut req = format!(
            "POST /v1/batch HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(body);
        self.send(&req);
        self.read_response()
    }
}

/// Sends one raw request on a fresh connection and reads the response.
pub fn raw(addr: SocketAddr, request: &[u8]) -> Response {
    let mut c = Conn::open(addr);
    c.send(request);
    c.read_response().expect("a response")
}

/// `METHOD path` with no body. A HEAD response's body is not read: it
/// has none, whatever its Content-Length says.
pub fn simple(addr: SocketAddr, method: &str, path: &str) -> Response {
    let mut c = Conn::open(addr);
    c.head_only = method == "HEAD";
    c.send(format!("{method} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes());
    c.read_response().expect("a response")
}

/// POSTs a JSON body on a fresh connection.
pub fn post(addr: SocketAddr, body: &[u8]) -> Response {
    Conn::open(addr).post(body).expect("a response")
}

/// The UTC day `offset` days from the real today, `YYYY-MM-DD`.
pub fn day(offset: i64) -> String {
    let d = tally_telemetry::schema::Timestamp::now().date() + offset;
    tally_telemetry::schema::format_day(d)
}

pub fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A valid batch: `commands` run on `day` by `machine`.
pub fn batch(machine: &str, batch_id: &str, day: &str, commands: &[(&str, u64)]) -> Value {
    let commands: Vec<Value> = commands
        .iter()
        .map(|(c, n)| json!({"command": c, "count": n}))
        .collect();
    json!({
        "envelope": {
            "app": "demo", "app_version": "1.2.3", "os": "linux", "arch": "x86_64",
            "ci": false, "schema": 1, "machine_id": machine, "batch_id": batch_id
        },
        "events": [{"type": "usage_rollup", "day": day, "commands": commands}]
    })
}

pub fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

/// Every row of every table of the store, as text, one line per row.
pub fn dump(db: &Path) -> String {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open store");
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut out = String::new();
    for t in tables {
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
        let n = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(r) = rows.next().unwrap() {
            out.push_str(&t);
            for i in 0..n {
                let v = match r.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Null => "NULL".to_owned(),
                    rusqlite::types::ValueRef::Integer(x) => x.to_string(),
                    rusqlite::types::ValueRef::Real(x) => x.to_string(),
                    rusqlite::types::ValueRef::Text(s) => String::from_utf8_lossy(s).into_owned(),
                    // Ids are stored as 16-byte UUIDs; anything else as hex.
                    rusqlite::types::ValueRef::Blob(b) => match uuid::Uuid::from_slice(b) {
                        Ok(u) => u.to_string(),
                        Err(_) => b.iter().map(|x| format!("{x:02x}")).collect(),
                    },
                };
                out.push('|');
                out.push_str(&v);
            }
            out.push('\n');
        }
    }
    out
}

/// Counts in one SQL query against the store.
pub fn count(db: &Path, sql: &str) -> i64 {
    rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

/// `tally report --json` over `db` with k = `k`, parsed.
/// The report's command rows as (command, count, machines) only, for
/// tests that are about counting rather than outcomes.
pub fn command_counts(r: &Value) -> Value {
    Value::Array(
        r["commands"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                serde_json::json!({
                    "command": c["command"],
                    "count": c["count"],
                    "machines": c["machines"],
                })
            })
            .collect(),
    )
}

pub fn report(sb: &Sandbox, db: &Path, k: usize, extra: &[&str]) -> Value {
    let db = db.display().to_string();
    let k = k.to_string();
    let mut args = vec!["report", "--json", "--db", &db, "--min-machines", &k];
    args.extend_from_slice(extra);
    serde_json::from_str(&sb.ok(&args)).expect("report json")
}
