//! `tally generate completions|man|telemetry-md|conformance`: writes the files packagers
//! and the repository carry, from the same clap definition and schema the
//! binary uses, so they cannot drift (tests compare them). TELEMETRY.md's
//! section is tally's own contract, made by the generator hosts use.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use clap_complete::Shell;

/// What to generate.
#[derive(Subcommand, Debug)]
pub enum Generate {
    /// Shell completions for bash, zsh, fish, powershell and elvish
    Completions {
        /// Directory to write into (created if missing)
        dir: PathBuf,
    },
    /// Man pages, one per command and subcommand
    Man {
        /// Directory to write into (created if missing)
        dir: PathBuf,
    },
    /// TELEMETRY.md's generated section: the command paths tally records and the field reference
    TelemetryMd {
        /// The Markdown file to update in place (between its marker comments, or appended)
        file: PathBuf,
    },
    /// The README's table of environment variables (the one --help and the man pages use)
    ReadmeEnv {
        /// The README to update in place, between its marker comments
        file: PathBuf,
    },
    /// The conformance vectors every implementation runs (the repository's conformance/)
    Conformance {
        /// Directory to write into (its kind folders are created if missing)
        dir: PathBuf,
    },
}

/// Runs a generator.
pub fn run(what: &Generate) -> anyhow::Result<()> {
    match what {
        Generate::Completions { dir } => completions(dir),
        Generate::Man { dir } => man(dir),
        // tally's own contract, through the generator every host uses.
        Generate::TelemetryMd { file } => {
            Ok(tally_telemetry::write_contract(&super::command(), file)?)
        }
        Generate::ReadmeEnv { file } => readme_env(file),
        // Computed by the library's own code paths, so they cannot drift
        // from it (CI regenerates them and fails on a difference).
        Generate::Conformance { dir } => {
            tally_telemetry::conformance::write(dir).map_err(anyhow::Error::msg)?;
            Ok(())
        }
    }
}

/// Replaces the README's table of variables with the one `--help` uses.
fn readme_env(file: &Path) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let Some(new) = super::help::splice_readme(&text) else {
        anyhow::bail!(
            "{} has no generated environment table; put these two lines where it goes:\n{}\n{}",
            file.display(),
            super::help::README_BEGIN,
            super::help::README_END
        );
    };
    std::fs::write(file, new).with_context(|| format!("writing {}", file.display()))
}

/// Writes completions for every supported shell into `dir`.
pub fn completions(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for shell in [
        Shell::Bash,
        Shell::Zsh,
        Shell::Fish,
        Shell::PowerShell,
        Shell::Elvish,
    ] {
        let mut cmd = visible_command();
        clap_complete::generate_to(shell, &mut cmd, "tally", dir)
            .with_context(|| format!("writing {shell} completions to {}", dir.display()))?;
    }
    Ok(())
}

/// The command line as completions should offer it: without hidden
/// subcommands. clap_complete's generators walk every subcommand, hidden or
/// not (clap-rs/clap#1335), so `tally <TAB>` would offer `generate`; and
/// `clap::Command` cannot remove a subcommand, so the root is re-assembled
/// from the CLI's own arguments, texts and visible subcommands. Nothing of
/// the CLI is restated here, so it cannot drift from [`super::Cli`].
fn visible_command() -> clap::Command {
    let full = with_telemetry_subtree(super::command());
    let mut root = clap::Command::new("tally")
        .version(env!("CARGO_PKG_VERSION"))
        .propagate_version(full.is_propagate_version_set())
        .args(full.get_arguments().cloned())
        .subcommands(full.get_subcommands().filter(|c| !c.is_hide_set()).cloned());
    if let Some(about) = full.get_about() {
        root = root.about(about.clone());
    }
    if let Some(about) = full.get_long_about() {
        root = root.long_about(about.clone());
    }
    root
}

/// `cmd` with the whole `telemetry …` subtree: the CLI's own tree holds the
/// `telemetry` command alone, so a fast command does not build its
/// subcommands (see `TelemetryCommand`), but completions and man pages
/// list them.
fn with_telemetry_subtree(mut cmd: clap::Command) -> clap::Command {
    // `mut_subcommand` moves the command it changes to the end; passing
    // every subcommand through it in turn keeps their order.
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .collect();
    for name in names {
        cmd = cmd.mut_subcommand(&name, |sub| {
            if name != "telemetry" {
                return sub;
            }
            let mut full = tally_telemetry::TelemetryCommand::command("telemetry")
                .display_order(sub.get_display_order());
            if let Some(about) = sub.get_about() {
                full = full.about(about.clone());
            }
            if let Some(about) = sub.get_long_about() {
                full = full.long_about(about.clone());
            }
            full
        });
    }
    cmd
}

/// Writes one man page per command and subcommand into `dir`, each with
/// the ENVIRONMENT and FILES sections (clap_mangen's sections in its order,
/// ours before VERSION).
pub fn man(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    // The CLI without the Environment/Files text of `--help`: man pages get
    // real sections for those.
    let mut cmd = with_telemetry_subtree(<super::Cli as clap::CommandFactory>::command())
        .disable_help_subcommand(true);
    cmd.build();
    page(&cmd, dir).with_context(|| format!("writing man pages to {}", dir.display()))
}

fn page(cmd: &clap::Command, dir: &Path) -> std::io::Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        page(sub, dir)?;
    }
    let man = clap_mangen::Man::new(cmd.clone());
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut out)?;
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(&mut out)?;
    }
    if cmd.get_after_help().is_some() || cmd.get_after_long_help().is_some() {
        man.render_extra_section(&mut out)?;
    }
    out.extend_from_slice(super::help::roff().as_bytes());
    if cmd.get_version().is_some() || cmd.get_long_version().is_some() {
        man.render_version_section(&mut out)?;
    }
    // Each section rendered on its own repeats roff's preamble; keep one.
    let text = String::from_utf8_lossy(&out);
    let mut lines: Vec<&str> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for l in text.lines() {
        let preamble = l.starts_with(".ie \\n(.g .ds Aq") || l.starts_with(".el .ds Aq");
        if preamble && !seen.insert(l) {
            continue;
        }
        lines.push(l);
    }
    std::fs::write(dir.join(man.get_filename()), lines.join("\n") + "\n")
}
