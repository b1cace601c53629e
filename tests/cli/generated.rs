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
