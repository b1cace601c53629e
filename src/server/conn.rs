//! Connection slots for `tally serve`: how many connections are open, what
//! each is doing, and which one gives way when they run out.
//!
//! The accept loop never waits for a slot (a full table used to leave new
//! connections, including a legitimate client's, queued in the kernel's
//! backlog behind hostile keep-alive and slowloris connections). Instead,
//! when the table is full, or one source holds its whole share, the
//! newcomer takes the slot of a connection that is not working on a
//! request: the oldest *kept-alive* one (between requests, already answered
//! at least once: HTTP lets a server close those at any time) first, then
//! the oldest of the rest, whether *idle* (no request read yet: a newcomer,
//! or one trickling its headers) or still *receiving* a body. A connection
//! whose request is being validated or stored is never cut off. Only when
//! every slot is busy that way is the newcomer answered 503 at once.
//!
//! The order protects a legitimate newcomer from a crowd that reconnects as
//! fast as it is shed: it is the youngest connection, and gives way only
//! after every older one did, a whole table's worth of admissions. Two
//! earlier orders let a crowd cycle a small part of the table instead, in
//! less time than a loaded server takes to read a new connection's request:
//! kept-alive connections ranked with fresh ones (a keep-alive crowd), and
//! idle connections before receiving ones (a slowloris crowd: its bodies
//! held most slots, so each admission cut off one of the few, brand-new,
//! idle connections, a legitimate one among them, within a millisecond).
//!
//! An idle connection whose whole request head already waits unread in its
//! socket is also passed over, while the server gets to it: a peek
//! (`MSG_PEEK`, nothing consumed) for the blank line that ends a request
//! head. A connection trickling its headers never has one. What a peek finds
//! is remembered (the slot becomes *unread* until the server reads the
//! request), so a loaded server that is behind on a crowd's reconnects does
//! not peek at the same few again and cut off the next one in line, a
//! legitimate newcomer among them. At most [`MAX_PEEKS`] peeks are made per
//! admission; when no slot can be had while requests wait unread, the
//! accept loop pauses for the server to catch up (a bounded wait, during
//! which newcomers queue in the kernel's backlog) before it answers 503.
//!
//! A source is the peer's address (an IPv6 address's /64), reduced in
//! memory to a keyed hash with a per-process random key: it is never
//! stored, logged or sent anywhere, and does not outlive the connection.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// What a connection is doing, as far as shedding is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Phase {
    /// Answered at least once; waiting for the next request.
    KeptAlive,
    /// No request read yet: a new connection, or one trickling headers.
    Idle,
    /// Idle, and a peek found a whole request head waiting unread: it is
    /// the server that is behind, not the client. Never cut off.
    Unread,
    /// A request's headers are in; its body is still arriving.
    Receiving,
    /// The request is being validated, stored or answered.
    Working,
}

#[derive(Debug)]
struct Slot {
    source: u64,
    phase: Phase,
    since: Instant,
    kill: Arc<Notify>,
    /// The connection's socket, only ever peeked at (see [`request_waiting`]).
    /// Once the connection is gone the number may be reused before the slot
    /// is freed; a peek then reads another socket's state, which can only
    /// change which connection gives way.
    fd: Option<RawFd>,
}

/// Idle connections peeked at, at most, to find one to cut off: each peek
/// is one system call made under the table's lock.
const MAX_PEEKS: usize = 8;

/// How far into a socket a request head is looked for. A client's request
/// head is a few hundred bytes; a longer one is simply not spared.
const PEEK_BYTES: usize = 2048;

/// Whether a whole request head (up to its blank line) waits unread in the
/// socket `fd`. Nothing is consumed; any error reads as no.
fn request_waiting(fd: RawFd) -> bool {
    let mut buf = [0u8; PEEK_BYTES];
    // SAFETY: recv into a local buffer of the length given; MSG_PEEK leaves
    // the data in the socket and MSG_DONTWAIT never blocks.
    let n = unsafe {
        libc::recv(
            fd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    n > 0 && buf[..n as usize].windows(4).any(|w| w == b"\r\n\r\n")
}

#[derive(Debug, Default)]
struct Table {
    next: u64,
    conns: HashMap<u64, Slot>,
    per_source: HashMap<u64, usize>,
}

impl Table {
    fn remove(&mut self, id: u64) -> Option<Slot> {
        let slot = self.conns.remove(&id)?;
        if let Some(n) = self.per_source.get_mut(&slot.source) {
            *n -= 1;
            if *n == 0 {
                self.per_source.remove(&slot.source);
            }
        }
        Some(slot)
    }

    /// The connection to cut off: the longest kept alive, else the oldest of
    /// the idle and receiving ones, among `source`'s connections when given.
    /// An idle one is peeked at first, and marked unread (and passed over)
    /// if its request head waits in its socket. `None` when every candidate
    /// is working or unread, or when [`MAX_PEEKS`] peeks all found a request
    /// waiting: the newcomer is then refused rather than a request cut off.
    fn victim(&mut self, source: Option<u64>) -> Option<u64> {
        // Repeated scans rather than a sort: the common case is one scan
        // (the oldest candidate goes), and nothing is allocated per admission.
        let mut peeks = 0;
        loop {
            let (&id, slot) = self
                .conns
                .iter_mut()
                .filter(|(_, s)| {
                    !matches!(s.phase, Phase::Working | Phase::Unread)
                        && source.is_none_or(|src| s.source == src)
                })
                .min_by_key(|(id, s)| (s.phase != Phase::KeptAlive, s.since, **id))?;
            let (Phase::Idle, Some(fd)) = (slot.phase, slot.fd) else {
                return Some(id);
            };
            if peeks == MAX_PEEKS {
                return None;
            }
            peeks += 1;
            if !request_waiting(fd) {
                return Some(id);
            }
            slot.phase = Phase::Unread;
        }
    }
}

/// How long the accept loop waits, at most, for the server to read the
/// requests already waiting before it refuses a newcomer.
const BEHIND_WAIT: Duration = Duration::from_millis(250);

/// The connection table.
#[derive(Debug)]
pub(crate) struct Slots {
    table: Mutex<Table>,
    max: usize,
    max_per_source: usize,
    hasher: RandomState,
    /// Connections cut off to make room.
    pub(crate) shed: AtomicU64,
    /// Connections refused because every slot was busy.
    pub(crate) refused: AtomicU64,
}

/// One admitted connection's slot; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct Held {
    slots: Arc<Slots>,
    id: u64,
    source: u64,
    kill: Arc<Notify>,
    /// The peer is a trusted proxy (`server/proxy.rs`): its requests name
    /// the client address.
    pub(crate) trusted: bool,
}

impl Slots {
    /// A table of `max` slots, at most `max_per_source` for one source.
    pub(crate) fn new(max: usize, max_per_source: usize) -> Arc<Slots> {
        Arc::new(Slots {
            table: Mutex::new(Table::default()),
            max: max.max(1),
            max_per_source: max_per_source.clamp(1, max.max(1)),
            hasher: RandomState::new(),
            shed: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        })
    }

    /// The in-memory key of a peer address: a keyed hash of the address,
    /// or of its /64 for IPv6 (one host usually holds a whole /64).
    pub(crate) fn source_key(&self, ip: IpAddr) -> u64 {
        match ip.to_canonical() {
            IpAddr::V4(v4) => self.hasher.hash_one(v4.octets()),
            IpAddr::V6(v6) => self.hasher.hash_one(&v6.octets()[..8]),
        }
    }

    /// Open connections.
    pub(crate) fn open(&self) -> usize {
        self.lock().conns.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits a connection from `source` on socket `fd`, cutting off another
    /// one if the table or the source's share is full; `None` when every
    /// candidate is busy (the caller answers 503 and closes), counted as
    /// refused.
    #[cfg(test)]
    pub(crate) fn admit(
        self: &Arc<Self>,
        source: u64,
        now: Instant,
        fd: Option<RawFd>,
    ) -> Option<Held> {
        let held = self.try_admit(source, now, fd);
        if held.is_none() {
            self.count_refused();
        }
        held
    }

    /// Admits a connection; while no slot can be had only because requests wait
    /// unread (the server is behind on a storm of reconnects), waits for it to
    /// read them, up to [`BEHIND_WAIT`]. Accepting no one meanwhile is the
    /// backpressure: refusing at once would turn away a legitimate client that
    /// is only as new as the crowd, and shedding would cut off a request that
    /// already arrived.
    pub(crate) async fn admit_or_wait(self: &Arc<Self>, source: u64, fd: RawFd) -> Option<Held> {
        let start = tokio::time::Instant::now();
        loop {
            if let Some(held) = self.try_admit(source, Instant::now(), Some(fd)) {
                return Some(held);
            }
            if !self.behind() || start.elapsed() >= BEHIND_WAIT {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Counts a connection answered 503 because no slot could be had.
    pub(crate) fn count_refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether some connection's request waits unread: the server is behind,
    /// and a slot frees up as soon as it catches up (see `serve`).
    pub(crate) fn behind(&self) -> bool {
        self.lock().conns.values().any(|s| s.phase == Phase::Unread)
    }

    /// [`Slots::admit`] without counting a refusal, for a caller that may
    /// try again.
    pub(crate) fn try_admit(
        self: &Arc<Self>,
        source: u64,
        now: Instant,
        fd: Option<RawFd>,
    ) -> Option<Held> {
        let mut t = self.lock();
        let own = t.per_source.get(&source).copied().unwrap_or(0);
        if own >= self.max_per_source || t.conns.len() >= self.max {
            // Over its share, a source makes room among its own
            // connections; otherwise anyone's oldest idle one goes.
            let scope = (own >= self.max_per_source).then_some(source);
            let victim = t.victim(scope)?;
            if let Some(slot) = t.remove(victim) {
                // notify_one keeps a permit, so the victim's task sees it
                // even if it is not waiting yet.
                slot.kill.notify_one();
                self.shed.fetch_add(1, Ordering::Relaxed);
            }
        }
        let id = t.next;
        t.next += 1;
        let kill = Arc::new(Notify::new());
        t.conns.insert(
            id,
            Slot {
                source,
                phase: Phase::Idle,
                since: now,
                kill: Arc::clone(&kill),
                fd,
            },
        );
        *t.per_source.entry(source).or_default() += 1;
        Some(Held {
            slots: Arc::clone(self),
            id,
            source,
            kill,
            trusted: false,
        })
    }
}

impl Held {
    /// Records what the connection is doing now.
    pub(crate) fn set(&self, phase: Phase) {
        let mut t = self.slots.lock();
        if let Some(s) = t.conns.get_mut(&self.id) {
            s.phase = phase;
            s.since = Instant::now();
        }
    }

    /// The connection's source key.
    pub(crate) fn source(&self) -> u64 {
        self.source
    }

    /// The source key of another address (a client a trusted proxy named).
    pub(crate) fn source_of(&self, ip: IpAddr) -> u64 {
        self.slots.source_key(ip)
    }

    /// Completes when the connection has been chosen to make room.
    pub(crate) async fn killed(&self) {
        self.kill.notified().await;
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.slots.lock().remove(self.id);
    }
}

/// A request's link to its connection's slot, put into the request's
/// extensions so the batch handler can say when the body is in and which
/// source to admit against.
#[derive(Clone, Debug)]
pub(crate) struct ConnTag(pub(crate) Arc<Held>);

/// The router behind one connection: marks the slot receiving while a
/// request is in, idle after it was answered, and asks for the connection to
/// be closed after `max_requests` requests, so no client keeps one slot
/// forever by sending a request every few seconds.
pub(crate) struct Tracked {
    app: axum::Router,
    held: Arc<Held>,
    served: std::sync::atomic::AtomicU32,
    max_requests: u32,
}

impl Tracked {
    /// Serves `app` on the connection holding `held`.
    pub(crate) fn new(app: axum::Router, held: Arc<Held>, max_requests: u32) -> Tracked {
        Tracked {
            app,
            held,
            served: std::sync::atomic::AtomicU32::new(0),
            max_requests: max_requests.max(1),
        }
    }
}

type BoxFuture = std::pin::Pin<
    Box<
        dyn std::future::Future<Output = Result<axum::response::Response, std::convert::Infallible>>
            + Send,
    >,
>;

impl hyper::service::Service<axum::http::Request<hyper::body::Incoming>> for Tracked {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = BoxFuture;

    fn call(&self, mut req: axum::http::Request<hyper::body::Incoming>) -> Self::Future {
        self.held.set(Phase::Receiving);
        let n = self.served.fetch_add(1, Ordering::Relaxed) + 1;
        let last = n >= self.max_requests;
        req.extensions_mut().insert(ConnTag(Arc::clone(&self.held)));
        let mut app = self.app.clone();
        let fut = tower_service::Service::call(&mut app, req);
        let held = Arc::clone(&self.held);
        Box::pin(async move {
            let mut resp = fut.await?;
            held.set(Phase::KeptAlive);
            if last {
                resp.headers_mut().insert(
                    axum::http::header::CONNECTION,
                    axum::http::HeaderValue::from_static("close"),
                );
            }
            Ok(resp)
        })
    }
}

/// The whole answer to a connection refused because every slot is busy.
pub(crate) const BUSY_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 44\r\n\r\nevery connection slot is busy; retry later\r\n";

/// Raises the soft limit on open files towards `wanted` (as far as the hard
/// limit allows) and returns the limit before and the limit now in force,
/// or `None` if it could not be read. Every connection is a file descriptor.
// rlim_t is u64 here but not on every platform.
#[allow(clippy::unnecessary_cast)]
pub(crate) fn raise_fd_limit(wanted: u64) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
                return None;
            }
            let cur = lim.rlim_cur as u64;
            if cur >= wanted {
                return Some((cur, cur));
            }
            let target = wanted.min(lim.rlim_max as u64);
            let new = libc::rlimit {
                rlim_cur: target as libc::rlim_t,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &new) == 0 {
                Some((cur, target))
            } else {
                Some((cur, cur))
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = wanted;
        None
    }
}

#[cfg(test)]
#[path = "conn_tests.rs"]
mod tests;
