//! The in-memory counters behind every `record_*` call.
//!
//! Recording is the only part of tally on the host's hot path, so it does no
//! I/O and makes no system calls: a relaxed atomic load when telemetry is
//! off, and an uncontended mutex plus one hash-map update when it is on.
//! Counts are attributed to a UTC day when they are persisted (at exit, or
//! on the long-running flush, which also wakes at midnight).
//!
//! Distinct names are capped per map ([`MAX_NAMES`]) between drains, so at
//! most a day's worth: a client calling thousands of made-up tool names
//! cannot grow memory or the spool. A call to a new name past the cap is
//! counted in `overflow`, persisted as `dropped`. The check is one length
//! comparison on the path that would allocate anyway; the common path (a
//! name already seen) is unchanged.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard};
use std::time::Duration;

use crate::schema::{
    self, COMMAND_OUTCOMES, CommandOutcome, ErrorClass, LATENCY_BUCKETS, LifecycleKind, Outcome,
};

/// Maps keyed by short strings on the hot path: ordered maps, not hash maps.
/// With at most [`MAX_NAMES`] keys a lookup is a handful of short string
/// comparisons, about what hashing the key would cost; it needs no random
/// seed (std's `RandomState` asks the OS for one, a system call on the first
/// record), cannot be flooded by a peer choosing colliding tool names, and
/// drains in a stable order.
type Map<K, V> = BTreeMap<K, V>;

/// How one MCP tool call ended, as the recorder takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CallOutcome {
    /// A result without `isError`.
    Ok,
    /// A result with `isError: true`.
    ToolError,
    /// A JSON-RPC error response, by code class.
    ProtocolError(ErrorClass),
    /// Cancelled by the client (`notifications/cancelled`).
    Cancelled,
    /// Still pending when the session ended.
    Unanswered,
}

/// Slots per tool: ok, tool_error, 7 protocol-error classes, cancelled,
/// unanswered.
const SLOTS: usize = 11;

/// The words of [`CallOutcome::from_word`], in slot order.
const CALL_WORDS: [&str; SLOTS] = [
    "ok",
    "tool_error",
    "parse_error",
    "invalid_request",
    "method_not_found",
    "invalid_params",
    "internal_error",
    "server_error",
    "protocol_error",
    "cancelled",
    "unanswered",
];

impl CallOutcome {
    /// The outcome a word names, the one vocabulary of the bindings and
    /// hosts: `ok`, `tool_error`, `cancelled`, `unanswered`, and for a
    /// JSON-RPC error `parse_error`, `invalid_request`, `method_not_found`,
    /// `invalid_params`, `internal_error`, `server_error` or
    /// `protocol_error` (any other code).
    pub fn from_word(word: &str) -> Option<CallOutcome> {
        CALL_WORDS
            .iter()
            .position(|w| *w == word)
            .map(CallOutcome::from_slot)
    }

    /// The words [`from_word`](Self::from_word) accepts.
    pub fn words() -> &'static [&'static str] {
        &CALL_WORDS
    }

    fn slot(self) -> usize {
        match self {
            CallOutcome::Ok => 0,
            CallOutcome::ToolError => 1,
            CallOutcome::ProtocolError(c) => 2 + c as usize,
            CallOutcome::Cancelled => 9,
            CallOutcome::Unanswered => 10,
        }
    }

    fn from_slot(slot: usize) -> Self {
        const CLASSES: [ErrorClass; 7] = [
            ErrorClass::Parse,
            ErrorClass::InvalidRequest,
            ErrorClass::MethodNotFound,
            ErrorClass::InvalidParams,
            ErrorClass::Internal,
            ErrorClass::ServerDefined,
            ErrorClass::Other,
        ];
        match slot {
            0 => CallOutcome::Ok,
            1 => CallOutcome::ToolError,
            2..=8 => CallOutcome::ProtocolError(CLASSES[slot - 2]),
            9 => CallOutcome::Cancelled,
            _ => CallOutcome::Unanswered,
        }
    }

    /// The schema's outcome and error class.
    pub(crate) fn parts(self) -> (Outcome, Option<ErrorClass>) {
        match self {
            CallOutcome::Ok => (Outcome::Ok, None),
            CallOutcome::ToolError => (Outcome::ToolError, None),
            CallOutcome::ProtocolError(c) => (Outcome::ProtocolError, Some(c)),
            CallOutcome::Cancelled => (Outcome::Cancelled, None),
            CallOutcome::Unanswered => (Outcome::Unanswered, None),
        }
    }
}

/// Count and latency histogram of one (tool, outcome).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallStats {
    /// Calls.
    pub count: u64,
    /// Calls per latency bucket.
    pub latency: [u64; LATENCY_BUCKETS],
}

/// Slots per command: one per [`CommandOutcome`].
pub const COMMAND_SLOTS: usize = COMMAND_OUTCOMES.len();

/// The command outcomes in slot order.
pub const COMMAND_OUTCOME_SLOTS: [CommandOutcome; COMMAND_SLOTS] = [
    CommandOutcome::Success,
    CommandOutcome::Failure,
    CommandOutcome::UsageError,
    CommandOutcome::Interrupted,
    CommandOutcome::Unknown,
];

/// A point on a monotonic clock, as a duration since an arbitrary origin.
///
/// Command durations go into buckets of 100 ms and up, so the recorder reads
/// the coarse monotonic clock (a few nanoseconds from the vDSO, updated
/// every tick) rather than the precise one, which would be most of a
/// `record_command`'s budget.
#[derive(Clone, Copy, Debug)]
struct Tick(Duration);

impl Tick {
    #[cfg(target_os = "linux")]
    fn now() -> Tick {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC_COARSE
        // exists on every Linux since 2.6.32 and cannot fail with it.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
        Tick(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
    }

    #[cfg(not(target_os = "linux"))]
    fn now() -> Tick {
        static ORIGIN: LazyLock<std::time::Instant> = LazyLock::new(std::time::Instant::now);
        Tick(ORIGIN.elapsed())
    }

    fn since(self, earlier: Tick) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

/// The command that started last and has not said how it ended.
#[derive(Debug)]
pub struct Running {
    path: Box<str>,
    /// The declared argument's value, for a command the host declared one
    /// for (`Builder::record_value`).
    value: Option<Box<str>>,
    started: Tick,
}

/// Everything recorded since the last drain.
#[derive(Debug, Default)]
pub struct Counters {
    /// Command path → per-outcome count and duration histogram (in
    /// [`CallStats::latency`]).
    pub commands: Map<Box<str>, [CallStats; COMMAND_SLOTS]>,
    /// (command path, declared argument's value) → the same, for runs of a
    /// command whose host declared a recorded value. Apart from
    /// `commands` so that no string a host passes to [`record_command`]
    /// can become a value: only the library's clap reader fills it.
    pub valued: Map<(Box<str>, Box<str>), [CallStats; COMMAND_SLOTS]>,
    /// The command run in progress; not drained until it finishes (or the
    /// process exits, see [`close_running`]).
    pub running: Option<Running>,
    /// Tool name (empty when names are not recorded) → per-outcome stats.
    pub tools: Map<Box<str>, [CallStats; SLOTS]>,
    /// (client, major version) → sessions.
    pub clients: Map<(&'static str, Option<u64>), u64>,
    /// Lifecycle events.
    pub lifecycle: Map<LifecycleKind, u64>,
    /// Facts (field name → value), the latest value wins.
    pub facts: Map<&'static str, String>,
    /// Records of new command or tool names past [`MAX_NAMES`], folded into
    /// one count that is sent as `dropped`.
    pub overflow: u64,
}

/// Most distinct command paths, and most distinct tool names, kept between
/// two drains (a drain happens at least daily).
pub const MAX_NAMES: usize = 256;

impl Counters {
    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.running.is_none()
            && self.commands.is_empty()
            && self.valued.is_empty()
            && self.tools.is_empty()
            && self.clients.is_empty()
            && self.lifecycle.is_empty()
            && self.facts.is_empty()
            && self.overflow == 0
    }

    /// Command statistics as (path, value, outcome, stats), skipping
    /// empty slots.
    pub fn command_rows(
        &self,
    ) -> impl Iterator<Item = (&str, Option<&str>, CommandOutcome, &CallStats)> {
        let plain = self.commands.iter().map(|(p, s)| (&**p, None, s));
        let valued = self.valued.iter().map(|((p, v), s)| (&**p, Some(&**v), s));
        plain.chain(valued).flat_map(|(path, value, slots)| {
            slots
                .iter()
                .zip(COMMAND_OUTCOME_SLOTS)
                .filter(|(s, _)| s.count > 0)
                .map(move |(s, o)| (path, value, o, s))
        })
    }

    /// Counts the running command as ended with `outcome` at `now`.
    fn finish_running(&mut self, outcome: CommandOutcome, now: Tick) {
        if let Some(run) = self.running.take() {
            self.count_run(
                &run.path,
                run.value.as_deref(),
                outcome,
                now.since(run.started),
            );
        }
    }

    /// Counts one run of `path` (with the declared argument's `value`, if
    /// any); allocates only the first time a path (or pair) is seen.
    fn count_run(
        &mut self,
        path: &str,
        value: Option<&str>,
        outcome: CommandOutcome,
        took: Duration,
    ) {
        let bucket = schema::duration_bucket(took);
        let bump = |slots: &mut [CallStats; COMMAND_SLOTS]| {
            let s = &mut slots[outcome as usize];
            s.count += 1;
            s.latency[bucket] += 1;
        };
        let full = self.commands.len() + self.valued.len() >= MAX_NAMES;
        match value {
            None => {
                if let Some(slots) = self.commands.get_mut(path) {
                    bump(slots);
                } else if !full {
                    bump(self.commands.entry(path.into()).or_default());
                } else {
                    self.overflow += 1;
                }
            }
            Some(v) => {
                let key = (Box::from(path), Box::from(v));
                if let Some(slots) = self.valued.get_mut(&key) {
                    bump(slots);
                } else if !full {
                    bump(self.valued.entry(key).or_default());
                } else {
                    self.overflow += 1;
                }
            }
        }
    }

    /// Tool statistics as (name, outcome, stats) triples, skipping empty slots.
    pub fn tool_rows(&self) -> impl Iterator<Item = (&str, CallOutcome, &CallStats)> {
        self.tools.iter().flat_map(|(name, slots)| {
            slots
                .iter()
                .enumerate()
                .filter(|(_, s)| s.count > 0)
                .map(move |(i, s)| (&**name, CallOutcome::from_slot(i), s))
        })
    }
}

static ENABLED: AtomicBool = AtomicBool::new(false);
static COUNTERS: LazyLock<Mutex<Counters>> = LazyLock::new(|| Mutex::new(Counters::default()));

fn counters() -> MutexGuard<'static, Counters> {
    // A panic while holding the lock cannot leave the maps inconsistent in a
    // way that matters for counting, so a poisoned lock is simply reused.
    COUNTERS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Turns recording on or off for the whole process.
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Release);
}

/// Whether this process records: telemetry resolved on by
/// [`Builder::init`](crate::Builder::init) and not turned off since.
#[inline]
pub fn is_enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Starts counting one run of a command, by its subcommand path
/// (`config otel get`). The run is counted when [`finish_command`] says how
/// it ended; a run still open when the next one starts, or when the process
/// exits, is counted as [`CommandOutcome::Unknown`].
#[inline]
pub fn record_command(path: &str) {
    start_command(path, None);
}

/// [`record_command`] with the value of the argument the host declared for
/// this command (`Builder::record_value`), already checked against the
/// argument's closed set by the caller (`host::values`). Not public: a
/// host cannot hand it a string of its own.
pub(crate) fn record_command_value(path: &str, value: &str) {
    start_command(path, Some(value));
}

#[inline]
fn start_command(path: &str, value: Option<&str>) {
    if !is_enabled() {
        return;
    }
    let now = Tick::now();
    let mut c = counters();
    match c.running.take() {
        // The same command again (a REPL, a benchmark): keep the path's
        // allocation.
        Some(mut run) if *run.path == *path && run.value.as_deref() == value => {
            c.count_run(path, value, CommandOutcome::Unknown, now.since(run.started));
            run.started = now;
            c.running = Some(run);
        }
        previous => {
            if let Some(run) = previous {
                c.count_run(
                    &run.path,
                    run.value.as_deref(),
                    CommandOutcome::Unknown,
                    now.since(run.started),
                );
            }
            c.running = Some(Running {
                path: path.into(),
                value: value.map(Box::from),
                started: now,
            });
        }
    }
}

/// Counts the command run that [`record_command`] started as ended with
/// `outcome`, with its duration. Does nothing when no run is open.
pub fn finish_command(outcome: CommandOutcome) {
    if !is_enabled() {
        return;
    }
    let now = Tick::now();
    counters().finish_running(outcome, now);
}

/// Counts a run still open as [`CommandOutcome::Unknown`]: at exit, where
/// nothing will finish it.
pub fn close_running() {
    let now = Tick::now();
    let mut c = counters();
    if is_enabled() {
        c.finish_running(CommandOutcome::Unknown, now);
    } else {
        // Turned off since the run started (`telemetry off` in another
        // process): the run is not counted, and nothing is written for it.
        c.running = None;
    }
}

/// Counts one MCP tool call. Pass `""` as the name to count the outcome only.
/// Sent only when the host declared
/// [`Builder::tool_calls`](crate::Builder::tool_calls); otherwise left out
/// when the counts are appended, and `telemetry status` says so.
#[inline]
pub fn record_tool_call(name: &str, outcome: CallOutcome, duration: Duration) {
    if !is_enabled() {
        return;
    }
    let bucket = schema::latency_bucket(duration);
    let mut c = counters();
    let slot = outcome.slot();
    if let Some(slots) = c.tools.get_mut(name) {
        slots[slot].count += 1;
        slots[slot].latency[bucket] += 1;
        return;
    }
    // A new name: the only path that allocates, and the only one that
    // checks the cap.
    if c.tools.len() >= MAX_NAMES {
        c.overflow += 1;
        return;
    }
    let slots = c.tools.entry(name.into()).or_default();
    slots[slot].count += 1;
    slots[slot].latency[bucket] += 1;
}

/// Counts one MCP session from a client, given `initialize`'s
/// `clientInfo.name` and `.version`; the name is mapped onto the schema's
/// allowlist (anything else is `other`) and only the major version is kept.
/// Like tool calls, sent only when the host declared
/// [`Builder::tool_calls`](crate::Builder::tool_calls).
pub fn record_client(name: &str, version: &str) {
    if !is_enabled() {
        return;
    }
    let key = (schema::client_name(name), schema::major_version(version));
    *counters().clients.entry(key).or_default() += 1;
}

/// Counts a lifecycle event (install, uninstall, upgrade).
pub fn record_lifecycle(kind: LifecycleKind) {
    if !is_enabled() {
        return;
    }
    *counters().lifecycle.entry(kind).or_default() += 1;
}

/// Sets a deployment fact for today. `name` must be a field of the schema's
/// `facts` event and `value` allowed for it (`"true"`/`"false"` for flags);
/// returns `false`, recording nothing, otherwise. Sent only when the host
/// declared [`Builder::facts`](crate::Builder::facts).
pub fn set_fact(name: &str, value: &str) -> bool {
    let Some(field) = fact_field(name) else {
        return false;
    };
    if !fact_value_ok(&field.kind, value) {
        return false;
    }
    if is_enabled() {
        counters().facts.insert(field.name, value.to_owned());
    }
    true
}

/// The schema field for a fact name (every `facts` field but `day`).
pub fn fact_field(name: &str) -> Option<&'static schema::Field> {
    schema::event_def("facts")?
        .fields
        .iter()
        .find(|f| f.name == name && f.name != "day")
}

/// Whether `value` is allowed for a fact of this kind.
pub fn fact_value_ok(kind: &schema::Kind, value: &str) -> bool {
    match kind {
        schema::Kind::Enum(allowed) => allowed.contains(&value),
        schema::Kind::Str(p) => p.matches(value),
        schema::Kind::Bool => value == "true" || value == "false",
        _ => false,
    }
}

/// Takes everything recorded so far, leaving the counters empty but for a
/// command run still in progress, which stays to be finished.
pub fn drain() -> Counters {
    let mut c = counters();
    let running = c.running.take();
    let out = std::mem::take(&mut *c);
    c.running = running;
    out
}

/// Puts drained counts back (after a failed write, so a later flush can
/// try again).
pub fn restore(old: Counters) {
    let mut c = counters();
    for (k, slots) in old.commands {
        add_stats(c.commands.entry(k).or_default(), &slots);
    }
    for (k, slots) in old.valued {
        add_stats(c.valued.entry(k).or_default(), &slots);
    }
    for (k, slots) in old.tools {
        add_stats(c.tools.entry(k).or_default(), &slots);
    }
    for (k, v) in old.clients {
        *c.clients.entry(k).or_default() += v;
    }
    for (k, v) in old.lifecycle {
        *c.lifecycle.entry(k).or_default() += v;
    }
    for (k, v) in old.facts {
        c.facts.entry(k).or_insert(v);
    }
    c.overflow += old.overflow;
}

fn add_stats(mine: &mut [CallStats], other: &[CallStats]) {
    for (m, o) in mine.iter_mut().zip(other) {
        m.count += o.count;
        for (a, b) in m.latency.iter_mut().zip(o.latency) {
            *a += b;
        }
    }
}

#[cfg(test)]
#[path = "recorder_tests.rs"]
mod tests;
