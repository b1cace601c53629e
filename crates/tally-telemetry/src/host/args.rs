//! The clap types of the `telemetry …` and `config otel …` subcommands,
//! apart from what runs them (`command`), so the host's command tree
//! (`tree`) can name them without depending on the commands' code.

#[cfg(feature = "clap")]
use clap::Subcommand;

/// The global flag a host flattens into its top-level arguments.
// `about = None`, `long_about = None`: clap would otherwise show this doc
// comment as the about text of a host that has none of its own; a host's
// own `about` still wins (tests/cli: the README host's help).
// Its clap side (`host::telemetry_clap`) is written by hand: its parse also
// notes this run's subcommand path, so `init` need not build the tree again.
#[derive(Clone, Copy, Debug, Default)]
pub struct TelemetryArgs {
    /// Disable telemetry for this run (nothing is recorded or sent)
    pub no_telemetry: bool,
}

#[cfg(feature = "clap")]
impl TelemetryArgs {
    /// Parses the process arguments as `C` with `--no-telemetry` added as a
    /// global flag: for a CLI whose root is an enum (`#[derive(Parser)] enum
    /// Cmd`), which has no struct to flatten `TelemetryArgs` into. Exits as
    /// `C::parse()` would on a usage error, `--help` or `--version`.
    ///
    /// ```no_run
    /// # use clap::Parser;
    /// #[derive(Parser)]
    /// enum Cmd { Build }
    /// let (cmd, flags) = tally_telemetry::TelemetryArgs::parse_with::<Cmd>();
    /// let telemetry = tally_telemetry::Telemetry::builder("mytool")
    ///     .no_telemetry(flags.no_telemetry)
    ///     .cli::<Cmd>()
    ///     .init();
    /// ```
    pub fn parse_with<C: clap::Parser>() -> (C, TelemetryArgs) {
        use clap::{Args, FromArgMatches};
        let mut cmd = Self::augment_args(C::command());
        let mut m = cmd.clone().get_matches();
        let flags =
            Self::from_arg_matches_mut(&mut m).unwrap_or_else(|e| e.format(&mut cmd).exit());
        let c = C::from_arg_matches_mut(&mut m).unwrap_or_else(|e| e.format(&mut cmd).exit());
        (c, flags)
    }
}

/// `telemetry …`: see and change what this tool collects.
///
/// In a host's clap tree (`#[command(subcommand)] command: TelemetryCommand`)
/// only the `telemetry` command itself is built; its subcommands are built
/// and parsed when one of them runs, so a fast command does not pay for
/// them. [`TelemetryCommand::command`] gives the whole subtree, for shell
/// completions and man pages.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TelemetryCommand {
    /// Show whether telemetry is on, what decided it, and where its data lives
    Status {
        /// Print machine-readable JSON
        json: bool,
    },
    /// Turn telemetry on (stores your choice in the config file)
    On,
    /// Turn telemetry off: stores your choice, deletes buffered data and the machine id
    Off,
    /// Ask whether to share usage statistics and store the answer (for installers)
    Prompt {
        /// Ask even if a choice was already made
        force: bool,
        /// Print the outcome as JSON on stdout
        json: bool,
    },
    /// For uninstallers: record the uninstall, send what is left, delete local data
    Uninstall,
    /// Drop buffered data and replace the machine id with a new random one
    Reset,
    /// Send completed days now, in the foreground, and report what happened
    Flush {
        /// Print machine-readable JSON
        json: bool,
    },
    /// Print exactly what the next send would post, and today's local counts
    Show {
        /// Print machine-readable JSON
        json: bool,
    },
    /// List the batches sent from this machine, oldest first
    Log {
        /// Print machine-readable JSON
        json: bool,
    },
}

/// `config …`: the stored choice under the key names ToolHive users know.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "clap", derive(Subcommand))]
#[non_exhaustive]
pub enum ConfigCommand {
    /// Get, set or unset `usage-analytics-enabled`: the stored telemetry choice, as in `thv config otel`
    Otel {
        /// What to do with the key.
        #[cfg_attr(feature = "clap", command(subcommand))]
        action: OtelAction,
    },
}

/// `config otel get|set|unset KEY`.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "clap", derive(Subcommand))]
pub enum OtelAction {
    /// Print a key's stored value, or `unset` and what decides instead
    Get {
        /// The key (usage-analytics-enabled)
        key: String,
    },
    /// Store a key's value (`set usage-analytics-enabled false` is `telemetry off`)
    Set {
        /// The key (usage-analytics-enabled)
        key: String,
        /// true or false
        value: String,
    },
    /// Forget a key's stored value, so the default decides again
    Unset {
        /// The key (usage-analytics-enabled)
        key: String,
    },
}

/// The keys `config otel` knows.
pub const OTEL_KEYS: &[&str] = &["usage-analytics-enabled"];

/// The subcommand words [`TelemetryCommand::from_words`] knows, in the
/// order `--help` lists them.
pub const TELEMETRY_WORDS: &[&str] = &[
    "status",
    "on",
    "off",
    "prompt",
    "uninstall",
    "reset",
    "flush",
    "show",
    "log",
];

impl TelemetryCommand {
    /// Parses the words after `telemetry` (`["status", "--json"]`) without
    /// clap: the one parser behind the Node.js and Python packages and any
    /// host that routes its own arguments, so every `telemetry …`
    /// subcommand reaches the same implementation as the clap host's. The
    /// error says what was wrong and what is accepted.
    pub fn from_words<S: AsRef<str>>(words: &[S]) -> Result<TelemetryCommand, String> {
        let (first, rest) = match words.split_first() {
            Some((f, r)) => (f.as_ref(), r),
            None => {
                return Err(format!(
                    "a subcommand is required: {}",
                    TELEMETRY_WORDS.join(", ")
                ));
            }
        };
        let mut json = false;
        let mut force = false;
        for flag in rest.iter().map(AsRef::as_ref) {
            match flag {
                "--json" if matches!(first, "status" | "prompt" | "flush" | "show" | "log") => {
                    json = true
                }
                "--force" if first == "prompt" => force = true,
                other => {
                    return Err(format!("unexpected argument {other:?} for `{first}`"));
                }
            }
        }
        Ok(match first {
            "status" => TelemetryCommand::Status { json },
            "on" => TelemetryCommand::On,
            "off" => TelemetryCommand::Off,
            "prompt" => TelemetryCommand::Prompt { force, json },
            "uninstall" => TelemetryCommand::Uninstall,
            "reset" => TelemetryCommand::Reset,
            "flush" => TelemetryCommand::Flush { json },
            "show" => TelemetryCommand::Show { json },
            "log" => TelemetryCommand::Log { json },
            other => {
                return Err(format!(
                    "unknown subcommand {other:?}; expected one of {}",
                    TELEMETRY_WORDS.join(", ")
                ));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_telemetry_word_parses_and_flags_go_only_where_they_belong() {
        for w in TELEMETRY_WORDS {
            assert!(TelemetryCommand::from_words(&[w]).is_ok(), "{w}");
        }
        assert!(matches!(
            TelemetryCommand::from_words(&["prompt", "--force", "--json"]),
            Ok(TelemetryCommand::Prompt {
                force: true,
                json: true
            })
        ));
        assert!(TelemetryCommand::from_words(&["on", "--json"]).is_err());
        assert!(TelemetryCommand::from_words(&["status", "--force"]).is_err());
        assert!(TelemetryCommand::from_words::<&str>(&[]).is_err());
        assert!(TelemetryCommand::from_words(&["stat"]).is_err());
    }
}
