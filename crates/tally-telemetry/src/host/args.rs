//! The clap types of the `telemetry …` and `config otel …` subcommands,
//! apart from what runs them (`command`), so the host's command tree
//! (`tree`) can name them without depending on the commands' code.

#[cfg(feature = "clap")]
use clap::{Args, Subcommand};

/// The global flag a host flattens into its top-level arguments.
#[derive(Clone, Copy, Debug, Default)]
#[cfg_attr(feature = "clap", derive(Args))]
pub struct TelemetryArgs {
    /// Disable telemetry for this run (nothing is recorded or sent)
    #[cfg_attr(feature = "clap", arg(long, global = true))]
    pub no_telemetry: bool,
}

/// `telemetry …`: see and change what this tool collects.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "clap", derive(Subcommand))]
#[non_exhaustive]
pub enum TelemetryCommand {
    /// Show whether telemetry is on, what decided it, and where its data lives
    Status {
        /// Print machine-readable JSON
        #[cfg_attr(feature = "clap", arg(long))]
        json: bool,
    },
    /// Turn telemetry on (stores your choice in the config file)
    On,
    /// Turn telemetry off: stores your choice, deletes buffered data and the machine id
    Off,
    /// Ask whether to share usage statistics and store the answer (for installers)
    ///
    /// Asks only when nothing has decided yet (or with --force), stdin and
    /// stderr are terminals, no CI is detected and an endpoint is configured;
    /// otherwise says why on stderr and decides nothing. Enter takes the
    /// default; Ctrl-C, Ctrl-D or Esc decide nothing. A "yes" records an
    /// install event; a "no" deletes everything recorded so far.
    ///
    /// Exit status: 0 when a choice is in force afterwards (answered now, or
    /// decided before), 3 when no one could be asked, 4 when the question
    /// went unanswered.
    Prompt {
        /// Ask even if a choice was already made (the new answer replaces it)
        #[cfg_attr(feature = "clap", arg(long))]
        force: bool,
        /// Print the outcome as JSON on stdout (result: answered, already_decided, not_asked, no_answer)
        #[cfg_attr(feature = "clap", arg(long))]
        json: bool,
    },
    /// For uninstallers: record the uninstall, send what is left (today included), delete local data
    ///
    /// The stored choice is kept, so a reinstall remembers it. Sends only
    /// when telemetry is on; always exits 0.
    Uninstall,
    /// Drop buffered data and replace the machine id with a new random one
    ///
    /// A new id is minted only while telemetry is on.
    Reset,
    /// Send completed days now, in the foreground, and report what happened
    ///
    /// Today's counts stay on this machine until the UTC day is over.
    Flush {
        /// Print machine-readable JSON
        #[cfg_attr(feature = "clap", arg(long))]
        json: bool,
    },
    /// Print exactly what the next send would post, and today's local counts
    Show {
        /// Print machine-readable JSON
        #[cfg_attr(feature = "clap", arg(long))]
        json: bool,
    },
    /// List the batches sent from this machine, oldest first (at least the newest 100 are kept)
    Log {
        /// Print machine-readable JSON
        #[cfg_attr(feature = "clap", arg(long))]
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
