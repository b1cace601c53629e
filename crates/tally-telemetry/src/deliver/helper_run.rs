//! The delivery helper's own side (see `helper.rs` for why and when one is
//! started): the constructor that runs before the host's `main` and, in a
//! process started with the marker, delivers and ends the process without
//! returning; the fallback check in `init()`; the lifetime bound, the name
//! `ps` shows, and taking over `send.lock` from the starter.

#[cfg(any(target_os = "linux", target_os = "android"))]
use std::ffi::CString;
use std::fs::File;
#[cfg(unix)]
use std::os::fd::FromRawFd;

use crate::consent::paths::StateFiles;
#[cfg(windows)]
use crate::deliver::helper::TAKE_LOCK_MS;
use crate::deliver::helper::{LIFETIME_SECS, MARKER, Spec};
#[cfg(unix)]
use crate::deliver::helper::{LOCK_FD, MARKER_C};
use crate::deliver::sender::Mode;
use crate::os::env::Env;
use crate::os::files;

// The helper's entry point: run before `main` in every program that links
// tally (see the module's table). Without the marker it costs one
// `getenv`.
#[used]
#[cfg_attr(
    any(
        target_os = "linux",
        target_os = "android",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd"
    ),
    unsafe(link_section = ".init_array")
)]
#[cfg_attr(
    target_vendor = "apple",
    unsafe(link_section = "__DATA,__mod_init_func")
)]
#[cfg_attr(windows, unsafe(link_section = ".CRT$XCU"))]
static ENTRY: extern "C" fn() = entry;

extern "C" fn entry() {
    if marker_set() && !entry_disabled_by_test() {
        run_and_exit()
    }
}

/// Debug builds only: `__TALLY_TEST_NO_HELPER_ENTRY` makes the helper run
/// the host's `main` as if neither the constructor nor `init()` ran, so
/// the tests can check that such a helper fails safe and is reported.
fn entry_disabled_by_test() -> bool {
    cfg!(debug_assertions) && std::env::var_os("__TALLY_TEST_NO_HELPER_ENTRY").is_some()
}

#[cfg(unix)]
fn marker_set() -> bool {
    // SAFETY: a NUL-terminated name; before `main` no other thread exists
    // that could be changing the environment.
    !unsafe { libc::getenv(MARKER_C.as_ptr()) }.is_null()
}

/// Windows: std reads the process environment block directly
/// (`GetEnvironmentVariableW`), which is ready before the C runtime runs
/// its constructors.
#[cfg(windows)]
fn marker_set() -> bool {
    std::env::var_os(MARKER).is_some()
}

#[cfg(not(any(unix, windows)))]
fn marker_set() -> bool {
    false
}

/// Becomes the helper (and never returns) when `env` carries the marker: the
/// fallback for a platform where the constructor does not run, for hosts
/// that call `init()` first thing in `main`.
pub fn run_if_helper(env: &Env) {
    if env.get(MARKER).is_some() && !entry_disabled_by_test() {
        run_and_exit()
    }
}

fn run_and_exit() -> ! {
    #[cfg(unix)]
    // SAFETY: alarm and close have no memory-safety preconditions; the
    // descriptors closed are ones this fresh process inherited by accident
    // (a host's descriptor without close-on-exec), never one it uses.
    unsafe {
        libc::alarm(LIFETIME_SECS);
        close_from(LOCK_FD + 1);
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    name_after_executable();
    #[cfg(windows)]
    watchdog();
    std::panic::set_hook(Box::new(|_| {}));
    let _ = std::panic::catch_unwind(run);
    exit_now()
}

/// Ends the process without the host's atexit handlers.
#[cfg(unix)]
fn exit_now() -> ! {
    // SAFETY: `_exit` has no preconditions.
    unsafe { libc::_exit(0) }
}

/// Ends the process without the host's atexit handlers, the C runtime's
/// cleanup or DLL detach notifications (nothing of the host ran).
#[cfg(windows)]
fn exit_now() -> ! {
    use windows_sys::Win32::System::Threading::{GetCurrentProcess, TerminateProcess};
    // SAFETY: the pseudo-handle of this process; terminating it does not
    // return.
    unsafe { TerminateProcess(GetCurrentProcess(), 0) };
    loop {
        std::thread::park();
    }
}

#[cfg(not(any(unix, windows)))]
fn exit_now() -> ! {
    std::process::exit(0)
}

/// Windows has no `alarm`: a thread that ends the helper after
/// [`LIFETIME_SECS`], whatever the sender is doing.
#[cfg(windows)]
fn watchdog() {
    let _ = std::thread::Builder::new()
        .name("tally-watchdog".into())
        .stack_size(64 * 1024)
        .spawn(|| {
            std::thread::sleep(std::time::Duration::from_secs(LIFETIME_SECS.into()));
            exit_now()
        });
}

/// Linux: executed as `/proc/self/exe`, the helper's name (`comm`, what
/// `ps` and `top` show) would be `exe`; it takes the executable's name.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn name_after_executable() {
    use std::os::unix::ffi::OsStrExt;
    let Ok(exe) = std::fs::read_link("/proc/self/exe") else {
        return;
    };
    let Some(name) = exe.file_name() else {
        return;
    };
    // An upgraded or removed executable reads as "name (deleted)"; the
    // kernel keeps 15 bytes of the rest.
    let bytes = name.as_bytes();
    let bytes = bytes.strip_suffix(b" (deleted)").unwrap_or(bytes);
    let Ok(name) = CString::new(&bytes[..bytes.len().min(15)]) else {
        return;
    };
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
    unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr()) };
}

#[cfg(unix)]
unsafe fn close_from(first: libc::c_int) {
    // SAFETY: see the caller.
    unsafe {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            0,
        ) == 0
        {
            return;
        }
        for fd in first..1024 {
            libc::close(fd);
        }
    }
}

fn run() {
    let Ok(json) = std::env::var(MARKER) else {
        return;
    };
    let Ok(spec) = serde_json::from_str::<Spec>(&json) else {
        return;
    };
    // `vars()` would panic on a variable that is not UTF-8; such ones are
    // left out, as `Env::from_process` does.
    let env = Env::from_pairs(std::env::vars_os().filter_map(|(k, v)| {
        let (k, v) = (k.into_string().ok()?, v.into_string().ok()?);
        (k != MARKER).then_some((k, v))
    }));
    let mut s = spec.settings(env);
    // tally's code runs in the helper: the starter's breadcrumb goes.
    if let Some(state) = s.paths.state() {
        let _ = files::remove_if_exists(&state.helper_started());
    }
    if crate::deliver::testing::helper_delay(&s) {
        // Consent as it is now, not as it was before the test's pause.
        s = s.reresolve();
    }
    let Some(state) = s.paths.state() else {
        return;
    };
    // After `telemetry off` the lock file is gone and nothing is touched.
    #[cfg(unix)]
    let Some(lock) = adopt_lock(&state) else {
        return;
    };
    #[cfg(windows)]
    let Some(lock) = take_lock(&state) else {
        return;
    };
    crate::deliver::deliver_due(&s, Mode::Background, Some(lock));
}

/// Fd 3, if it is this state directory's `send.lock` (same device and
/// inode) and holds the lock; anything else is not ours to use.
#[cfg(unix)]
// `st_dev` and `st_ino` are u64 on Linux, but not everywhere (macOS has an
// i32 `st_dev`), so the casts stay.
#[allow(clippy::unnecessary_cast)]
fn adopt_lock(state: &StateFiles) -> Option<File> {
    use std::os::unix::fs::MetadataExt;
    let expected = std::fs::symlink_metadata(state.send_lock()).ok()?;
    // SAFETY: fstat on a descriptor number writes only into `st`.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(LOCK_FD, &mut st) } != 0
        || st.st_dev as u64 != expected.dev()
        || st.st_ino as u64 != expected.ino()
    {
        return None;
    }
    // SAFETY: fd 3 is open (fstat succeeded), refers to our lock file, and
    // nothing else in this process owns it.
    let file = unsafe { File::from_raw_fd(LOCK_FD) };
    // SAFETY: sets close-on-exec on a descriptor we now own.
    unsafe { libc::fcntl(LOCK_FD, libc::F_SETFD, libc::FD_CLOEXEC) };
    // The same open file description as the starter's lock: this succeeds
    // if and only if the lock was handed over.
    crate::os::lock::try_lock(&file).ok()?;
    Some(file)
}

/// Windows: `send.lock`, locked by this process once the starter (which
/// holds it until it exits) is gone; `None` if it does not exist (after
/// `telemetry off`), is not a regular file of ours, or stays locked for
/// [`TAKE_LOCK_MS`] (another sender is running).
#[cfg(windows)]
fn take_lock(state: &StateFiles) -> Option<File> {
    use std::time::{Duration, Instant};
    std::fs::symlink_metadata(state.send_lock()).ok()?;
    let file = files::open_lock_file(&state.send_lock()).ok()?;
    let deadline = Instant::now() + Duration::from_millis(TAKE_LOCK_MS);
    loop {
        if crate::os::lock::try_lock(&file).is_ok() {
            return Some(file);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
