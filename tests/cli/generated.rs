//! The generated files the repository carries must match what the code
//! generates today: shell completions and man pages (regenerated here with
//! the built binary's hidden `generate` command into a temporary directory
//! and compared file by file, so a missing, extra or stale file fails), and
//! the field reference in TELEMETRY.md (compared with `tally_telemetry::schema::docs::splice`).
//! Each failure names the command that fixes it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::support::{Sandbox, text};

const FIX: &str = "run scripts/regenerate.sh and commit the result";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file directly in `dir`, by name, with its bytes. A missing
/// directory reads as empty, so the comparison lists every file as missing.
fn files_in(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| {
            let bytes = std::fs::read(e.path()).unwrap();
            (e.file_name().to_string_lossy().into_owned(), bytes)
        })
        .collect()
}

/// Regenerates `what` (`completions` or `man`) into a fresh directory and
/// compares it with the committed `<repo>/<what>/`; the returned problems
/// name each missing, extra or differing file.
fn compare(what: &str) -> Vec<String> {
    let sb = Sandbox::new();
    let fresh = sb.root().join(what);
    let out = sb.tally(&["generate", what, &fresh.display().to_string()]);
    assert!(
        out.status.success(),
        "tally generate {what} failed: {}",
        text(&out.stderr)
    );
    let want = files_in(&fresh);
    let have = files_in(&repo().join(what));
    assert!(!want.is_empty(), "tally generate {what} wrote nothing");
    let mut problems = Vec::new();
    for (name, bytes) in &want {
        match have.get(name) {
            None => problems.push(format!("{what}/{name} is missing")),
            Some(b) if b != bytes => problems.push(format!("{what}/{name} is out of date")),
            Some(_) => {}
        }
    }
    for name in have.keys().filter(|n| !want.contains_key(*n)) {
        problems.push(format!(
            "{what}/{name} is not generated any more (a removed command?)"
        ));
    }
    problems
}

#[test]
fn committed_completions_match_the_cli() {
    let problems = compare("completions");
    assert!(problems.is_empty(), "{}\n{FIX}", problems.join("\n"));
}

#[test]
fn committed_man_pages_match_the_cli() {
    let problems = compare("man");
    assert!(problems.is_empty(), "{}\n{FIX}", problems.join("\n"));
}

/// The conformance vectors the Node, Python and Go implementations run are
/// what the Rust library answers today: regenerated, every file is the
/// committed one byte for byte (so they cannot drift from Rust).
#[test]
fn committed_conformance_vectors_match_the_library() {
    let sb = Sandbox::new();
    let fresh = sb.root().join("conformance");
    let out = sb.tally(&["generate", "conformance", &fresh.display().to_string()]);
    assert!(
        out.status.success(),
        "tally generate conformance failed: {}",
        text(&out.stderr)
    );
    let mut problems = Vec::new();
    let mut kinds = 0;
    for kind in std::fs::read_dir(&fresh).unwrap().flatten() {
        let name = kind.file_name().to_string_lossy().into_owned();
        let want = files_in(&kind.path());
        let have = files_in(&repo().join("conformance").join(&name));
        kinds += want.len();
        for (file, bytes) in &want {
            match have.get(file) {
                None => problems.push(format!("conformance/{name}/{file} is missing")),
                Some(b) if b != bytes => {
                    problems.push(format!("conformance/{name}/{file} is out of date"))
                }
                Some(_) => {}
            }
        }
        for file in have.keys().filter(|f| !want.contains_key(*f)) {
            problems.push(format!(
                "conformance/{name}/{file} is not generated any more"
            ));
        }
    }
    assert!(kinds >= 7, "tally generate conformance wrote {kinds} files");
    assert!(problems.is_empty(), "{}\n{FIX}", problems.join("\n"));
}

#[test]
fn man_pages_cover_every_visible_subcommand_and_no_hidden_one() {
    let names: Vec<String> = files_in(&repo().join("man")).into_keys().collect();
    for page in [
        "tally.1",
        "tally-telemetry.1",
        "tally-telemetry-prompt.1",
        "tally-config-otel-set.1",
    ] {
        assert!(names.iter().any(|n| n == page), "no {page} in {names:?}");
    }
    assert!(
        !names.iter().any(|n| n.starts_with("tally-generate")),
        "the hidden generate command has a man page: {names:?}"
    );
}

#[test]
fn completions_never_offer_the_hidden_generate_command() {
    // clap_complete offers hidden subcommands unless the generator leaves
    // them out; `generate` is for packagers, not for `tally <TAB>`.
    for (name, bytes) in files_in(&repo().join("completions")) {
        assert!(
            !text(&bytes).contains("generate"),
            "completions/{name} offers the hidden generate command"
        );
    }
}

#[test]
fn telemetry_md_lists_what_tally_records_and_every_field() {
    // tally's own contract, checked with the helper a host calls in its tests.
    let path = repo().join("TELEMETRY.md");
    if let Err(e) = tally_telemetry::check_contract(&tally_cli::cli::command(), &path) {
        panic!("{e}\n{FIX} (or: cargo run -- generate telemetry-md TELEMETRY.md)");
    }
}

#[test]
fn telemetry_md_keeps_its_hand_written_contract() {
    // The generated part is checked above; this guards the promises around
    // it from being dropped by accident.
    let t = std::fs::read_to_string(repo().join("TELEMETRY.md")).unwrap();
    for needle in [
        "## What is never collected",
        "DO_NOT_TRACK",
        "--no-telemetry",
        "_TELEMETRY_DEBUG=1",
        "telemetry show",
        "telemetry log",
        "### Off is off",
        "## Files on disk",
        "<!-- BEGIN tally contract",
        "<!-- END tally contract -->",
    ] {
        assert!(
            t.contains(needle),
            "TELEMETRY.md no longer mentions {needle:?}"
        );
    }
}

/// The README's table of variables is the one `--help` and the man pages
/// are made from: regenerated into a copy, it must be what is committed.
#[test]
fn readme_lists_the_same_environment_variables_as_help_and_man_pages() {
    let sb = Sandbox::new();
    let copy = sb.root().join("README.md");
    std::fs::copy(repo().join("README.md"), &copy).unwrap();
    let out = sb.tally(&["generate", "readme-env", &copy.display().to_string()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let want = std::fs::read_to_string(&copy).unwrap();
    let have = std::fs::read_to_string(repo().join("README.md")).unwrap();
    assert!(
        want == have,
        "README.md's table of environment variables is out of date\n{FIX}"
    );
}

/// The man pages and `--help` lacked the proxy variables, the client-side
/// OTEL_* ones and TALLY_OTEL_MACHINE_ID; tally.1 lacked TALLY_STORE.
#[test]
fn help_and_man_pages_name_every_variable_tally_reads() {
    let sb = Sandbox::new();
    let help = text(&sb.tally(&["--help"]).stdout);
    let man = std::fs::read_to_string(repo().join("man").join("tally.1")).unwrap();
    let man = man.replace("\\-", "-");
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    for var in [
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_SERVICE_NAME",
        "OTEL_RESOURCE_ATTRIBUTES",
        "OTEL_SDK_DISABLED",
        "TALLY_OTEL_MACHINE_ID",
        "TALLY_STORE",
        "TALLY_POLICY_FILE",
    ] {
        assert!(help.contains(var), "tally --help does not name {var}");
        assert!(man.contains(var), "man/tally.1 does not name {var}");
        assert!(
            readme.contains(&format!("`{var}`")),
            "README.md does not name {var}"
        );
    }
}

/// The README keeps short summaries and links to the detail in docs/: every
/// relative link of the README and of those pages must lead to a file that
/// exists, and a link to one of the README's sections to a heading it has.
#[test]
fn links_between_the_readme_and_docs_lead_somewhere() {
    let root = repo();
    let mut problems = Vec::new();
    for page in ["README.md", "docs/PERFORMANCE.md", "docs/ATTACKS.md"] {
        let path = root.join(page);
        let body = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{page}: {e}"));
        for link in body.split("](").skip(1).filter_map(|s| s.split(')').next()) {
            if link.contains("://") || link.starts_with('#') || link.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = link.split_once('#').unwrap_or((link, ""));
            let target = path.parent().unwrap().join(file);
            if !target.exists() {
                problems.push(format!("{page} links to {link}, which does not exist"));
                continue;
            }
            if !anchor.is_empty() && target.extension().is_some_and(|e| e == "md") {
                let text = std::fs::read_to_string(&target).unwrap();
                let slugs: Vec<String> = text
                    .lines()
                    .filter(|l| l.starts_with('#'))
                    .map(|l| {
                        l.trim_start_matches('#')
                            .trim()
                            .to_lowercase()
                            .chars()
                            .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-')
                            .map(|c| if c == ' ' { '-' } else { c })
                            .collect()
                    })
                    .collect();
                if !slugs.iter().any(|s| s == anchor) {
                    problems.push(format!(
                        "{page} links to {link}, a heading that does not exist"
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
