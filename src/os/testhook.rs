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
