//! The one-time move of consent out of the host's own config file. Earlier
//! versions kept the choice in a `[telemetry]` table of
//! `<config dir>/<app>/config.toml`, the file the host itself owns; now it
//! lives in tally's own `telemetry.toml` beside it. The first process that
//! finds the old table and no new file copies the table over, then removes
//! the table from the host's file with `toml_edit`, keeping every other key
//! and every comment (the ones above and inside the table move to what
//! follows it). A host file that only ever held what tally wrote is
//! removed.
//!
//! If the move fails half-way (a read-only config dir), the old values are
//! still honoured for this run: a stored "off" must never turn back on.

use std::path::Path;

use toml_edit::{DocumentMut, Item, RawString, Table};

use crate::consent::config::{self, ConfigError, UserConfig};
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
    let Ok(real) = config::locate(legacy) else {
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
    let Ok(mut doc) = text.parse::<DocumentMut>() else {
        return Migration::Nothing;
    };
    let Some(table) = doc.get("telemetry").and_then(Item::as_table).cloned() else {
        return Migration::Nothing;
    };
    let mut values = Table::new();
    for key in KEYS {
        if let Some(v) = table.get(key) {
            let mut v = v.clone();
            if let Some(v) = v.as_value_mut() {
                v.decor_mut().clear();
            }
            values.insert(key, v);
        }
    }
    let old = toml::from_str::<UserConfig>(&values.to_string()).unwrap_or_default();
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
    if let Err(e) = config::write_migrated(consent, values) {
        return fail(e);
    }
    remove_table(&mut doc, &table);
    let rest = doc.to_string();
    let result = if rest.trim().is_empty() {
        files::remove_if_exists(&real).map(|_| ())
    } else {
        write_keeping_mode(&real, rest.as_bytes())
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

/// Removes the `[telemetry]` table, moving its comments (and the user's
/// around it) onto whatever follows, minus the header tally itself wrote.
fn remove_table(doc: &mut DocumentMut, table: &Table) {
    let mut comments = Vec::new();
    let mut take = |raw: Option<&RawString>| {
        for line in raw.and_then(RawString::as_str).unwrap_or("").lines() {
            let l = line.trim();
            if l.starts_with('#') && !OLD_HEADER.contains(&l) {
                comments.push(l.to_owned());
            }
        }
    };
    take(table.decor().prefix());
    for (k, item) in table.iter() {
        take(table.key(k).and_then(|k| k.leaf_decor().prefix()));
        if let Some(v) = item.as_value() {
            take(v.decor().suffix());
        }
    }
    let position = table.position();
    doc.remove("telemetry");
    if comments.is_empty() {
        return;
    }
    let mut kept = comments.join("\n");
    kept.push('\n');
    let next = doc
        .as_table_mut()
        .iter_mut()
        .filter_map(|(_, item)| item.as_table_mut())
        .filter(|t| t.position() > position)
        .min_by_key(|t| t.position());
    match next {
        Some(t) => {
            let old = t
                .decor()
                .prefix()
                .and_then(RawString::as_str)
                .unwrap_or("")
                .to_owned();
            t.decor_mut().set_prefix(format!("{kept}{old}"));
        }
        None => {
            let trailing = doc.trailing().as_str().unwrap_or("").to_owned();
            let sep = if doc.as_table().is_empty() { "" } else { "\n" };
            doc.set_trailing(format!("{trailing}{sep}{kept}"));
        }
    }
}

/// Replaces the host's file atomically, keeping its permission bits (it is
/// the host's file, not ours to make private).
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
        rest.parse::<DocumentMut>().expect("still TOML");
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
