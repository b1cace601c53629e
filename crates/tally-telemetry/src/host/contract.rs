//! The host's own contract: the section of its TELEMETRY.md that says
//! exactly which command paths can ever be recorded (from its clap tree,
//! as [`crate::host::tree`] records them) and every field tally sends (from
//! the schema), so what the host promises its users is generated from what
//! it runs. [`check_contract`] fails the host's own test when the committed
//! file drifts; [`write_contract`] rewrites it.

use std::fmt::Write;
use std::path::Path;

use crate::consent::app::AppInfo;
use crate::host::tree::{EXTERNAL, manage_name, recordable_paths};
use crate::schema::fields::Pattern;

/// Marks the start of the generated section in the host's file.
const BEGIN: &str = "<!-- BEGIN tally contract: generated from the CLI by tally::write_contract; do not edit by hand -->";
/// Marks its end.
const END: &str = "<!-- END tally contract -->";

/// Why the contract file could not be checked or written, or how it
/// drifted. The message names the file and what to do.
#[derive(Debug)]
#[non_exhaustive]
pub struct ContractError(String);

impl std::fmt::Display for ContractError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ContractError {}

impl ContractError {
    pub(crate) fn new(message: String) -> Self {
        ContractError(message)
    }
}

/// The generated section for the clap tree `cli`, between its marker
/// comments: the command paths that can ever be recorded, then tally's
/// field reference, every field of every event. A host's users read
/// [`Builder::contract`](crate::Builder::contract) better: only what that
/// host can send, in words, with its policy.
pub fn contract(cli: &clap::Command) -> String {
    let name = cli.get_name();
    let manage = manage_name(cli);
    let paths = recordable_paths(cli, manage.as_deref());
    let mut s = String::new();
    let _ = writeln!(s, "{BEGIN}\n");
    let _ = writeln!(s, "### Command paths {name} records\n");
    let _ = writeln!(
        s,
        "When telemetry is on, {name} counts how often each of these subcommand paths runs, per UTC day. Nothing else of a command line is recorded: no argument, option value, path or name.\n"
    );
    for p in &paths {
        let note = if p == EXTERNAL || p.ends_with(&format!(" {EXTERNAL}")) {
            " (any external subcommand; never its name)"
        } else if !Pattern::CommandPath.matches(p) {
            " (outside the schema: never recorded)"
        } else {
            ""
        };
        let _ = writeln!(s, "- `{p}`{note}");
    }
    if paths.is_empty() {
        let _ = writeln!(s, "- (none)");
    }
    if let Some(m) = &manage {
        let _ = writeln!(
            s,
            "\n`{name} {m} …` itself is never counted. `{name} {m} show` prints exactly what the next send would post."
        );
    }
    let _ = writeln!(s, "\n### Fields tally sends\n");
    s.push_str(&crate::schema::docs::reference());
    let _ = writeln!(s, "\n{END}");
    s
}

/// Checks that `file` holds the current [`contract`] of `cli` between its
/// markers, and that every path can be recorded under the schema. Call it
/// from a test so CI fails when the CLI or tally changed and the committed
/// file did not.
pub fn check_contract(cli: &clap::Command, file: &Path) -> Result<(), ContractError> {
    let outside: Vec<String> = recordable_paths(cli, manage_name(cli).as_deref())
        .into_iter()
        .filter(|p| !Pattern::CommandPath.matches(p))
        .collect();
    check(&contract(cli), &outside, file)
}

/// The host's section written for its users (see [`crate::host::page`]),
/// between the markers.
pub(crate) fn host_contract(cli: &clap::Command, app: &AppInfo) -> String {
    format!("{BEGIN}\n\n{}\n{END}\n", crate::host::page::page(cli, app))
}

/// [`check_contract`] for [`host_contract`]: a renamed path counts under
/// the name it is sent as.
pub(crate) fn check_host(
    cli: &clap::Command,
    app: &AppInfo,
    file: &Path,
) -> Result<(), ContractError> {
    let paths = recordable_paths(cli, manage_name(cli).as_deref());
    let outside: Vec<String> = app
        .declared
        .dropped(&paths)
        .into_iter()
        .map(|(p, _)| p.to_owned())
        .collect();
    check(&host_contract(cli, app), &outside, file)
}

/// [`write_contract`] for [`host_contract`].
pub(crate) fn write_host(
    cli: &clap::Command,
    app: &AppInfo,
    file: &Path,
) -> Result<(), ContractError> {
    write(&host_contract(cli, app), file)
}

fn check(want: &str, outside: &[String], file: &Path) -> Result<(), ContractError> {
    let text = read(file)?;
    let (start, end) = markers(&text, file)?;
    if text[start..end] != *want {
        return Err(ContractError(format!(
            "{} is out of date: the command paths or tally's fields changed. Regenerate it with tally_telemetry::write_contract (or copy the section below between the markers):\n{want}",
            file.display()
        )));
    }
    if !outside.is_empty() {
        return Err(ContractError(format!(
            "these command paths can never be recorded, since the schema takes {}: {}; rename the subcommands, or record them under another name with Builder::rename_command",
            Pattern::CommandPath.describe(),
            outside.join(", ")
        )));
    }
    Ok(())
}

/// Writes the current [`contract`] of `cli` into `file`: between the
/// markers when they are there, appended at the end otherwise (a missing
/// file is created).
pub fn write_contract(cli: &clap::Command, file: &Path) -> Result<(), ContractError> {
    write(&contract(cli), file)
}

fn write(section: &str, file: &Path) -> Result<(), ContractError> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(io_error("reading", file, &e)),
    };
    let new = match markers(&text, file) {
        Ok((start, end)) => format!("{}{section}{}", &text[..start], &text[end..]),
        Err(_) if !text.contains(BEGIN) && !text.contains(END) => {
            let sep = if text.is_empty() || text.ends_with("\n\n") {
                ""
            } else if text.ends_with('\n') {
                "\n"
            } else {
                "\n\n"
            };
            format!("{text}{sep}{section}")
        }
        Err(e) => return Err(e),
    };
    std::fs::write(file, new).map_err(|e| io_error("writing", file, &e))
}

fn read(file: &Path) -> Result<String, ContractError> {
    std::fs::read_to_string(file).map_err(|e| io_error("reading", file, &e))
}

fn io_error(what: &str, file: &Path, e: &std::io::Error) -> ContractError {
    ContractError(format!(
        "{what} {}: {e}; write it with tally_telemetry::write_contract",
        file.display()
    ))
}

/// The byte range of the section, markers and the newline after END
/// included.
fn markers(text: &str, file: &Path) -> Result<(usize, usize), ContractError> {
    let missing = || {
        ContractError(format!(
            "{} has no complete tally contract section (the {BEGIN:?} and {END:?} lines); write it with tally_telemetry::write_contract",
            file.display()
        ))
    };
    let start = text.find(BEGIN).ok_or_else(missing)?;
    let end = text[start..].find(END).ok_or_else(missing)? + start + END.len();
    let end = if text[end..].starts_with('\n') {
        end + 1
    } else {
        end
    };
    Ok((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli() -> clap::Command {
        use clap::Subcommand;
        let t = crate::TelemetryCommand::augment_subcommands(clap::Command::new("telemetry"));
        clap::Command::new("mytool")
            .subcommand(clap::Command::new("build"))
            .subcommand(
                clap::Command::new("cache")
                    .subcommand_required(true)
                    .subcommand(clap::Command::new("clean")),
            )
            .subcommand(t)
    }

    #[test]
    fn the_section_lists_exactly_the_recordable_paths() {
        let s = contract(&cli());
        assert!(s.contains("- `build`\n- `cache clean`\n\n"), "{s}");
        assert!(!s.contains("`telemetry status`"), "{s}");
        assert!(s.contains("`mytool telemetry …` itself is never counted"));
        assert!(s.contains("### Envelope"));
    }

    #[test]
    fn check_fails_on_drift_and_passes_after_write() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("TELEMETRY.md");
        std::fs::write(&f, "# What mytool collects\n\nHand-written prose.\n").unwrap();
        assert!(check_contract(&cli(), &f).is_err());
        write_contract(&cli(), &f).unwrap();
        check_contract(&cli(), &f).unwrap();
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(text.starts_with("# What mytool collects\n\nHand-written prose.\n\n<!-- BEGIN"));
        // A new subcommand is drift.
        let more = cli().subcommand(clap::Command::new("deploy"));
        let e = check_contract(&more, &f).unwrap_err().to_string();
        assert!(e.contains("out of date"), "{e}");
        // Rewriting in place keeps the prose and replaces only the section.
        write_contract(&more, &f).unwrap();
        check_contract(&more, &f).unwrap();
        let again = std::fs::read_to_string(&f).unwrap();
        assert_eq!(again.matches("BEGIN tally contract").count(), 1);
    }

    #[test]
    fn a_path_outside_the_schema_fails_the_check() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("T.md");
        let bad = cli().subcommand(clap::Command::new("Deploy"));
        write_contract(&bad, &f).unwrap();
        let e = check_contract(&bad, &f).unwrap_err().to_string();
        assert!(e.contains("Deploy"), "{e}");
    }
}
