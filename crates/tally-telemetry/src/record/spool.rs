//! The spool: `spool.jsonl` in the state directory, one JSON line per
//! (day, kind, name, outcome, client) with its counts.
//!
//! Every change happens under an exclusive `flock` on `spool.lock` (a
//! separate file, so replacing the spool by rename never strands a waiter on
//! a dead inode). Recorders append with one `O_APPEND` write; compaction
//! merges equal keys across processes, turns corrupt lines into a `dropped`
//! count, and drops the oldest days while the file would exceed 256 KB.
//!
//! A sender *claims* lines by tagging them with a batch id (`"b"`) in one
//! atomic rewrite. Tagged lines are frozen: they are resent under the same
//! batch id until the receiver acknowledges them, so a sender killed between
//! send and acknowledgement never causes a double count at a receiver that
//! deduplicates by batch id, and never loses anything either.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::time::{Duration, Instant};

pub use super::line::{Line, Row};
use crate::consent::paths::StateFiles;
use crate::os::files::{self, FileError};
use crate::schema::SCHEMA_VERSION;

/// The spool never grows beyond this many bytes.
pub const CAP_BYTES: u64 = 256 * 1024;

/// Appends that would take the spool past this size compact it first.
pub const COMPACT_AT: u64 = CAP_BYTES * 3 / 4;

/// Serialises lines, one per row.
pub fn encode(lines: &[Line]) -> Vec<u8> {
    let mut out = Vec::with_capacity(lines.len() * 80);
    for l in lines {
        l.encode(&mut out);
    }
    out
}

/// The spool's lines, and how many could not be used.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Usable lines.
    pub lines: Vec<Line>,
    /// Corrupt, partial, or from another schema version.
    pub bad: u64,
}

/// Parses spool bytes; a bad line is counted, never fatal.
pub fn parse(bytes: &[u8]) -> Parsed {
    let mut out = Parsed::default();
    for raw in bytes.split(|&b| b == b'\n') {
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Line>(raw) {
            Ok(l)
                if (1..=SCHEMA_VERSION).contains(&l.v)
                    && crate::os::clock::parse_day(&l.day).is_some() =>
            {
                out.lines.push(l)
            }
            _ => out.bad += 1,
        }
    }
    out
}

/// Merges lines with equal keys (day, row, claim), keeping first-seen order.
pub fn merge(lines: Vec<Line>) -> Vec<Line> {
    let mut index: BTreeMap<(String, Row, Option<String>), usize> = BTreeMap::new();
    let mut out: Vec<Line> = Vec::with_capacity(lines.len());
    for l in lines {
        match index.get(&l.key()) {
            Some(&i) => out[i].absorb(l),
            None => {
                index.insert(l.key(), out.len());
                out.push(l);
            }
        }
    }
    out
}

/// A failure of a spool operation.
#[derive(Debug)]
pub enum SpoolError {
    /// A file could not be read or written.
    File(FileError),
    /// The lock could not be taken in time.
    LockTimeout(String),
}

impl std::fmt::Display for SpoolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SpoolError::File(e) => e.fmt(f),
            SpoolError::LockTimeout(lock) => {
                write!(f, "timed out waiting for the spool lock {lock}")
            }
        }
    }
}

impl std::error::Error for SpoolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SpoolError::File(e) => e.source(),
            SpoolError::LockTimeout(_) => None,
        }
    }
}

impl From<FileError> for SpoolError {
    fn from(e: FileError) -> Self {
        SpoolError::File(e)
    }
}

/// An exclusive hold on the spool, released on drop (and by the kernel if
/// the process dies).
pub struct SpoolLock {
    file: File,
}

impl Drop for SpoolLock {
    fn drop(&mut self) {
        let _ = crate::os::lock::unlock(&self.file);
    }
}

/// How long a writer waits for the spool lock before giving up. Holders
/// only do local file work, so this bounds the wait behind a stopped
/// (SIGSTOP) process rather than a normal one.
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// Takes the spool lock, creating the state directory if needed.
pub fn lock(state: &StateFiles) -> Result<SpoolLock, SpoolError> {
    files::ensure_private_dir(state.dir())?;
    let path = state.spool_lock();
    let file = files::open_lock_file(&path)?;
    let start = Instant::now();
    let mut pause = Duration::from_micros(50);
    loop {
        match crate::os::lock::try_lock(&file) {
            Ok(()) => return Ok(SpoolLock { file }),
            Err(crate::os::lock::TryLockError::WouldBlock) if start.elapsed() < LOCK_WAIT => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(5));
            }
            Err(_) => return Err(SpoolError::LockTimeout(path.display().to_string())),
        }
    }
}

/// Reads and parses the spool (caller holds the lock). At most
/// [`CAP_BYTES`] are read: a larger file was not written by tally (which
/// never lets it grow past the cap), and reading it whole could cost the
/// host seconds and gigabytes at exit. What lies beyond the cap, and the
/// line cut in two by it, count as one dropped row each way they are lost:
/// the cut line is counted by [`parse`], the rest as one more.
pub fn read(state: &StateFiles) -> Result<Parsed, SpoolError> {
    let Some((bytes, size)) = files::read_bounded(&state.spool(), CAP_BYTES)? else {
        return Ok(Parsed::default());
    };
    let mut parsed = parse(&bytes);
    if size > CAP_BYTES {
        parsed.bad += 1;
    }
    Ok(parsed)
}

/// How many bytes of the spool's head [`head_due`] looks at.
const HEAD_BYTES: u64 = 4096;

/// A cheap check, for the start of every command, of whether the spool
/// holds something to send: its first line is claimed (an unfinished send)
/// or of a day before `today`. Lines are appended in time order and every
/// rewrite keeps that order, so the first line is the oldest; only a few
/// kilobytes are read, never the whole file.
pub fn head_due(state: &StateFiles, today: &str) -> bool {
    let Ok(Some((bytes, _))) = files::read_bounded(&state.spool(), HEAD_BYTES) else {
        return false;
    };
    let first = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    match serde_json::from_slice::<Line>(first) {
        Ok(l) if l.v == SCHEMA_VERSION => l.b.is_some() || outgoing(&l, today),
        // A corrupt head: the helper's claim turns it into a dropped count,
        // so this is true once.
        _ => !first.is_empty(),
    }
}

/// Replaces the spool with `lines` (caller holds the lock); removes it when
/// empty.
pub fn rewrite(state: &StateFiles, lines: &[Line]) -> Result<(), SpoolError> {
    if lines.is_empty() {
        files::remove_if_exists(&state.spool())?;
    } else {
        files::write_atomic(&state.spool(), &encode(lines), false)?;
    }
    Ok(())
}

/// Merges the spool, turns bad lines into a `dropped` count for `today`,
/// and drops rows until it fits in `budget` bytes, today's first (caller
/// holds the lock). Returns the lines written.
#[cfg(test)]
pub fn compact(state: &StateFiles, today: &str, budget: u64) -> Result<Vec<Line>, SpoolError> {
    let parsed = read(state)?;
    let mut lines = parsed.lines;
    if parsed.bad > 0 {
        lines.push(Line::new(today, Row::Dropped, parsed.bad));
    }
    let lines = fit(merge(lines), today, budget, budget);
    rewrite(state, &lines)?;
    Ok(lines)
}

/// Drops rows until the encoding fits, recording how many went in a
/// `dropped` line for `today`. New data gives way first: today's rows go
/// until the total is within `soft`, and only then, if completed days
/// alone exceed `hard` (a machine offline for months), the oldest of them
/// until it is within `soft` again.
/// A completed day waiting to be sent is never evicted to make room for
/// today's counts (a flood of names once left only `dropped` lines).
fn fit(lines: Vec<Line>, today: &str, soft: u64, hard: u64) -> Vec<Line> {
    let line_size = |l: &Line| encode(std::slice::from_ref(l)).len() as u64;
    let mut total: u64 = lines.iter().map(line_size).sum();
    if total <= soft.min(hard) {
        return lines;
    }
    // Reserve room for the dropped line itself.
    let (soft, hard) = (soft.saturating_sub(96), hard.saturating_sub(96));
    let (mut done, mut fresh): (Vec<Line>, Vec<Line>) = lines
        .into_iter()
        .partition(|l| l.day.as_str() < today || matches!(l.row, Row::Dropped) || l.b.is_some());
    let mut dropped = 0u64;
    // Today's rows: the smallest counts go first.
    fresh.sort_by_key(|l| std::cmp::Reverse(l.n));
    while total > soft {
        let Some(l) = fresh.pop() else { break };
        total -= line_size(&l);
        dropped += 1;
    }
    done.sort_by(|a, b| a.day.cmp(&b.day));
    // Completed days alone over `hard`: rows of the oldest day go, its
    // smallest counts first, down to `soft`, so the next appends have room
    // again. Row by row, not day by day: a day bigger than the cap once
    // went whole, leaving only its `dropped` count. A claimed row (a batch
    // being resent under its id) goes last.
    let target = if total > hard { soft } else { total };
    if total > target {
        let mut order: Vec<usize> = (0..done.len())
            .filter(|&i| !matches!(done[i].row, Row::Dropped))
            .collect();
        order.sort_by(|&a, &b| {
            let key = |l: &Line| (l.b.is_some(), l.day.clone(), l.n);
            key(&done[a]).cmp(&key(&done[b]))
        });
        let mut gone = vec![false; done.len()];
        for i in order {
            if total <= target {
                break;
            }
            total -= line_size(&done[i]);
            gone[i] = true;
            dropped += 1;
        }
        let mut g = gone.into_iter();
        done.retain(|_| !g.next().unwrap_or(false));
    }
    let mut lines: Vec<Line> = done.into_iter().chain(fresh).collect();
    if dropped > 0 {
        lines.push(Line::new(today, Row::Dropped, dropped));
        lines = merge(lines);
    }
    lines
}

/// Appends `lines` with one locked `O_APPEND` write. When the spool would
/// pass [`COMPACT_AT`], the spool and the new lines are compacted together
/// and rewritten instead, so the new lines compete for room as today's
/// data, never ahead of completed days. Never lets the file exceed
/// [`CAP_BYTES`].
pub fn append(state: &StateFiles, lines: &[Line], today: &str) -> Result<(), SpoolError> {
    if lines.is_empty() {
        return Ok(());
    }
    let _lock = lock(state)?;
    let bytes = encode(lines);
    let current = files::size_of(&state.spool());
    if current + bytes.len() as u64 > COMPACT_AT {
        let parsed = read(state)?;
        let mut all = parsed.lines;
        if parsed.bad > 0 {
            all.push(Line::new(today, Row::Dropped, parsed.bad));
        }
        all.extend_from_slice(lines);
        let all = merge(all);
        let dropped_n = |ls: &[Line]| -> u64 {
            ls.iter()
                .filter(|l| matches!(l.row, Row::Dropped))
                .map(|l| l.n)
                .sum()
        };
        let before = dropped_n(&all);
        let kept = fit(all, today, COMPACT_AT / 2, COMPACT_AT);
        rewrite(state, &kept)?;
        let lost = dropped_n(&kept).saturating_sub(before);
        if lost > 0 {
            // Counted in the batch's `dropped`, and said where a user looks.
            crate::record::state::note_error(
                state,
                today,
                &format!(
                    "the spool {} reached its {} KB cap, so {lost} rows (the smallest counts) were dropped; they are sent as a `dropped` count",
                    state.spool().display(),
                    CAP_BYTES / 1024
                ),
            );
        }
        return Ok(());
    }
    let mut file = files::open_append(&state.spool())?;
    file.write_all(&bytes).map_err(|e| {
        SpoolError::File(FileError::Io {
            op: "appending to",
            path: state.spool(),
            source: e,
        })
    })?;
    Ok(())
}

/// Lines the next send would take: already-claimed lines first (a resend
/// under the same batch id), otherwise the unclaimed lines of completed
/// days. Read-only; used by `telemetry show` and debug mode.
/// The third value counts the outgoing lines left for later batches (a
/// batch takes at most `max_lines`, all of one rotation `period`), so what
/// is shown is exactly the first post of a send.
pub fn peek_outgoing(
    lines: &[Line],
    today: &str,
    max_lines: usize,
    period: &dyn Fn(&str) -> Option<String>,
) -> (Option<String>, Vec<Line>, usize) {
    if let Some(id) = lines.iter().find_map(|l| l.b.clone()) {
        let claimed: Vec<Line> = lines
            .iter()
            .filter(|l| l.b.as_deref() == Some(&id))
            .cloned()
            .collect();
        let later = lines
            .iter()
            .filter(|l| l.b.is_none() && outgoing(l, today))
            .count();
        return (Some(id), claimed, later);
    }
    let out = merge(
        lines
            .iter()
            .filter(|l| l.b.is_none() && outgoing(l, today))
            .cloned()
            .collect(),
    );
    let first = next_batch(&out, today, max_lines, period);
    let later = out.len() - first.len();
    (
        None,
        first.into_iter().map(|i| out[i].clone()).collect(),
        later,
    )
}

/// The indices of the unclaimed lines the next batch takes: at most
/// `max_lines` of completed days, all of the first one's `period`.
fn next_batch(
    lines: &[Line],
    today: &str,
    max_lines: usize,
    period: &dyn Fn(&str) -> Option<String>,
) -> Vec<usize> {
    let mut taken = Vec::new();
    let mut batch_period = None;
    for (i, l) in lines.iter().enumerate() {
        if taken.len() >= max_lines {
            break;
        }
        if l.b.is_some() || !outgoing(l, today) {
            continue;
        }
        let p = period(&l.day);
        if taken.is_empty() {
            batch_period = p;
        } else if p != batch_period {
            continue;
        }
        taken.push(i);
    }
    taken
}

/// Whether an unclaimed line is ready to leave: its day is over. Lifecycle
/// events too: sending one the day it happens would tell the time of an
/// install or upgrade more precisely than any count.
pub fn outgoing(l: &Line, today: &str) -> bool {
    l.day.as_str() < today
}

/// Whether any unclaimed line belongs to a completed day, or any line is
/// claimed (an unfinished send).
pub fn send_due(lines: &[Line], today: &str) -> bool {
    lines
        .iter()
        .any(|l| l.b.is_some() || l.day.as_str() < today)
}

/// Claims the outgoing lines for a batch (caller holds the lock): if lines
/// are already claimed, returns those; otherwise tags up to `max_lines`
/// outgoing lines with a new batch id in one atomic rewrite.
#[cfg(test)]
pub fn claim(
    state: &StateFiles,
    today: &str,
    max_lines: usize,
) -> Result<Option<(String, Vec<Line>)>, SpoolError> {
    claim_by(state, today, max_lines, &|_: &str| None)
}

/// [`claim`], taking into one batch only lines whose day has the same
/// `period` as the first line taken: a batch carries one machine id, and a
/// rotating id must never join two periods.
pub fn claim_by(
    state: &StateFiles,
    today: &str,
    max_lines: usize,
    period: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<(String, Vec<Line>)>, SpoolError> {
    let parsed = read(state)?;
    let mut lines = parsed.lines;
    if parsed.bad > 0 {
        lines.push(Line::new(today, Row::Dropped, parsed.bad));
    }
    if let Some(id) = lines.iter().find_map(|l| l.b.clone()) {
        let claimed = lines
            .iter()
            .filter(|l| l.b.as_deref() == Some(&id))
            .cloned()
            .collect();
        if parsed.bad > 0 {
            rewrite(state, &merge(lines))?;
        }
        return Ok(Some((id, claimed)));
    }
    if !send_due(&lines, today) {
        if parsed.bad > 0 {
            // Keep the bad lines from looking due again at the next start.
            rewrite(state, &merge(lines))?;
        }
        return Ok(None);
    }
    let mut lines = merge(lines);
    let id = crate::os::random::uuid().to_string();
    let mut taken = Vec::new();
    for i in next_batch(&lines, today, max_lines, period) {
        lines[i].b = Some(id.clone());
        taken.push(lines[i].clone());
    }
    if taken.is_empty() {
        return Ok(None);
    }
    rewrite(state, &lines)?;
    Ok(Some((id, taken)))
}

/// Removes the lines claimed by `batch_id` (after the receiver acknowledged
/// them, or rejected them for good). Caller holds the lock.
pub fn release(state: &StateFiles, batch_id: &str) -> Result<(), SpoolError> {
    let parsed = read(state)?;
    let mut lines: Vec<Line> = parsed
        .lines
        .into_iter()
        .filter(|l| l.b.as_deref() != Some(batch_id))
        .collect();
    if parsed.bad > 0 {
        // Nothing to attribute a day to here; the next compaction counts
        // them again if they are still there, so keep the file as merged.
        lines = merge(lines);
    }
    rewrite(state, &lines)
}

#[cfg(test)]
#[path = "spool_tests.rs"]
mod tests;
