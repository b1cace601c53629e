//! `tally serve`: the ingest endpoint. HTTP/1.1 on hyper and tokio, in
//! front of the group-commit [`writer`](crate::server::writer) and the
//! SQLite [`store`](crate::server::store). This file runs the server: it
//! opens the store and starts the writer and the runtime, accepts
//! connections, prunes old rows once a day, and stops gracefully on
//! SIGTERM or SIGINT. The routes and what each answers (the batch endpoint,
//! health, metrics) are in `routes.rs`.
//!
//! Limits, because the endpoint faces the internet: bodies over
//! [`MAX_BODY_BYTES`] (413), anything but `application/json` (415), a
//! global and a per-source admission limit ([`crate::server::admission`]:
//! 503 or 429 with `Retry-After`), a token bucket per `machine_id` (429), a
//! header-read timeout (also the keep-alive idle time) and a body timeout
//! against clients that trickle bytes, a cap on requests per keep-alive
//! connection, and a table of connection slots that never makes a new
//! connection wait: when it is full the oldest idle connection gives way
//! ([`crate::server::conn`]). Half-closed clients (write side shut after the
//! body) still get their answer.
//!
//! Privacy: the peer address is reduced at `accept` to a keyed in-memory
//! hash for the per-source limits and never stored or logged (so is a
//! client address a trusted proxy forwards, [`crate::server::proxy`]); log
//! lines carry counts, never payloads.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tally_telemetry::schema::Timestamp;
use tokio::net::TcpListener;

use crate::server::admission::Admission;
use crate::server::config::Config;
use crate::server::conn::{BUSY_RESPONSE, Slots, Tracked};
use crate::server::health::{Health, Prober};
pub use crate::server::metrics::Metrics;
use crate::server::ratelimit::RateLimiter;
use crate::server::routes::{AppState, router};
use crate::server::store::{AnyStore, StoreError};
use crate::server::writer::{WriteError, Writer};
use tally_telemetry::schema::MAX_BODY_BYTES;

/// How often retention runs after the pass at start.
const PRUNE_EVERY: Duration = Duration::from_secs(24 * 3600);

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The store failed to open, migrate, prune or close.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The listen address could not be bound.
    #[error(
        "cannot listen on {addr}: {source}; pick another --listen address or stop what uses it"
    )]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Threads or the async runtime could not be started.
    #[error("cannot start the server's runtime: {0}")]
    Runtime(std::io::Error),
    /// The writer stopped while the server was starting.
    #[error(transparent)]
    Writer(#[from] WriteError),
}

/// Runs the server until SIGTERM or SIGINT, then stops accepting, lets
/// in-flight requests finish, commits what was acknowledged and closes the
/// store. `on_ready` gets the bound address once the socket listens.
pub fn run(cfg: Config, on_ready: impl FnOnce(SocketAddr)) -> Result<Arc<Metrics>, ServerError> {
    let mut store = AnyStore::open(&cfg.store, cfg.durability)?;
    store.set_limits(cfg.wal_limit, cfg.store_timeout)?;
    let health = Arc::new(Health::default());
    let prober = Prober::spawn(store.probe(cfg.wal_limit), Arc::clone(&health))
        .map_err(ServerError::Runtime)?;
    let today = Timestamp::now().date();
    let pruned = store.prune(today, cfg.retention_days)?;
    if pruned.usage + pruned.machine_days + pruned.batches > 0 {
        eprintln!(
            "tally serve: retention: removed {} usage rows, {} machine-days, {} batches older than {} days",
            pruned.usage, pruned.machine_days, pruned.batches, cfg.retention_days
        );
    }
    let mut cfg = cfg;
    cfg.max_connections = fit_fd_limit(cfg.max_connections);
    let writer = Writer::spawn(store, Arc::clone(&health)).map_err(ServerError::Runtime)?;
    let metrics = Arc::new(Metrics::default());
    metrics.attach_health(Arc::clone(&health));
    // The writer is a dedicated, busy thread: leave it a core's share
    // rather than start one request worker per core and make them all
    // fight over the CPU (which shows up directly as tail latency).
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .saturating_sub(1)
        .max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .thread_name("tally-serve")
        .build()
        .map_err(ServerError::Runtime)?;
    let exporter = match cfg.otlp.clone() {
        Some(c) => {
            Some(crate::server::otlp_export::Exporter::start(c).map_err(ServerError::Runtime)?)
        }
        None => None,
    };
    let state = AppState {
        writer: writer.handle(),
        limiter: Arc::new(RateLimiter::new(cfg.rate_limit)),
        admission: Arc::new(Admission::new(cfg.global_rate, cfg.source_rate)),
        metrics: Arc::clone(&metrics),
        health,
        body_timeout: cfg.body_timeout,
        store_timeout: cfg.store_timeout,
        trusted: Arc::new(cfg.trusted_proxies.clone()),
        otlp: exporter.as_ref().and_then(|e| e.feed()),
    };
    let served = rt.block_on(async {
        let stop = shutdown_signal().map_err(ServerError::Runtime)?;
        serve(&cfg, state, on_ready, stop).await
    });
    // Dropping the runtime drops every task and with them the last handles
    // to the writer, which then commits what it holds and closes the store.
    rt.shutdown_timeout(Duration::from_secs(1));
    drop(prober);
    let closed = writer.finish();
    if let Some(e) = exporter {
        e.finish();
    }
    eprintln!("tally serve: stopped; {}", metrics.summary());
    served?;
    closed?;
    Ok(metrics)
}

/// Descriptors kept free for the store, its WAL, the listener and the log.
const SPARE_FDS: u64 = 64;

/// Raises the open-file limit to what `max_connections` needs and, if the
/// hard limit does not allow that, lowers the connection cap to fit (a
/// server out of descriptors cannot even accept to shed).
fn fit_fd_limit(max_connections: usize) -> usize {
    let wanted = max_connections as u64 + SPARE_FDS;
    let Some((before, limit)) = crate::server::conn::raise_fd_limit(wanted) else {
        return max_connections;
    };
    if limit > before {
        eprintln!(
            "tally serve: raised the open-file limit from {before} to {limit} for {max_connections} connections"
        );
    }
    if limit < wanted {
        let fit = limit.saturating_sub(SPARE_FDS).max(1) as usize;
        eprintln!(
            "tally serve: the open-file limit is {limit} (the hard limit), too low for {max_connections} connections; serving at most {fit}"
        );
        return fit;
    }
    max_connections
}

/// A future that completes on SIGTERM or SIGINT (Ctrl-C).
fn shutdown_signal() -> std::io::Result<impl Future<Output = &'static str>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        })
    }
}

/// The listening socket, with a backlog as deep as the connection table.
/// tokio's `bind` asks for 128, as std does: a burst of more clients
/// connecting at once than the server accepted in the meantime (2,000 in
/// `benches/ingest.rs`; every client of a load balancer that restarted)
/// overflowed it, and the kernel dropped the rest, whose SYNs were retried
/// a second later. The ingest bench saw 1,100-1,400 such drops a run, and a
/// run they fell in had a p99 of 1 s. The kernel caps the backlog at
/// `net.core.somaxconn` (4,096 on current Linux).
fn listen(cfg: &Config) -> std::io::Result<TcpListener> {
    let socket = if cfg.listen.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As tokio's `bind`: a restarted server can take its port back while
    // the previous one's connections linger in TIME_WAIT. (On Windows the
    // option would let another process take the port.)
    #[cfg(not(windows))]
    socket.set_reuseaddr(true)?;
    socket.bind(cfg.listen)?;
    let backlog = u32::try_from(cfg.max_connections)
        .unwrap_or(u32::MAX)
        .clamp(1024, 65_535);
    socket.listen(backlog)
}

async fn serve(
    cfg: &Config,
    state: AppState,
    on_ready: impl FnOnce(SocketAddr),
    stop: impl Future<Output = &'static str>,
) -> Result<(), ServerError> {
    let listener = listen(cfg).map_err(|source| ServerError::Bind {
        addr: cfg.listen,
        source,
    })?;
    let addr = listener.local_addr().map_err(ServerError::Runtime)?;
    let writer = state.writer.clone();
    let metrics = Arc::clone(&state.metrics);
    let app = router(state);
    let slots = Slots::new(cfg.max_connections, cfg.max_connections_per_source);
    metrics.attach_slots(Arc::clone(&slots));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(cfg.header_timeout)
        // A client that shuts its write side after the body still waits
        // for the answer; without this hyper would drop the connection.
        .half_close(true)
        .max_headers(64)
        .max_buf_size(MAX_BODY_BYTES / 2);
    let max_requests = cfg.max_requests_per_connection;
    let trusted = cfg.trusted_proxies.clone();

    let retention = cfg.retention_days;
    let housekeeping = tokio::spawn(async move {
        let mut tick =
            tokio::time::interval_at(tokio::time::Instant::now() + PRUNE_EVERY, PRUNE_EVERY);
        loop {
            tick.tick().await;
            let _ = writer.prune(Timestamp::now().date(), retention).await;
            eprintln!("tally serve: last 24 hours: {}", metrics.summary());
        }
    });

    on_ready(addr);
    tokio::pin!(stop);
    let why = loop {
        let (stream, peer) = tokio::select! {
            biased;
            why = &mut stop => break why,
            r = listener.accept() => match r {
                Ok(accepted) => accepted,
                Err(e) => {
                    eprintln!("tally serve: accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        // The address becomes a keyed hash here and is dropped.
        let source = slots.source_key(peer.ip());
        let fd = std::os::fd::AsRawFd::as_raw_fd(&stream);
        let Some(mut held) = slots.admit_or_wait(source, fd).await else {
            // Every slot is mid-request: say so at once rather than keep
            // the client waiting. The answer fits the socket's send buffer.
            slots.count_refused();
            let _ = stream.try_write(BUSY_RESPONSE);
            continue;
        };
        let _ = stream.set_nodelay(true);
        held.trusted = !trusted.is_empty() && trusted.contains(peer.ip());
        let held = Arc::new(held);
        let svc = Tracked::new(app.clone(), Arc::clone(&held), max_requests);
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), svc));
        tokio::spawn(async move {
            tokio::select! {
                _ = conn => {}
                // Chosen to make room: dropping the connection closes it.
                _ = held.killed() => {}
            }
        });
        // Let the new connection read what it was sent before the next
        // accept: in a storm of reconnects, a burst of accepts could
        // otherwise cycle the whole table before a newcomer's request was
        // even parsed, and shed it as idle.
        tokio::task::yield_now().await;
    };
    drop(listener);
    housekeeping.abort();
    eprintln!("tally serve: {why} received; finishing requests in flight");
    let grace = cfg.header_timeout + cfg.body_timeout + cfg.store_timeout;
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        eprintln!(
            "tally serve: connections still open after {}s; closing them",
            grace.as_secs()
        );
    }
    Ok(())
}
