//! The WAL checkpoints of the ingest store. A background thread does the
//! bulk of the work: with its own connection, in PASSIVE mode, which never
//! blocks the writer, at a lower CPU priority (a checkpoint copies pages
//! into the database and syncs, and every request waiting on the next
//! commit would wait for it too if the writer did it all). Passive
//! checkpoints never shrink the log, though, so the writer keeps it bounded
//! with an occasional truncating one (`WalBound`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rusqlite::Connection;

/// Runs passive WAL checkpoints on its own connection every
/// [`CHECKPOINT_EVERY`], so the writer never stalls on one.
pub(crate) struct Checkpointer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    /// Set while the writer wants to truncate the log: the background
    /// thread then starts no checkpoint that would make it wait.
    yield_to_writer: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Interval between background checkpoints.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// The connections' wait for a lock held by another.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

impl Checkpointer {
    /// Starts the thread, with its own connection to `path` at `sync`.
    pub(crate) fn spawn(path: &Path, sync: &str) -> Result<Checkpointer, rusqlite::Error> {
        let conn = Connection::open(path)?;
        conn.execute_batch(&format!("PRAGMA synchronous={sync};"))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let flag = Arc::clone(&stop);
        let yield_to_writer = Arc::new(AtomicBool::new(false));
        let writer_first = Arc::clone(&yield_to_writer);
        let thread = std::thread::Builder::new()
            .name("tally-checkpoint".into())
            .spawn(move || {
                // Checkpointing is background work: let the writer and the
                // request threads win the CPU (raising niceness needs no
                // privilege; on Linux it applies to this thread alone).
                #[cfg(target_os = "linux")]
                // SAFETY: setpriority on this thread's own id.
                unsafe {
                    libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 10);
                }
                let (lock, cv) = &*flag;
                let mut stopped = lock.lock().unwrap_or_else(|e| e.into_inner());
                while !*stopped {
                    let (guard, _) = cv
                        .wait_timeout(stopped, CHECKPOINT_EVERY)
                        .unwrap_or_else(|e| e.into_inner());
                    stopped = guard;
                    if !*stopped && !writer_first.load(Ordering::Acquire) {
                        // PASSIVE never blocks the writer; a busy or partial
                        // checkpoint simply continues next time.
                        let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                    }
                }
            })
            .map_err(|_| rusqlite::Error::InvalidQuery)?;
        Ok(Checkpointer {
            stop,
            yield_to_writer,
            thread: Some(thread),
        })
    }

    /// The flag [`WalBound`] raises while it wants to truncate the log.
    pub(crate) fn yield_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.yield_to_writer)
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let (lock, cv) = &*self.stop;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Default WAL size at which the writer checkpoints and truncates it.
pub const DEFAULT_WAL_LIMIT: u64 = 16 * 1024 * 1024;

/// How long a truncating checkpoint waits for readers (a `tally report`
/// reading the same file) before the writer goes on and tries again later.
const TRUNCATE_WAIT: Duration = Duration::from_millis(100);

/// Time between attempts after a checkpoint that readers kept from
/// completing.
const RETRY_AFTER_BUSY: Duration = Duration::from_millis(100);

/// Attempts kept from completing in a row before the log says so (a
/// background checkpoint still running is a brief, normal wait).
const BUSY_REPORT_AFTER: u32 = 30;

/// Keeps the WAL bounded while serving. The passive checkpoints above copy
/// pages into the database but never reset the log: under sustained load
/// the writer appends while they run, so the log never ends up fully
/// copied at the moment a new transaction starts, and it grows without end
/// (110 MB in 80 s with the default limits, 3.16 GB without them). So after
/// each commit the writer looks at the log's size (one `stat`), and past
/// the limit it runs a `TRUNCATE` checkpoint itself: most pages are already
/// copied by the background thread, the rest is at most the limit, and the
/// log is cut to zero bytes; meanwhile the background thread starts no
/// checkpoint of its own. The log thus stays under the limit plus the
/// commits made while a truncation waits (for a background checkpoint that
/// was running, or a reader holding an old snapshot: the writer retries
/// every 100 ms, and says so when that lasts three seconds).
#[derive(Debug)]
pub(crate) struct WalBound {
    wal: PathBuf,
    limit: u64,
    next_try: Option<Instant>,
    busy: u32,
    yield_flag: Option<Arc<AtomicBool>>,
    /// Truncating checkpoints run.
    pub(crate) truncations: u64,
}

impl WalBound {
    /// Bounds the WAL of the database at `db` to about `limit` bytes,
    /// holding off the background checkpointer through `yield_flag`.
    pub(crate) fn new(db: &Path, limit: u64, yield_flag: Option<Arc<AtomicBool>>) -> WalBound {
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        WalBound {
            wal: PathBuf::from(wal),
            limit: limit.max(1),
            next_try: None,
            busy: 0,
            yield_flag,
            truncations: 0,
        }
    }

    /// The limit in bytes.
    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }

    /// The WAL's size now (0 when there is none).
    pub(crate) fn size(&self) -> u64 {
        std::fs::metadata(&self.wal).map_or(0, |m| m.len())
    }

    /// Called by the writer after each commit, on its own connection.
    pub(crate) fn after_commit(&mut self, conn: &Connection) {
        if self.size() < self.limit || self.next_try.is_some_and(|t| Instant::now() < t) {
            return;
        }
        if let Some(f) = &self.yield_flag {
            f.store(true, Ordering::Release);
        }
        let _ = conn.busy_timeout(TRUNCATE_WAIT);
        // (busy, log frames, frames checkpointed); busy = 1 when a reader
        // or the background checkpoint kept it from completing.
        let result = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            r.get::<_, i64>(0)
        });
        let _ = conn.busy_timeout(BUSY_TIMEOUT);
        match result {
            Ok(0) => {
                self.truncations += 1;
                self.next_try = None;
                self.busy = 0;
                if let Some(f) = &self.yield_flag {
                    f.store(false, Ordering::Release);
                }
            }
            Ok(_) => {
                self.next_try = Some(Instant::now() + RETRY_AFTER_BUSY);
                self.busy += 1;
                if self.busy == BUSY_REPORT_AFTER {
                    eprintln!(
                        "tally serve: the SQLite WAL is over {} MiB and has not been truncated for 3 s: a reader holds an old snapshot (a long `tally report`?); retrying every 100 ms",
                        self.limit >> 20
                    );
                }
            }
            Err(e) => {
                self.next_try = Some(Instant::now() + RETRY_AFTER_BUSY);
                eprintln!("tally serve: truncating the SQLite WAL failed: {e}; retrying in 100 ms");
            }
        }
    }
}
