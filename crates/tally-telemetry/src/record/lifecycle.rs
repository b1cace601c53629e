//! Lifecycle events: `install` (recorded by `telemetry prompt`, the
//! installer's entry point), `upgrade` (the application's version differs
//! from the one of the last run that recorded, kept in the state directory
//! as `last_version`) and `uninstall` (`telemetry uninstall`). They go into
//! the spool as per-day lines like every count and are sent under the same
//! rule: only once their day is over. The one exception is the uninstall,
//! which `telemetry uninstall` sends at once because no later run will
//! exist to send it.

use crate::consent::paths::StateFiles;
use crate::consent::settings::Settings;
use crate::os::clock::format_day;
use crate::os::files;
use crate::record::recorder::Counters;
use crate::record::{rollup, spool};
use crate::schema::LifecycleKind;

/// Compares `version` with the last recorded one and remembers it: `Some`
/// upgrade when it changed, `None` on the first run or the same version.
/// A version that went down (a downgrade) is not an upgrade and is not
/// counted.
pub fn note_version(state: &StateFiles, version: &str) -> Option<LifecycleKind> {
    let path = state.last_version();
    let last = files::read_optional(&path)
        .ok()
        .flatten()
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned());
    if last.as_deref() == Some(version) {
        return None;
    }
    if files::ensure_private_dir(state.dir()).is_err()
        || files::write_atomic(&path, format!("{version}\n").as_bytes(), false).is_err()
    {
        return None;
    }
    let last = last.filter(|l| !l.is_empty())?;
    newer(version, &last).then_some(LifecycleKind::Upgrade)
}

/// Whether `a` is a later version than `b`: dotted numbers compared
/// numerically, anything else compared as text.
fn newer(a: &str, b: &str) -> bool {
    let nums = |v: &str| -> Option<Vec<u64>> {
        v.split(['-', '+'])
            .next()?
            .split('.')
            .map(|p| p.parse().ok())
            .collect()
    };
    match (nums(a), nums(b)) {
        (Some(x), Some(y)) if x != y => x > y,
        _ => a != b,
    }
}

/// Appends one lifecycle event for today to the spool, now (the commands
/// that record one run outside the recorder: consent may have been given a
/// moment ago, after the recorder was set up).
pub fn record_now(s: &Settings, kind: LifecycleKind) -> Result<(), spool::SpoolError> {
    let Some(state) = s.paths.state() else {
        return Ok(());
    };
    let today = format_day(s.clock.today());
    let mut c = Counters::default();
    c.lifecycle.insert(kind, 1);
    spool::append(&state, &rollup::lines_from(&c, &today), &today)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Upgrades went unnoticed: nothing ever compared versions.
    #[test]
    fn an_upgrade_is_noticed_once_and_first_runs_and_downgrades_are_not() {
        let t = tempfile::tempdir().unwrap();
        let st = StateFiles(t.path().join("s"));
        assert_eq!(note_version(&st, "1.2.0"), None);
        assert_eq!(note_version(&st, "1.2.0"), None);
        assert_eq!(note_version(&st, "1.10.0"), Some(LifecycleKind::Upgrade));
        assert_eq!(note_version(&st, "1.10.0"), None);
        assert_eq!(note_version(&st, "1.9.9"), None);
        assert_eq!(
            note_version(&st, "2.0.0-rc.1"),
            Some(LifecycleKind::Upgrade)
        );
    }
}
