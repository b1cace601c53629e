//! The transparent stdio proxy behind `tally run -- <server>`: it spawns
//! an MCP server, forwards every byte between its own stdin/stdout and the
//! server's unchanged and in order, and counts the conversation's tool
//! calls on the side.
//!
//! Two threads forward, one per direction, each reading what is available
//! (up to 64 KiB) and writing it on at once with a plain `write(2)`, so
//! nothing is held back waiting for a line end and a 10 MB message crosses
//! in 64 KiB pieces, never held whole. When telemetry is on, each piece is
//! also fed to a [`Sniffer`] for that direction and the messages it finds go
//! to the shared [`McpSession`]: a client line is sniffed *before* it is
//! written to the server (so its call is in flight before any answer can
//! come back), a server line *after* it was written to the client (so a
//! call is counted only once its answer was delivered). When telemetry is
//! off nothing is sniffed at all: the proxy is two copy loops.
//!
//! Lifecycle: the server's stderr is the proxy's. SIGINT, SIGTERM and SIGHUP
//! sent to the proxy are forwarded to the server (its exit decides the
//! proxy's). When the client closes stdin, the server's stdin is closed and
//! the proxy waits for the server. When the server exits, whatever it wrote
//! is forwarded, calls still in flight are counted `unanswered`, and
//! [`run`] returns the server's exit code (128+N for a server killed by
//! signal N, as shells report it). The proxy writes nothing of its own to
//! stdout.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::mcp::jsonrpc::Message;
use crate::mcp::session::{McpSession, Recorder};
use crate::mcp::sniffer::Sniffer;

/// How much is read and forwarded at a time.
const CHUNK: usize = 64 * 1024;

/// How long, after the server exited, its last output may still take to
/// arrive. Its stdout normally closes with it; a grandchild that inherited
/// the pipe could keep it open forever, and the proxy must still exit.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// The signals forwarded to the server.
pub const FORWARDED_SIGNALS: [i32; 3] = [SIGINT, SIGTERM, SIGHUP];

/// What to run and how to count it.
#[derive(Clone, Debug)]
pub struct Options {
    /// The server program (looked up in `PATH` like a shell does).
    pub program: OsString,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Count calls under their tool names (when they match the schema).
    pub tool_names: bool,
}

/// Why the proxy could not do its job.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The server could not be started.
    #[error("cannot run {program}: {reason}")]
    Spawn {
        /// The program, as given.
        program: String,
        /// What went wrong, in words.
        reason: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// Setting up the proxy itself failed (signal handlers, threads, file
    /// descriptors, waiting for the server).
    #[error("{what}: {source}")]
    Setup {
        /// What was being done.
        what: &'static str,
        /// The error.
        #[source]
        source: io::Error,
    },
}

impl ProxyError {
    /// The exit code a shell would give: 127 when the program was not
    /// found, 126 when it was found but could not be run, 125 when the
    /// proxy itself failed (as `env` does).
    pub fn exit_code(&self) -> i32 {
        match self {
            ProxyError::Spawn { source, .. } if source.kind() == io::ErrorKind::NotFound => 127,
            ProxyError::Spawn { .. } => 126,
            ProxyError::Setup { .. } => 125,
        }
    }
}

fn setup(what: &'static str) -> impl FnOnce(io::Error) -> ProxyError {
    move |source| ProxyError::Setup { what, source }
}

type Shared = Arc<Mutex<McpSession<Recorder>>>;

fn lock(s: &Shared) -> MutexGuard<'_, McpSession<Recorder>> {
    // A panic in the other direction's thread leaves counts that are at
    // worst incomplete; forwarding must go on regardless.
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs the server behind the proxy until it exits, and returns the exit
/// code the proxy should exit with. Counts go to tally's recorder when it
/// is on; the caller persists them (the exit hook does, on
/// `std::process::exit`).
pub fn run(opts: &Options) -> Result<i32, ProxyError> {
    // Handlers first, so a signal that arrives while the server starts is
    // not fatal to the proxy; it is delivered to the server once it runs.
    let signals = Signals::new(FORWARDED_SIGNALS).map_err(setup("installing signal handlers"))?;
    // Our own stdio as plain files: unbuffered, and free of the std locks
    // that the caller may hold on stdout.
    let client_in = dup(io::stdin().as_fd(), "duplicating stdin")?;
    let client_out = dup(io::stdout().as_fd(), "duplicating stdout")?;

    let mut child = spawn(opts)?;
    let session: Option<Shared> = tally_telemetry::is_recording().then(|| {
        Arc::new(Mutex::new(McpSession::new(
            Recorder,
            opts.tool_names,
            Instant::now(),
        )))
    });
    let reaped = Arc::new(Mutex::new(false));
    forward_signals(signals, child.id(), Arc::clone(&reaped))?;

    let to_server = child.stdin.take();
    let from_server = child.stdout.take();
    let s = session.clone();
    thread::Builder::new()
        .name("tally-c2s".into())
        .spawn(move || client_to_server(client_in, to_server, s))
        .map_err(setup("starting a thread"))?;
    let (done_tx, done_rx) = mpsc::channel();
    let s = session.clone();
    let names = opts.tool_names;
    thread::Builder::new()
        .name("tally-s2c".into())
        .spawn(move || {
            server_to_client(from_server, client_out, s, names);
            let _ = done_tx.send(());
        })
        .map_err(setup("starting a thread"))?;

    let status = wait(&mut child, &reaped)?;
    // The server's last words: its stdout closes when it exits, unless a
    // process it left behind holds it open.
    let _ = done_rx.recv_timeout(DRAIN_GRACE);
    if let Some(s) = &session {
        lock(s).end(Instant::now());
    }
    Ok(exit_code(status))
}

fn dup(fd: std::os::fd::BorrowedFd<'_>, what: &'static str) -> Result<File, ProxyError> {
    fd.try_clone_to_owned().map(File::from).map_err(setup(what))
}

fn spawn(opts: &Options) -> Result<Child, ProxyError> {
    Command::new(&opts.program)
        .args(&opts.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|source| {
            let reason = match source.kind() {
                io::ErrorKind::NotFound => "command not found".to_owned(),
                io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
                _ => source.to_string(),
            };
            ProxyError::Spawn {
                program: opts.program.to_string_lossy().into_owned(),
                reason,
                source,
            }
        })
}

/// Forwards the proxy's signals to the server until it has been reaped.
/// Reaping happens under the same lock, so a signal can never reach a
/// recycled process id.
fn forward_signals(
    mut signals: Signals,
    pid: u32,
    reaped: Arc<Mutex<bool>>,
) -> Result<(), ProxyError> {
    let pid = pid as libc::pid_t;
    thread::Builder::new()
        .name("tally-signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                let gone = reaped.lock().unwrap_or_else(|e| e.into_inner());
                if !*gone {
                    // SAFETY: kill(2) with a pid we spawned and have not yet
                    // reaped (checked under the lock), and a valid signal.
                    unsafe {
                        libc::kill(pid, sig);
                    }
                }
            }
        })
        .map(|_| ())
        .map_err(setup("starting the signal thread"))
}

/// Waits for the server to exit, marks it reaped for the signal thread,
/// and reaps it.
fn wait(child: &mut Child, reaped: &Mutex<bool>) -> Result<ExitStatus, ProxyError> {
    let pid = child.id() as libc::id_t;
    loop {
        // SAFETY: an all-zero siginfo_t is a valid value to be filled in.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid on our own child with a valid out pointer; WNOWAIT
        // leaves it a zombie, so its pid cannot be reused before we reap.
        let r = unsafe { libc::waitid(libc::P_PID, pid, &mut info, libc::WEXITED | libc::WNOWAIT) };
        if r == 0 {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(ProxyError::Setup {
                what: "waiting for the server",
                source: e,
            });
        }
    }
    let mut gone = reaped.lock().unwrap_or_else(|e| e.into_inner());
    *gone = true;
    child.wait().map_err(setup("reaping the server"))
}

/// The exit code for a server's status: its own, or 128+N when a signal N
/// killed it.
pub fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// Reads until EOF or an error other than an interrupted call.
fn read_some(from: &mut impl Read, buf: &mut [u8]) -> Option<usize> {
    loop {
        match from.read(buf) {
            Ok(0) => return None,
            Ok(n) => return Some(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

/// A direction's sniffer and the messages it found in the current chunk.
struct Tap {
    session: Shared,
    sniffer: Sniffer,
    found: Vec<Message>,
}

impl Tap {
    fn new(session: Option<Shared>) -> Option<Self> {
        session.map(|session| Tap {
            session,
            sniffer: Sniffer::new(),
            found: Vec::new(),
        })
    }

    /// Sniffs a chunk and hands what it completed to `each` under the lock.
    /// Returns `false` once telemetry was turned off during the run (the
    /// exit hook or a flush saw `telemetry off`): from then on there is
    /// nothing to count, and the direction goes back to a plain copy.
    fn feed(
        &mut self,
        chunk: &[u8],
        each: fn(&mut McpSession<Recorder>, &Message, Instant),
    ) -> bool {
        if !self.sniff(chunk) {
            return false;
        }
        self.hand(each);
        self.found.clear();
        true
    }

    /// Sniffs a chunk, keeping what it completed; `false` as for `feed`.
    fn sniff(&mut self, chunk: &[u8]) -> bool {
        if !tally_telemetry::is_recording() {
            return false;
        }
        self.sniffer.feed(chunk, &mut self.found);
        true
    }

    /// Hands the messages found so far to `each` under the lock.
    fn hand(&mut self, each: fn(&mut McpSession<Recorder>, &Message, Instant)) {
        if self.found.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut s = lock(&self.session);
        for m in &self.found {
            each(&mut s, m, now);
        }
    }
}

fn client_to_server(mut from: File, to: Option<ChildStdin>, session: Option<Shared>) {
    let mut tap = Tap::new(session);
    let mut to = to;
    let mut buf = vec![0u8; CHUNK];
    while let Some(n) = read_some(&mut from, &mut buf) {
        let chunk = &buf[..n];
        if let Some(t) = &mut tap
            && !t.feed(chunk, McpSession::from_client)
        {
            tap = None;
        }
        if let Some(w) = &mut to
            && w.write_all(chunk).is_err()
        {
            // The server stopped reading (it is exiting, most likely). Keep
            // draining the client so it never blocks on a full pipe; the
            // proxy exits with the server.
            to = None;
        }
    }
    // The client closed its side: so do we, and the server sees EOF. A last
    // line without its newline is no message (MCP delimits by newline), so
    // nothing more is counted.
    drop(to);
}

fn server_to_client(
    from: Option<ChildStdout>,
    mut to: File,
    session: Option<Shared>,
    tool_names: bool,
) {
    let Some(mut from) = from else { return };
    let mut tap = Tap::new(session);
    let mut buf = vec![0u8; CHUNK];
    while let Some(n) = read_some(&mut from, &mut buf) {
        let chunk = &buf[..n];
        // With tool names on, sniffed before the write: the names a
        // tools/list result declares are learnt before the client can call
        // them. Without, after: sniffing never delays the client.
        if tool_names && let Some(t) = &mut tap {
            if t.sniff(chunk) {
                t.hand(McpSession::before_server);
            } else {
                tap = None;
            }
        }
        if to.write_all(chunk).is_err() {
            // The client is gone. Dropping the server's stdout on return
            // lets the server see that too (EPIPE), as it would without us.
            return;
        }
        // Written with write(2) on an unbuffered file: delivered to the
        // client's pipe, so the calls it answers may count now.
        if !tool_names
            && let Some(t) = &mut tap
            && !t.sniff(chunk)
        {
            tap = None;
        }
        if let Some(t) = &mut tap {
            t.hand(McpSession::from_server);
            t.found.clear();
        }
    }
}
