//! The delivery helper: how a CLI whose commands take 2 ms still delivers on
//! the first run after a day completes, without making anyone wait.
//!
//! A send to a real HTTPS endpoint takes 50–300 ms, far longer than a quick
//! command lives, and a thread dies with its process. So when a command
//! ends (tally's exit hook, after the counts are appended) and something is
//! due, tally re-executes the host's own executable as a detached helper
//! with null stdio, the same environment snapshot plus one marker variable
//! that carries the application's identity and locations, and one argument,
//! `--tally-deliver-helper`.
//!
//! # How the helper runs without the host's `main`
//!
//! A constructor in tally's library code, which the platform's loader or C
//! runtime runs before the host's `main`, sees the marker, sends, and ends
//! the process without returning (`_exit`, `TerminateProcess`): the host's
//! `main`, its argument parsing, its atexit handlers and its output never
//! run in the helper. The same few lines cover all three platforms, each
//! with the section its start-up code walks:
//!
//! | platform | section | run by |
//! |---|---|---|
//! | Linux (ELF) | `.init_array` | the dynamic loader / `__libc_start_main` |
//! | macOS (Mach-O) | `__DATA,__mod_init_func` | `dyld` |
//! | Windows (PE) | `.CRT$XCU` | the C runtime's `_initterm`, after its own initialisation (MSVC and mingw-w64 alike) |
//!
//! This was chosen over an explicit call the host makes first in `main`
//! because there is nothing to forget: a host that embeds tally as the
//! README says cannot run its own code in a helper. Without the marker
//! the constructor costs one `getenv`. Two more guards stand behind it,
//! for a platform or a link where the constructor did not run:
//!
//! 1. [`run_if_helper`](crate::deliver::helper_run::run_if_helper) repeats the check at the start of `init()`, so a
//!    host that calls `init()` before doing anything becomes the helper
//!    there;
//! 2. the helper's only argument is `--tally-deliver-helper`, which a host
//!    that parses its arguments first (`Cli::parse()`) rejects as unknown:
//!    it exits with a usage error on the null stderr before any of its own
//!    logic runs. Such a helper delivers nothing, and it is not silent:
//!    the starter leaves `helper.started` in the state directory, which the
//!    helper removes as soon as tally's code runs in it. The next run that
//!    finds it older than the helper's lifetime records "the delivery
//!    helper … never reached `<app>`'s telemetry code" as the last error and a backoff
//!    (both in `telemetry status`), instead of starting a helper on every
//!    run.
//!
//! The helper shows in `ps` and the task manager under the host's own name:
//! `argv[0]` is the host's `argv[0]`, and on Linux, where the image is
//! executed as `/proc/self/exe` (the running file, even if an upgrade
//! replaced it since), the helper renames its thread (`PR_SET_NAME`) after
//! the executable so that `ps` and `top` do not show `exe`.
//!
//! # One at a time, only when due, bounded, silent
//!
//! - **One at a time.** The starting process takes `send.lock` before it
//!   spawns, so no second helper starts while one may be sending. On Unix
//!   it hands the locked descriptor to the helper as fd 3 (`flock` locks
//!   belong to the open file description, so the helper simply owns it and
//!   the kernel releases it when the helper ends, however it ends). On
//!   Windows a `LockFileEx` lock belongs to the handle that took it and
//!   handles are not handed over, so the starter keeps its lock until it
//!   exits and the helper takes the lock itself, waiting up to
//!   `TAKE_LOCK_MS` (2 s) for the starter to be gone. A second starter that
//!   slips into that gap starts a second helper, which waits for the lock
//!   and then finds nothing due: at most one sends.
//! - **Only when due.** Nothing is spawned when telemetry is off, no usable
//!   endpoint is set, the notice has not been shown in an earlier run, a
//!   backoff is in force, or the spool's first line is of today (lines are
//!   in time order, so that means nothing completed is waiting); that check
//!   reads at most 4 KB. The helper resolves consent again from the files
//!   and re-checks it right before each post.
//! - **Bounded.** The sender's own timeouts (1 s connect, 2 s per request),
//!   and the helper ends after [`LIFETIME_SECS`] whatever happens (a DNS
//!   lookup that never returns): `alarm()` on Unix, a watchdog thread that
//!   terminates the process on Windows. A helper killed at any point loses
//!   nothing and doubles nothing: claimed lines keep their batch id until
//!   acknowledged, and a background attempt counts as failed until it ends
//!   (so a dying helper is not restarted on every run).
//! - **Nothing reaches the host.** The helper is a separate process with
//!   null stdio and a silent panic hook; even a `panic = "abort"` host only
//!   loses the helper. On Windows it is created with `DETACHED_PROCESS |
//!   CREATE_NO_WINDOW | CREATE_NEW_PROCESS_GROUP`: no console window
//!   appears, and a Ctrl+C in the host's console does not reach it. On Unix
//!   the starting process pays one `fork` (it does not wait for the exec)
//!   on its way out, and the helper gets a session of its own; a
//!   long-running one (the interval flush) also a thread that reaps the
//!   child.

#[cfg(unix)]
use std::ffi::{CStr, CString};
use std::fs::File;
#[cfg(unix)]
use std::os::fd::AsRawFd;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::consent::app::{AppInfo, DefaultPolicy};
use crate::consent::origin::Origin;
use crate::consent::paths::{Paths, StateFiles};
use crate::consent::rotation::Rotation;
use crate::consent::settings::{self, Flags, Settings};
use crate::deliver::sender::{self, Mode};
use crate::os::clock::{format_day, format_instant};
use crate::os::env::Env;
use crate::os::files;
use crate::os::raw_path;
use crate::record::{spool, state};

/// The environment variable that makes a process the delivery helper.
pub(crate) const MARKER: &str = "__TALLY_DELIVER_HELPER";
#[cfg(unix)]
pub(super) const MARKER_C: &CStr = c"__TALLY_DELIVER_HELPER";
/// The helper's only argument: should the constructor not run, a host that
/// parses its arguments refuses this one instead of doing its work.
const ARG: &str = "--tally-deliver-helper";
/// The descriptor the locked `send.lock` is handed over on.
#[cfg(unix)]
pub(super) const LOCK_FD: libc::c_int = 3;
/// The helper never lives longer than this (seconds).
pub const LIFETIME_SECS: u32 = 6;
/// Windows: how long the helper waits for its starter to release
/// `send.lock` (the starter holds it until it has exited).
#[cfg(windows)]
pub const TAKE_LOCK_MS: u64 = 2000;

/// What the helper needs to resolve the same settings as its starter.
#[derive(Serialize, Deserialize)]
pub(super) struct Spec {
    name: String,
    version: String,
    env_prefix: String,
    opt_out: bool,
    docs_url: Option<String>,
    endpoint: Option<String>,
    #[serde(with = "raw_path::opt")]
    policy_override: Option<PathBuf>,
    command: String,
    rotation: Option<String>,
    #[serde(with = "raw_path::opt")]
    config_file: Option<PathBuf>,
    #[serde(with = "raw_path::opt")]
    legacy_config: Option<PathBuf>,
    #[serde(with = "raw_path::opt")]
    state_dir: Option<PathBuf>,
    #[serde(with = "raw_path")]
    policy_file: PathBuf,
    #[serde(with = "raw_path::opt")]
    extra_policy_file: Option<PathBuf>,
}

impl Spec {
    fn of(s: &Settings) -> Self {
        Spec {
            name: s.app.name.clone(),
            version: s.app.version.clone(),
            env_prefix: s.app.env_prefix.clone(),
            opt_out: s.app.default_policy == DefaultPolicy::OptOut,
            docs_url: s.app.docs_url.clone(),
            endpoint: s.app.endpoint.clone(),
            policy_override: s.app.policy_file.clone(),
            command: s.app.command.clone(),
            rotation: s.app.rotation.map(|r| r.as_str().to_owned()),
            config_file: s.paths.config_file.clone(),
            legacy_config: s.paths.legacy_config.clone(),
            state_dir: s.paths.state_dir.clone(),
            policy_file: s.paths.policy_file.clone(),
            extra_policy_file: s.paths.extra_policy_file.clone(),
        }
    }

    pub(super) fn settings(self, env: Env) -> Settings {
        let app = AppInfo {
            name: self.name,
            version: self.version,
            env_prefix: self.env_prefix,
            default_policy: if self.opt_out {
                DefaultPolicy::OptOut
            } else {
                DefaultPolicy::OptIn
            },
            docs_url: self.docs_url,
            endpoint: self.endpoint,
            policy_file: self.policy_override,
            command: self.command,
            rotation: self.rotation.as_deref().and_then(Rotation::parse),
            declared: Default::default(),
        };
        let paths = Paths {
            config_file: self.config_file,
            legacy_config: self.legacy_config,
            state_dir: self.state_dir,
            state_dir_origin: Origin::Builder,
            policy_file: self.policy_file,
            ignored_policy_file: None,
            extra_policy_file: self.extra_policy_file,
        };
        settings::resolve(app, env, Flags::default(), Some(paths))
    }
}

/// Whether a delivery is due for `s` right now: consent, a usable endpoint,
/// the notice shown in an earlier run, no backoff in force, and a completed
/// day (or an unfinished claim) at the head of the spool.
pub fn due(s: &Settings) -> bool {
    // The user's own collector has its own switch, record and backoff.
    #[cfg(feature = "otlp")]
    if crate::deliver::otlp::worth_trying(s) {
        return true;
    }
    let Some(state) = s.paths.state() else {
        return false;
    };
    // The spool's head first: on most runs nothing is due, and that read
    // alone says so, without checking the endpoint and proxy settings.
    if !spool::head_due(&state, &format_day(s.clock.today())) || sender::gate(s).is_some() {
        return false;
    }
    state::read_backoff(&state).is_none_or(|b| b.until <= s.clock.unix())
}

/// Starts a delivery if one is due: in debug mode by printing the payload
/// here (nothing is sent), otherwise by starting the helper. Returns
/// whether it did. Never waits on the network, never writes to stdout.
/// `exiting`: called from the exit hook, so no thread is needed to reap
/// the helper (it outlives this process).
pub fn start(s: &Settings, exiting: bool) -> bool {
    if !due(s) {
        return false;
    }
    let Some(state) = s.paths.state() else {
        return false;
    };
    if s.debug {
        crate::deliver::deliver_due(s, Mode::Background, None);
        return true;
    }
    if let Some(started) = never_ran(&state) {
        // Visible in `telemetry status`, and backed off like a failed send
        // (1 h, doubling), rather than a helper started on every run.
        let _ = files::remove_if_exists(&state.helper_started());
        let _ = state::record_failure(&state, s.clock.unix(), None);
        state::note_error(
            &state,
            &format_instant(s.clock.now()),
            &format!(
                "the delivery helper started at {started} never reached {}'s telemetry code: the constructor that runs it before main did not run, and main exited before Telemetry::init; nothing was sent",
                s.app.name
            ),
        );
        return false;
    }
    let Ok(lock) = files::open_lock_file(&state.send_lock()) else {
        return false;
    };
    if crate::os::lock::try_lock(&lock).is_err() {
        return false; // a sender is running
    }
    // Before the spawn, so the helper always finds it to remove.
    let _ = files::write_atomic(&state.helper_started(), b"", false);
    match spawn(s, &lock) {
        Ok(child) => {
            if !exiting {
                reap(child);
            }
            // Windows: the helper takes the lock itself once this process
            // is gone; an exiting starter keeps it until then, so no other
            // run starts a helper meanwhile.
            #[cfg(windows)]
            if exiting {
                std::mem::forget(lock);
            }
            true
        }
        Err(e) => {
            state::note_error(
                &state,
                &format_instant(s.clock.now()),
                &format!("could not start the delivery helper: {e}"),
            );
            false
        }
    }
    // Unix: `lock` closes here without unlocking: the helper's copy of the
    // descriptor keeps the lock until the helper ends.
}

/// When `helper.started` (see the module's documentation) was left by a
/// helper that should have ended by now, when that was (RFC 3339, UTC).
/// Its modification time is the real clock's, as is the helper's lifetime.
fn never_ran(state: &StateFiles) -> Option<String> {
    let started = std::fs::symlink_metadata(state.helper_started())
        .ok()?
        .modified()
        .ok()?;
    let age = started.elapsed().ok()?;
    if age <= std::time::Duration::from_secs(LIFETIME_SECS.into()) {
        return None;
    }
    let unix = started
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    Some(crate::os::clock::format_unix(unix as i64))
}

/// Waits for the helper on a thread, so it never lingers as a zombie in a
/// long-running host. A short command simply exits first.
#[cfg(unix)]
fn reap(pid: libc::pid_t) {
    let _ = std::thread::Builder::new()
        .name("tally-reap".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            // SAFETY: waiting for our own child; a null status pointer is allowed.
            unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
        });
}

/// Windows has no zombies: the child's handle was closed at spawn.
#[cfg(windows)]
fn reap(_child: ()) {}

/// The host's name as it was started (its `argv[0]`), for the helper's
/// `argv[0]`: `ps` shows the helper as the host, not as `/proc/self/exe`.
#[cfg(unix)]
fn arg0() -> CString {
    use std::os::unix::ffi::OsStrExt;
    std::env::args_os()
        .next()
        .filter(|a| !a.is_empty())
        .and_then(|a| CString::new(a.as_bytes()).ok())
        .unwrap_or_else(|| c"tally-helper".to_owned())
}

#[cfg(unix)]
fn exe() -> std::io::Result<CString> {
    // The running image itself, even if the file was replaced since (an
    // upgrade in place): the helper is the same program as its starter.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    return Ok(c"/proc/self/exe".to_owned());
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        use std::os::unix::ffi::OsStrExt;
        let p = std::env::current_exe()?;
        CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other)
    }
}

#[cfg(unix)]
fn spawn(s: &Settings, lock: &File) -> std::io::Result<libc::pid_t> {
    let spec = serde_json::to_string(&Spec::of(s)).map_err(std::io::Error::other)?;
    let mut env: Vec<CString> = s
        .env
        .vars()
        .filter(|(k, _)| *k != MARKER)
        .filter_map(|(k, v)| CString::new(format!("{k}={v}")).ok())
        .collect();
    env.push(CString::new(format!("{MARKER}={spec}")).map_err(std::io::Error::other)?);
    let mut envp: Vec<*const libc::c_char> = env.iter().map(|c| c.as_ptr()).collect();
    envp.push(std::ptr::null());
    let exe = exe()?;
    let arg0 = arg0();
    let arg = CString::new(ARG).map_err(std::io::Error::other)?;
    let argv = [arg0.as_ptr(), arg.as_ptr(), std::ptr::null()];
    // SAFETY: every pointer is valid and NUL-terminated for the call's
    // duration (`exe`, `argv`, `env`/`envp` live until it returns).
    unsafe { fork_exec(&exe, &argv, &envp, lock.as_raw_fd()) }
}

/// `fork` and `execve` with stdio on `/dev/null`, `lock_fd` as fd 3, a new
/// session, an empty signal mask and default dispositions for the signals
/// that should end it. Not `posix_spawn`: that suspends the caller until
/// the child has exec'd, which on a busy machine means waiting for the
/// child to be scheduled; after `fork` the caller goes on at once.
#[cfg(unix)]
unsafe fn fork_exec(
    exe: &CStr,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
    lock_fd: libc::c_int,
) -> std::io::Result<libc::pid_t> {
    // SAFETY (whole body): in the child, between fork and exec, only
    // async-signal-safe system calls run, on memory prepared before the
    // fork; nothing allocates or takes a lock.
    unsafe {
        let null = c"/dev/null";
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        let mut dfl: libc::sigaction = std::mem::zeroed();
        dfl.sa_sigaction = libc::SIG_DFL;
        match libc::fork() {
            -1 => Err(std::io::Error::last_os_error()),
            0 => {
                libc::setsid();
                if lock_fd == LOCK_FD {
                    libc::fcntl(LOCK_FD, libc::F_SETFD, 0);
                } else {
                    libc::dup2(lock_fd, LOCK_FD);
                }
                let fd = libc::open(null.as_ptr(), libc::O_RDWR);
                for target in 0..3 {
                    libc::dup2(fd, target);
                }
                if fd > 2 && fd != LOCK_FD {
                    libc::close(fd);
                }
                for sig in [libc::SIGALRM, libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
                    libc::sigaction(sig, &dfl, std::ptr::null_mut());
                }
                libc::pthread_sigmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
                libc::execve(exe.as_ptr(), argv.as_ptr(), envp.as_ptr());
                libc::_exit(127)
            }
            pid => Ok(pid),
        }
    }
}

/// Windows: `CreateProcessW` through std, with the host's executable, null
/// stdio, the environment snapshot plus the marker, and no console: a
/// helper sharing the host's console would be ended when that console
/// closes and gets its Ctrl+C; a console program without one would be
/// given a new console window (`CREATE_NO_WINDOW` says not to). The
/// child's handles are closed at once; the helper outlives this process.
#[cfg(windows)]
fn spawn(s: &Settings, _lock: &File) -> std::io::Result<()> {
    use std::os::windows::process::CommandExt;
    use std::process::{Command, Stdio};
    use windows_sys::Win32::System::Threading::{
        CREATE_NEW_PROCESS_GROUP, CREATE_NO_WINDOW, DETACHED_PROCESS,
    };
    let spec = serde_json::to_string(&Spec::of(s)).map_err(std::io::Error::other)?;
    Command::new(std::env::current_exe()?)
        .arg(ARG)
        .env_clear()
        .envs(s.env.vars().filter(|(k, _)| *k != MARKER))
        .env(MARKER, spec)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .creation_flags(DETACHED_PROCESS | CREATE_NO_WINDOW | CREATE_NEW_PROCESS_GROUP)
        .spawn()
        .map(drop)
}
