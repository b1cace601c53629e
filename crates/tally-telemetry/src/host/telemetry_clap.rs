//! The clap side of [`TelemetryArgs`] and [`TelemetryCommand`], written by
//! hand so that a fast command pays for neither: the host's tree holds the
//! `telemetry` command alone, its subcommands deferred (`Command::defer`:
//! clap adds them when it enters `telemetry`, for a run, its help or
//! `help telemetry …`), and the parse of `--no-telemetry` notes this run's
//! subcommand path, so `init` does not build the host's tree a second time
//! to find it.

use std::cell::RefCell;
use std::ffi::OsStr;

use clap::{
    Arg, ArgAction, ArgGroup, ArgMatches, Args, Command, Error, FromArgMatches, Subcommand,
};

use crate::host::args::{TelemetryArgs, TelemetryCommand};
use crate::host::tree::{MARKER, command_path};

/// The id of `--no-telemetry`.
const NO_TELEMETRY: &str = "no_telemetry";

impl Args for TelemetryArgs {
    fn augment_args(cmd: Command) -> Command {
        cmd.arg(
            Arg::new(NO_TELEMETRY)
                .long("no-telemetry")
                // A flag without a default value: `SetTrue` would give it an
                // implicit `false` that clap stores at the root and copies
                // into every subcommand's matches on every parse (its
                // global-value propagation), about 22,000 instructions of a
                // fast command (scripts/callgrind.sh). Absent, it is simply
                // not in the matches; given twice it is the same error.
                .action(ArgAction::Set)
                .num_args(0)
                .default_missing_value("true")
                .value_parser(clap::value_parser!(bool))
                .global(true)
                // Listed after the command's own options, wherever it is
                // propagated.
                .display_order(1000)
                .help("Disable telemetry for this run (nothing is recorded or sent)"),
        )
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl FromArgMatches for TelemetryArgs {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, Error> {
        Self::from_arg_matches_mut(&mut m.clone())
    }

    fn from_arg_matches_mut(m: &mut ArgMatches) -> Result<Self, Error> {
        let mut args = TelemetryArgs::default();
        args.update_from_arg_matches_mut(m)?;
        Ok(args)
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), Error> {
        self.update_from_arg_matches_mut(&mut m.clone())
    }

    fn update_from_arg_matches_mut(&mut self, m: &mut ArgMatches) -> Result<(), Error> {
        // Flattened into the root (as the README shows, before the
        // subcommand field), these are the whole run's matches.
        if m.subcommand().is_some() {
            note_path(command_path(m));
        }
        if let Ok(Some(on)) = m.try_get_one::<bool>(NO_TELEMETRY) {
            self.no_telemetry |= *on;
        }
        Ok(())
    }
}

/// What the last parse of a host's arguments found, for `init`.
#[derive(Debug, Default)]
struct Noted {
    /// The name of the command the host placed [`TelemetryCommand`] under,
    /// from the last tree built with it.
    manage: Option<String>,
    /// The subcommand path of the last parse, until `init` takes it.
    path: Option<String>,
}

thread_local! {
    // Per thread: a host parses and calls `init` on its main thread; one
    // that does not gets the tree walk, which finds the same path.
    static NOTED: RefCell<Noted> = const {
        RefCell::new(Noted {
            manage: None,
            path: None,
        })
    };
}

fn with_noted<T>(f: impl FnOnce(&mut Noted) -> T) -> T {
    NOTED.with(|n| f(&mut n.borrow_mut()))
}

fn note_path(path: String) {
    with_noted(|n| n.path = Some(path));
}

/// This run's subcommand path as the host's own parse found it, and the
/// name of its `telemetry` command, when both are known and the path fits
/// the process arguments (its first word is the first word of them that is
/// not an option: `TelemetryArgs` flattened anywhere but the root would
/// see only part of the path). Taken once: a second `init` walks the tree.
pub(crate) fn take_parsed() -> Option<(String, Option<String>)> {
    let (path, manage) = with_noted(|n| Some((n.path.take()?, n.manage.clone())))?;
    let first_word = std::env::args_os()
        .skip(1)
        .find(|a| !a.as_encoded_bytes().starts_with(b"-"))?;
    let first = path.split(' ').next()?;
    (first_word == OsStr::new(first) || first == crate::host::tree::EXTERNAL)
        .then_some((path, manage))
}

impl Subcommand for TelemetryCommand {
    fn augment_subcommands(cmd: Command) -> Command {
        with_noted(|n| n.manage = Some(cmd.get_name().to_owned()));
        cmd.group(ArgGroup::new(MARKER))
            .defer(Full::augment_subcommands)
    }

    fn augment_subcommands_for_update(cmd: Command) -> Command {
        Self::augment_subcommands(cmd)
    }

    fn has_subcommand(name: &str) -> bool {
        Full::has_subcommand(name)
    }
}

impl FromArgMatches for TelemetryCommand {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, Error> {
        Full::from_arg_matches(m).map(TelemetryCommand::from)
    }

    fn from_arg_matches_mut(m: &mut ArgMatches) -> Result<Self, Error> {
        Full::from_arg_matches_mut(m).map(TelemetryCommand::from)
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }

    fn update_from_arg_matches_mut(&mut self, m: &mut ArgMatches) -> Result<(), Error> {
        *self = Self::from_arg_matches_mut(m)?;
        Ok(())
    }
}

impl TelemetryCommand {
    /// The whole `telemetry …` subtree, named `name`, built now. For shell
    /// completions: clap's generated `help` subcommand copies the host's
    /// tree before the deferred subcommands are added, so a generator
    /// offers `help telemetry <TAB>` only with this in place of the command
    /// that holds `TelemetryCommand`.
    pub fn command(name: &str) -> Command {
        let cmd = Full::augment_subcommands(Command::new(name.to_owned()))
            .subcommand_required(true)
            .arg_required_else_help(true);
        TelemetryArgs::augment_args(cmd)
    }
}

// The `telemetry …` subcommands as clap types, with their help texts. Not a
// doc comment: clap would make it the about text of the host's `telemetry`
// command, over the host's own (the subcommands are added after it).
#[derive(Subcommand)]
enum Full {
    /// Show whether telemetry is on, what decided it, and where its data lives
    Status {
        /// Print machine-readable JSON
        #[arg(long)]
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
        #[arg(long)]
        force: bool,
        /// Print the outcome as JSON on stdout (result: answered, already_decided, not_asked, no_answer)
        #[arg(long)]
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
        #[arg(long)]
        json: bool,
    },
    /// Print exactly what the next send would post, and today's local counts
    Show {
        /// Print machine-readable JSON
        #[arg(long)]
        json: bool,
    },
    /// List the batches sent from this machine, oldest first (at least the newest 100 are kept)
    Log {
        /// Print machine-readable JSON
        #[arg(long)]
        json: bool,
    },
}

impl From<Full> for TelemetryCommand {
    fn from(f: Full) -> TelemetryCommand {
        match f {
            Full::Status { json } => TelemetryCommand::Status { json },
            Full::On => TelemetryCommand::On,
            Full::Off => TelemetryCommand::Off,
            Full::Prompt { force, json } => TelemetryCommand::Prompt { force, json },
            Full::Uninstall => TelemetryCommand::Uninstall,
            Full::Reset => TelemetryCommand::Reset,
            Full::Flush { json } => TelemetryCommand::Flush { json },
            Full::Show { json } => TelemetryCommand::Show { json },
            Full::Log { json } => TelemetryCommand::Log { json },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::args::TELEMETRY_WORDS;
    use clap::error::ErrorKind;
    use clap::{CommandFactory, Parser};

    #[derive(Parser, Debug)]
    #[command(name = "mytool")]
    struct Cli {
        #[command(flatten)]
        telemetry: TelemetryArgs,
        #[command(subcommand)]
        command: Cmd,
    }

    #[derive(clap::Subcommand, Debug)]
    enum Cmd {
        Build,
        /// See and change what mytool collects
        Privacy {
            #[command(subcommand)]
            command: TelemetryCommand,
        },
    }

    fn parse(args: &[&str]) -> Result<Cli, Error> {
        Cli::try_parse_from(args)
    }

    #[test]
    fn the_full_subtree_is_every_telemetry_word() {
        let full = TelemetryCommand::command("telemetry");
        let names: Vec<&str> = full.get_subcommands().map(|c| c.get_name()).collect();
        assert_eq!(names, TELEMETRY_WORDS);
        assert!(
            TELEMETRY_WORDS
                .iter()
                .all(|w| TelemetryCommand::has_subcommand(w))
        );
    }

    #[test]
    fn every_telemetry_subcommand_parses_through_the_deferred_tree() {
        for (args, want) in [
            (
                &["mytool", "privacy", "status", "--json"][..],
                TelemetryCommand::Status { json: true },
            ),
            (&["mytool", "privacy", "off"], TelemetryCommand::Off),
            (
                &["mytool", "privacy", "prompt", "--force"],
                TelemetryCommand::Prompt {
                    force: true,
                    json: false,
                },
            ),
            (
                &["mytool", "--no-telemetry", "privacy", "log"],
                TelemetryCommand::Log { json: false },
            ),
            (
                &["mytool", "privacy", "--no-telemetry", "show", "--json"],
                TelemetryCommand::Show { json: true },
            ),
            (
                &["mytool", "privacy", "flush", "--no-telemetry"],
                TelemetryCommand::Flush { json: false },
            ),
        ] {
            match parse(args) {
                Ok(Cli {
                    command: Cmd::Privacy { command },
                    ..
                }) => assert_eq!(command, want, "{args:?}"),
                other => panic!("{args:?}: {other:?}"),
            }
        }
        for words in TELEMETRY_WORDS {
            assert!(parse(&["mytool", "privacy", words]).is_ok(), "{words}");
        }
    }

    #[test]
    fn no_telemetry_is_read_wherever_it_is_given_and_false_when_absent() {
        for (args, want) in [
            (&["mytool", "build"][..], false),
            (&["mytool", "--no-telemetry", "build"], true),
            (&["mytool", "build", "--no-telemetry"], true),
            (&["mytool", "privacy", "status", "--no-telemetry"], true),
            (&["mytool", "privacy", "--no-telemetry", "off"], true),
        ] {
            let cli = parse(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
            assert_eq!(cli.telemetry.no_telemetry, want, "{args:?}");
        }
        // As clap's own flags: no value, and not twice at one level.
        for args in [
            &["mytool", "--no-telemetry=false", "build"][..],
            &["mytool", "build", "--no-telemetry", "--no-telemetry"],
        ] {
            assert!(parse(args).is_err(), "{args:?}");
        }
        let help = parse(&["mytool", "build", "--help"])
            .unwrap_err()
            .to_string();
        assert!(
            help.contains("--no-telemetry  Disable telemetry for this run"),
            "{help}"
        );
    }

    #[test]
    fn bad_telemetry_arguments_are_clap_errors_and_help_is_clap_help() {
        let kind = |args: &[&str]| parse(args).unwrap_err().kind();
        assert_eq!(
            kind(&["mytool", "privacy", "stat"]),
            ErrorKind::InvalidSubcommand
        );
        assert_eq!(
            kind(&["mytool", "help", "privacy", "status"]),
            ErrorKind::DisplayHelp
        );
        assert_eq!(
            kind(&["mytool", "privacy", "on", "--json"]),
            ErrorKind::UnknownArgument
        );
        assert_eq!(
            kind(&["mytool", "privacy", "status", "--help"]),
            ErrorKind::DisplayHelp
        );
        assert_eq!(
            kind(&["mytool", "privacy", "help", "off"]),
            ErrorKind::DisplayHelp
        );
        let err = parse(&["mytool", "privacy"]).unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
        );
        let help = err.to_string();
        assert!(
            help.starts_with("See and change what mytool collects"),
            "{help}"
        );
        assert!(help.contains("Commands:\n  status"), "{help}");
        assert!(
            help.contains("Usage: mytool privacy [OPTIONS] <COMMAND>"),
            "{help}"
        );
        let status_help = parse(&["mytool", "privacy", "status", "--help"])
            .unwrap_err()
            .to_string();
        assert!(status_help.contains("--json"), "{status_help}");
    }

    #[test]
    fn the_hosts_tree_holds_the_telemetry_command_alone_marked_as_ours() {
        let cli = Cli::command();
        let privacy = cli.find_subcommand("privacy").unwrap();
        assert_eq!(privacy.get_subcommands().count(), 0);
        assert!(crate::host::tree::is_manage_command(privacy));
        assert!(!crate::host::tree::is_manage_command(
            cli.find_subcommand("build").unwrap()
        ));
        let mut built = Cli::command();
        built.build();
        let privacy = built.find_subcommand("privacy").unwrap();
        assert!(crate::host::tree::is_manage_command(privacy));
        assert_eq!(privacy.get_subcommands().count(), TELEMETRY_WORDS.len() + 1);
    }

    #[test]
    fn the_parse_notes_the_path_only_from_the_root() {
        parse(&["mytool", "build"]).unwrap();
        assert_eq!(with_noted(|n| n.path.take()).as_deref(), Some("build"));
        assert_eq!(with_noted(|n| n.manage.clone()).as_deref(), Some("privacy"));
        let m = Command::new("leaf")
            .arg(
                Arg::new(NO_TELEMETRY)
                    .long("no-telemetry")
                    .action(ArgAction::SetTrue),
            )
            .get_matches_from(["leaf"]);
        assert!(!TelemetryArgs::from_arg_matches(&m).unwrap().no_telemetry);
        assert_eq!(with_noted(|n| n.path.take()), None);
    }
}
