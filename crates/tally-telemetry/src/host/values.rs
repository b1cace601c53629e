//! Closed-set dimensions: the value of one argument of a command, recorded
//! with the command's runs when the host opts in
//! ([`Builder::record_value`](crate::Builder::record_value)), so "which
//! shell does `init` target" can be answered without recording anything a
//! user typed freely.
//!
//! The rules, each enforced here rather than trusted to the host:
//!
//! - The argument must have a closed set of values in the host's clap tree:
//!   a `ValueEnum`, or explicit possible values (`value_parser(["a", "b"])`).
//!   An argument without one (a path, a name, a number) is refused: it is
//!   never recorded, [`Builder::check_values`](crate::Builder::check_values)
//!   and `check_contract` fail on it, and `telemetry status` warns.
//! - At most [`MAX_VALUES`] possible values, each of the schema's value
//!   shape (`[a-z0-9][a-z0-9_-]{0,31}`, a command word), and one declared
//!   argument per command: a breakdown per value, not a fingerprint.
//! - What is recorded is the *name of the possible value* the user's input
//!   matched (clap's own matching, aliases and case-insensitivity
//!   included), taken from the tree, never the input itself. A value
//!   outside the set never parses, and were it to, it would match no name
//!   and the run is counted under the command alone.
//! - One value per run: an argument given several times (or taking several
//!   values) records none.
//!
//! The value costs a run only when the host declared one for the command
//! that runs: [`crate::Telemetry::record`] then parses the arguments with
//! clap once more (its walk along subcommand names never reads values);
//! [`crate::Telemetry::record_matches`] reads the host's own matches, and
//! builds the tree to look the set up.

use clap::{ArgMatches, Command, builder::PossibleValue};

use crate::schema::fields::Pattern;

/// Most possible values a recorded argument may have.
pub const MAX_VALUES: usize = 32;

/// Why an argument declared with
/// [`Builder::record_value`](crate::Builder::record_value) is not
/// recorded. Each names the command and the argument, and what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValueError {
    /// The builder has no clap tree to check the declaration against.
    NoCli {
        /// The declared command path.
        command: String,
    },
    /// No such command path in the host's tree.
    NoSuchCommand {
        /// The declared command path.
        command: String,
    },
    /// The command has no argument with that id.
    NoSuchArgument {
        /// The command path.
        command: String,
        /// The declared argument id.
        arg: String,
    },
    /// The argument's values are not a closed set (free text, a number, a
    /// path): never recorded.
    NotClosed {
        /// The command path.
        command: String,
        /// The argument id.
        arg: String,
    },
    /// The argument has more possible values than a recorded one may (32).
    TooMany {
        /// The command path.
        command: String,
        /// The argument id.
        arg: String,
        /// How many it has.
        count: usize,
    },
    /// A possible value is not of the schema's value shape.
    OutsideSchema {
        /// The command path.
        command: String,
        /// The argument id.
        arg: String,
        /// The value.
        value: String,
    },
    /// A second argument declared for one command.
    Twice {
        /// The command path.
        command: String,
    },
}

impl std::fmt::Display for ValueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ValueError::NoCli { command } => write!(
                f,
                "record_value(\"{command}\", …) needs the host's clap tree to check the argument's values; call Builder::cli::<Cli>()"
            ),
            ValueError::NoSuchCommand { command } => write!(
                f,
                "record_value(\"{command}\", …): the CLI has no command path `{command}`; name it as the CLI does (the subcommand names, separated by spaces)"
            ),
            ValueError::NoSuchArgument { command, arg } => write!(
                f,
                "record_value(\"{command}\", \"{arg}\"): `{command}` has no argument with the id `{arg}`; use the argument's id (a derived field's name)"
            ),
            ValueError::NotClosed { command, arg } => write!(
                f,
                "record_value(\"{command}\", \"{arg}\"): `{arg}` takes any value, so it is never recorded; only an argument with a closed set of values (a ValueEnum, or value_parser([\"a\", \"b\"])) can be"
            ),
            ValueError::TooMany {
                command,
                arg,
                count,
            } => write!(
                f,
                "record_value(\"{command}\", \"{arg}\"): `{arg}` has {count} possible values, more than the {MAX_VALUES} a recorded argument may have, so it is never recorded"
            ),
            ValueError::OutsideSchema {
                command,
                arg,
                value,
            } => write!(
                f,
                "record_value(\"{command}\", \"{arg}\"): the possible value {value:?} is not of the shape the schema takes ({}), so `{arg}` is never recorded; rename the value (clap's #[value(name = \"…\")])",
                Pattern::Value.describe()
            ),
            ValueError::Twice { command } => write!(
                f,
                "record_value(\"{command}\", …) is declared more than once; a command records the value of one argument at most"
            ),
        }
    }
}

impl std::error::Error for ValueError {}

/// The subcommand at the CLI path `path` (space-separated names; the empty
/// path is the root).
fn command_at<'a>(root: &'a Command, path: &str) -> Option<&'a Command> {
    let mut cmd = root;
    for word in path.split(' ').filter(|w| !w.is_empty()) {
        cmd = cmd.find_subcommand(word)?;
    }
    Some(cmd)
}

/// The closed set of the argument `arg` of the command at `path`: its
/// possible values, checked against the rules (see the module docs).
pub(crate) fn closed_set(
    root: &Command,
    path: &str,
    arg: &str,
) -> Result<Vec<PossibleValue>, ValueError> {
    let command = || path.to_owned();
    let cmd =
        command_at(root, path).ok_or_else(|| ValueError::NoSuchCommand { command: command() })?;
    let a = cmd
        .get_arguments()
        .find(|a| a.get_id().as_str() == arg)
        .ok_or_else(|| ValueError::NoSuchArgument {
            command: command(),
            arg: arg.to_owned(),
        })?;
    let values = if a.get_action().takes_values() {
        a.get_possible_values()
    } else {
        Vec::new()
    };
    if values.is_empty() {
        return Err(ValueError::NotClosed {
            command: command(),
            arg: arg.to_owned(),
        });
    }
    if values.len() > MAX_VALUES {
        return Err(ValueError::TooMany {
            command: command(),
            arg: arg.to_owned(),
            count: values.len(),
        });
    }
    if let Some(bad) = values
        .iter()
        .find(|v| !Pattern::Value.matches(v.get_name()))
    {
        return Err(ValueError::OutsideSchema {
            command: command(),
            arg: arg.to_owned(),
            value: bad.get_name().to_owned(),
        });
    }
    Ok(values)
}

/// Every problem with the declarations `declared` against the tree `root`
/// (`None`: the builder has none).
pub(crate) fn check(root: Option<&Command>, declared: &[(String, String)]) -> Vec<ValueError> {
    let mut out = Vec::new();
    for (i, (path, arg)) in declared.iter().enumerate() {
        if declared[..i].iter().any(|(p, _)| p == path) {
            out.push(ValueError::Twice {
                command: path.clone(),
            });
            continue;
        }
        match root {
            None => out.push(ValueError::NoCli {
                command: path.clone(),
            }),
            Some(root) => {
                if let Err(e) = closed_set(root, path, arg) {
                    out.push(e);
                }
            }
        }
    }
    out
}

/// The argument declared for the CLI path `path`, if exactly one is
/// (a command with two declared is refused whole).
pub(crate) fn declared_for<'a>(declared: &'a [(String, String)], path: &str) -> Option<&'a str> {
    let mut found = declared.iter().filter(|(p, _)| p == path);
    let (_, arg) = found.next()?;
    found.next().is_none().then_some(arg.as_str())
}

/// The matches of the subcommand at the end of `matches`' chain.
fn leaf(matches: &ArgMatches) -> &ArgMatches {
    let mut m = matches;
    while let Some((_, sub)) = m.subcommand() {
        m = sub;
    }
    m
}

/// The recorded value of `arg` in the parsed `matches` (the root's) of a
/// run of `path`: the name of the possible value the input matched, or
/// `None` when the declaration is refused, the argument was not given, or
/// given more than once.
pub(crate) fn value_in(
    root: &Command,
    path: &str,
    arg: &str,
    matches: &ArgMatches,
) -> Option<String> {
    let set = closed_set(root, path, arg).ok()?;
    let cmd = command_at(root, path)?;
    let ignore_case = cmd
        .get_arguments()
        .find(|a| a.get_id().as_str() == arg)
        .is_some_and(|a| a.is_ignore_case_set());
    let mut raw = leaf(matches).try_get_raw(arg).ok()??;
    let first = raw.next()?.to_str()?;
    if raw.next().is_some() {
        return None;
    }
    set.iter()
        .find(|v| v.matches(first, ignore_case))
        .map(|v| v.get_name().to_owned())
}

/// [`value_in`] for a run known only by its process arguments: parses
/// them with clap (the host's own parse accepted them).
pub(crate) fn value_of_args(
    root: &Command,
    path: &str,
    arg: &str,
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> Option<String> {
    closed_set(root, path, arg).ok()?;
    let matches = root.clone().try_get_matches_from(args).ok()?;
    (crate::host::tree::command_path(&matches) == path)
        .then(|| value_in(root, path, arg, &matches))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, ArgAction};

    fn cli() -> Command {
        Command::new("mytool")
            .subcommand(
                Command::new("init").arg(
                    Arg::new("shell")
                        .value_parser(clap::builder::PossibleValuesParser::new([
                            PossibleValue::new("bash").alias("sh"),
                            PossibleValue::new("zsh"),
                            PossibleValue::new("fish"),
                        ]))
                        .ignore_case(true),
                ),
            )
            .subcommand(
                Command::new("open")
                    .arg(Arg::new("path"))
                    .arg(Arg::new("flag").long("flag").action(ArgAction::SetTrue))
                    .arg(Arg::new("Mode").long("mode").value_parser(["Fast", "slow"]))
                    .arg(Arg::new("many").long("many").value_parser(
                        clap::builder::PossibleValuesParser::new(
                            (0..40).map(|i| PossibleValue::new(&*format!("v{i}").leak())),
                        ),
                    )),
            )
    }

    fn args(a: &[&str]) -> Vec<std::ffi::OsString> {
        a.iter().map(|s| (*s).into()).collect()
    }

    #[derive(clap::Parser)]
    struct Derived {
        #[command(subcommand)]
        command: Sub,
    }

    #[derive(clap::Subcommand)]
    enum Sub {
        Init { shell: Shell },
        Open { path: String },
    }

    #[derive(Clone, clap::ValueEnum)]
    enum Shell {
        Bash,
        PowerShell,
    }

    #[test]
    fn the_builder_refuses_a_free_text_argument_and_takes_a_value_enum() {
        let b = crate::Builder::new("demo").cli::<Derived>();
        b.clone()
            .record_value("init", "shell")
            .check_values()
            .unwrap();
        let e = b
            .clone()
            .record_value("open", "path")
            .check_values()
            .unwrap_err();
        assert!(matches!(e, ValueError::NotClosed { .. }), "{e}");
        // The host's contract check fails on it too, before any drift.
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("T.md");
        let refused = b.clone().record_value("open", "path");
        refused.write_contract(&f).unwrap();
        let e = refused.check_contract(&f).unwrap_err().to_string();
        assert!(e.contains("`path` takes any value"), "{e}");
        // A ValueEnum's variants are its set, under clap's names.
        let set = closed_set(
            &<Derived as clap::CommandFactory>::command(),
            "init",
            "shell",
        )
        .unwrap();
        let names: Vec<&str> = set.iter().map(|v| v.get_name()).collect();
        assert_eq!(names, ["bash", "power-shell"]);
        // Without a tree there is nothing to check against.
        let e = crate::Builder::new("demo")
            .record_value("init", "shell")
            .check_values()
            .unwrap_err();
        assert!(matches!(e, ValueError::NoCli { .. }), "{e}");
    }

    #[test]
    fn the_name_of_the_matched_value_is_recorded_never_the_input() {
        let c = cli();
        let v = |a: &[&str]| value_of_args(&c, "init", "shell", args(a));
        assert_eq!(v(&["mytool", "init", "bash"]).as_deref(), Some("bash"));
        assert_eq!(v(&["mytool", "init", "ZSH"]).as_deref(), Some("zsh"));
        assert_eq!(v(&["mytool", "init", "sh"]).as_deref(), Some("bash"));
        // Outside the set: clap refuses it, and nothing is recorded.
        assert_eq!(v(&["mytool", "init", "/home/CANARY"]), None);
        assert_eq!(v(&["mytool", "init"]), None);
        // Another command's run records nothing for `init`.
        assert_eq!(v(&["mytool", "open", "x"]), None);
    }

    #[test]
    fn an_argument_without_a_closed_set_of_schema_words_is_refused() {
        let c = cli();
        let e = |arg: &str| closed_set(&c, "open", arg).unwrap_err();
        assert!(matches!(e("path"), ValueError::NotClosed { .. }));
        assert!(matches!(e("flag"), ValueError::NotClosed { .. }));
        assert!(
            matches!(e("Mode"), ValueError::OutsideSchema { ref value, .. } if value == "Fast")
        );
        assert!(matches!(e("many"), ValueError::TooMany { count: 40, .. }));
        assert!(matches!(e("nope"), ValueError::NoSuchArgument { .. }));
        assert!(matches!(
            closed_set(&c, "close", "x").unwrap_err(),
            ValueError::NoSuchCommand { .. }
        ));
        let text = e("path").to_string();
        assert!(text.contains("`path` takes any value"), "{text}");
        // A refused declaration records nothing, even for input that parses.
        assert_eq!(
            value_of_args(
                &c,
                "open",
                "path",
                args(&["mytool", "open", "/home/CANARY"])
            ),
            None
        );
        let declared = vec![
            ("init".to_owned(), "shell".to_owned()),
            ("init".to_owned(), "other".to_owned()),
        ];
        assert_eq!(
            check(Some(&c), &declared),
            [ValueError::Twice {
                command: "init".into()
            }]
        );
        assert_eq!(check(None, &declared[..1]).len(), 1);
    }
}
