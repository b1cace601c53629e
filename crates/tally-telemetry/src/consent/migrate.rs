//! The one-time move of consent out of the host's own config file. Earlier
//! versions kept the choice in a `[telemetry]` table of
//! `<config dir>/<app>/config.toml`, the file the host itself owns; now it
//! lives in tally's own `telemetry.toml` beside it. The first process that
//! finds the old table and no new file copies the table over, then removes
//! the table's lines from the host's file, keeping every other line and
//! every comment (the ones inside the table stay in its place). The result
//! must parse to the host's document minus the table, or the host's file is
//! left alone and `telemetry status` says to remove the table by hand. A
//! host file that only ever held what tally wrote is removed.
//!
//! If the move fails half-way (a read-only config dir), the old values are
//! still honoured for this run: a stored "off" must never turn back on.

use std::path::Path;

use crate::consent::config::{self, ConfigError, UserConfig};
use crate::consent::links;
use crate::consent::toml_lines;
use crate::os::files;

/// The header earlier versions wrote at the top of the host's file.
const OLD_HEADER: [&str; 2] = [
    "# Telemetry settings, written by `telemetry on|off` and the first-run prompt.",
    "# See `telemetry status` for what decides whether telemetry is on.",
];

/// The keys an earlier version stored.
const KEYS: &[&str] = &[
    "enabled",
    "decided_at",
    "decided_via",
    "notice_version",
    "endpoint",
    "flush_interval_secs",
];

/// What the migration found.
#[derive(Debug, PartialEq, Eq)]
pub enum Migration {
    /// Nothing to do: no old table, or already moved.
    Nothing,
    /// The table was moved and removed from the host's file.
    Moved,
    /// The move failed; the old values apply for this run, and the message
    /// says why (for `telemetry status`).
    Failed(UserConfig, String),
}

/// Moves a `[telemetry]` table from `legacy` (the host's config file) to
/// `consent` (tally's own file) when the latter does not exist yet.
pub fn run(legacy: &Path, consent: &Path) -> Migration {
    if std::fs::symlink_metadata(consent).is_ok() {
        return Migration::Nothing;
    }
    let Ok(real) = links::locate(legacy) else {
        return Migration::Nothing;
    };
    let Ok(Some(bytes)) = files::read_optional(&real) else {
        return Migration::Nothing;
    };
    let Ok(text) = String::from_utf8(bytes) else {
        return Migration::Nothing;
    };
    // Most runs of an undecided user get here: a substring check spares
    // them parsing the host's file.
    if !text.contains("telemetry") {
        return Migration::Nothing;
    }
    // A host file that is not TOML is none of tally's business.
    let Ok(mut doc) = text.parse::<toml::Table>() else {
        return Migration::Nothing;
    };
    let Some(toml::Value::Table(mut table)) = doc.remove("telemetry") else {
        return Migration::Nothing;
    };
    table.retain(|k, _| KEYS.contains(&k));
    let found = |what: String| {
        Migration::Failed(
            UserConfig::default(),
            format!(
                "the [telemetry] table of {} {what}; move its settings by hand (`telemetry on|off`) and remove it",
                legacy.display()
            ),
        )
    };
    let old = match UserConfig::from_table(&table) {
        Ok(old) => old,
        // A stored "off" that cannot be read must not turn into "on": the
        // status says so, and nothing is moved.
        Err(e) => return found(format!("cannot be read ({e})")),
    };
    let fail = |e: ConfigError| {
        Migration::Failed(
            old.clone(),
            format!(
                "the [telemetry] table of {} could not be moved to {}: {e}",
                legacy.display(),
                consent.display()
            ),
        )
    };
    if let Err(e) = config::write_migrated(consent, &old) {
        return fail(e);
    }
    // The host's file loses the table's lines only if what is left is the
    // same document without it (no dotted `telemetry.x` keys elsewhere, no
    // look-alike lines inside multi-line strings).
    let rest = toml_lines::remove_table(&text, "telemetry", &OLD_HEADER)
        .filter(|rest| rest.parse::<toml::Table>().as_ref() == Ok(&doc));
    let result = match rest {
        None => Err(format!(
            "its lines could not be told apart safely; remove the [telemetry] table from {} by hand",
            legacy.display()
        )),
        Some(rest) if rest.trim().is_empty() => files::remove_if_exists(&real)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Some(rest) => write_keeping_mode(&real, rest.as_bytes()).map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => Migration::Moved,
        // The new file is in place and decides; the old table is ignored.
        Err(e) => Migration::Failed(
            old,
            format!(
                "consent moved to {}, but the old [telemetry] table could not be removed from {}: {e}; remove it by hand",
                consent.display(),
                legacy.display()
            ),
        ),
    }
}

/// Replaces the host's file atomically, keeping its permission bits (it is
/// the host's file, not ours to make private). On Windows the new file has
/// the ACL its directory passes on.
#[cfg(not(unix))]
fn write_keeping_mode(path: &Path, bytes: &[u8]) -> Result<(), files::FileError> {
    files::write_atomic(path, bytes, true)
}

/// Replaces the host's file atomically, keeping its permission bits (it is
/// the host's file, not ours to make private).
#[cfg(unix)]
fn write_keeping_mode(path: &Path, bytes: &[u8]) -> Result<(), files::FileError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).map(|m| m.permissions().mode() & 0o7777);
    files::write_atomic(path, bytes, true)?;
    if let Ok(mode) = mode {
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::config::{ConfigState, load};

    #[test]
    fn old_table_is_moved_once_and_removed_with_the_comments_around_it_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let legacy = tmp.path().join("config.toml");
        let consent = tmp.path().join("telemetry.toml");
        std::fs::write(
            &legacy,
            "# host settings\ncolor = true\n\n# I turned this off on purpose\n[telemetry]\n# really\nenabled = false # no thanks\ndecided_via = \"command\"\n\n[build]\njobs = 4\n",
        )
        .unwrap();
        assert_eq!(run(&legacy, &consent), Migration::Moved);
        let ConfigState::Loaded(c) = load(Some(&consent)) else {
            panic!("not migrated")
        };
        assert_eq!(c.enabled, Some(false));
        assert_eq!(c.decided_via.as_deref(), Some("command"));
        let rest = std::fs::read_to_string(&legacy).unwrap();
        assert!(
            !rest.contains("[telemetry]") && !rest.contains("enabled"),
            "{rest}"
        );
        for kept in [
            "# host settings",
            "color = true",
            "# I turned this off on purpose",
            "# really",
            "# no thanks",
            "[build]",
            "jobs = 4",
        ] {
            assert!(rest.contains(kept), "{kept:?} lost:\n{rest}");
        }
        rest.parse::<toml::Table>().expect("still TOML");
        // Once: a second run changes nothing.
        let before = std::fs::read_to_string(&consent).unwrap();
        assert_eq!(run(&legacy, &consent), Migration::Nothing);
        assert_eq!(std::fs::read_to_string(&consent).unwrap(), before);
    }

    #[test]
    fn a_host_file_tally_wrote_alone_is_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let legacy = tmp.path().join("config.toml");
        let consent = tmp.path().join("telemetry.toml");
        std::fs::write(
            &legacy,
            format!(
                "{}\n{}\n\n[telemetry]\nenabled = true\nnotice_version = 1\n",
                OLD_HEADER[0], OLD_HEADER[1]
            ),
        )
        .unwrap();
        assert_eq!(run(&legacy, &consent), Migration::Moved);
        assert!(!legacy.exists());
        assert_eq!(load(Some(&consent)).user().unwrap().notice_version, Some(1));
    }

    #[test]
    fn a_table_at_the_end_keeps_its_comments_at_the_end() {
        let tmp = tempfile::tempdir().unwrap();
        let legacy = tmp.path().join("config.toml");
        let consent = tmp.path().join("telemetry.toml");
        std::fs::write(
            &legacy,
            "name = \"x\"\n# mine\n[telemetry]\nenabled = true\n",
        )
        .unwrap();
        assert_eq!(run(&legacy, &consent), Migration::Moved);
        let rest = std::fs::read_to_string(&legacy).unwrap();
        assert!(
            rest.contains("name = \"x\"") && rest.contains("# mine"),
            "{rest}"
        );
        assert!(!rest.contains("telemetry"), "{rest}");
    }

    #[test]
    fn dotted_keys_are_honoured_but_the_host_file_is_left_to_the_user() {
        let tmp = tempfile::tempdir().unwrap();
        let legacy = tmp.path().join("config.toml");
        let consent = tmp.path().join("telemetry.toml");
        let text = "telemetry.enabled = false\n[telemetry.more]\n";
        std::fs::write(&legacy, text).unwrap();
        let Migration::Failed(old, why) = run(&legacy, &consent) else {
            panic!("moved a table it could not cut")
        };
        assert_eq!(old.enabled, Some(false));
        assert!(why.contains("by hand"), "{why}");
        assert_eq!(std::fs::read_to_string(&legacy).unwrap(), text);
        // The choice itself was moved: tally's own file decides from now on.
        assert_eq!(load(Some(&consent)).user().unwrap().enabled, Some(false));
    }

    #[test]
    fn a_host_file_without_the_table_is_untouched() {
        let tmp = tempfile::tempdir().unwrap();
        let legacy = tmp.path().join("config.toml");
        let consent = tmp.path().join("telemetry.toml");
        std::fs::write(&legacy, "a = 1 # x\n").unwrap();
        assert_eq!(run(&legacy, &consent), Migration::Nothing);
        assert_eq!(std::fs::read_to_string(&legacy).unwrap(), "a = 1 # x\n");
        assert!(!consent.exists());
    }
}
