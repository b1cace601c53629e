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
//! head. A connection trickling its headers never has one.
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
use std::time::Instant;

use tokio::sync::Notify;

/// What a connection is doing, as far as shedding is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Phase {
    /// Answered at least once; waiting for the next request.
    KeptAlive,
    /// No request read yet: a new connection, or one trickling headers.
    Idle,
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
    /// the idle and receiving ones (an idle one passed over while its request
    /// head waits unread), among `source`'s connections when given. `None`
    /// when every candidate is working, or idle with its request waiting (the
    /// newcomer is then refused rather than a waiting request cut off).
    fn victim(&self, source: Option<u64>) -> Option<u64> {
        // Repeated scans rather than a sort: the common case is one scan
        // (the oldest candidate goes), and nothing is allocated per admission.
        let mut spared = [0u64; MAX_PEEKS];
        let mut n = 0;
        loop {
            let (&id, slot) = self
                .conns
                .iter()
                .filter(|(id, s)| {
                    s.phase != Phase::Working
                        && source.is_none_or(|src| s.source == src)
                        && !spared[..n].contains(id)
                })
                .min_by_key(|(id, s)| (s.phase != Phase::KeptAlive, s.since, **id))?;
            if let (Phase::Idle, Some(fd)) = (slot.phase, slot.fd)
                && n < MAX_PEEKS
                && request_waiting(fd)
            {
                spared[n] = id;
                n += 1;
                continue;
            }
            return Some(id);
        }
    }
}

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
    /// candidate is busy (the caller answers 503 and closes).
    pub(crate) fn admit(
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
            let Some(victim) = t.victim(scope) else {
                self.refused.fetch_add(1, Ordering::Relaxed);
                return None;
            };
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
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_full_table_sheds_the_oldest_idle_or_receiving_never_working() {
        let slots = Slots::new(4, 4);
        let a = slots.admit(1, Instant::now(), None).unwrap();
        a.set(Phase::Working);
        let b = slots.admit(1, Instant::now(), None).unwrap();
        b.set(Phase::Receiving);
        std::thread::sleep(Duration::from_millis(2));
        let c = slots.admit(1, Instant::now(), None).unwrap();
        let c2 = slots.admit(1, Instant::now(), None).unwrap();
        c2.set(Phase::Receiving);
        // b has been receiving longer than c has been idle: b goes, though
        // a is older still (working).
        let d = slots.admit(2, Instant::now(), None).unwrap();
        assert_eq!(slots.open(), 4);
        assert!(futures_ready(&b), "b was told to close");
        assert!(!futures_ready(&c) && !futures_ready(&c2));
        d.set(Phase::Working);
        // c is now the oldest not working, then c2.
        let e = slots.admit(3, Instant::now(), None).unwrap();
        assert!(futures_ready(&c));
        e.set(Phase::Working);
        let f = slots.admit(3, Instant::now(), None).unwrap();
        assert!(futures_ready(&c2));
        f.set(Phase::Working);
        assert!(
            slots.admit(4, Instant::now(), None).is_none(),
            "every slot working: refused, not shed"
        );
        assert_eq!(slots.shed.load(Ordering::Relaxed), 3);
        assert_eq!(slots.refused.load(Ordering::Relaxed), 1);
        drop(a);
        assert_eq!(slots.open(), 3);
        drop(c);
        assert_eq!(slots.open(), 3, "a shed slot is not freed twice");
    }

    /// Under a crowd of keep-alive connections that reconnect as fast as
    /// they are shed, a legitimate newcomer on a loaded server was shed
    /// before its request was read, and got no answer.
    #[test]
    fn a_newcomer_not_read_yet_outlives_kept_alive_connections() {
        let slots = Slots::new(3, 3);
        let t0 = Instant::now();
        let newcomer = slots.admit(1, t0, None).unwrap();
        let crowd: Vec<Held> = (1..=2)
            .map(|i| {
                let h = slots.admit(1, t0 + Duration::from_millis(i), None).unwrap();
                h.set(Phase::KeptAlive);
                h
            })
            .collect();
        // Any number of reconnects, each newer than the newcomer, take the
        // kept-alive slots and leave the newcomer be.
        let mut held = Vec::new();
        for i in 0..10 {
            let h = slots
                .admit(1, t0 + Duration::from_millis(10 + i), None)
                .unwrap();
            h.set(Phase::KeptAlive);
            held.push(h);
        }
        assert!(!futures_ready(&newcomer), "the newcomer was shed");
        assert!(crowd.iter().all(futures_ready));
        assert_eq!(slots.open(), 3);
    }

    /// A connected pair on loopback: the client after it wrote `sent`, and
    /// the server's side once those bytes are in its socket.
    fn pair(
        listener: &std::net::TcpListener,
        sent: &[u8],
    ) -> (std::net::TcpStream, std::net::TcpStream) {
        use std::io::Write;
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        client.write_all(sent).unwrap();
        let (server, _) = listener.accept().unwrap();
        let mut buf = [0u8; 1];
        server.peek(&mut buf).unwrap();
        (client, server)
    }

    const REQUEST: &[u8] = b"POST /v1/batch HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}";
    const TRICKLE: &[u8] = b"POST /v1/batch HTTP/1.1\r\nHost: t\r\nX-Slow: a";

    /// Under a slowloris crowd that reconnects as fast as it is shed, a
    /// legitimate newcomer that the server had accepted but not yet read
    /// was cut off within milliseconds, its request still in the socket.
    #[test]
    fn a_newcomer_with_its_request_unread_outlives_a_reconnecting_slowloris_crowd() {
        use std::os::fd::AsRawFd;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let slots = Slots::new(3, 3);
        let t0 = Instant::now();
        let (_c, newcomer_sock) = pair(&listener, REQUEST);
        let newcomer = slots.admit(1, t0, Some(newcomer_sock.as_raw_fd())).unwrap();
        let mut socks = Vec::new();
        let mut crowd = Vec::new();
        for i in 1..=12 {
            let (c, s) = pair(&listener, TRICKLE);
            let at = t0 + Duration::from_millis(i);
            crowd.push(slots.admit(1, at, Some(s.as_raw_fd())).unwrap());
            socks.push((c, s));
        }
        assert!(!futures_ready(&newcomer), "the newcomer was shed");
        assert_eq!(slots.shed.load(Ordering::Relaxed), 10);
        assert!(
            crowd[..10].iter().all(futures_ready),
            "the oldest tricklers went"
        );
        assert_eq!(slots.open(), 3);
    }

    /// A slowloris crowd's bodies held most slots while its trickled
    /// headers reconnected as fast as they were shed: with idle connections
    /// cut off before receiving ones, each admission took one of the few
    /// idle slots, and a legitimate newcomer not read yet lasted about a
    /// millisecond.
    #[test]
    fn a_newcomer_outlives_a_slowloris_crowd_whose_bodies_hold_the_slots() {
        let slots = Slots::new(4, 4);
        let bodies: Vec<Held> = (0..3)
            .map(|_| {
                let h = slots.admit(1, Instant::now(), None).unwrap();
                h.set(Phase::Receiving);
                h
            })
            .collect();
        std::thread::sleep(Duration::from_millis(2));
        let newcomer = slots.admit(1, Instant::now(), None).unwrap();
        let reconnects: Vec<Held> = (0..3)
            .map(|_| slots.admit(1, Instant::now(), None).unwrap())
            .collect();
        assert!(!futures_ready(&newcomer), "the newcomer was shed");
        assert!(bodies.iter().all(futures_ready), "the old bodies went");
        assert_eq!(slots.open(), 4);
        // Only after a whole table's worth of admissions is it the oldest.
        let _next = slots.admit(1, Instant::now(), None).unwrap();
        assert!(futures_ready(&newcomer));
        drop(reconnects);
    }

    #[test]
    fn a_table_of_requests_waiting_unread_refuses_the_newcomer() {
        use std::os::fd::AsRawFd;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let slots = Slots::new(2, 2);
        let t0 = Instant::now();
        let (_c1, s1) = pair(&listener, REQUEST);
        let (_c2, s2) = pair(&listener, REQUEST);
        let _a = slots.admit(1, t0, Some(s1.as_raw_fd())).unwrap();
        let _b = slots.admit(1, t0, Some(s2.as_raw_fd())).unwrap();
        let (_c3, s3) = pair(&listener, TRICKLE);
        assert!(
            slots.admit(1, t0, Some(s3.as_raw_fd())).is_none(),
            "refused (503) rather than a waiting request cut off"
        );
        assert_eq!(slots.refused.load(Ordering::Relaxed), 1);
        assert_eq!(slots.shed.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_source_over_its_share_makes_room_among_its_own_connections() {
        let slots = Slots::new(10, 2);
        let t0 = Instant::now();
        let other = slots.admit(9, t0, None).unwrap();
        let a = slots.admit(1, t0 + Duration::from_millis(1), None).unwrap();
        let _b = slots.admit(1, t0 + Duration::from_millis(2), None).unwrap();
        let _c = slots.admit(1, t0 + Duration::from_millis(3), None).unwrap();
        assert!(futures_ready(&a), "its own oldest went");
        assert!(!futures_ready(&other), "another source's idle one stayed");
        assert_eq!(slots.open(), 3);
        let k1 = slots.source_key("192.0.2.1".parse().unwrap());
        assert_eq!(k1, slots.source_key("::ffff:192.0.2.1".parse().unwrap()));
        assert_eq!(
            slots.source_key("2001:db8::1".parse().unwrap()),
            slots.source_key("2001:db8::2".parse().unwrap()),
            "one /64 is one source"
        );
    }

    /// Whether `held` was told to close, without waiting.
    fn futures_ready(held: &Held) -> bool {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            tokio::time::timeout(Duration::from_millis(1), held.killed())
                .await
                .is_ok()
        })
    }
}
