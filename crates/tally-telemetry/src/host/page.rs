//! The host's TELEMETRY.md section written for the host's users, from what
//! the host declared to its [`crate::Builder`] and its clap tree: whether
//! telemetry is on by default, how to turn it off, where data goes and for
//! how long, the command paths it records (under the names it sends), how
//! exit codes become outcomes, and only the kinds of events this host can
//! send, each field described in words rather than as a pattern. The
//! library's own reference for every field is [`crate::contract`].

use std::fmt::Write;

use clap::Command;

use crate::consent::app::{AppInfo, DefaultPolicy};
use crate::host::tree::{EXTERNAL, manage_name, recordable_paths};
use crate::schema::fields::Pattern;
use crate::schema::{self, CommandOutcome, Field, Kind};

/// The section's text, between the contract's marker comments (added by
/// the caller).
pub(crate) fn page(cli: &Command, app: &AppInfo) -> String {
    let name = &app.name;
    let manage = manage_name(cli).unwrap_or_else(|| app.command.clone());
    let off = format!("{name} {manage} off");
    let mut s = String::new();
    let _ = writeln!(s, "### Is it on?\n");
    match app.default_policy {
        DefaultPolicy::OptOut => {
            let _ = writeln!(
                s,
                "Telemetry is **on by default**. The first run that records shows a one-line notice on stderr, and nothing is sent before a later run, so there is time to turn it off first. Nothing is recorded in CI unless it was turned on there explicitly."
            );
        }
        _ => {
            let _ = writeln!(
                s,
                "Telemetry is **off by default**: nothing is recorded or sent until you turn it on with `{name} {manage} on` (or `{}=1`).",
                app.consent_var()
            );
        }
    }
    let _ = writeln!(
        s,
        "\n`{name} {manage} status` shows whether it is on and what decided it; `{name} {manage} show` prints what the next send would post.\n"
    );
    let _ = writeln!(s, "### Turning it off\n");
    let _ = writeln!(
        s,
        "- `{off}`: stored for your user, and deletes what was recorded but not sent."
    );
    let _ = writeln!(
        s,
        "- `{}=0` in the environment, for the runs that see it.",
        app.consent_var()
    );
    let _ = writeln!(
        s,
        "- `DO_NOT_TRACK=1` in the environment, for every tool that honours it."
    );
    if cli
        .get_arguments()
        .any(|a| a.get_long() == Some("no-telemetry"))
    {
        let _ = writeln!(s, "- `{name} --no-telemetry …`, for one run.");
    }
    let [own, shared] = app.policy_file_candidates(None);
    let _ = writeln!(
        s,
        "- For every user of a machine, an administrator writes `telemetry = \"off\"` into `{}` (read instead of `{}` when both exist; `%ProgramData%` replaces `/etc` on Windows).",
        own.display(),
        shared.display()
    );
    let _ = writeln!(s, "\n### Where it goes and how long it is kept\n");
    match &app.endpoint {
        Some(url) => {
            let _ = writeln!(
                s,
                "Completed days are posted over HTTPS to `{url}` (`{}` or an administrator's policy file may name another endpoint).",
                app.var("TELEMETRY_ENDPOINT")
            );
        }
        None => {
            let _ = writeln!(
                s,
                "{name} has no endpoint built in: nothing is sent unless one is configured (`{}`, or `endpoint` in an administrator's policy file).",
                app.var("TELEMETRY_ENDPOINT")
            );
        }
    }
    match &app.declared.retention {
        Some(words) => {
            let _ = writeln!(s, "\nHow long it is kept: {words}.");
        }
        None => {
            let _ = writeln!(
                s,
                "\nHow long it is kept: the author of {name} has not stated it (`Builder::retention` declares it)."
            );
        }
    }
    let _ = writeln!(s, "\n### Commands\n");
    let _ = writeln!(
        s,
        "When telemetry is on, {name} counts how often each of these commands runs, how it ended and roughly how long it took, per UTC day. Nothing else of a command line is recorded: no argument, option value, path or name{}.\n",
        if has_values(cli, app) {
            ", but for the values listed under a command: which of a fixed set of choices it was given"
        } else {
            ""
        }
    );
    let paths = recordable_paths(cli, Some(&manage));
    for p in &paths {
        let recorded = app.declared.recorded_as(p);
        let note = if p == EXTERNAL || p.ends_with(&format!(" {EXTERNAL}")) {
            " (any external subcommand; never its name)".to_owned()
        } else if !Pattern::CommandPath.matches(&recorded) {
            " (a name outside the schema: never recorded)".to_owned()
        } else if recorded != *p {
            format!(" (sent as `{recorded}`)")
        } else {
            String::new()
        };
        let value = value_line(cli, app, p).unwrap_or_default();
        let _ = writeln!(s, "- `{p}`{note}{value}");
    }
    if paths.is_empty() {
        let _ = writeln!(s, "- (none)");
    }
    for e in app.declared.value_errors() {
        let _ = writeln!(s, "\n(Declared but never recorded: {e}.)");
    }
    let _ = writeln!(s, "\n`{name} {manage} …` itself is never counted.\n");
    let _ = writeln!(s, "How a run ended, from its exit code:\n");
    let mut codes: Vec<(i32, String, CommandOutcome)> = Vec::new();
    for (c, o) in app.declared.exit_outcomes.iter().rev() {
        if !codes.iter().any(|(k, _, _)| k == c) {
            codes.push((*c, format!("exit code {c}"), *o));
        }
    }
    for (code, o) in [
        (0, CommandOutcome::Success),
        (2, CommandOutcome::UsageError),
        (130, CommandOutcome::Interrupted),
    ] {
        if !app.declared.exit_outcomes.iter().any(|(c, _)| *c == code) {
            let what = if code == 130 {
                "exit codes 129, 130, 143 (Ctrl-C or a termination signal)".to_owned()
            } else {
                format!("exit code {code}")
            };
            codes.push((code, what, o));
        }
    }
    codes.sort_by_key(|(c, _, _)| *c);
    for (_, what, o) in codes {
        let _ = writeln!(s, "- {what}: `{}`", o.as_str());
    }
    let _ = writeln!(
        s,
        "- any other exit code: `failure`; a run that ends before {name} says how: `unknown`"
    );
    let _ = writeln!(s, "\n### Installs and upgrades\n");
    let _ = writeln!(
        s,
        "The telemetry library itself counts an `upgrade` when {name}'s version on this machine is newer than at its last run that recorded, whatever {name} does. An `install` is counted when an installer runs `{name} {manage} prompt`, an `uninstall` by `{name} {manage} uninstall`."
    );
    let _ = writeln!(s, "\n### What a send holds\n");
    let _ = writeln!(
        s,
        "Each send is one JSON batch of completed days (at most {} KB). Every batch says:\n",
        schema::MAX_BODY_BYTES / 1024
    );
    list(&mut s, schema::ENVELOPE, app, "");
    for e in schema::EVENTS {
        let fields: Vec<&Field> = e
            .fields
            .iter()
            .filter(|f| match f.name {
                "tool_calls" | "clients" => app.declared.tool_calls,
                _ => true,
            })
            .collect();
        let title = match e.name {
            "usage_rollup" => "For each completed day:".to_owned(),
            "lifecycle" => "For each install, uninstall or upgrade:".to_owned(),
            "facts" if app.declared.facts => {
                format!("Facts {name} reports about its deployment, once a day:")
            }
            _ => continue,
        };
        let _ = writeln!(s, "\n{title}\n");
        for f in &fields {
            item(&mut s, f, app, "");
            if let Kind::List { fields, .. } = &f.kind {
                list(&mut s, fields, app, "  ");
            }
        }
    }
    s
}

fn list(s: &mut String, fields: &[Field], app: &AppInfo, indent: &str) {
    for f in fields {
        // A command's `value` is sent only by a host that declared one.
        if f.name == "value" && app.declared.values.is_empty() {
            continue;
        }
        item(s, f, app, indent);
    }
}

/// Whether any declared value of the host is recorded.
fn has_values(cli: &Command, app: &AppInfo) -> bool {
    app.declared
        .values
        .iter()
        .any(|(p, _)| value_line(cli, app, p).is_some())
}

/// What follows the CLI path `path` in the list: its recorded argument and
/// that argument's values, when one is declared and recorded.
fn value_line(cli: &Command, app: &AppInfo, path: &str) -> Option<String> {
    let arg = crate::host::values::declared_for(&app.declared.values, path)?;
    let set = crate::host::values::closed_set(cli, path, arg).ok()?;
    let names: Vec<String> = set.iter().map(|v| format!("`{}`", v.get_name())).collect();
    Some(format!(
        ", with the value of its `{arg}` argument: one of {} (nothing else typed there is recorded)",
        names.join(", ")
    ))
}

fn item(s: &mut String, f: &Field, app: &AppInfo, indent: &str) {
    let doc = match f.name {
        "tool" => format!("The tool's name, only if {} records tool names.", app.name),
        _ => f.doc.to_owned(),
    };
    let each = if matches!(f.kind, Kind::List { .. }) {
        " Each entry has:"
    } else {
        ""
    };
    let _ = writeln!(
        s,
        "{indent}- `{}` ({}{}): {doc}{each}",
        f.name,
        words(&f.kind),
        if f.required { "" } else { ", may be absent" }
    );
}

/// A field's type and limits, in words.
fn words(k: &Kind) -> String {
    match k {
        Kind::Str(p) => match p {
            Pattern::AppName => "a lower-case name of at most 40 letters, digits, `-` or `_`",
            Pattern::Version => "a version number of at most 32 characters",
            Pattern::CommandPath => "one of the commands listed above",
            Pattern::ToolName => "a name of at most 64 letters, digits, `_`, `.` or `-`",
            Pattern::Value => "one of the values listed above for the command",
            Pattern::Uuid => "a random identifier, a UUID",
            Pattern::Day => "a date, YYYY-MM-DD",
        }
        .to_owned(),
        Kind::Enum(v) => format!(
            "one of {}",
            v.iter()
                .map(|x| format!("`{x}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Kind::Int { min, max } => format!("a whole number from {min} to {max}"),
        Kind::Bool => "yes or no".into(),
        Kind::IntArray { len, .. } => format!("{len} counts"),
        Kind::List { max, .. } => format!("a list of at most {max} entries"),
    }
}
