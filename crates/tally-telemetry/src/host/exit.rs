//! The process-wide runtime behind a [`Telemetry`](crate::Telemetry)
//! handle: what the exit hook needs, the hook itself (libc's `atexit`, and
//! on Windows a fiber-local-storage callback, since `std::process::exit`
//! there is `ExitProcess`, which skips the atexit table), and the append of
//! a run's counts to the spool that it, the interval flush and the
//! `telemetry …` commands make.

use std::sync::{Arc, Mutex, OnceLock};

use crate::consent::config::{self, Generation};
use crate::consent::settings::Settings;
use crate::deliver::helper;
use crate::os::clock::{format_day, format_instant};
use crate::record::recorder;
use crate::record::rollup;
use crate::record::spool;
use crate::record::state;

/// The process-wide state the exit hook needs.
struct Runtime {
    settings: Arc<Settings>,
    generation: Mutex<Option<Generation>>,
    /// Whether the exit hook may start a delivery helper.
    deliver_at_exit: bool,
}

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

pub(crate) fn activate(s: &Arc<Settings>, deliver_at_exit: bool) {
    let first = RUNTIME
        .set(Runtime {
            settings: Arc::clone(s),
            generation: Mutex::new(s.paths.config_file.as_deref().and_then(config::generation)),
            deliver_at_exit,
        })
        .is_ok();
    recorder::set_enabled(true);
    if first {
        // SAFETY: registering a plain `extern "C"` function with no captured
        // state; it is safe to call at any point of process exit.
        unsafe {
            libc::atexit(at_exit);
        }
        #[cfg(windows)]
        hook_exit_process();
    }
}

extern "C" fn at_exit() {
    // Once: on Windows both the C runtime's atexit table and the
    // ExitProcess callback (see `hook_exit_process`) lead here.
    static RAN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if RAN.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return;
    }
    // A panic must not unwind into libc, nor print on the host's stderr;
    // whatever fails here is dropped.
    let _ = crate::deliver::guard::catching(|| {
        // Nothing will finish a command still running now: count it as
        // ended in an unknown way rather than lose it.
        recorder::close_running();
        persist();
        // The helper starts only now, after this process's own spool work:
        // started at init it would compete for the spool lock with the
        // append above and, on a busy machine, delay this exit by
        // milliseconds.
        if let Some(rt) = RUNTIME
            .get()
            .filter(|rt| rt.deliver_at_exit && recorder::is_enabled())
        {
            helper::start(&rt.settings, true);
        }
    });
}

/// Windows: `std::process::exit` is `ExitProcess`, which skips the C
/// runtime's atexit table but, before the DLLs are detached, runs the
/// fiber-local-storage callbacks of the exiting thread. So [`activate`]
/// also stores a value in an FLS slot of its thread, whose callback runs
/// the exit hook, but only while the process is shutting down (the same
/// callback runs when that thread ends in a live process, which is no
/// exit). By then the other threads are gone: the hook does file work (the
/// spool lock is waited for at most 2 s, never forever) and starts the
/// helper, which needs no other thread of this process.
#[cfg(windows)]
fn hook_exit_process() {
    use windows_sys::Win32::System::Threading::{FlsAlloc, FlsSetValue};
    const FLS_OUT_OF_INDEXES: u32 = u32::MAX;
    // SAFETY: registers a plain function; the slot's value is a non-null
    // marker that is never dereferenced.
    unsafe {
        let slot = FlsAlloc(Some(on_fls_release));
        if slot != FLS_OUT_OF_INDEXES {
            FlsSetValue(slot, std::ptr::NonNull::<u8>::dangling().as_ptr().cast());
        }
    }
}

#[cfg(windows)]
#[link(name = "ntdll")]
unsafe extern "system" {
    /// TRUE once `ExitProcess` has begun tearing the process down.
    fn RtlDllShutdownInProgress() -> u8;
}

#[cfg(windows)]
unsafe extern "system" fn on_fls_release(_value: *const std::ffi::c_void) {
    // SAFETY: no arguments, no preconditions.
    if unsafe { RtlDllShutdownInProgress() } != 0 {
        at_exit();
    }
}

/// Appends everything recorded so far to the spool. Called at exit and by
/// the interval flush; cheap when nothing was recorded. Re-checks consent
/// first with a stat of the config file, so a `telemetry off` run in another
/// process takes effect without reading the file on every record.
pub fn persist() {
    let Some(rt) = RUNTIME.get() else { return };
    let mut counters = recorder::drain();
    let s = &rt.settings;
    let left_out = s.app.declared.strip_undeclared(&mut counters);
    if let Some(why) = &left_out {
        if let Some(state) = s.paths.state() {
            state::note_error(&state, &format_instant(s.clock.now()), why);
        }
        if s.debug {
            eprintln!("[{} telemetry] {why}", s.app.name);
        }
    }
    if counters.is_empty() {
        return;
    }
    if !still_enabled(rt) {
        recorder::set_enabled(false);
        return;
    }
    let Some(state) = s.paths.state() else { return };
    let today = format_day(s.clock.today());
    let mut lines = rollup::lines_from(&counters, &today);
    if let Some(kind) = crate::record::lifecycle::note_version(&state, &s.app.version) {
        lines.push(spool::Line::new(&today, spool::Row::Lifecycle { kind }, 1));
    }
    match spool::append(&state, &lines, &today) {
        Ok(()) => {
            if s.consent.enabled {
                crate::consent::notice::show(s);
            }
        }
        Err(e) => {
            // Keep the counts for the next try: a long-running process's
            // next interval flush, since at exit nothing comes after.
            recorder::restore(counters);
            state::note_error(&state, &format_instant(s.clock.now()), &e.to_string());
            if s.debug {
                eprintln!("[{} telemetry] {e}", s.app.name);
            }
        }
    }
}

fn still_enabled(rt: &Runtime) -> bool {
    let s = &rt.settings;
    let Some(path) = s.paths.config_file.as_deref() else {
        return true;
    };
    let now = config::generation(path);
    let mut seen = rt.generation.lock().unwrap_or_else(|e| e.into_inner());
    if *seen == now {
        return true;
    }
    *seen = now;
    // The config changed since start: resolve consent again from the same
    // environment and flags with the new file.
    let fresh = s.reresolve();
    fresh.records()
}
