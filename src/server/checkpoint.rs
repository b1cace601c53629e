//! The background WAL checkpointer of the ingest store. The writing
//! connection never checkpoints itself (a checkpoint copies pages into the
//! database and syncs, and every request waiting on the next commit would
//! wait for it too); this thread does, with its own connection, in PASSIVE
//! mode, which never blocks the writer, at a lower CPU priority.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use rusqlite::Connection;

/// Runs passive WAL checkpoints on its own connection every
/// [`CHECKPOINT_EVERY`], so the writer never stalls on one.
pub(crate) struct Checkpointer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Interval between background checkpoints.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

impl Checkpointer {
    /// Starts the thread, with its own connection to `path` at `sync`.
    pub(crate) fn spawn(path: &Path, sync: &str) -> Result<Checkpointer, rusqlite::Error> {
        let conn = Connection::open(path)?;
        conn.execute_batch(&format!(
            "PRAGMA synchronous={sync}; PRAGMA busy_timeout=5000;"
        ))?;
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let flag = Arc::clone(&stop);
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
                    if !*stopped {
                        // PASSIVE never blocks the writer; a busy or partial
                        // checkpoint simply continues next time.
                        let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                    }
                }
            })
            .map_err(|_| rusqlite::Error::InvalidQuery)?;
        Ok(Checkpointer {
            stop,
            thread: Some(thread),
        })
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
