//! Connection slots for `tally serve`: how many connections are open, what
//! each is doing, and which one gives way when they run out.
//!
//! The accept loop never waits for a slot (a full table used to leave new
//! connections, including a legitimate client's, queued in the kernel's
//! backlog behind hostile keep-alive and slowloris connections). Instead,
//! when the table is full, or one source holds its whole share, the
//! newcomer takes the slot of a connection without a request in progress:
//! the oldest *kept-alive* one (between requests, already answered at
//! least once: HTTP lets a server close those at any time) first, then the
//! oldest *idle* one that has not had a request read yet (a newcomer whose
//! request is still in the socket, or one trickling its headers), then the
//! oldest one still *receiving* a body. A connection whose request is being
//! validated or stored is never cut off. Only when every slot is busy that
//! way is the newcomer answered 503 at once. Kept-alive connections go
//! before fresh ones because a crowd that reconnects as fast as it is shed
//! would otherwise cycle the table faster than a loaded server reads a
//! legitimate newcomer's request, and shed it unread.
//!
//! A source is the peer's address (an IPv6 address's /64), reduced in
//! memory to a keyed hash with a per-process random key: it is never
//! stored, logged or sent anywhere, and does not outlive the connection.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
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

    /// The connection to cut off: the longest kept alive, else the longest
    /// idle, else the longest receiving, among `source`'s connections when
    /// given.
    fn victim(&self, source: Option<u64>) -> Option<u64> {
        self.conns
            .iter()
            .filter(|(_, s)| s.phase != Phase::Working && source.is_none_or(|src| s.source == src))
            .min_by_key(|(_, s)| (s.phase, s.since))
            .map(|(id, _)| *id)
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

    /// Admits a connection from `source`, cutting off another one if the
    /// table or the source's share is full; `None` when every candidate is
    /// busy (the caller answers 503 and closes).
    pub(crate) fn admit(self: &Arc<Self>, source: u64, now: Instant) -> Option<Held> {
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
            },
        );
        *t.per_source.entry(source).or_default() += 1;
        Some(Held {
            slots: Arc::clone(self),
            id,
            source,
            kill,
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
    fn a_full_table_sheds_the_oldest_idle_then_the_oldest_receiving_never_working() {
        let slots = Slots::new(3, 3);
        let t0 = Instant::now();
        let a = slots.admit(1, t0).unwrap();
        let b = slots.admit(1, t0 + Duration::from_millis(1)).unwrap();
        let c = slots.admit(1, t0 + Duration::from_millis(2)).unwrap();
        a.set(Phase::Working);
        b.set(Phase::Receiving);
        // c is idle: it goes first although a and b are older.
        let d = slots.admit(2, t0).unwrap();
        assert_eq!(slots.open(), 3);
        assert!(futures_ready(&c), "c was told to close");
        d.set(Phase::Working);
        // Only b is not working now.
        let e = slots.admit(3, t0).unwrap();
        assert!(futures_ready(&b));
        e.set(Phase::Working);
        assert!(
            slots.admit(4, t0).is_none(),
            "every slot working: refused, not shed"
        );
        assert_eq!(slots.shed.load(Ordering::Relaxed), 2);
        assert_eq!(slots.refused.load(Ordering::Relaxed), 1);
        drop(a);
        assert_eq!(slots.open(), 2);
        drop(c);
        assert_eq!(slots.open(), 2, "a shed slot is not freed twice");
    }

    /// Under a crowd of keep-alive connections that reconnect as fast as
    /// they are shed, a legitimate newcomer on a loaded server was shed
    /// before its request was read, and got no answer.
    #[test]
    fn a_newcomer_not_read_yet_outlives_kept_alive_connections() {
        let slots = Slots::new(3, 3);
        let t0 = Instant::now();
        let newcomer = slots.admit(1, t0).unwrap();
        let crowd: Vec<Held> = (1..=2)
            .map(|i| {
                let h = slots.admit(1, t0 + Duration::from_millis(i)).unwrap();
                h.set(Phase::KeptAlive);
                h
            })
            .collect();
        // Any number of reconnects, each newer than the newcomer, take the
        // kept-alive slots and leave the newcomer be.
        let mut held = Vec::new();
        for i in 0..10 {
            let h = slots.admit(1, t0 + Duration::from_millis(10 + i)).unwrap();
            h.set(Phase::KeptAlive);
            held.push(h);
        }
        assert!(!futures_ready(&newcomer), "the newcomer was shed");
        assert!(crowd.iter().all(futures_ready));
        assert_eq!(slots.open(), 3);
    }

    #[test]
    fn a_source_over_its_share_makes_room_among_its_own_connections() {
        let slots = Slots::new(10, 2);
        let t0 = Instant::now();
        let other = slots.admit(9, t0).unwrap();
        let a = slots.admit(1, t0 + Duration::from_millis(1)).unwrap();
        let _b = slots.admit(1, t0 + Duration::from_millis(2)).unwrap();
        let _c = slots.admit(1, t0 + Duration::from_millis(3)).unwrap();
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
