//! The one-time notice for opt-out applications: one line on stderr, in the
//! first run that records while the choice is still the default. It names
//! what is collected, how to turn it off, and where the details are. The
//! first send happens only in a later process, after the notice is stored as
//! shown; a new consent version of the schema shows it again, to those who
//! never chose and to those who said yes under the older version.
//!
//! The notice counts as shown only when it was written where a person or a
//! log can read it: a terminal, a regular file, a pipe or a socket. Written
//! to `/dev/null` or a closed stderr it is shown again next time, and
//! nothing is sent until it has been seen.

use std::io::Write;
#[cfg(unix)]
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::consent::config;
use crate::consent::precedence::Source;
use crate::consent::settings::Settings;
use crate::schema::CONSENT_VERSION;

/// Whether the notice for the current consent version was shown by an
/// earlier process (as the consent file read at start-up says).
pub fn already_shown(settings: &Settings) -> bool {
    settings
        .config
        .user()
        .and_then(|c| c.notice_version)
        .is_some_and(|v| v >= CONSENT_VERSION)
}

/// Whether an explicit "yes" was given under an older consent version, so
/// what is collected changed since (a missing version is the first one).
pub fn stale_yes(settings: &Settings) -> bool {
    settings.consent.enabled
        && settings.consent.decided_by == Source::Config
        && settings
            .config
            .user()
            .is_some_and(|c| c.consent_version.unwrap_or(1) < CONSENT_VERSION)
}

/// Whether this run should show the notice: telemetry is on by default (or
/// by a "yes" under an older consent version), something can leave the
/// machine, and this version's notice was not shown.
pub fn due(settings: &Settings) -> bool {
    settings.consent.enabled
        && (settings.undecided() || stale_yes(settings))
        && settings.can_send()
        && !already_shown(settings)
}

/// Whether sending must wait for the notice: no choice was made (or a
/// "yes" is older than what is collected now) and the current notice has
/// not been shown by an earlier process.
pub fn blocks_sending(settings: &Settings) -> bool {
    (settings.undecided() || stale_yes(settings)) && !already_shown(settings)
}

/// The notice's text.
pub fn text(settings: &Settings) -> String {
    let app = &settings.app.name;
    let manage = settings.app.manage();
    let details = settings
        .app
        .docs_url
        .as_deref()
        .map(|u| format!(" Details: {u}"))
        .unwrap_or_default();
    let changed = if stale_yes(settings) {
        format!("What {app} collects changed since you turned telemetry on. ")
    } else {
        String::new()
    };
    format!(
        "{changed}{app} collects anonymous usage counts (commands and outcomes; never arguments, paths or names) and sends daily totals from a later run. Turn off: `{manage} off` or DO_NOT_TRACK=1.{details}"
    )
}

/// Whether file descriptor 2 leads somewhere a person or a log can read:
/// a terminal, a regular file, a pipe or a socket. Not `/dev/null` (or any
/// other character device that is not a terminal), not a closed stderr.
#[cfg(unix)]
pub fn stderr_is_readable() -> bool {
    let fd = std::io::stderr().as_raw_fd();
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat only writes into `st`, which is large enough.
    if unsafe { libc::fstat(fd, st.as_mut_ptr()) } != 0 {
        return false;
    }
    // SAFETY: fstat succeeded, so `st` is initialised.
    let mode = unsafe { st.assume_init() }.st_mode & libc::S_IFMT;
    match mode {
        libc::S_IFREG | libc::S_IFIFO | libc::S_IFSOCK => true,
        // SAFETY: isatty has no memory-safety preconditions.
        libc::S_IFCHR => unsafe { libc::isatty(fd) == 1 },
        _ => false,
    }
}

/// Windows: the handle behind stderr is a disk file, a pipe, or a console
/// (`NUL` is a character device too, but no console). A GUI host without
/// a console has no handle at all.
#[cfg(windows)]
pub fn stderr_is_readable() -> bool {
    use std::io::IsTerminal;
    use std::os::windows::io::AsRawHandle;
    use windows_sys::Win32::Storage::FileSystem::{
        FILE_TYPE_CHAR, FILE_TYPE_DISK, FILE_TYPE_PIPE, GetFileType,
    };
    let handle = std::io::stderr().as_raw_handle();
    if handle.is_null() {
        return false;
    }
    // SAFETY: GetFileType only inspects the handle; an invalid one gives
    // FILE_TYPE_UNKNOWN.
    match unsafe { GetFileType(handle) } {
        FILE_TYPE_DISK | FILE_TYPE_PIPE => true,
        FILE_TYPE_CHAR => std::io::stderr().is_terminal(),
        _ => false,
    }
}

#[cfg(not(any(unix, windows)))]
pub fn stderr_is_readable() -> bool {
    false
}

/// Prints the notice to stderr and, when someone can read it there, stores
/// it as shown. Returns whether it was stored as shown. If the consent file
/// cannot be written the notice is shown again next time: better twice than
/// never.
pub fn show(settings: &Settings) -> bool {
    // Settings are read once at start, so a long-running process that
    // persists on an interval would otherwise see the notice as still due.
    static SHOWN: AtomicBool = AtomicBool::new(false);
    if !due(settings) || SHOWN.swap(true, Ordering::SeqCst) {
        return false;
    }
    let readable = stderr_is_readable();
    let written = writeln!(std::io::stderr(), "{}", text(settings)).is_ok();
    if !(readable && written) {
        return false;
    }
    config::store_notice_version(
        settings.paths.config_file.as_deref(),
        &settings.app.consent_var(),
        CONSENT_VERSION,
    )
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::app::{AppInfo, DefaultPolicy};
    use crate::consent::paths::Paths;
    use crate::consent::settings::{Flags, resolve};
    use crate::os::env::Env;

    fn settings(dir: &std::path::Path, consent: &str) -> Settings {
        let file = dir.join("telemetry.toml");
        std::fs::write(&file, consent).unwrap();
        let app = AppInfo {
            name: "demo".into(),
            version: "1.0.0".into(),
            env_prefix: "DEMO".into(),
            default_policy: DefaultPolicy::OptOut,
            docs_url: None,
            endpoint: Some("http://127.0.0.1:9/v1/batch".into()),
            policy_file: None,
            rotation: None,
            command: "telemetry".into(),
            declared: Default::default(),
        };
        let paths = Paths::explicit(file, dir.join("state"), dir.join("policy.toml"));
        resolve(app, Env::default(), Flags::default(), Some(paths))
    }

    /// A rise of the consent version stopped at the notice: someone who had
    /// said yes explicitly was never told that a new kind of data came.
    #[test]
    fn an_explicit_yes_under_an_older_consent_version_is_told_before_anything_is_sent() {
        let t = tempfile::tempdir().unwrap();
        let old = CONSENT_VERSION - 1;
        let s = settings(
            t.path(),
            &format!("enabled = true\nconsent_version = {old}\n"),
        );
        assert!(s.consent.enabled);
        assert!(stale_yes(&s) && due(&s) && blocks_sending(&s));
        assert!(text(&s).starts_with("What demo collects changed"));
        // Once told, sending may go on.
        let s = settings(
            t.path(),
            &format!(
                "enabled = true\nconsent_version = {old}\nnotice_version = {CONSENT_VERSION}\n"
            ),
        );
        assert!(!due(&s) && !blocks_sending(&s));
        // A yes under the current version needs no notice.
        let s = settings(
            t.path(),
            &format!("enabled = true\nconsent_version = {CONSENT_VERSION}\n"),
        );
        assert!(!due(&s) && !blocks_sending(&s));
    }
}
