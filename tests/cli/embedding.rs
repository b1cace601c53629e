//! Embedding tally as a tool author does: the README's snippet is
//! `examples/mytool.rs` byte for byte, a new crate made from the README's
//! text alone compiles against tally with default features off and its
//! `telemetry status|on|off` work; an external subcommand is recorded as
//! `external`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::delivery::{D1, host_on, host_sandbox, show, today_commands};
use crate::support::{Sandbox, text};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn readme() -> String {
    std::fs::read_to_string(repo().join("README.md")).unwrap()
}

/// The README's "Embedding it" section.
fn embedding_section(readme: &str) -> &str {
    let start = readme
        .find("## Embedding it")
        .expect("README has ## Embedding it");
    let rest = &readme[start + 3..];
    let end = rest.find("\n## ").map_or(rest.len(), |i| i);
    &readme[start..start + 3 + end]
}

/// The first fenced block of `lang` in `text`.
fn block<'a>(text: &'a str, lang: &str) -> &'a str {
    let open = format!("```{lang}\n");
    let start = text
        .find(&open)
        .unwrap_or_else(|| panic!("no ```{lang} block"))
        + open.len();
    let len = text[start..].find("```").expect("closing fence");
    &text[start..start + len]
}

#[test]
fn readme_embedding_snippet_is_examples_mytool_verbatim() {
    let readme = readme();
    let section = embedding_section(&readme);
    let example =
        std::fs::read_to_string(repo().join("crates/tally-telemetry/examples/mytool.rs")).unwrap();
    assert_eq!(
        block(section, "rust"),
        example,
        "the README's snippet and crates/tally-telemetry/examples/mytool.rs differ; copy the example into the README"
    );
    let toml = block(section, "toml");
    assert!(toml.contains("tally-telemetry = "), "{toml}");
    assert!(toml.contains("clap = "), "{toml}");
}

/// Builds a new crate from the README's two blocks alone, with tally by
/// path instead of the version, sharing one target directory across runs
/// (and tally's lock file, so it resolves to the versions CI tested).
pub fn build_readme_crate() -> PathBuf {
    let readme = readme();
    let section = embedding_section(&readme);
    let deps = block(section, "toml");
    let main = block(section, "rust");
    let dir = repo().join("target").join("readme-host");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let tally_line = deps
        .lines()
        .find(|l| l.starts_with("tally-telemetry = "))
        .expect("the README names the tally-telemetry dependency");
    let path_line = tally_line.replacen(
        "version = \"0.1\"",
        &format!(
            "path = {:?}",
            repo().join("crates/tally-telemetry").display().to_string()
        ),
        1,
    );
    assert_ne!(
        tally_line, path_line,
        "the README's tally line has no version = \"0.1\""
    );
    let manifest = format!(
        "[package]\nname = \"mytool\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[workspace]\n\n{}\n",
        deps.replace(tally_line, &path_line)
    );
    write_if_changed(&dir.join("Cargo.toml"), &manifest);
    write_if_changed(&dir.join("src/main.rs"), main);
    if !dir.join("Cargo.lock").exists() {
        std::fs::copy(repo().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "--quiet"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .output()
        .expect("run cargo build");
    assert!(
        out.status.success(),
        "the README's crate does not build:\n{}",
        text(&out.stderr)
    );
    dir.join("target/debug/mytool")
}

fn write_if_changed(p: &Path, content: &str) {
    if std::fs::read_to_string(p).ok().as_deref() != Some(content) {
        std::fs::write(p, content).unwrap();
    }
}

#[test]
fn a_crate_written_from_the_readme_alone_has_working_telemetry_commands() {
    let bin = build_readme_crate();
    let mut sb = Sandbox::new();
    sb.set(
        "MYTOOL_POLICY_FILE",
        sb.root().join("mytool-policy.toml").display().to_string(),
    );
    let run = |args: &[&str]| {
        let out = sb.command(&bin, args).output().unwrap();
        assert!(
            out.status.success(),
            "mytool {args:?}: {}",
            text(&out.stderr)
        );
        out
    };
    // Opt-out and undecided: on by default, and status says so.
    let v: serde_json::Value =
        serde_json::from_slice(&run(&["telemetry", "status", "--json"]).stdout).unwrap();
    assert_eq!(v["enabled"], true, "{v}");
    assert_eq!(v["decided_by"], "default", "{v}");
    let on = text(&run(&["telemetry", "on"]).stdout);
    assert!(on.contains("Telemetry on"), "{on}");
    let off = text(&run(&["telemetry", "off"]).stdout);
    assert!(off.contains("Telemetry off"), "{off}");
    // `off` is stored: a later process reads it back.
    let v: serde_json::Value =
        serde_json::from_slice(&run(&["telemetry", "status", "--json"]).stdout).unwrap();
    assert_eq!(v["enabled"], false, "{v}");
    assert_eq!(v["decided_by"], "config", "{v}");
    // And an ordinary command afterwards records nothing.
    let before = sb.created();
    let out = run(&["deploy", "--env", "prod-secret"]);
    assert_eq!(text(&out.stdout), "deployed to prod-secret\n");
    assert_eq!(sb.created(), before, "a command after `off` created files");
    // A usage error of a telemetry command exits 2, like clap's own.
    let out = sb.command(&bin, &["telemetry", "bogus"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// The README host has no `about` of its own: its `--help` opened with the
/// doc comment of `TelemetryArgs` ("The global flag a host flattens…"),
/// and `--no-telemetry` stood among each subcommand's own flags.
#[test]
fn the_readme_hosts_help_shows_the_host_not_tallys_doc_comment() {
    let bin = build_readme_crate();
    let sb = Sandbox::new();
    let help = text(&sb.command(&bin, &["--help"]).output().unwrap().stdout);
    assert!(help.starts_with("Usage: mytool"), "{help}");
    assert!(!help.contains("flattens"), "{help}");
    let sub = text(
        &sb.command(&bin, &["deploy", "--help"])
            .output()
            .unwrap()
            .stdout,
    );
    let env = sub.find("--env").expect("deploy's own flag");
    let flag = sub.find("--no-telemetry").expect("the global flag");
    assert!(
        env < flag,
        "--no-telemetry comes after the command's own flags: {sub}"
    );
}

#[test]
fn an_external_subcommand_is_recorded_as_external_never_as_typed_acme_secret_project() {
    let sb = host_sandbox("http://127.0.0.1:9/v1/batch");
    let out = sb
        .command(
            &crate::support::host_bin(),
            &["acme-secret-project", "--token", "x"],
        )
        .env("HOST_TELEMETRY_NOW", D1)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    host_on(&sb, D1, &["build"]);
    let counts = today_commands(&show(&sb, D1));
    assert_eq!(
        counts,
        [("build".to_owned(), 1), ("external".to_owned(), 1)],
        "{counts:?}"
    );
    for p in sb.created() {
        if p.is_file() {
            let bytes = std::fs::read(&p).unwrap();
            assert!(
                !text(&bytes).contains("acme-secret-project"),
                "{} holds the external subcommand's name",
                p.display()
            );
        }
    }
}
