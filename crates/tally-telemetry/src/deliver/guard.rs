//! Keeps a panic in tally's own delivery code from reaching the host: the
//! work runs inside `catch_unwind`, and the process-wide panic hook is
//! wrapped once so that a panic on a thread currently running tally's code
//! prints nothing (the host's hook still handles every other panic). The
//! caller records what was caught as the last error and backs off.
//!
//! A host built with `panic = "abort"` cannot catch anything; that is why
//! background sends run in a separate helper process (see `helper`), where
//! an abort ends only the helper.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

static HOOK: Once = Once::new();

fn install_hook() {
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

/// Runs `f`; a panic inside it is caught, printed nowhere, and returned as
/// its message.
pub fn catching<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    install_hook();
    let was = QUIET.with(|q| q.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    result.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_is_caught_and_named() {
        assert_eq!(catching(|| 7), Ok(7));
        let e = catching(|| -> u8 { panic!("boom {}", 1) }).unwrap_err();
        assert_eq!(e, "boom 1");
        assert!(!QUIET.with(Cell::get), "the quiet flag is restored");
    }
}
