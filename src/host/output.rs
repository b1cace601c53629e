//! What every `telemetry …` command shares in how it answers: the error
//! type and its exit codes, `--json` output, colour, and the words used for
//! on/off and for paths.

use std::io::{self, Write};

use crate::consent::config;
use crate::consent::settings::Settings;
use crate::os::files;
use crate::record::spool;

/// A failure of a telemetry command.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The arguments are wrong (exit code 2).
    #[error("{0}")]
    Usage(String),
    /// The config file could not be changed.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// A state file could not be changed.
    #[error(transparent)]
    File(#[from] files::FileError),
    /// The spool could not be read.
    #[error(transparent)]
    Spool(#[from] spool::SpoolError),
    /// Writing the output failed.
    #[error("writing output: {0}")]
    Output(#[from] io::Error),
}

/// Whether to colour output written to `out`: only when stdout is a
/// terminal and `NO_COLOR` is unset.
pub fn use_color(s: &Settings) -> bool {
    use std::io::IsTerminal;
    s.env.non_empty("NO_COLOR").is_none() && std::io::stdout().is_terminal()
}

/// Writes `v` as pretty JSON and a newline: the `--json` output of every
/// command.
pub(crate) fn print_json(
    out: &mut dyn Write,
    v: &impl serde::Serialize,
) -> Result<(), CommandError> {
    writeln!(
        out,
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_default()
    )?;
    Ok(())
}

pub(crate) fn word(enabled: bool) -> &'static str {
    if enabled { "enabled" } else { "disabled" }
}

pub(crate) fn path_text(p: Option<&std::path::Path>) -> String {
    p.map_or_else(
        || "(unknown: no home directory)".into(),
        |p| p.display().to_string(),
    )
}
