//! The one-time notice for opt-out applications: one line on stderr, in the
//! first run that records while the choice is still the default. It names
//! what is collected, how to turn it off, and where the details are. The
//! first send happens only in a later process, after the notice is stored as
//! shown; a new consent version of the schema shows it again.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::consent::config;
use crate::consent::settings::Settings;
use crate::schema::CONSENT_VERSION;

/// Whether the notice for the current consent version was shown by an
/// earlier process (as the config file read at start-up says).
pub fn already_shown(settings: &Settings) -> bool {
    settings
        .config
        .user()
        .and_then(|c| c.notice_version)
        .is_some_and(|v| v >= CONSENT_VERSION)
}

/// Whether this run should show the notice: telemetry is on by default, no
/// choice was made, something can leave the machine, and it was not shown.
pub fn due(settings: &Settings) -> bool {
    settings.consent.enabled
        && settings.undecided()
        && settings.can_send()
        && !already_shown(settings)
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
    format!(
        "{app} collects anonymous usage counts (commands and outcomes; never arguments, paths or names) and sends daily totals from a later run. Turn off: `{manage} off` or DO_NOT_TRACK=1.{details}"
    )
}

/// Prints the notice to stderr and stores it as shown. Returns whether it
/// was printed. If the config cannot be written the notice is still shown,
/// and shown again next time: better twice than never.
pub fn show(settings: &Settings) -> bool {
    // Settings are read once at start, so a long-running process that
    // persists on an interval would otherwise see the notice as still due.
    static SHOWN: AtomicBool = AtomicBool::new(false);
    if !due(settings) || SHOWN.swap(true, Ordering::SeqCst) {
        return false;
    }
    eprintln!("{}", text(settings));
    let _ = config::store_notice_version(
        settings.paths.config_file.as_deref(),
        &settings.app.consent_var(),
        CONSENT_VERSION,
    );
    true
}
