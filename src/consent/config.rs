//! The user's config file: the stored telemetry choice, when and how it was
//! made, the consent version of the last notice shown, and optional
//! endpoint/interval settings.
//!
//! Reading is strict (a file that does not parse means *no consent*, and
//! `telemetry status` says why); writing edits the document in place with
//! `toml_edit` so the user's comments and other keys survive, and replaces
//! the file atomically, mode 0600.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml_edit::{DocumentMut, Item, Table, value};

use crate::os::files::{self, FileError};

/// How a stored choice was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChoiceVia {
    /// Answered at the first-run prompt.
    Prompt,
    /// `telemetry on` / `telemetry off`.
    Command,
    /// `config otel set usage-analytics-enabled`.
    OtelConfig,
}

impl ChoiceVia {
    /// The word stored in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            ChoiceVia::Prompt => "prompt",
            ChoiceVia::Command => "command",
            ChoiceVia::OtelConfig => "otel-config",
        }
    }
}

/// The `[telemetry]` table of the config file.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct UserConfig {
    /// The stored choice, if one was made.
    pub enabled: Option<bool>,
    /// When the choice was made (RFC 3339).
    pub decided_at: Option<String>,
    /// How the choice was made (`prompt`, `command`, `otel-config`).
    pub decided_via: Option<String>,
    /// The consent version of the last notice shown.
    pub notice_version: Option<u32>,
    /// Where batches are posted, if the user set one.
    pub endpoint: Option<String>,
    /// Seconds between flushes in long-running commands.
    pub flush_interval_secs: Option<u64>,
}

#[derive(Deserialize, Default)]
struct RawFile {
    #[serde(default)]
    telemetry: UserConfig,
}

/// The config file as loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigState {
    /// No config location could be determined (no home directory).
    NoLocation,
    /// The file does not exist yet.
    Absent,
    /// The file was read and parsed.
    Loaded(UserConfig),
    /// The file exists but cannot be used; consent fails closed.
    Broken(String),
}

impl ConfigState {
    /// The parsed table, if the file was loaded.
    pub fn user(&self) -> Option<&UserConfig> {
        match self {
            ConfigState::Loaded(c) => Some(c),
            _ => None,
        }
    }
}

/// A failure to change the config file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No home or config directory is known, so the choice cannot be stored.
    #[error(
        "no config directory is known (HOME is not set); set {0}=0|1 in the environment instead"
    )]
    NoLocation(String),
    /// The existing file does not parse; tally will not overwrite it blindly.
    #[error("{path} is not valid TOML ({message}); fix or delete it, then try again")]
    Parse {
        /// The config file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// The file or its directory could not be read or written.
    #[error(transparent)]
    File(#[from] FileError),
}

/// Loads the config file at `path`.
pub fn load(path: Option<&Path>) -> ConfigState {
    let Some(path) = path else {
        return ConfigState::NoLocation;
    };
    let bytes = match files::read_optional(path) {
        Ok(None) => return ConfigState::Absent,
        Ok(Some(b)) => b,
        Err(e) => return ConfigState::Broken(format!("cannot be read: {e}")),
    };
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(_) => return ConfigState::Broken("is not valid UTF-8".into()),
    };
    match toml::from_str::<RawFile>(&text) {
        Ok(raw) => ConfigState::Loaded(raw.telemetry),
        Err(e) => ConfigState::Broken(format!(
            "is not valid: {}",
            e.message().trim_end_matches('\n')
        )),
    }
}

/// A cheap fingerprint of the config file (device, inode, mtime, size) used
/// by long-running processes to notice a `telemetry off` made elsewhere
/// without reading the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Generation(u64, u64, i64, i64, u64);

/// The config file's generation, `None` when it does not exist.
pub fn generation(path: &Path) -> Option<Generation> {
    let m = std::fs::symlink_metadata(path).ok()?;
    Some(Generation(
        m.dev(),
        m.ino(),
        m.mtime(),
        m.mtime_nsec(),
        m.len(),
    ))
}

const HEADER: &str = "# Telemetry settings, written by `telemetry on|off` and the first-run prompt.\n# See `telemetry status` for what decides whether telemetry is on.\n";

/// Edits the `[telemetry]` table of the config file in place, keeping every
/// other key and comment, and writes it back atomically.
pub fn edit(
    path: Option<&Path>,
    consent_var: &str,
    f: impl FnOnce(&mut Table),
) -> Result<(), ConfigError> {
    let path = path.ok_or_else(|| ConfigError::NoLocation(consent_var.to_owned()))?;
    let existing = files::read_optional(path)?;
    let mut doc = match existing {
        None => HEADER.parse::<DocumentMut>().expect("header parses"),
        Some(bytes) => String::from_utf8_lossy(&bytes)
            .parse::<DocumentMut>()
            .map_err(|e| ConfigError::Parse {
                path: path.to_owned(),
                message: e.message().trim_end().to_owned(),
            })?,
    };
    let item = doc.entry("telemetry").or_insert(Item::Table(Table::new()));
    let table = item.as_table_mut().ok_or_else(|| ConfigError::Parse {
        path: path.to_owned(),
        message: "`telemetry` is not a table".into(),
    })?;
    f(table);
    if let Some(dir) = path.parent() {
        files::ensure_private_dir(dir)?;
    }
    files::write_atomic(path, doc.to_string().as_bytes(), true)?;
    Ok(())
}

/// Stores an explicit choice, with when and how it was made.
pub fn store_choice(
    path: Option<&Path>,
    consent_var: &str,
    enabled: bool,
    via: ChoiceVia,
    at: &str,
) -> Result<(), ConfigError> {
    edit(path, consent_var, |t| {
        t["enabled"] = value(enabled);
        t["decided_at"] = value(at);
        t["decided_via"] = value(via.as_str());
    })
}

/// Forgets the stored choice (back to the default policy).
pub fn clear_choice(path: Option<&Path>, consent_var: &str) -> Result<(), ConfigError> {
    if let Some(p) = path
        && files::read_optional(p)?.is_none()
    {
        return Ok(());
    }
    edit(path, consent_var, |t| {
        t.remove("enabled");
        t.remove("decided_at");
        t.remove("decided_via");
    })
}

/// Records that the notice for `version` has been shown.
pub fn store_notice_version(
    path: Option<&Path>,
    consent_var: &str,
    version: u32,
) -> Result<(), ConfigError> {
    edit(path, consent_var, |t| {
        t["notice_version"] = value(i64::from(version));
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_keep_comments_and_other_keys() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("config.toml");
        std::fs::write(
            &path,
            "# mine\nother = 1\n\n[telemetry]\n# keep me\nenabled = true\n",
        )
        .unwrap();
        store_choice(
            Some(&path),
            "X_TELEMETRY",
            false,
            ChoiceVia::Command,
            "2026-01-01T00:00:00Z",
        )
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("# mine") && text.contains("# keep me") && text.contains("other = 1"),
            "{text}"
        );
        let ConfigState::Loaded(c) = load(Some(&path)) else {
            panic!("not loaded")
        };
        assert_eq!(c.enabled, Some(false));
        assert_eq!(c.decided_via.as_deref(), Some("command"));
    }

    #[test]
    fn broken_files_are_reported_not_overwritten() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("config.toml");
        std::fs::write(&path, "[telemetry\nenabled = yes").unwrap();
        assert!(matches!(load(Some(&path)), ConfigState::Broken(_)));
        let err =
            store_choice(Some(&path), "X_TELEMETRY", true, ChoiceVia::Command, "t").unwrap_err();
        assert!(matches!(err, ConfigError::Parse { .. }));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "[telemetry\nenabled = yes"
        );
    }

    #[test]
    fn wrong_types_are_broken() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("config.toml");
        std::fs::write(&path, "[telemetry]\nenabled = \"sure\"\n").unwrap();
        assert!(matches!(load(Some(&path)), ConfigState::Broken(_)));
    }
}
