//! tally's own consent file, `<config dir>/<app>/telemetry.toml`: the stored
//! choice, when and how it was made, the consent version it was made under,
//! the consent version of the last notice shown, and optional
//! endpoint/interval settings. It is never the host's own config file, so a
//! host that parses its config strictly, or rewrites it from a struct, can
//! neither break on tally's keys nor drop the user's stored "off".
//!
//! Reading is strict (a file that does not parse means *no consent*, and
//! `telemetry status` says why); writing edits the document's lines in
//! place (`toml_lines`) so the user's comments survive, checks the result
//! parses to exactly what was meant, and replaces the file
//! atomically, mode 0600. An explicit choice (`telemetry on|off`, the
//! prompt) made while the file is broken keeps the broken file as a backup
//! beside it and writes a fresh one, so `off` always works.
//!
//! Dotfile managers link the file (or its directory) into a repository: a
//! link the user owns to a file the user owns is followed, and the file it
//! points to is replaced, the link kept. Anything else is refused with the
//! reason and the fix.
//!
//! On Windows there is no uid to compare: links are followed whoever made
//! them (creating one needs the user's own rights or an administrator's),
//! and the file's ACL, inherited from the user's profile, is what keeps
//! other users out.

#[cfg(unix)]
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub use crate::consent::config_error::ConfigError;
use crate::consent::flat::Flat;
use crate::consent::links::locate;
use crate::consent::toml_keys::Keys;
use crate::consent::toml_lines::{self, Scalar};
use crate::os::files::{self, FileError};

/// The consent file's name inside the application's config directory.
pub const FILE_NAME: &str = "telemetry.toml";

/// How a stored choice was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChoiceVia {
    /// Answered at the first-run prompt or `telemetry prompt`.
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

/// The consent file's settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserConfig {
    /// The stored choice, if one was made.
    pub enabled: Option<bool>,
    /// When the choice was made (RFC 3339).
    pub decided_at: Option<String>,
    /// How the choice was made (`prompt`, `command`, `otel-config`).
    pub decided_via: Option<String>,
    /// The schema's consent version when the choice was made: a later,
    /// higher version (a new kind of data) is told to, or asked again of,
    /// whoever chose under the old one.
    pub consent_version: Option<u32>,
    /// The consent version of the last notice shown.
    pub notice_version: Option<u32>,
    /// Where batches are posted, if the user set one.
    pub endpoint: Option<String>,
    /// Seconds between flushes in long-running commands.
    pub flush_interval_secs: Option<u64>,
}

impl UserConfig {
    /// The keys the consent file may have.
    pub const KEYS: &[&str] = &[
        "enabled",
        "decided_at",
        "decided_via",
        "consent_version",
        "notice_version",
        "endpoint",
        "flush_interval_secs",
    ];

    /// The settings of a parsed consent file (or of an old `[telemetry]`
    /// table); an unknown key or a wrong type is an error naming it.
    pub fn from_table(table: &toml::Table) -> Result<UserConfig, String> {
        let k = Keys::new(table, Self::KEYS)?;
        Ok(UserConfig {
            enabled: k.bool("enabled")?,
            decided_at: k.string("decided_at")?,
            decided_via: k.string("decided_via")?,
            consent_version: k.int("consent_version")?,
            notice_version: k.int("notice_version")?,
            endpoint: k.string("endpoint")?,
            flush_interval_secs: k.int("flush_interval_secs")?,
        })
    }
}

/// The consent file as loaded.
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
    /// The parsed settings, if the file was loaded.
    pub fn user(&self) -> Option<&UserConfig> {
        match self {
            ConfigState::Loaded(c) => Some(c),
            _ => None,
        }
    }
}

fn parse(text: &str) -> Result<UserConfig, String> {
    if let Some(c) = crate::consent::flat::pairs(text).and_then(|p| from_flat(&p)) {
        return Ok(c);
    }
    let table = text
        .parse::<toml::Table>()
        .map_err(|e| e.message().trim_end().to_owned())?;
    UserConfig::from_table(&table)
}

/// The settings of a flat file's pairs (`consent::flat`) when every key is
/// known with the type it needs; `None` leaves the file to the TOML parser,
/// which words the error.
fn from_flat(pairs: &[(&str, Flat<'_>)]) -> Option<UserConfig> {
    let mut c = UserConfig::default();
    for (key, value) in pairs {
        match (*key, *value) {
            ("enabled", Flat::Bool(b)) => c.enabled = Some(b),
            ("decided_at", Flat::Str(s)) => c.decided_at = Some(s.to_owned()),
            ("decided_via", Flat::Str(s)) => c.decided_via = Some(s.to_owned()),
            ("consent_version", Flat::Int(i)) => c.consent_version = Some(i.try_into().ok()?),
            ("notice_version", Flat::Int(i)) => c.notice_version = Some(i.try_into().ok()?),
            ("endpoint", Flat::Str(s)) => c.endpoint = Some(s.to_owned()),
            ("flush_interval_secs", Flat::Int(i)) => {
                c.flush_interval_secs = Some(i.try_into().ok()?)
            }
            _ => return None,
        }
    }
    Some(c)
}

/// Loads the consent file at `path`.
pub fn load(path: Option<&Path>) -> ConfigState {
    let Some(path) = path else {
        return ConfigState::NoLocation;
    };
    let real = match locate(path) {
        Ok(r) => r,
        Err(ConfigError::Link { why, fix, .. }) => {
            return ConfigState::Broken(format!("{why}; {fix}"));
        }
        Err(e) => return ConfigState::Broken(format!("cannot be used: {e}")),
    };
    let bytes = match files::read_optional(&real) {
        Ok(None) => return ConfigState::Absent,
        Ok(Some(b)) => b,
        Err(e) => return ConfigState::Broken(format!("cannot be read: {e}")),
    };
    let Ok(text) = String::from_utf8(bytes) else {
        return ConfigState::Broken("is not valid UTF-8".into());
    };
    match parse(&text) {
        Ok(c) => ConfigState::Loaded(c),
        Err(e) => ConfigState::Broken(format!("is not valid: {e}")),
    }
}

/// A cheap fingerprint of the consent file (device, inode, mtime, size) used
/// by long-running processes to notice a `telemetry off` made elsewhere
/// without reading the file. Links are followed: the file behind them is
/// what changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Generation(u64, u64, i64, i64, u64);

/// The consent file's generation, `None` when it does not exist.
#[cfg(unix)]
pub fn generation(path: &Path) -> Option<Generation> {
    let m = std::fs::metadata(path).ok()?;
    Some(Generation(
        m.dev(),
        m.ino(),
        m.mtime(),
        m.mtime_nsec(),
        m.len(),
    ))
}

/// The consent file's generation, `None` when it does not exist. Windows:
/// std gives no file id without an open handle, so the creation and
/// last-write times (100 ns ticks) and the size stand in for it; every
/// write replaces the file with a freshly written one.
#[cfg(windows)]
pub fn generation(path: &Path) -> Option<Generation> {
    use std::os::windows::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some(Generation(
        0,
        m.creation_time(),
        m.last_write_time() as i64,
        0,
        m.len(),
    ))
}

const HEADER: &str = "# Telemetry consent, written by `telemetry on|off` and the prompt.\n# `telemetry status` shows what decides whether telemetry is on.\n";

/// What a write of the consent file did besides the change asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Written {
    /// Where a broken file was moved before a fresh one was written.
    pub backup: Option<PathBuf>,
}

/// One key of the consent file to set (`Some`) or remove (`None`).
pub type Change<'a> = (&'a str, Option<Scalar<'a>>);

impl UserConfig {
    /// Applies one change the way the file will hold it.
    fn apply(&mut self, (key, value): Change<'_>) {
        let int = |v: Option<Scalar<'_>>| match v {
            Some(Scalar::Int(i)) => Some(i),
            _ => None,
        };
        let text = |v: Option<Scalar<'_>>| match v {
            Some(Scalar::Str(s)) => Some(s.to_owned()),
            _ => None,
        };
        match key {
            "enabled" => {
                self.enabled = match value {
                    Some(Scalar::Bool(b)) => Some(b),
                    _ => None,
                }
            }
            "decided_at" => self.decided_at = text(value),
            "decided_via" => self.decided_via = text(value),
            "consent_version" => {
                self.consent_version = int(value).and_then(|i| u32::try_from(i).ok())
            }
            "notice_version" => {
                self.notice_version = int(value).and_then(|i| u32::try_from(i).ok())
            }
            "endpoint" => self.endpoint = text(value),
            "flush_interval_secs" => {
                self.flush_interval_secs = int(value).and_then(|i| u64::try_from(i).ok())
            }
            _ => {}
        }
    }

    /// The settings as a fresh file: the header, then one line a key.
    fn render(&self) -> String {
        let mut changes: Vec<Change<'_>> = Vec::new();
        let mut push = |k, v| changes.push((k, Some(v)));
        if let Some(b) = self.enabled {
            push("enabled", Scalar::Bool(b));
        }
        if let Some(s) = &self.decided_at {
            push("decided_at", Scalar::Str(s));
        }
        if let Some(s) = &self.decided_via {
            push("decided_via", Scalar::Str(s));
        }
        if let Some(v) = self.consent_version {
            push("consent_version", Scalar::Int(i64::from(v)));
        }
        if let Some(v) = self.notice_version {
            push("notice_version", Scalar::Int(i64::from(v)));
        }
        if let Some(s) = &self.endpoint {
            push("endpoint", Scalar::Str(s));
        }
        if let Some(v) = self.flush_interval_secs {
            push(
                "flush_interval_secs",
                Scalar::Int(i64::try_from(v).unwrap_or(i64::MAX)),
            );
        }
        toml_lines::set_keys(HEADER, &changes)
    }
}

/// Edits the consent file in place, keeping every comment, and writes it
/// back atomically. With `repair`, a file that cannot be parsed is moved
/// aside (`telemetry.toml.broken-<unix time>`) and a fresh one written;
/// without, it is left alone and the error says how to fix it.
pub fn edit(
    path: Option<&Path>,
    consent_var: &str,
    repair: bool,
    changes: &[Change<'_>],
) -> Result<Written, ConfigError> {
    let path = path.ok_or_else(|| ConfigError::NoLocation(consent_var.to_owned()))?;
    let real = locate(path)?;
    let mut written = Written::default();
    let existing = match files::read_optional(&real) {
        Ok(b) => b,
        Err(e @ FileError::WrongKind { .. }) if repair => {
            written.backup = Some(back_up(&real).map_err(|_| e)?);
            None
        }
        Err(e) => return Err(e.into()),
    };
    let (text, mut meant) = match existing {
        None => (HEADER.to_owned(), UserConfig::default()),
        Some(bytes) => {
            let parsed = String::from_utf8(bytes)
                .map_err(|_| "it is not valid UTF-8".to_owned())
                .and_then(|t| parse(&t).map(|c| (t, c)));
            match parsed {
                Ok(doc) => doc,
                Err(_) if repair => {
                    written.backup = Some(back_up(&real)?);
                    (HEADER.to_owned(), UserConfig::default())
                }
                Err(message) => {
                    return Err(ConfigError::Parse {
                        path: path.to_owned(),
                        message,
                    });
                }
            }
        }
    };
    for &change in changes {
        meant.apply(change);
    }
    let mut out = toml_lines::set_keys(&text, changes);
    // Lines that were not what they seemed (a key inside a multi-line
    // string, a quoted key): write the meant settings afresh rather than a
    // file that says something else. Comments are lost only then.
    if parse(&out).as_ref() != Ok(&meant) {
        out = meant.render();
    }
    if let Some(dir) = real.parent() {
        files::ensure_private_dir(dir)?;
    }
    files::write_atomic(&real, out.as_bytes(), true)?;
    Ok(written)
}

/// Moves a broken consent file aside so a fresh one can be written.
fn back_up(real: &Path) -> Result<PathBuf, FileError> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut name = real.as_os_str().to_owned();
    name.push(format!(".broken-{secs}"));
    let backup = PathBuf::from(name);
    std::fs::rename(real, &backup).map_err(|e| FileError::Io {
        op: "moving aside",
        path: real.to_owned(),
        source: e,
    })?;
    Ok(backup)
}

/// Stores an explicit choice, with when and how it was made and the
/// consent version it was made under. A broken file is backed up and
/// replaced: an explicit choice must always be storable.
pub fn store_choice(
    path: Option<&Path>,
    consent_var: &str,
    enabled: bool,
    via: ChoiceVia,
    at: &str,
    consent_version: u32,
) -> Result<Written, ConfigError> {
    edit(
        path,
        consent_var,
        true,
        &[
            ("enabled", Some(Scalar::Bool(enabled))),
            ("decided_at", Some(Scalar::Str(at))),
            ("decided_via", Some(Scalar::Str(via.as_str()))),
            (
                "consent_version",
                Some(Scalar::Int(i64::from(consent_version))),
            ),
        ],
    )
}

/// Forgets the stored choice (back to the default policy).
pub fn clear_choice(path: Option<&Path>, consent_var: &str) -> Result<(), ConfigError> {
    if let Some(p) = path {
        if files::read_optional(&locate(p)?)?.is_none() {
            return Ok(());
        }
    }
    edit(
        path,
        consent_var,
        false,
        &[
            ("enabled", None),
            ("decided_at", None),
            ("decided_via", None),
            ("consent_version", None),
        ],
    )?;
    Ok(())
}

/// Records that the notice for `version` has been shown.
pub fn store_notice_version(
    path: Option<&Path>,
    consent_var: &str,
    version: u32,
) -> Result<(), ConfigError> {
    edit(
        path,
        consent_var,
        false,
        &[("notice_version", Some(Scalar::Int(i64::from(version))))],
    )?;
    Ok(())
}

/// Writes `values` as a fresh consent file (the migration from an older
/// version's `[telemetry]` table), unless one exists already.
pub fn write_migrated(path: &Path, values: &UserConfig) -> Result<(), ConfigError> {
    let real = locate(path)?;
    if files::read_optional(&real)?.is_some() {
        return Ok(());
    }
    let text = values.render();
    if let Some(dir) = real.parent() {
        files::ensure_private_dir(dir)?;
    }
    files::write_atomic(&real, text.as_bytes(), true)?;
    Ok(())
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
