//! The host's clap tree, read by tally: the command paths that exist (only
//! those are ever recorded; an external subcommand is the fixed word
//! `external`), which subcommand is the host's `telemetry …` (whatever the
//! host named it), and the path of this run, re-derived from the process
//! arguments so a host can keep `Cli::parse()`: by walking them along the
//! subcommand names, not by parsing them a second time, which would cost a
//! fast command several times what the rest of tally does in it.

use std::ffi::OsString;

use clap::{Arg, ArgMatches, Command};

#[cfg(doc)]
use crate::host::args::TelemetryCommand;

/// What an external subcommand (clap's `allow_external_subcommands`) is
/// recorded as: never what the user typed, which could be anything.
pub const EXTERNAL: &str = "external";

/// The subcommand path of parsed arguments: `tally config otel get` gives
/// `config otel get`. Only subcommand names the host defines are used;
/// argument values never are, and an external subcommand becomes
/// `external`.
pub fn command_path(matches: &ArgMatches) -> String {
    let mut path = String::new();
    let mut m = matches;
    while let Some((name, sub)) = m.subcommand() {
        if !path.is_empty() {
            path.push(' ');
        }
        // clap keeps an external subcommand's arguments under the empty id,
        // which no defined subcommand can have.
        if sub.ids().any(|id| id.as_str().is_empty()) {
            path.push_str(EXTERNAL);
            break;
        }
        path.push_str(name);
        m = sub;
    }
    path
}

/// The path of `args` (the program name first) in `cmd`, or `None` when
/// they do not parse (the host parsed something else, or clap would have
/// shown help or an error and exited).
///
/// The arguments are walked along the subcommand names, skipping options
/// and their values; where the walk cannot be sure what clap would make of
/// them (an unknown option, one with optional or several values, a
/// positional argument or `--` before the last subcommand, an inferred
/// subcommand name, a multicall tree, arguments that are not UTF-8), clap
/// parses them instead, as the host did.
pub fn path_of(cmd: &Command, args: impl IntoIterator<Item = OsString>) -> Option<String> {
    let args: Vec<OsString> = args.into_iter().collect();
    if let Some(path) = walk(cmd, &args) {
        return Some(path);
    }
    let m = cmd.clone().try_get_matches_from(args).ok()?;
    Some(command_path(&m))
}

/// The subcommand path of `args` as clap would find it, or `None` when not
/// sure (see [`path_of`]). The arguments of the last subcommand are not
/// looked at: the host's own parse accepted them. The walk ends at the
/// command that holds [`TelemetryCommand`], whose subcommands clap adds only
/// when it enters it: every path under it is a management run alike.
fn walk(root: &Command, args: &[OsString]) -> Option<String> {
    if root.is_multicall_set() {
        return None;
    }
    // The subcommands entered so far: an option may be one of the current
    // subcommand's or a global one of any above it (the tree is not built,
    // so globals are not yet copied down).
    let mut chain = vec![root];
    let mut path = String::new();
    let mut rest = args.iter().skip(1);
    while let Some(arg) = rest.next() {
        let cur = *chain.last()?;
        if cur.get_subcommands().next().is_none() && !cur.is_allow_external_subcommands_set() {
            break;
        }
        let arg = arg.to_str()?;
        if let Some(long) = arg.strip_prefix("--") {
            let (name, attached) = match long.split_once('=') {
                Some((name, _)) => (name, true),
                None => (long, false),
            };
            if name.is_empty() {
                return None;
            }
            let a = find_arg(&chain, |a| {
                a.get_long() == Some(name)
                    || a.get_all_aliases().is_some_and(|all| all.contains(&name))
            })?;
            match (takes_value(a)?, attached) {
                (true, false) => {
                    rest.next()?;
                }
                (true, true) => {}
                (false, false) => {}
                (false, true) => return None,
            }
        } else if let Some(shorts) = arg.strip_prefix('-').filter(|s| !s.is_empty()) {
            for (i, c) in shorts.char_indices() {
                let a = find_arg(&chain, |a| {
                    a.get_short() == Some(c)
                        || a.get_all_short_aliases()
                            .is_some_and(|all| all.contains(&c))
                })?;
                if takes_value(a)? {
                    // `-o value`, or the rest of the word is the value.
                    if i + c.len_utf8() == shorts.len() {
                        rest.next()?;
                    }
                    break;
                }
            }
        } else {
            // With positional arguments here, which of them a word fills is
            // clap's decision.
            if cur.get_positionals().next().is_some() {
                return None;
            }
            if !path.is_empty() {
                path.push(' ');
            }
            match cur.find_subcommand(arg) {
                Some(sub) => {
                    path.push_str(sub.get_name());
                    chain.push(sub);
                }
                None if cur.is_allow_external_subcommands_set() => {
                    path.push_str(EXTERNAL);
                    break;
                }
                None => return None,
            }
        }
    }
    Some(path)
}

/// The argument an option names: one of the innermost subcommand's, or a
/// global one of a subcommand above it.
fn find_arg<'a>(chain: &[&'a Command], matches: impl Fn(&Arg) -> bool) -> Option<&'a Arg> {
    let (cur, above) = chain.split_last()?;
    cur.get_arguments()
        .find(|a| !a.is_positional() && matches(a))
        .or_else(|| {
            above.iter().rev().find_map(|c| {
                c.get_arguments()
                    .find(|a| a.is_global_set() && !a.is_positional() && matches(a))
            })
        })
}

/// Whether an option takes the next word as its value; `None` when that
/// depends on the word (optional or several values, `require_equals`).
fn takes_value(a: &Arg) -> Option<bool> {
    if a.is_require_equals_set() {
        return None;
    }
    match a.get_num_args() {
        Some(r) if r.min_values() == r.max_values() && r.max_values() <= 1 => {
            Some(r.max_values() == 1)
        }
        Some(_) => None,
        None => Some(a.get_action().takes_values()),
    }
}

/// The id of an empty argument group that marks the command a host placed
/// [`TelemetryCommand`] under (its `Subcommand` implementation adds it): it
/// is there before clap builds the command, and costs no argument.
pub(crate) const MARKER: &str = "tally-telemetry-commands";

/// Whether `cmd` is the command a host placed [`TelemetryCommand`] under.
pub(crate) fn is_manage_command(cmd: &Command) -> bool {
    cmd.get_groups().any(|g| g.get_id() == MARKER)
}

/// The name of the subcommand under which the host placed
/// [`TelemetryCommand`]: the top-level subcommand that holds it, under
/// whatever name.
pub fn manage_name(cmd: &Command) -> Option<String> {
    cmd.get_subcommands()
        .find(|c| is_manage_command(c))
        .map(|c| c.get_name().to_owned())
}

/// Every command path that can ever be recorded for `cmd`, sorted: each
/// subcommand (a parent counts too when it can run without a subcommand),
/// `external` where external subcommands are allowed, never the
/// `manage` subtree. The root is left out: a run without a subcommand
/// records nothing.
pub fn recordable_paths(cmd: &Command, manage: Option<&str>) -> Vec<String> {
    fn walk(cmd: &Command, prefix: &str, out: &mut Vec<String>) {
        // clap's generated `help` only prints help: never a recorded run.
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let path = if prefix.is_empty() {
                sub.get_name().to_owned()
            } else {
                format!("{prefix} {}", sub.get_name())
            };
            let has_subs = sub.get_subcommands().next().is_some();
            if !has_subs || !sub.is_subcommand_required_set() {
                out.push(path.clone());
            }
            walk(sub, &path, out);
        }
        if cmd.is_allow_external_subcommands_set() {
            out.push(if prefix.is_empty() {
                EXTERNAL.to_owned()
            } else {
                format!("{prefix} {EXTERNAL}")
            });
        }
    }
    let mut out = Vec::new();
    let mut root = cmd.clone();
    root.build();
    walk(&root, "", &mut out);
    out.retain(|p| manage.is_none_or(|m| p != m && !p.starts_with(&format!("{m} "))));
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::args::TelemetryCommand;
    use clap::{Parser, Subcommand};

    #[derive(Parser)]
    #[command(name = "mytool", allow_external_subcommands = true)]
    struct Cli {
        #[command(subcommand)]
        command: Cmd,
    }

    #[derive(Subcommand)]
    #[allow(dead_code)]
    enum Cmd {
        Build,
        Cache {
            #[command(subcommand)]
            command: CacheCmd,
        },
        Privacy {
            #[command(subcommand)]
            command: TelemetryCommand,
        },
        #[command(external_subcommand)]
        External(Vec<String>),
    }

    #[derive(Subcommand)]
    enum CacheCmd {
        Clean,
    }

    /// A tree with what the walk has to step over: global options with and
    /// without values, short clusters, aliases, an optional subcommand, a
    /// positional argument where subcommands also are.
    #[derive(Parser)]
    #[command(name = "big")]
    #[allow(dead_code)]
    struct Big {
        #[arg(long, short = 'C', global = true)]
        dir: Option<String>,
        #[arg(short, long, global = true, action = clap::ArgAction::Count)]
        verbose: u8,
        #[arg(long, num_args = 0..=1)]
        color: Option<Option<String>>,
        #[command(flatten)]
        telemetry: crate::TelemetryArgs,
        #[command(subcommand)]
        command: Option<BigCmd>,
    }

    #[derive(Subcommand)]
    #[allow(dead_code)]
    enum BigCmd {
        #[command(alias = "b")]
        Build {
            #[arg(long)]
            target: Option<String>,
            files: Vec<String>,
        },
        Remote {
            #[arg(long, short)]
            name: Option<String>,
            #[command(subcommand)]
            command: Option<RemoteCmd>,
        },
        Run {
            script: Option<String>,
            #[command(subcommand)]
            command: Option<RemoteCmd>,
        },
        Telemetry {
            #[command(subcommand)]
            command: TelemetryCommand,
        },
    }

    #[derive(Subcommand)]
    enum RemoteCmd {
        Add,
        #[command(visible_alias = "rm")]
        Remove,
    }

    #[test]
    fn the_walk_finds_what_a_second_parse_would() {
        use clap::CommandFactory;
        let big = Big::command();
        let cases: &[&[&str]] = &[
            &["big", "build"],
            &["big", "b", "x"],
            &["big", "-C", "remote", "build"],
            &["big", "--dir", "remote", "remote", "add"],
            &["big", "--dir=remote", "-vv", "remote", "-n", "x", "rm"],
            &["big", "-vCremote", "remote", "--name=add", "remove"],
            &["big", "remote", "--dir", "add", "add"],
            &["big", "remote"],
            &["big", "-v"],
            &["big", "--color", "build"],
            &["big", "--color=always", "build"],
            &["big", "run", "add"],
            &["big", "run", "script", "add"],
            &["big", "--", "build"],
            &["big", "bui"],
            &["big", "--nope", "build"],
            &["big", "help", "build"],
            &["big", "--no-telemetry", "telemetry", "status", "--json"],
            &["big", "telemetry", "--no-telemetry", "off"],
            &["big", "build", "--target", "remote", "remote"],
        ];
        for args in cases {
            // The walk stops at `telemetry`, whose subcommands are deferred:
            // any path under it is a management run, which is never recorded.
            let parsed = big
                .clone()
                .try_get_matches_from(args.iter().copied())
                .ok()
                .map(|m| command_path(&m))
                .map(|p| match p.starts_with("telemetry ") {
                    true => "telemetry".to_owned(),
                    false => p,
                });
            let walked = path_of(&big, args.iter().map(OsString::from));
            assert_eq!(walked, parsed, "{args:?}");
        }
    }

    fn path(args: &[&str]) -> Option<String> {
        use clap::CommandFactory;
        path_of(&Cli::command(), args.iter().map(OsString::from))
    }

    #[test]
    fn an_external_subcommand_is_recorded_as_external_never_as_typed() {
        assert_eq!(
            path(&["mytool", "acme-secret-project", "--x"]).as_deref(),
            Some("external")
        );
        assert_eq!(
            path(&["mytool", "cache", "clean"]).as_deref(),
            Some("cache clean")
        );
    }

    #[test]
    fn the_manage_subcommand_is_found_under_the_hosts_name() {
        use clap::CommandFactory;
        assert_eq!(manage_name(&Cli::command()).as_deref(), Some("privacy"));
    }

    /// A handle for the test tree's `mytool`, its files under `dir`.
    fn off_handle(dir: &std::path::Path, env: &[(&str, &str)]) -> crate::Telemetry {
        crate::Telemetry::builder("mytool")
            .default_policy(crate::DefaultPolicy::OptOut)
            .env(crate::os::env::Env::from_pairs(env.iter().copied()))
            .paths(crate::consent::paths::Paths::explicit(
                dir.join("config/telemetry.toml"),
                dir.join("state"),
                dir.join("policy.toml"),
            ))
            .cli::<Cli>()
            .init()
    }

    /// A run off by a switch, or by the stored choice, is resolved only when
    /// asked, and then says the same as a full resolution: what decided,
    /// the warnings, the host's name for `telemetry`.
    #[test]
    fn an_off_run_resolves_later_to_the_same_settings() {
        use crate::consent::precedence::Source;
        let dir = tempfile::tempdir().unwrap();
        for (env, by) in [
            (&[("MYTOOL_TELEMETRY", "off")][..], Source::Env),
            (
                &[("DO_NOT_TRACK", "1"), ("MYTOOL_TELEMETRY", "1")][..],
                Source::DoNotTrack,
            ),
            (&[("MYTOOL_TELEMETRY", "maybe")][..], Source::Env),
        ] {
            let t = off_handle(dir.path(), env);
            assert!(!t.enabled(), "{env:?}");
            let s = t.settings();
            assert!(!s.consent.enabled && !s.records(), "{env:?}");
            assert_eq!(s.consent.decided_by, by, "{env:?}");
            assert_eq!(s.app.command, "privacy");
        }
        let t = off_handle(dir.path(), &[("MYTOOL_TELEMETRY", "maybe")]);
        assert!(
            t.settings()
                .warnings
                .iter()
                .any(|w| w.contains("not understood"))
        );
        let on = off_handle(dir.path(), &[("MYTOOL_TELEMETRY", "off")])
            .settings()
            .clone();
        crate::host::telemetry::store_choice(
            &on,
            false,
            crate::consent::config::ChoiceVia::Command,
        )
        .unwrap();
        let t = off_handle(dir.path(), &[]);
        assert!(!t.enabled());
        assert_eq!(t.settings().consent.decided_by, Source::Config);
        assert_eq!(t.settings().app.command, "privacy");
    }

    #[test]
    fn the_notice_and_status_name_the_hosts_subcommand() {
        let b = crate::Telemetry::builder("mytool").cli::<Cli>();
        let s = b.resolve();
        assert_eq!(s.app.manage(), "mytool privacy");
        assert!(crate::consent::notice::text(&s).contains("`mytool privacy off`"));
        let s = crate::Telemetry::builder("mytool")
            .command_name("tele")
            .resolve();
        assert!(crate::consent::notice::text(&s).contains("`mytool tele off`"));
    }

    #[test]
    fn recordable_paths_are_the_hosts_tree_without_telemetry() {
        use clap::CommandFactory;
        let cmd = Cli::command();
        assert_eq!(
            recordable_paths(&cmd, manage_name(&cmd).as_deref()),
            ["build", "cache clean", "external"]
        );
    }
}
