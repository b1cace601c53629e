//! The small records kept in the state directory besides the spool: the
//! machine id, the backoff after a failed send, the bounded ledger of what
//! was sent, and the last local failure (shown by `telemetry status`, since
//! failures are never shown to the host).

use std::io::Write;

use serde::{Deserialize, Serialize};

use crate::consent::paths::StateFiles;
use crate::consent::rotation::Rotation;
use crate::os::date::Date;
use crate::os::files::{self, FileError};

/// Reads the stored machine id, if there is a valid one.
pub fn read_machine_id(state: &StateFiles) -> Option<String> {
    let bytes = files::read_optional(&state.machine_id()).ok()??;
    let text = String::from_utf8(bytes).ok()?;
    let id = crate::os::uuid::Uuid::parse(text.trim())?;
    Some(id.to_string())
}

/// Returns the machine id, minting a random one (UUID v4) if none is stored.
pub fn ensure_machine_id(state: &StateFiles) -> Result<String, FileError> {
    if let Some(id) = read_machine_id(state) {
        return Ok(id);
    }
    files::ensure_private_dir(state.dir())?;
    let id = crate::os::random::uuid().to_string();
    files::write_atomic(&state.machine_id(), format!("{id}\n").as_bytes(), true)?;
    Ok(id)
}

/// Deletes every file tally keeps in the state directory (and the directory
/// itself when it is left empty). Returns the files removed.
pub fn delete_all(state: &StateFiles) -> Result<Vec<std::path::PathBuf>, FileError> {
    let mut removed = Vec::new();
    for f in state.all() {
        if files::remove_if_exists(&f)? {
            removed.push(f);
        }
    }
    // Leftover temporary files from an interrupted atomic write.
    if let Ok(entries) = std::fs::read_dir(state.dir()) {
        for e in entries.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') && name.ends_with(".tmp") {
                let _ = files::remove_if_exists(&e.path());
            }
        }
    }
    // The emptied directories of names reported under (`tally run --app`).
    for app in state.app_dirs() {
        let _ = std::fs::remove_dir(app.dir());
    }
    let _ = std::fs::remove_dir(state.dir().join(crate::consent::paths::APPS_DIR));
    let _ = std::fs::remove_dir(state.dir());
    Ok(removed)
}

/// After a failed send: no background send before `until`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backoff {
    /// Unix time before which background sends are skipped.
    pub until: i64,
    /// The delay that produced `until`, in seconds (doubles per failure).
    pub delay: u64,
    /// Written when a background attempt started and not yet replaced by
    /// its result: the attempt is counted as failed until it ends, so a
    /// sender that dies silently is not restarted on every run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub attempt: bool,
}

/// First backoff after a failure.
pub const BACKOFF_MIN: u64 = 3600;
/// Longest backoff.
pub const BACKOFF_MAX: u64 = 24 * 3600;

/// The stored backoff, if any.
pub fn read_backoff(state: &StateFiles) -> Option<Backoff> {
    serde_json::from_slice(&files::read_optional(&state.backoff()).ok()??).ok()
}

/// Records a failed send at `now`: 1 h, doubling per failure up to 24 h, or
/// the server's `Retry-After` when that is longer.
pub fn record_failure(
    state: &StateFiles,
    now: i64,
    retry_after: Option<u64>,
) -> Result<Backoff, FileError> {
    let delay = next_delay(state).max(retry_after.unwrap_or(0).min(BACKOFF_MAX));
    write_backoff(
        state,
        Backoff {
            until: now + delay as i64,
            delay,
            attempt: false,
        },
    )
}

/// The delay the next failure gets: 1 h, doubling up to 24 h; an attempt
/// in progress already holds its doubled delay.
fn next_delay(state: &StateFiles) -> u64 {
    read_backoff(state).map_or(BACKOFF_MIN, |b| {
        if b.attempt {
            b.delay
        } else {
            (b.delay * 2).clamp(BACKOFF_MIN, BACKOFF_MAX)
        }
    })
}

/// Marks a background attempt as started: until it ends, it counts as a
/// failure (see [`Backoff::attempt`]).
pub fn begin_attempt(state: &StateFiles, now: i64) -> Result<Backoff, FileError> {
    let delay = next_delay(state);
    write_backoff(
        state,
        Backoff {
            until: now + delay as i64,
            delay,
            attempt: true,
        },
    )
}

/// Ends an attempt that neither failed nor sent (nothing was due, or
/// consent was withdrawn): its provisional backoff goes.
pub fn end_attempt(state: &StateFiles) {
    if read_backoff(state).is_some_and(|b| b.attempt) {
        clear_backoff(state);
    }
}

fn write_backoff(state: &StateFiles, b: Backoff) -> Result<Backoff, FileError> {
    files::ensure_private_dir(state.dir())?;
    files::write_atomic(
        &state.backoff(),
        &serde_json::to_vec(&b).unwrap_or_default(),
        false,
    )?;
    Ok(b)
}

/// Clears the backoff after a successful send.
pub fn clear_backoff(state: &StateFiles) {
    let _ = files::remove_if_exists(&state.backoff());
}

/// One ledger entry: a send attempt that reached the receiver, or a batch
/// printed in debug mode.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// When (RFC 3339).
    pub at: String,
    /// The batch id.
    pub batch_id: String,
    /// `sent`, `rejected` (a 4xx: dropped for good) or `duplicate`.
    pub result: String,
    /// HTTP status.
    pub status: u16,
    /// Body size in bytes.
    pub bytes: usize,
    /// Number of events.
    pub events: usize,
    /// The endpoint.
    pub endpoint: String,
}

/// The ledger keeps at most this many entries.
pub const LEDGER_MAX: usize = 100;

/// Appends to the ledger, trimming it to the newest [`LEDGER_MAX`] entries.
pub fn ledger_append(state: &StateFiles, entry: &LedgerEntry) -> Result<(), FileError> {
    let path = state.ledger();
    let mut line = serde_json::to_vec(entry).unwrap_or_default();
    line.push(b'\n');
    let mut f = files::open_append(&path)?;
    f.write_all(&line).map_err(|e| FileError::Io {
        op: "appending to",
        path: path.clone(),
        source: e,
    })?;
    let entries = ledger_read(state);
    if entries.len() > 2 * LEDGER_MAX {
        let keep = &entries[entries.len() - LEDGER_MAX..];
        let mut out = Vec::new();
        for e in keep {
            out.extend(serde_json::to_vec(e).unwrap_or_default());
            out.push(b'\n');
        }
        files::write_atomic(&path, &out, false)?;
    }
    Ok(())
}

/// The ledger's entries, oldest first.
pub fn ledger_read(state: &StateFiles) -> Vec<LedgerEntry> {
    ledger_read_checked(state).unwrap_or_default()
}

/// [`ledger_read`], saying why the ledger cannot be read (a symlink tally
/// refuses to follow, say) instead of reading that as "nothing was sent".
pub fn ledger_read_checked(state: &StateFiles) -> Result<Vec<LedgerEntry>, FileError> {
    let Some(bytes) = files::read_optional(&state.ledger())? else {
        return Ok(Vec::new());
    };
    Ok(bytes
        .split(|&b| b == b'\n')
        .filter_map(|l| serde_json::from_slice(l).ok())
        .collect())
}

/// Remembers the latest local failure for `telemetry status`. Best effort:
/// if even this cannot be written, the failure stays invisible here but is
/// still reported by status' own checks of the directory.
pub fn note_error(state: &StateFiles, at: &str, message: &str) {
    if files::ensure_private_dir(state.dir()).is_ok() {
        let _ = files::write_atomic(
            &state.last_error(),
            format!("{at} {message}\n").as_bytes(),
            false,
        );
    }
}

/// The latest local failure, if one was recorded.
pub fn last_error(state: &StateFiles) -> Option<String> {
    let bytes = files::read_optional(&state.last_error()).ok()??;
    Some(String::from_utf8_lossy(&bytes).trim().to_owned()).filter(|s| !s.is_empty())
}

/// Checks the state directory without changing anything: a path that is
/// not a private directory of ours, a read-only file system, or a full one.
/// `None` when it looks usable (or does not exist yet and need not).
///
/// On Windows the writability and free-space checks are left out (no
/// `access`/`statvfs`; a failed write is reported as the last error
/// instead), and so is the owner (see `os::files`).
pub fn probe_dir(app: &str, dir: &std::path::Path) -> Option<String> {
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Not created yet: it will be, if its nearest existing ancestor
            // lets us.
            let ancestor = dir.ancestors().skip(1).find(|a| a.exists())?;
            #[cfg(unix)]
            if let Some(e) = unix::not_writable(ancestor) {
                return Some(format!(
                    "{} cannot be created: {} is not writable ({e})",
                    dir.display(),
                    ancestor.display()
                ));
            }
            #[cfg(not(unix))]
            let _ = ancestor;
            return None;
        }
        Err(e) => return Some(format!("{} cannot be inspected: {e}", dir.display())),
    };
    if files::is_link(&meta) {
        return Some(format!(
            "{} is a symbolic link; {app} refuses to follow it",
            dir.display()
        ));
    }
    if !meta.is_dir() {
        return Some(format!(
            "{} is not a directory; remove it or set another state dir",
            dir.display()
        ));
    }
    if !files::ours(&meta) {
        return Some(format!(
            "{} is owned by another user; {app} refuses to use it",
            dir.display()
        ));
    }
    #[cfg(unix)]
    {
        if let Some(e) = unix::not_writable(dir) {
            return Some(format!("{} is not writable: {e}", dir.display()));
        }
        if unix::full(dir) {
            return Some(format!("the file system holding {} is full", dir.display()));
        }
    }
    None
}

#[cfg(unix)]
mod unix {
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    /// Why `dir` is not writable for this process, if it is not.
    pub fn not_writable(dir: &Path) -> Option<std::io::Error> {
        let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
        // SAFETY: `c` is a valid NUL-terminated path.
        if unsafe { libc::access(c.as_ptr(), libc::W_OK) } != 0 {
            return Some(std::io::Error::last_os_error());
        }
        None
    }

    /// Whether the file system holding `dir` has no block left for us.
    pub fn full(dir: &Path) -> bool {
        let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
            return false;
        };
        // SAFETY: `c` is a valid NUL-terminated path; `vfs` is plain old
        // data that statvfs fills in.
        unsafe {
            let mut vfs: libc::statvfs = std::mem::zeroed();
            libc::statvfs(c.as_ptr(), &mut vfs) == 0 && vfs.f_bavail == 0
        }
    }
}

/// A directory of ours that others may write to (group- or
/// world-writable): another user could plant a FIFO or a link in it. tally
/// makes it 0700 at its next write; `telemetry status` says so before.
/// (Never on Windows, which has no mode bits: see `os::files`.)
pub fn probe_writable(app: &str, dir: &std::path::Path) -> Option<String> {
    let meta = std::fs::symlink_metadata(dir).ok()?;
    if !meta.is_dir() || !files::loosely_writable(&meta) {
        return None;
    }
    #[cfg(unix)]
    let mode = std::os::unix::fs::MetadataExt::mode(&meta) & 0o7777;
    #[cfg(not(unix))]
    let mode = 0;
    Some(if files::ours(&meta) {
        format!(
            "{} is writable by other users (mode {mode:o}); {app} makes it private (mode 700) the next time it writes there",
            dir.display(),
        )
    } else {
        format!(
            "{} is writable by other users (mode {mode:o}) and owned by another user; {app} refuses to use it",
            dir.display(),
        )
    })
}

/// Clears the recorded failure (after a success).
pub fn clear_error(state: &StateFiles) {
    let _ = files::remove_if_exists(&state.last_error());
}

/// The machine id for `today` under `rotation`: the stored one while its
/// period lasts, else a fresh random one (minted when none is stored).
pub fn current_id(st: &StateFiles, rotation: Rotation, today: Date) -> Result<String, FileError> {
    let Some(period) = rotation.period(today) else {
        return ensure_machine_id(st);
    };
    let stored = files::read_optional(&st.machine_id_period())
        .ok()
        .flatten()
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned());
    if stored.as_deref() != Some(period.as_str()) || read_machine_id(st).is_none() {
        // The old period's id is kept for its days still in the spool: a
        // day is always sent under its own period's id.
        if let (Some(old), Some(id)) = (stored.as_deref(), read_machine_id(st)) {
            remember_past(st, old, &id)?;
        }
        files::remove_if_exists(&st.machine_id())?;
        let id = ensure_machine_id(st)?;
        files::write_atomic(
            &st.machine_id_period(),
            format!("{period}\n").as_bytes(),
            true,
        )?;
        return Ok(id);
    }
    ensure_machine_id(st)
}

/// Periods remembered in `machine_id_past`: more than the days a batch may
/// be late (the server's window), whatever the period.
const MAX_PAST: usize = 64;

/// The id that `day`'s lines are sent under: the id of `day`'s own period,
/// never the id of the period a send happens in (that would link two
/// periods and count the machine twice). An earlier period's id is the one
/// it had, or, when none was kept, a fresh random one minted for it and
/// kept, so the period still has exactly one.
pub fn id_for_day(
    st: &StateFiles,
    rotation: Rotation,
    today: Date,
    day: Date,
) -> Result<String, FileError> {
    let current = current_id(st, rotation, today)?;
    let (Some(period), Some(now)) = (rotation.period(day), rotation.period(today)) else {
        return Ok(current);
    };
    if period == now {
        return Ok(current);
    }
    let past = read_past(st);
    if let Some((_, id)) = past.iter().find(|(p, _)| *p == period) {
        return Ok(id.clone());
    }
    let id = crate::os::random::uuid().to_string();
    remember_past(st, &period, &id)?;
    Ok(id)
}

fn read_past(st: &StateFiles) -> Vec<(String, String)> {
    let Ok(Some(bytes)) = files::read_optional(&st.machine_id_past()) else {
        return Vec::new();
    };
    String::from_utf8_lossy(&bytes)
        .lines()
        .filter_map(|l| {
            let (p, id) = l.split_once(' ')?;
            let id = crate::os::uuid::Uuid::parse(id.trim())?;
            Some((p.to_owned(), id.to_string()))
        })
        .take(MAX_PAST)
        .collect()
}

fn remember_past(st: &StateFiles, period: &str, id: &str) -> Result<(), FileError> {
    let mut past: Vec<(String, String)> = read_past(st)
        .into_iter()
        .filter(|(p, _)| p != period)
        .collect();
    past.push((period.to_owned(), id.to_owned()));
    let skip = past.len().saturating_sub(MAX_PAST);
    let mut text = String::new();
    for (p, id) in past.iter().skip(skip) {
        text.push_str(p);
        text.push(' ');
        text.push_str(id);
        text.push('\n');
    }
    files::write_atomic(&st.machine_id_past(), text.as_bytes(), true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::os::date::parse_day;

    #[test]
    fn the_last_day_of_a_period_is_sent_under_that_periods_id() {
        let t = tempfile::tempdir().unwrap();
        let st = StateFiles(t.path().to_path_buf());
        let day = |s| parse_day(s).unwrap();
        // November's id, in use during November.
        let nov = current_id(&st, Rotation::Monthly, day("2026-11-20")).unwrap();
        // On December 1st, November 30th is sent: under November's id.
        let sent =
            id_for_day(&st, Rotation::Monthly, day("2026-12-01"), day("2026-11-30")).unwrap();
        assert_eq!(sent, nov);
        // December has an id of its own, not linked to November's.
        let dec = current_id(&st, Rotation::Monthly, day("2026-12-01")).unwrap();
        assert_ne!(dec, nov);
        assert_eq!(
            id_for_day(&st, Rotation::Monthly, day("2026-12-02"), day("2026-12-01")).unwrap(),
            dec
        );
        // A period never seen before gets one id, kept for its other days.
        let sep = id_for_day(&st, Rotation::Monthly, day("2026-12-02"), day("2026-09-30")).unwrap();
        assert!(sep != nov && sep != dec);
        assert_eq!(
            id_for_day(&st, Rotation::Monthly, day("2026-12-03"), day("2026-09-29")).unwrap(),
            sep
        );
        // Daily rotation: yesterday is sent under yesterday's id.
        let t2 = tempfile::tempdir().unwrap();
        let st2 = StateFiles(t2.path().to_path_buf());
        let d21 = current_id(&st2, Rotation::Daily, day("2026-11-21")).unwrap();
        assert_eq!(
            id_for_day(&st2, Rotation::Daily, day("2026-11-22"), day("2026-11-21")).unwrap(),
            d21
        );
    }

    #[test]
    fn backoff_doubles_to_a_day() {
        let t = tempfile::tempdir().unwrap();
        let s = StateFiles(t.path().to_path_buf());
        let delays: Vec<u64> = (0..7)
            .map(|_| record_failure(&s, 0, None).unwrap().delay)
            .collect();
        assert_eq!(delays, [3600, 7200, 14400, 28800, 57600, 86400, 86400]);
        clear_backoff(&s);
        assert_eq!(
            record_failure(&s, 10, Some(7200)).unwrap(),
            Backoff {
                until: 7210,
                delay: 7200,
                attempt: false,
            }
        );
    }

    #[test]
    fn a_sender_that_dies_mid_attempt_still_backs_off_once() {
        let t = tempfile::tempdir().unwrap();
        let s = StateFiles(t.path().to_path_buf());
        let b = begin_attempt(&s, 0).unwrap();
        assert_eq!((b.until, b.attempt), (3600, true), "in force while running");
        // The attempt then fails: the delay is not doubled a second time.
        assert_eq!(record_failure(&s, 0, None).unwrap().delay, 3600);
        begin_attempt(&s, 10_000).unwrap();
        end_attempt(&s);
        assert!(read_backoff(&s).is_none(), "nothing was due: no backoff");
    }

    #[test]
    fn machine_ids_persist_and_ledger_is_bounded() {
        let t = tempfile::tempdir().unwrap();
        let s = StateFiles(t.path().join("st"));
        let a = ensure_machine_id(&s).unwrap();
        assert_eq!(ensure_machine_id(&s).unwrap(), a);
        for i in 0..(2 * LEDGER_MAX + 5) {
            ledger_append(
                &s,
                &LedgerEntry {
                    at: "t".into(),
                    batch_id: i.to_string(),
                    result: "sent".into(),
                    status: 204,
                    bytes: 1,
                    events: 1,
                    endpoint: "e".into(),
                },
            )
            .unwrap();
        }
        let l = ledger_read(&s);
        assert!(l.len() <= 2 * LEDGER_MAX && l.len() >= LEDGER_MAX);
        assert_eq!(l.last().unwrap().batch_id, (2 * LEDGER_MAX + 4).to_string());
        delete_all(&s).unwrap();
        assert!(!s.dir().exists());
    }

    /// A machine id lived forever: the data was pseudonymous across every
    /// day it reported.
    #[test]
    fn monthly_id_is_stable_within_a_month_and_new_in_the_next() {
        let t = tempfile::tempdir().unwrap();
        let st = StateFiles(t.path().join("s"));
        let nov = |d| parse_day(&format!("2026-11-{d:02}")).unwrap();
        let a = current_id(&st, Rotation::Monthly, nov(1)).unwrap();
        assert_eq!(current_id(&st, Rotation::Monthly, nov(30)).unwrap(), a);
        let b = current_id(&st, Rotation::Monthly, parse_day("2026-12-01").unwrap()).unwrap();
        assert_ne!(a, b);
        assert_eq!(
            current_id(&st, Rotation::Monthly, parse_day("2026-12-31").unwrap()).unwrap(),
            b
        );
        // Never: the stored id stays whatever the date.
        assert_eq!(
            current_id(&st, Rotation::Never, parse_day("2030-01-01").unwrap()).unwrap(),
            b
        );
    }
}
