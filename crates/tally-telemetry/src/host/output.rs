//! What every `telemetry …` command shares in how it answers: the error
//! type and its exit codes, `--json` output, colour, and the words used for
//! on/off and for paths.

use std::io::{self, Write};

use crate::consent::config;
use crate::consent::settings::Settings;
use crate::deliver::sender::Outcome;
use crate::os::files;
use crate::record::spool;
use crate::record::state;

/// A failure of a telemetry command. The message says what happened, to
/// which file, and what to do.
#[derive(Debug)]
#[non_exhaustive]
pub enum CommandError {
    /// The arguments are wrong (exit code 2).
    Usage(String),
    /// A file tally keeps (the consent file, a state file, the spool) could
    /// not be read or changed (exit code 1).
    File(String),
    /// `telemetry flush` could not deliver (exit code 1); what happened was
    /// already printed, the message says why.
    NotSent(String),
    /// `telemetry flush` could not even try (telemetry off, no endpoint, no
    /// state directory, the notice not yet shown): exit code 1; the reason
    /// was already printed.
    NotAttempted,
    /// Writing the output failed.
    Output(io::Error),
    /// `telemetry prompt` decided nothing; the code says why (3: no one
    /// could be asked, 4: no answer). The reason was already printed.
    Undecided(u8),
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommandError::Usage(m) | CommandError::File(m) | CommandError::NotSent(m) => {
                f.write_str(m)
            }
            CommandError::Output(e) => write!(f, "writing output: {e}"),
            CommandError::Undecided(_) => f.write_str("nothing was decided"),
            CommandError::NotAttempted => f.write_str("nothing could be sent"),
        }
    }
}

// No `source()`: every message already says its cause, and a host that
// prints the chain (anyhow's `{:#}`) would print it twice ("writing output:
// Broken pipe: Broken pipe"). The I/O error stays reachable by matching
// `CommandError::Output`.
impl std::error::Error for CommandError {}

impl From<io::Error> for CommandError {
    fn from(e: io::Error) -> Self {
        CommandError::Output(e)
    }
}

impl CommandError {
    /// The exit code a host should end with: 2 for wrong arguments, the
    /// prompt's own codes, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            CommandError::Usage(_) => 2,
            CommandError::Undecided(code) => *code,
            _ => 1,
        }
    }

    /// Whether the message was already shown, so a host prints nothing more.
    pub fn is_silent(&self) -> bool {
        matches!(
            self,
            CommandError::Undecided(_) | CommandError::NotAttempted
        )
    }
}

// The internal error types stay internal: a command error carries their
// message, which already names the path and the fix.
impl From<config::ConfigError> for CommandError {
    fn from(e: config::ConfigError) -> Self {
        CommandError::File(e.to_string())
    }
}

impl From<files::FileError> for CommandError {
    fn from(e: files::FileError) -> Self {
        CommandError::File(e.to_string())
    }
}

impl From<spool::SpoolError> for CommandError {
    fn from(e: spool::SpoolError) -> Self {
        CommandError::File(e.to_string())
    }
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

/// A send's outcome as a stable word, a sentence, and the batches.
pub(crate) fn outcome_words(
    s: &Settings,
    outcome: &Outcome,
) -> (&'static str, String, Vec<state::LedgerEntry>) {
    match outcome {
        Outcome::Disabled => ("disabled", s.consent.reason.clone(), vec![]),
        Outcome::NoEndpoint => (
            "no_endpoint",
            format!(
                "no endpoint is configured (set {}){}",
                s.app.var("TELEMETRY_ENDPOINT"),
                if s.otlp.enabled {
                    "; the export to your OpenTelemetry collector ran first (see `status` for its result)"
                } else {
                    ""
                }
            ),
            vec![],
        ),
        Outcome::Unusable(why) => ("not_sent", why.clone(), vec![]),
        Outcome::NoStateDir => ("no_state_dir", "no state directory is known".into(), vec![]),
        Outcome::NoticePending => (
            "notice_pending",
            "the usage notice has not been shown in an earlier run yet, so nothing may be sent"
                .into(),
            vec![],
        ),
        Outcome::BackedOff(u) => (
            "backed_off",
            format!("backing off until {}", crate::os::clock::format_unix(*u)),
            vec![],
        ),
        Outcome::Busy => (
            "busy",
            "another process is sending right now".into(),
            vec![],
        ),
        Outcome::NothingDue => (
            "nothing_due",
            "no completed day is waiting (today's counts stay local until the day is over)".into(),
            vec![],
        ),
        Outcome::Printed => (
            "printed",
            "debug mode: the payload was printed to stderr and not sent".into(),
            vec![],
        ),
        Outcome::Done(e) => (
            "sent",
            format!(
                "{} batch(es) delivered",
                e.iter().filter(|x| x.result == "sent").count()
            ),
            e.clone(),
        ),
        Outcome::Failed(m, e) => ("failed", m.clone(), e.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each cause once when a host prints the whole chain.
    #[test]
    fn the_cause_is_printed_once_through_the_chain() {
        let e = CommandError::Output(io::Error::other("disk on fire"));
        let mut text = e.to_string();
        let mut cause = std::error::Error::source(&e);
        while let Some(c) = cause {
            text.push_str(&format!(": {c}"));
            cause = c.source();
        }
        assert_eq!(text.matches("disk on fire").count(), 1, "{text}");
    }
}
