//! Settings only a test may change: a fixed clock (`<APP>_TELEMETRY_NOW`)
//! and where the system policy file is read from. They are honoured in
//! debug builds only (which is what `cargo test` builds, binaries and
//! examples included); a release build of any host ignores them, so no
//! environment variable can move a user's clock or hide the admin's policy.

use crate::os::env::Env;

/// The value of the test-only variable `name`, in debug builds; `None` in
/// release builds whatever the environment says.
pub fn var<'a>(env: &'a Env, name: &str) -> Option<&'a str> {
    if cfg!(debug_assertions) {
        env.non_empty(name)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `<APP>_TELEMETRY_NOW` changed the clock in release builds of every
    /// host. (`cargo test --release` runs the release half.)
    #[test]
    fn test_hooks_are_honoured_in_debug_builds_only() {
        let env = Env::from_pairs([("X_TELEMETRY_NOW", "2026-01-01")]);
        let got = var(&env, "X_TELEMETRY_NOW");
        if cfg!(debug_assertions) {
            assert_eq!(got, Some("2026-01-01"));
        } else {
            assert_eq!(got, None);
        }
    }
}
