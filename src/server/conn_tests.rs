//! Unit tests of the connection table: who gives way, and when a newcomer
//! is refused.

use super::*;

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

/// CI's attack test: a keep-alive crowd reconnecting as fast as it was
/// shed, on a loaded server behind on reading them. With no kept-alive
/// slot left, every idle one had its request waiting; the peeks spared
/// the same oldest few at each admission and cut off the next in line,
/// until the legitimate newcomer's turn came, its request still unread.
#[test]
fn a_newcomer_unread_outlives_a_keep_alive_crowd_the_server_is_behind_on() {
    use std::os::fd::AsRawFd;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let slots = Slots::new(12, 12);
    let t0 = Instant::now();
    let mut socks = Vec::new();
    let mut held = Vec::new();
    for i in 0..11 {
        let (c, s) = pair(&listener, REQUEST);
        held.push(
            slots
                .admit(1, t0 + Duration::from_millis(i), Some(s.as_raw_fd()))
                .unwrap(),
        );
        socks.push((c, s));
    }
    let (_c, s) = pair(&listener, REQUEST);
    let newcomer = slots
        .admit(1, t0 + Duration::from_millis(20), Some(s.as_raw_fd()))
        .unwrap();
    for i in 0..5 {
        let (c, s) = pair(&listener, REQUEST);
        let at = t0 + Duration::from_millis(30 + i);
        if let Some(h) = slots.admit(1, at, Some(s.as_raw_fd())) {
            held.push(h);
        }
        socks.push((c, s));
    }
    assert!(!futures_ready(&newcomer), "the newcomer was shed");
    assert_eq!(slots.shed.load(Ordering::Relaxed), 0, "no request cut off");
    assert_eq!(slots.refused.load(Ordering::Relaxed), 5);
    // Once the server reads them, they can be shed again in turn.
    held[0].set(Phase::KeptAlive);
    let (_c2, s2) = pair(&listener, REQUEST);
    let _late = slots.admit(1, t0 + Duration::from_millis(40), Some(s2.as_raw_fd()));
    assert!(futures_ready(&held[0]));
    assert!(!futures_ready(&newcomer));
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
