//! A minimal HTTP/1.1 receiver on loopback for delivery tests that need a
//! fault `tally serve` would never produce on purpose: an endpoint that
//! accepts and never answers, one that fails with 500, or one that answers
//! slowly so a sender can be killed mid-request. It records every body it
//! fully read, and counts as a deduplicating server would (by batch id).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tally_telemetry::schema::{Batch, Event};

#[derive(Clone, Copy, Debug)]
pub enum Mode {
    /// Answer 204 at once.
    Accept,
    /// Answer with this status.
    Status(u16),
    /// Read the request, then never answer.
    Hang,
    /// Answer 204 after a delay.
    Delay(Duration),
}

pub struct Receiver {
    pub addr: std::net::SocketAddr,
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
    mode: Arc<Mutex<Mode>>,
    connections: Arc<AtomicUsize>,
}

impl Receiver {
    pub fn start(mode: Mode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let mode = Arc::new(Mutex::new(mode));
        let connections = Arc::new(AtomicUsize::new(0));
        let (b, m, c) = (bodies.clone(), mode.clone(), connections.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                c.fetch_add(1, Ordering::SeqCst);
                let (b, m) = (b.clone(), m.clone());
                std::thread::spawn(move || handle(stream, &b, &m));
            }
        });
        Receiver {
            addr,
            bodies,
            mode,
            connections,
        }
    }

    pub fn url(&self) -> String {
        format!(
            "http://{}{}",
            self.addr,
            tally_telemetry::schema::BATCH_PATH
        )
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    pub fn raw_bodies(&self) -> Vec<Vec<u8>> {
        self.bodies.lock().unwrap().clone()
    }

    /// Every body, validated against the schema: panics on one the server
    /// would reject or strip anything from.
    pub fn all_batches(&self) -> Vec<Batch> {
        self.raw_bodies()
            .iter()
            .map(|b| {
                let v: serde_json::Value = serde_json::from_slice(b).expect("body is JSON");
                let batch: Batch = serde_json::from_value(v).expect("body is a schema batch");
                batch
            })
            .collect()
    }

    /// Batches by batch id: the first copy of each; asserts that every
    /// resend of an id carried exactly the same events.
    pub fn unique_batches(&self) -> BTreeMap<String, Batch> {
        let mut out: BTreeMap<String, Batch> = BTreeMap::new();
        for b in self.all_batches() {
            match out.get(&b.envelope.batch_id) {
                Some(prev) => {
                    assert_eq!(prev.events, b.events, "a resent batch id changed content")
                }
                None => {
                    out.insert(b.envelope.batch_id.clone(), b);
                }
            }
        }
        out
    }

    /// Command counts summed over unique batches: what a deduplicating
    /// server would store.
    pub fn command_counts(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for b in self.unique_batches().values() {
            for e in &b.events {
                if let Event::UsageRollup(r) = e {
                    for c in &r.commands {
                        *out.entry(c.command.clone()).or_default() += c.count;
                    }
                }
            }
        }
        out
    }
}

fn handle(stream: TcpStream, bodies: &Mutex<Vec<Vec<u8>>>, mode: &Mutex<Mode>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut len = 0usize;
    let mut first = true;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let l = line.trim_end();
        if first && l.starts_with("CONNECT ") {
            // Act as a forward proxy: finish the CONNECT's headers, open the
            // tunnel, and serve the request that comes through it.
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let mut s = stream.try_clone().unwrap();
            let _ = write!(s, "HTTP/1.1 200 Connection established\r\n\r\n");
            continue;
        }
        first = false;
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; len];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    bodies.lock().unwrap().push(body);
    let mode = *mode.lock().unwrap();
    let mut stream = stream;
    let status = match mode {
        Mode::Accept => 204,
        Mode::Status(s) => s,
        Mode::Hang => {
            std::thread::sleep(Duration::from_secs(3600));
            return;
        }
        Mode::Delay(d) => {
            std::thread::sleep(d);
            204
        }
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
}
