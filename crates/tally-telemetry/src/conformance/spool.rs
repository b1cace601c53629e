//! Spool cases: the lines a spool holds in, the completed-day batches a
//! flush posts out, byte for byte, and the spool left behind. The batches
//! come from the real delivery ([`crate::deliver::deliver_due`]) posting
//! to a real loopback listener, as `telemetry flush` runs it, so batching by day and
//! rotation period, merging,
//! dropping what the schema refuses and the machine id of each batch are
//! the library's own.
//!
//! Random ids differ from run to run, so they are normalised in the
//! bodies and the spool: each distinct machine id becomes
//! `<machine_id:N>` and each batch id `<batch_id:N>`, numbered from 0 in
//! the order they first appear (so a case still says which batches share
//! an id); the envelope's `"os"` and `"arch"` become `<os>` and `<arch>`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::consent::{app, resolve};
use super::{Case, Scratch};
use crate::deliver::sender::Mode;
use crate::host::command::flush_status;
use crate::host::output::outcome_words;
use crate::os::clock::Clock;
use crate::os::files;

/// A spool case.
#[derive(Serialize, Deserialize)]
pub struct Batches {
    name: String,
    /// The application's version.
    version: String,
    /// The environment besides the files' locations.
    env: BTreeMap<String, String>,
    /// The instant of the flush (RFC 3339, UTC).
    now: String,
    /// The system policy file's text (a rotation period, say), or null.
    policy: Option<String>,
    /// The consent file's text.
    config: String,
    /// The spool's text before the flush.
    spool: String,
    /// The HTTP status the receiver answers every post with.
    status: u16,
    want: Flushed,
}

/// What a flush did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flushed {
    /// The `result` of `telemetry flush --json`: `sent` (batches were
    /// posted and answered, rejections included), `nothing_due`,
    /// `disabled`, `notice_pending`, `failed`, …
    result: String,
    /// The exit code of `telemetry flush`.
    exit_code: u8,
    /// The bodies posted, in order, normalised.
    batches: Vec<String>,
    /// The spool's text after the flush, normalised.
    spool_after: String,
}

impl Case for Batches {
    type Want = Flushed;
    fn name(&self) -> &str {
        &self.name
    }
    fn want(&self) -> &Flushed {
        &self.want
    }
}

pub fn run(c: &Batches) -> Result<Flushed, String> {
    let dir = Scratch::new()?;
    let receiver = Receiver::start(c.status)?;
    let endpoint = format!("http://{}/v1/batch", receiver.addr);
    let mut settings = resolve(
        &dir,
        app(false, &c.version, Some(&endpoint)),
        &c.env,
        false,
        c.policy.as_deref(),
        Some(&c.config),
    )?;
    settings.clock = Clock::from_override(Some(&c.now));
    if matches!(settings.clock, Clock::System) {
        return Err(format!("now {:?} is not an instant", c.now));
    }
    let state = settings.paths.state().ok_or("no state directory")?;
    files::ensure_private_dir(state.dir()).map_err(|e| e.to_string())?;
    files::open_append(&state.spool())
        .and_then(|mut f| {
            f.write_all(c.spool.as_bytes())
                .map_err(|e| files::FileError::Io {
                    op: "writing",
                    path: state.spool(),
                    source: e,
                })
        })
        .map_err(|e| e.to_string())?;
    // What `telemetry flush` does after appending this process's counts
    // (none here): its delivery, its result word and its exit code.
    let (export, outcome) =
        crate::deliver::deliver_due_reporting(&settings, Mode::Foreground, None);
    let (result, _, _) = outcome_words(&settings, &outcome);
    let exit_code = match flush_status(&settings, outcome, export) {
        Ok(()) => 0,
        Err(e) => e.exit_code(),
    };
    let bodies = receiver.stop();
    let after = files::read_optional(&state.spool())
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    let mut ids = Ids {
        keep: c.env.values().cloned().collect(),
        ..Ids::default()
    };
    let batches = bodies
        .iter()
        .map(|b| ids.body(&String::from_utf8_lossy(b)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Flushed {
        result: result.into(),
        exit_code,
        batches,
        spool_after: ids.spool(&String::from_utf8_lossy(&after)),
    })
}

/// The numbering of random ids in one case.
#[derive(Default)]
struct Ids {
    /// Ids the case gave (an injected instance id), kept as they are.
    keep: Vec<String>,
    machines: Vec<String>,
    batches: Vec<String>,
}

fn number(seen: &mut Vec<String>, id: &str) -> usize {
    match seen.iter().position(|s| s == id) {
        Some(n) => n,
        None => {
            seen.push(id.to_owned());
            seen.len() - 1
        }
    }
}

impl Ids {
    fn body(&mut self, body: &str) -> Result<String, String> {
        let batch: crate::schema::Batch =
            serde_json::from_str(body).map_err(|e| format!("a posted body is not a batch: {e}"))?;
        let e = &batch.envelope;
        let b = number(&mut self.batches, &e.batch_id);
        let mut out = body.replace(&e.batch_id, &format!("<batch_id:{b}>"));
        if !self.keep.contains(&e.machine_id) {
            let m = number(&mut self.machines, &e.machine_id);
            out = out.replace(&e.machine_id, &format!("<machine_id:{m}>"));
        }
        for (key, value, shown) in [("os", &e.os, "<os>"), ("arch", &e.arch, "<arch>")] {
            out = out.replacen(
                &format!("\"{key}\":\"{value}\""),
                &format!("\"{key}\":\"{shown}\""),
                1,
            );
        }
        Ok(out)
    }

    fn spool(&mut self, text: &str) -> String {
        let mut out = text.to_owned();
        for line in text.lines() {
            if let Some(id) = line
                .split("\"b\":\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
            {
                let n = number(&mut self.batches, id);
                out = out.replace(id, &format!("<batch_id:{n}>"));
            }
        }
        out
    }
}

/// A loopback HTTP listener that keeps every body posted to it and answers
/// each with one status.
struct Receiver {
    addr: std::net::SocketAddr,
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
    thread: std::thread::JoinHandle<()>,
}

impl Receiver {
    fn start(status: u16) -> Result<Receiver, String> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&bodies);
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                match serve(conn, status) {
                    Some(body) if body == b"stop" => break,
                    Some(body) => kept.lock().unwrap_or_else(|p| p.into_inner()).push(body),
                    None => {}
                }
            }
        });
        Ok(Receiver {
            addr,
            bodies,
            thread,
        })
    }

    fn stop(self) -> Vec<Vec<u8>> {
        if let Ok(mut s) = TcpStream::connect(self.addr) {
            let _ = s.write_all(b"POST /stop HTTP/1.1\r\ncontent-length: 4\r\n\r\nstop");
            let _ = self.thread.join();
        }
        std::mem::take(&mut *self.bodies.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Reads one request (a body of known length) and answers it.
fn serve(conn: TcpStream, status: u16) -> Option<Vec<u8>> {
    let mut reader = BufReader::new(conn.try_clone().ok()?);
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let mut conn = conn;
    let _ = write!(
        conn,
        "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
    Some(body)
}

const YES: &str = "enabled = true\nconsent_version = 2\nnotice_version = 2\n";

pub fn cases() -> Result<Vec<Batches>, String> {
    let l = |day: &str, rest: &str| format!("{{\"v\":2,\"day\":\"{day}\",{rest}}}\n");
    let cmd = |day: &str, name: &str, outcome: &str, n: u64, lat: &str| {
        l(
            day,
            &format!(
                "\"k\":\"command\",\"name\":\"{name}\",\"outcome\":\"{outcome}\",\"n\":{n},\"lat\":{lat}"
            ),
        )
    };
    let one = "[1,0,0,0,0,0,0]";
    let mixed = [
        cmd("2026-11-20", "build", "success", 2, "[2,0,0,0,0,0,0]"),
        cmd("2026-11-20", "config otel get", "failure", 1, "[0,0,0,1,0,0,0]"),
        l("2026-11-20", "\"k\":\"tool\",\"outcome\":\"ok\",\"n\":3,\"lat\":[1,1,1,0,0,0,0]"),
        l("2026-11-20", "\"k\":\"tool\",\"name\":\"search\",\"outcome\":\"protocol_error\",\"class\":\"invalid_params\",\"n\":1,\"lat\":[0,0,0,0,0,0,1]"),
        l("2026-11-20", "\"k\":\"client\",\"name\":\"claude-code\",\"major\":2,\"n\":2"),
        l("2026-11-20", "\"k\":\"client\",\"name\":\"other\",\"n\":1"),
        l("2026-11-20", "\"k\":\"lifecycle\",\"kind\":\"install\",\"n\":1"),
        l("2026-11-20", "\"k\":\"fact\",\"name\":\"backend_count\",\"n\":1,\"val\":\"2-5\""),
        l("2026-11-20", "\"k\":\"fact\",\"name\":\"auth_type\",\"n\":1,\"val\":\"oidc\""),
        l("2026-11-20", "\"k\":\"dropped\",\"n\":4"),
    ]
    .concat();
    let monthly = Some("rotate_machine_id = \"monthly\"\n".to_owned());
    let none = BTreeMap::new();
    let env = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs.iter().map(|&(k, v)| (k.into(), v.into())).collect()
    };
    type Row = (
        &'static str,
        BTreeMap<String, String>,
        &'static str,
        Option<String>,
        String,
        String,
        u16,
    );
    let rows: Vec<Row> = vec![
        ("one completed day, every kind of row", none.clone(), "2026-11-21T09:00:00Z", None, YES.into(), mixed.clone(), 200),
        ("today's lines stay", none.clone(), "2026-11-20T23:59:59Z", None, YES.into(), mixed.clone(), 200),
        (
            "completed days go, today stays",
            none.clone(),
            "2026-11-21T00:00:00Z",
            None,
            YES.into(),
            [cmd("2026-11-20", "build", "success", 1, one), cmd("2026-11-21", "build", "success", 1, one)].concat(),
            200,
        ),
        (
            "lines of one day and key merge",
            none.clone(),
            "2026-11-22T08:00:00Z",
            None,
            YES.into(),
            [
                cmd("2026-11-20", "build", "success", 1, one),
                cmd("2026-11-20", "build", "success", 2, "[0,2,0,0,0,0,0]"),
                cmd("2026-11-20", "build", "failure", 1, one),
                l("2026-11-20", "\"k\":\"fact\",\"name\":\"uptime\",\"n\":1,\"val\":\"<1h\""),
                l("2026-11-20", "\"k\":\"fact\",\"name\":\"uptime\",\"n\":1,\"val\":\"1-24h\""),
            ]
            .concat(),
            200,
        ),
        (
            "a command's declared value: lines of one value merge, values and no value stay apart, a value of another shape costs its line",
            none.clone(),
            "2026-11-22T08:00:00Z",
            None,
            YES.into(),
            [
                l("2026-11-20", "\"k\":\"command\",\"name\":\"init\",\"outcome\":\"success\",\"n\":1,\"lat\":[1,0,0,0,0,0,0],\"value\":\"bash\""),
                l("2026-11-20", "\"k\":\"command\",\"name\":\"init\",\"outcome\":\"success\",\"n\":2,\"lat\":[0,2,0,0,0,0,0],\"value\":\"bash\""),
                l("2026-11-20", "\"k\":\"command\",\"name\":\"init\",\"outcome\":\"success\",\"n\":1,\"lat\":[1,0,0,0,0,0,0],\"value\":\"zsh\""),
                l("2026-11-20", "\"k\":\"command\",\"name\":\"init\",\"outcome\":\"failure\",\"n\":1,\"lat\":[1,0,0,0,0,0,0],\"value\":\"zsh\""),
                cmd("2026-11-20", "init", "success", 3, "[3,0,0,0,0,0,0]"),
                l("2026-11-20", "\"k\":\"command\",\"name\":\"init\",\"outcome\":\"success\",\"n\":1,\"lat\":[1,0,0,0,0,0,0],\"value\":\"/home/alice\""),
            ]
            .concat(),
            200,
        ),
        (
            "two days, one batch without rotation",
            none.clone(),
            "2026-12-02T08:00:00Z",
            None,
            YES.into(),
            [cmd("2026-11-30", "build", "success", 1, one), cmd("2026-12-01", "test", "success", 1, one)].concat(),
            200,
        ),
        (
            "two months under monthly rotation: a batch each, each with its period's id",
            none.clone(),
            "2026-12-02T08:00:00Z",
            monthly.clone(),
            YES.into(),
            [cmd("2026-11-30", "build", "success", 1, one), cmd("2026-12-01", "test", "success", 1, one)].concat(),
            200,
        ),
        (
            "two days of one month under monthly rotation: one batch",
            none.clone(),
            "2026-11-25T08:00:00Z",
            monthly.clone(),
            YES.into(),
            [cmd("2026-11-20", "build", "success", 1, one), cmd("2026-11-21", "test", "success", 1, one)].concat(),
            200,
        ),
        (
            "daily rotation: a batch per day",
            none.clone(),
            "2026-11-23T08:00:00Z",
            Some("rotate_machine_id = \"daily\"\n".into()),
            YES.into(),
            [cmd("2026-11-20", "build", "success", 1, one), cmd("2026-11-21", "build", "success", 1, one)].concat(),
            200,
        ),
        (
            "an instance id is the machine id",
            env(&[("DEMO_TELEMETRY_INSTANCE_ID", "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b")]),
            "2026-11-21T09:00:00Z",
            None,
            YES.into(),
            cmd("2026-11-20", "build", "success", 1, one),
            200,
        ),
        (
            "CI is in the envelope",
            env(&[("DEMO_TELEMETRY", "1"), ("CI", "true")]),
            "2026-11-21T09:00:00Z",
            None,
            YES.into(),
            cmd("2026-11-20", "build", "success", 1, one),
            200,
        ),
        (
            "a name the schema refuses is dropped and counted",
            none.clone(),
            "2026-11-21T09:00:00Z",
            None,
            YES.into(),
            [
                cmd("2026-11-20", "build", "success", 1, one),
                cmd("2026-11-20", "/home/alice/secret", "success", 1, one),
                l("2026-11-20", "\"k\":\"tool\",\"name\":\"has space\",\"outcome\":\"ok\",\"n\":1,\"lat\":[1,0,0,0,0,0,0]"),
            ]
            .concat(),
            200,
        ),
        (
            "corrupt lines and unknown versions become a dropped count",
            none.clone(),
            "2026-11-21T09:00:00Z",
            None,
            YES.into(),
            [
                cmd("2026-11-20", "build", "success", 1, one),
                "not json\n".to_owned(),
                "{\"v\":99,\"day\":\"2026-11-20\",\"k\":\"dropped\",\"n\":1}\n".to_owned(),
            ]
            .concat(),
            200,
        ),
        (
            "a version 1 command line has no outcome or duration",
            none.clone(),
            "2026-11-21T09:00:00Z",
            None,
            YES.into(),
            "{\"v\":1,\"day\":\"2026-11-20\",\"k\":\"command\",\"name\":\"build\",\"n\":3}\n".into(),
            200,
        ),
        (
            "a rejected batch is dropped",
            none.clone(),
            "2026-11-21T09:00:00Z",
            None,
            YES.into(),
            cmd("2026-11-20", "build", "success", 1, one),
            400,
        ),
        (
            "a server error keeps the batch claimed",
            none.clone(),
            "2026-11-21T09:00:00Z",
            None,
            YES.into(),
            cmd("2026-11-20", "build", "success", 1, one),
            503,
        ),
        (
            "a stored off sends nothing",
            none.clone(),
            "2026-11-21T09:00:00Z",
            None,
            "enabled = false\nconsent_version = 2\n".into(),
            cmd("2026-11-20", "build", "success", 1, one),
            200,
        ),
        (
            "no notice shown yet: nothing is sent",
            none,
            "2026-11-21T09:00:00Z",
            None,
            "".into(),
            cmd("2026-11-20", "build", "success", 1, one),
            200,
        ),
    ];
    rows.into_iter()
        .map(|(name, env, now, policy, config, spool, status)| {
            let mut c = Batches {
                name: name.into(),
                version: "1.4.2".into(),
                env,
                now: now.into(),
                policy,
                config,
                spool,
                status,
                want: Flushed {
                    result: String::new(),
                    exit_code: 0,
                    batches: Vec::new(),
                    spool_after: String::new(),
                },
            };
            c.want = run(&c)?;
            Ok(c)
        })
        .collect()
}
