//! The host's clap tree, read by tally: the command paths that exist (only
//! those are ever recorded; an external subcommand is the fixed word
//! `external`), which subcommand is the host's `telemetry …` (whatever the
//! host named it), and the path of this run, re-derived from the process
//! arguments so a host can keep `Cli::parse()`.

use std::ffi::OsString;

use clap::{ArgMatches, Command, Subcommand};

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
pub fn path_of(cmd: &Command, args: impl IntoIterator<Item = OsString>) -> Option<String> {
    let m = cmd.clone().try_get_matches_from(args).ok()?;
    Some(command_path(&m))
}

/// The name of the subcommand under which the host placed
/// [`TelemetryCommand`]: the top-level subcommand whose subcommands include
/// all of its.
pub fn manage_name(cmd: &Command) -> Option<String> {
    let ours = TelemetryCommand::augment_subcommands(Command::new("t"));
    let wanted: Vec<&str> = ours.get_subcommands().map(|c| c.get_name()).collect();
    cmd.get_subcommands()
        .find(|c| {
            wanted
                .iter()
                .all(|w| c.get_subcommands().any(|s| s.get_name() == *w))
        })
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
