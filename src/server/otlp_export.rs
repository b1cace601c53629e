//! `tally serve --otlp-endpoint`: what the server accepted, as OTLP/HTTP
//! metrics, to the operator's own collector. Off the request path: a
//! handler offers each stored batch's events to a bounded channel (and
//! counts what does not fit as dropped, never waiting), one thread sums them
//! per application (service.name), version, OS and architecture in memory,
//! bounded by [`MAX_RESOURCES`] and the series bound of
//! [`Totals`], and exports monotonic
//! DELTA sums every interval, start and end being the window's bounds. A
//! failed export keeps the window's counts for the next one (the window
//! grows, its start stays), after an in-memory backoff; at shutdown one
//! last export, bounded by the request timeout. Never a machine id.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tally_telemetry::otlp::{self, Client, Protocol, Totals};
use tally_telemetry::schema::{Batch, Event};

/// Distinct (app, version, OS, arch) resources held at most per window.
pub const MAX_RESOURCES: usize = 256;
/// Accepted batches queued for the exporter thread at most.
pub const QUEUE: usize = 4096;
/// Longest backoff after failed exports.
const BACKOFF_MAX: Duration = Duration::from_secs(30 * 60);

/// Where and how the server exports.
#[derive(Clone, Debug)]
pub struct ExportConfig {
    /// The metrics URL.
    pub endpoint: String,
    /// Body encoding.
    pub protocol: Protocol,
    /// Headers sent with each export.
    pub headers: Vec<(String, String)>,
    /// Added to every resource.
    pub resource_attributes: Vec<(String, String)>,
    /// Time between exports.
    pub interval: Duration,
    /// The bounded client, with the proxy variables of tally's own
    /// environment.
    pub client: Client,
}

type Key = (String, String, String, String);

/// One accepted batch, reduced to what is exported.
pub struct Accepted {
    key: Key,
    events: Vec<Event>,
}

impl Accepted {
    /// What `batch` contributes: its counts and its resource, never its
    /// machine or batch id.
    pub fn of(batch: &Batch) -> Self {
        let e = &batch.envelope;
        Accepted {
            key: (
                e.app.clone(),
                e.app_version.clone(),
                e.os.clone(),
                e.arch.clone(),
            ),
            events: batch
                .events
                .iter()
                .filter(|e| !matches!(e, Event::Facts(_)))
                .cloned()
                .collect(),
        }
    }
}

enum Msg {
    Batch(Accepted),
    Stop,
}

/// The request handlers' side: a bounded, never-blocking queue.
#[derive(Clone)]
pub struct Feed {
    tx: SyncSender<Msg>,
    dropped: Arc<AtomicU64>,
}

impl Feed {
    /// Offers a stored batch; counts it as dropped when the queue is full.
    pub fn offer(&self, a: Accepted) {
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            self.tx.try_send(Msg::Batch(a))
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The running exporter.
pub struct Exporter {
    feed: Option<Feed>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Exporter {
    /// Starts the exporter thread.
    pub fn start(cfg: ExportConfig) -> std::io::Result<Exporter> {
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let d = Arc::clone(&dropped);
        let thread = std::thread::Builder::new()
            .name("tally-otlp".into())
            .spawn(move || run(&cfg, &rx, &d))?;
        Ok(Exporter {
            feed: Some(Feed { tx, dropped }),
            thread: Some(thread),
        })
    }

    /// The handlers' feed.
    pub fn feed(&self) -> Option<Feed> {
        self.feed.clone()
    }

    /// Stops the thread after one last export (bounded by its timeouts).
    pub fn finish(mut self) {
        if let Some(f) = self.feed.take() {
            let _ = f.tx.send(Msg::Stop);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[derive(Default)]
struct Window {
    start: u64,
    by_resource: BTreeMap<Key, Totals>,
    overflow: Totals,
}

impl Window {
    fn add(&mut self, a: Accepted) {
        let full = self.by_resource.len() >= MAX_RESOURCES;
        let totals = match self.by_resource.get_mut(&a.key) {
            Some(t) => t,
            None if full => &mut self.overflow,
            None => self.by_resource.entry(a.key).or_default(),
        };
        for e in &a.events {
            totals.add(e);
        }
    }

    fn is_empty(&self) -> bool {
        self.by_resource.values().all(Totals::is_empty) && self.overflow.is_empty()
    }
}

fn run(cfg: &ExportConfig, rx: &Receiver<Msg>, dropped: &AtomicU64) {
    let mut window = Window {
        start: unix_nanos(),
        ..Default::default()
    };
    let mut next = Instant::now() + cfg.interval;
    let mut backoff = Duration::ZERO;
    loop {
        let wait = next.saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait) {
            Ok(Msg::Batch(a)) => {
                window.add(a);
                continue;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => {
                let _ = export(cfg, &mut window, dropped);
                return;
            }
        }
        if export(cfg, &mut window, dropped) {
            backoff = Duration::ZERO;
            next = Instant::now() + cfg.interval;
        } else {
            backoff = (backoff * 2).clamp(cfg.interval, BACKOFF_MAX);
            next = Instant::now() + backoff;
        }
    }
}

/// Exports and resets the window; on failure keeps it. Whether it worked.
fn export(cfg: &ExportConfig, window: &mut Window, dropped: &AtomicU64) -> bool {
    let lost = dropped.swap(0, Ordering::Relaxed);
    if lost > 0 {
        let e = Event::UsageRollup(tally_telemetry::schema::UsageRollup {
            dropped: lost,
            ..Default::default()
        });
        window.overflow.add(&e);
    }
    if window.is_empty() {
        window.start = unix_nanos();
        return true;
    }
    let end = unix_nanos();
    let kv = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    let mut resources = Vec::new();
    for ((app, version, os, arch), totals) in &window.by_resource {
        let mut attrs = vec![
            kv("service.name", app),
            kv("service.version", version),
            kv("os.type", os),
            kv("host.arch", arch),
        ];
        attrs.extend(resource_extra(cfg));
        resources.push((attrs, totals));
    }
    if !window.overflow.is_empty() {
        let mut attrs = vec![kv("service.name", "other")];
        attrs.extend(resource_extra(cfg));
        resources.push((attrs, &window.overflow));
    }
    let (body, ctype) = otlp::encode(&resources, window.start, end, cfg.protocol);
    match cfg.client.post(&cfg.headers, &cfg.endpoint, &body, ctype) {
        Ok((s, _)) if (200..300).contains(&s) => {
            *window = Window {
                start: end,
                ..Default::default()
            };
            true
        }
        Ok((s, _)) if s != 408 && s != 429 && s < 500 => {
            eprintln!(
                "tally serve: the OTLP collector {} rejected an export with HTTP {s}; its counts were dropped",
                cfg.endpoint
            );
            *window = Window {
                start: end,
                ..Default::default()
            };
            true
        }
        Ok((s, _)) => {
            eprintln!(
                "tally serve: the OTLP collector {} answered HTTP {s}; keeping the counts for the next export",
                cfg.endpoint
            );
            false
        }
        Err(e) => {
            eprintln!(
                "tally serve: exporting to the OTLP collector {} failed: {e}; keeping the counts for the next export",
                cfg.endpoint
            );
            false
        }
    }
}

fn resource_extra(cfg: &ExportConfig) -> impl Iterator<Item = (String, String)> + '_ {
    cfg.resource_attributes
        .iter()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "service.name" | "service.version" | "os.type" | "host.arch"
            )
        })
        .cloned()
}
