//! Faults the integration tests inject into delivery, read from the
//! environment snapshot. They exist only in debug builds (`cargo test`
//! builds): in a release build these functions are empty, so no user of a
//! shipped host can trigger them.
//!
//! - `<PREFIX>_TELEMETRY_TEST_PANIC=1`: the sender panics before it posts.
//! - `<PREFIX>_TELEMETRY_TEST_HELPER_DELAY_MS=N`: the delivery helper waits
//!   N ms before it re-checks consent (so a test can change it meanwhile).

use crate::consent::settings::Settings;

/// Panics when the test switch asks for it (debug builds only).
pub fn maybe_panic(settings: &Settings) {
    #[cfg(debug_assertions)]
    if settings
        .env
        .non_empty(&settings.app.var("TELEMETRY_TEST_PANIC"))
        .is_some()
    {
        panic!("a panic injected by the tests");
    }
    #[cfg(not(debug_assertions))]
    let _ = settings;
}

/// Sleeps as long as the test switch asks (debug builds only); whether it
/// did.
pub fn helper_delay(settings: &Settings) -> bool {
    #[cfg(debug_assertions)]
    if let Some(ms) = settings
        .env
        .non_empty(&settings.app.var("TELEMETRY_TEST_HELPER_DELAY_MS"))
        .and_then(|v| v.parse::<u64>().ok())
    {
        std::thread::sleep(std::time::Duration::from_millis(ms.min(5000)));
        return true;
    }
    let _ = settings;
    false
}
