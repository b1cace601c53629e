//! Many processes at once: recorders and senders racing on one spool, and
//! senders and recorders killed with SIGKILL at random points. Every count
//! must arrive exactly once at a receiver that deduplicates by batch id;
//! nothing corrupt may ever be sent.

use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::delivery::{D1, D2, flush, host_sandbox};
use crate::receiver::{Mode, Receiver};
use crate::support::host_bin;

/// Sends until nothing completed is left (a few batches per attempt).
fn drain(sb: &crate::support::Sandbox) {
    for _ in 0..50 {
        let v = flush(sb, D2);
        match v["result"].as_str().unwrap() {
            "nothing_due" => return,
            "sent" | "busy" => continue,
            other => panic!("flush: {other}: {v}"),
        }
    }
    panic!("the spool never drained");
}

#[test]
fn thirty_two_processes_times_two_hundred_commands_arrive_exactly_once() {
    const WORKERS: usize = 32;
    const RUNS: usize = 200;
    let rx = Receiver::start(Mode::Accept);
    let sb = Arc::new(host_sandbox(&rx.url()));
    let done = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..2)
        .map(|_| {
            let (sb, done) = (sb.clone(), done.clone());
            std::thread::spawn(move || {
                let mut attempts = 0;
                while !done.load(Ordering::SeqCst) {
                    let out = sb
                        .command(&host_bin(), &["telemetry", "flush"])
                        .env("HOST_TELEMETRY_NOW", D2)
                        .output()
                        .unwrap();
                    assert!(out.status.success());
                    attempts += 1;
                }
                attempts
            })
        })
        .collect();
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let sb = sb.clone();
            std::thread::spawn(move || {
                // Half the workers record on the completed day while senders
                // take it; the other half also record "today" for the senders.
                let day = if w % 2 == 0 { D1 } else { D2 };
                for _ in 0..RUNS {
                    let out = sb
                        .command(&host_bin(), &["build"])
                        .env("HOST_TELEMETRY_NOW", day)
                        .output()
                        .unwrap();
                    assert!(out.status.success());
                    assert_eq!(out.stdout, b"built\n");
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let attempts: usize = senders.into_iter().map(|s| s.join().unwrap()).sum();
    assert!(attempts > 0);
    drain(&sb);
    // D2's runs are "today" for the senders; send them from the day after.
    for _ in 0..50 {
        let v: serde_json::Value = serde_json::from_slice(
            &sb.command(&host_bin(), &["telemetry", "flush", "--json"])
                .env("HOST_TELEMETRY_NOW", "2026-03-12")
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        if v["result"] == "nothing_due" {
            break;
        }
    }
    let counts = rx.command_counts();
    assert_eq!(
        counts.get("build"),
        Some(&((WORKERS * RUNS) as u64)),
        "every run counted exactly once"
    );
    for b in rx.unique_batches().values() {
        for e in &b.events {
            if let tally_telemetry::schema::Event::UsageRollup(r) = e {
                assert_eq!(r.dropped, 0, "nothing was lost or corrupted locally");
            }
        }
    }
}

/// A small deterministic generator, seeded per run and printed, so a
/// failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn kill9(c: &mut Child) {
    // SAFETY: sending a signal to our own child's pid.
    unsafe {
        libc::kill(c.id() as i32, libc::SIGKILL);
    }
}

#[test]
fn kill_nine_at_random_points_never_corrupts_or_double_counts() {
    const TRIALS: usize = 60;
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("kill -9 trials: seed {seed}");
    let mut rng = Rng(seed);
    // A slow receiver keeps senders mid-request long enough to be killed there.
    let rx = Receiver::start(Mode::Delay(Duration::from_millis(15)));
    let sb = host_sandbox(&rx.url());
    let (mut completed, mut killed) = (0u64, 0u64);
    for trial in 0..TRIALS {
        let mut recorders: Vec<Child> = (0..3)
            .map(|_| {
                sb.command(&host_bin(), &["build"])
                    .env("HOST_TELEMETRY_NOW", D1)
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut sender = sb
            .command(&host_bin(), &["telemetry", "flush"])
            .env("HOST_TELEMETRY_NOW", D2)
            .spawn()
            .unwrap();
        // Every fourth trial kills at once, so a loaded machine whose sleeps
        // overrun every recorder's whole run still kills some mid-way.
        if trial % 4 != 0 {
            std::thread::sleep(Duration::from_micros(rng.below(20_000)));
        }
        let mut victims = Vec::new();
        for (i, r) in recorders.iter_mut().enumerate() {
            if rng.below(2) == 0 {
                kill9(r);
                victims.push(i);
            }
        }
        if rng.below(2) == 0 {
            kill9(&mut sender);
        }
        for r in recorders.iter_mut() {
            let st = r.wait().unwrap();
            if st.success() {
                completed += 1;
            } else {
                killed += 1;
            }
        }
        sender.wait().unwrap();
    }
    assert!(killed > 0, "some recorders were killed before finishing");
    rx.set_mode(Mode::Accept);
    drain(&sb);
    let got = *rx.command_counts().get("build").unwrap_or(&0);
    assert!(
        got >= completed && got <= completed + killed,
        "seed {seed}: {got} counts arrived for {completed} finished and {killed} killed recorders"
    );
    for body in rx.raw_bodies() {
        let v = tally_telemetry::schema::validate::validate(
            &body,
            tally_telemetry::schema::parse_day(D2).unwrap(),
        )
        .expect("every body is valid");
        assert_eq!(v.drops.total(), 0, "nothing outside the schema");
        for e in &v.batch.events {
            if let tally_telemetry::schema::Event::UsageRollup(r) = e {
                assert_eq!(r.dropped, 0, "seed {seed}: no corrupt line was ever found");
            }
        }
    }
}
