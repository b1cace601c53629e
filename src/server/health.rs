//! Whether the store can take writes, for readiness and the circuit
//! breaker. `GET /livez` (and `/healthz`, its old name) says only that the
//! process serves HTTP and its writer thread runs: a failing liveness probe
//! gets the process restarted, which cures neither a full disk nor a dead
//! ClickHouse. `GET /readyz` also says whether the store is known to take
//! writes; when it is not, a load balancer routes elsewhere and every batch
//! that still arrives is answered 503 at once, without waiting for the
//! store (the circuit is open).
//!
//! What marks the store down: a commit that failed (disk full, ClickHouse
//! refusing or unreachable), a batch the store did not acknowledge within
//! `--store-timeout` (a frozen ClickHouse), or the probe. The probe runs on
//! its own thread every [`PROBE_EVERY`], whether or not batches arrive: for
//! SQLite it checks the free space of the store's file system (room for the
//! WAL to reach its limit twice over); for ClickHouse it runs `SELECT 1`
//! within the store timeout. A failed commit alone fails readiness but
//! leaves the circuit closed (ClickHouse may have refused one statement and
//! still answer: the client's retry goes through and a commit that succeeds
//! makes the store ready again); a timeout or a failed probe opens it. A
//! probe that succeeds closes it, and the next commit confirms it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Interval between probes of the store.
pub const PROBE_EVERY: Duration = Duration::from_secs(1);

/// The store's state, shared by the writer, the request handlers and the
/// prober.
#[derive(Debug, Default)]
pub struct Health {
    down: AtomicBool,
    open: AtomicBool,
    reason: Mutex<String>,
    /// Batches answered 503 at once because the store was known down.
    pub refused_while_down: AtomicU64,
    /// Times the store went from up to down.
    pub outages: AtomicU64,
}

impl Health {
    /// Whether the store is known not to take writes now.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// Why the store is down, if it is.
    pub fn reason(&self) -> Option<String> {
        self.is_down().then(|| {
            self.reason
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
        })
    }

    /// Whether batches are refused at once (the circuit is open).
    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    /// Marks the store down for `reason` and opens the circuit: it does
    /// not answer (a timeout) or the probe failed.
    pub fn fail(&self, reason: &str) {
        self.mark_down(reason);
        if !self.open.swap(true, Ordering::AcqRel) {
            eprintln!("tally serve: batches get 503 at once until a probe of the store succeeds");
        }
    }

    /// Marks the store down for `reason` after a failed commit: readiness
    /// fails, batches still reach the store.
    pub fn fail_commit(&self, reason: &str) {
        self.mark_down(reason);
    }

    /// Marks the store down (logged when the state changes).
    fn mark_down(&self, reason: &str) {
        let reason = reason.replace(['\n', '\r'], " ");
        let mut r = self.reason.lock().unwrap_or_else(|e| e.into_inner());
        if !self.down.swap(true, Ordering::AcqRel) {
            self.outages.fetch_add(1, Ordering::Relaxed);
            eprintln!(
                "tally serve: the store cannot take writes ({reason}); /readyz answers 503 until a commit or a probe succeeds"
            );
        }
        *r = reason;
    }

    /// Marks the store up again and closes the circuit (logged when the
    /// state changes).
    pub fn recover(&self) {
        if self.open.load(Ordering::Acquire) {
            self.open.store(false, Ordering::Release);
        }
        if self.down.load(Ordering::Acquire) && self.down.swap(false, Ordering::AcqRel) {
            eprintln!("tally serve: the store takes writes again; /readyz answers 200");
        }
    }
}

/// How to probe a store.
#[derive(Debug)]
pub enum Probe {
    /// A SQLite file: enough free space in its directory.
    Sqlite {
        /// The directory of the database.
        dir: PathBuf,
        /// Bytes that must be free.
        min_free: u64,
    },
    /// ClickHouse's HTTP interface: `SELECT 1` answers.
    ClickHouse(Box<crate::server::store::clickhouse::ClickHouse>),
}

impl Probe {
    /// Runs the probe once.
    pub fn check(&self) -> Result<(), String> {
        match self {
            Probe::Sqlite { dir, min_free } => match free_bytes(dir) {
                Some(free) if free < *min_free => Err(format!(
                    "disk full: {} KiB free where the store is, {} KiB needed; free some space",
                    free >> 10,
                    min_free >> 10
                )),
                _ => Ok(()),
            },
            Probe::ClickHouse(ch) => ch.ping().map_err(|e| e.to_string()),
        }
    }
}

/// Free bytes for an unprivileged writer on the file system of `dir`.
fn free_bytes(dir: &std::path::Path) -> Option<u64> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
        // SAFETY: statvfs with a NUL-terminated path and a local struct.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
            return None;
        }
        #[allow(clippy::unnecessary_cast)]
        Some((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        None
    }
}

/// The probe's thread; stopped when dropped.
pub struct Prober {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Prober {
    /// Probes with `probe` every [`PROBE_EVERY`], updating `health`.
    pub fn spawn(probe: Probe, health: Arc<Health>) -> std::io::Result<Prober> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("tally-probe".into())
            .spawn(move || {
                let (lock, cv) = &*flag;
                let mut stopped = lock.lock().unwrap_or_else(|e| e.into_inner());
                while !*stopped {
                    let (guard, _) = cv
                        .wait_timeout(stopped, PROBE_EVERY)
                        .unwrap_or_else(|e| e.into_inner());
                    stopped = guard;
                    if *stopped {
                        break;
                    }
                    // The probe may take up to the store timeout: not under
                    // the lock, so stopping never waits for more than it.
                    drop(stopped);
                    match probe.check() {
                        Ok(()) => health.recover(),
                        Err(why) => health.fail(&why),
                    }
                    stopped = lock.lock().unwrap_or_else(|e| e.into_inner());
                }
            })?;
        Ok(Prober {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        let (lock, cv) = &*self.stop;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
