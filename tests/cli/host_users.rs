//! What a host's users see is the host, not tally: the library's messages
//! name the host; exit codes and subcommand names mean what the host
//! declared (finder's "no match" exits 1, its `Reindex.All` is sent as
//! `reindex-all`, and `status` warns about a name the schema refuses); the
//! administrator's policy file lives under the app's own name; a CLI whose
//! root is an enum takes `--no-telemetry`; and the host's TELEMETRY.md is
//! written for its users.

use std::path::{Path, PathBuf};

use crate::delivery::D1;
use crate::support::{Sandbox, host_bin, library_example, text};

fn finder() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| library_example("finder")).clone()
}

/// A sandbox where finder has telemetry on and an unreachable endpoint.
fn finder_sandbox() -> Sandbox {
    let mut sb = Sandbox::new();
    sb.set("FINDER_TELEMETRY", "1")
        .set("FINDER_TELEMETRY_ENDPOINT", "http://127.0.0.1:9/v1/batch");
    let policy = sb.root().join("finder-policy.toml").display().to_string();
    sb.set("FINDER_TELEMETRY_TEST_SYSTEM_POLICY_FILE", policy);
    sb
}

fn run(sb: &Sandbox, bin: &Path, args: &[&str]) -> std::process::Output {
    sb.command(bin, args)
        .env("FINDER_TELEMETRY_NOW", D1)
        .env("HOST_TELEMETRY_NOW", D1)
        .output()
        .unwrap()
}

/// `(command, outcome, count)` of today's rows in `<bin> telemetry show`.
fn today_rows(sb: &Sandbox, bin: &Path) -> Vec<(String, String, u64)> {
    let out = run(sb, bin, &["telemetry", "show", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut rows = Vec::new();
    for e in v["today"].as_array().unwrap() {
        for c in e["commands"].as_array().into_iter().flatten() {
            rows.push((
                c["command"].as_str().unwrap().to_owned(),
                c["outcome"].as_str().unwrap_or("").to_owned(),
                c["count"].as_u64().unwrap(),
            ));
        }
    }
    rows.sort();
    rows
}

/// A "yes" stored under an older consent version: the notice said "What
/// tally collects changed" inside a host that is not tally.
#[test]
fn the_notice_after_a_stale_yes_names_the_host_not_tally() {
    let mut sb = Sandbox::new();
    sb.set("HOST_TELEMETRY_ENDPOINT", "http://127.0.0.1:9/v1/batch");
    let dir = sb.root().join("config/host");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("telemetry.toml"),
        "enabled = true\nconsent_version = 1\n",
    )
    .unwrap();
    let out = run(&sb, &host_bin(), &["build"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("What host collects changed since you turned telemetry on"),
        "{err}"
    );
    assert!(!err.contains("tally"), "the notice names tally: {err}");
}

/// finder's "no match" exits 1, which it declared a success: it was
/// counted as a failure.
#[test]
fn a_no_match_exit_1_the_host_declared_a_success_is_counted_as_success() {
    let sb = finder_sandbox();
    let out = run(&sb, &finder(), &["find", "needle", "only hay here"]);
    assert_eq!(out.status.code(), Some(1), "the exit code stays the host's");
    assert!(out.stdout.is_empty());
    let out = run(&sb, &finder(), &["find", "needle", "a needle"]);
    assert_eq!(out.status.code(), Some(0));
    let out = run(&sb, &finder(), &["find"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        today_rows(&sb, &finder()),
        [("find".to_owned(), "success".to_owned(), 2)],
        "a usage error exits before telemetry starts; both answers are successes"
    );
}

/// `Reindex.All` is outside the schema's name pattern: its runs were sent
/// only as a `dropped` count, silently. Declared, it is sent under its
/// new name; undeclared, `status` says it will be dropped.
#[test]
fn a_renamed_subcommand_is_recorded_under_its_name_and_status_warns_about_a_dropped_one() {
    let sb = finder_sandbox();
    let out = run(&sb, &finder(), &["Reindex.All"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        today_rows(&sb, &finder()),
        [("reindex-all".to_owned(), "success".to_owned(), 1)]
    );
    let status = text(&run(&sb, &finder(), &["telemetry", "status"]).stdout);
    assert!(!status.contains("never recorded"), "{status}");

    let out = sb
        .command(&finder(), &["telemetry", "status", "--json"])
        .env("FINDER_EXAMPLE_NO_RENAME", "1")
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let warnings = v["warnings"].to_string();
    assert!(
        warnings.contains("`Reindex.All` is never recorded") && warnings.contains("rename_command"),
        "{warnings}"
    );
    assert!(!warnings.contains("`find`"), "{warnings}");
}

/// The administrator's file lived only at `/etc/tally/<app>.toml`; an
/// administrator looks under the app's own name first.
#[test]
fn the_policy_file_under_the_apps_own_name_applies_and_wins_over_the_shared_one() {
    let mut sb = Sandbox::new();
    let etc = sb.root().join("etc");
    sb.unset("HOST_TELEMETRY_TEST_SYSTEM_POLICY_FILE")
        .set(
            "HOST_TELEMETRY_TEST_SYSTEM_POLICY_ROOT",
            etc.display().to_string(),
        )
        .set("HOST_TELEMETRY", "1");
    let status = |sb: &Sandbox| -> serde_json::Value {
        let out = run(sb, &host_bin(), &["telemetry", "status", "--json"]);
        serde_json::from_slice(&out.stdout).unwrap()
    };
    // The shared file alone still applies.
    std::fs::create_dir_all(etc.join("tally")).unwrap();
    std::fs::write(etc.join("tally/host.toml"), "telemetry = \"off\"\n").unwrap();
    let v = status(&sb);
    assert_eq!(
        (v["enabled"].as_bool(), v["decided_by"].as_str()),
        (Some(false), Some("policy")),
        "{v}"
    );
    // The app's own file, alone, applies.
    std::fs::remove_file(etc.join("tally/host.toml")).unwrap();
    std::fs::create_dir_all(etc.join("host")).unwrap();
    std::fs::write(etc.join("host/telemetry.toml"), "telemetry = \"off\"\n").unwrap();
    let v = status(&sb);
    assert_eq!(
        (v["enabled"].as_bool(), v["decided_by"].as_str()),
        (Some(false), Some("policy")),
        "{v}"
    );
    assert!(v.to_string().contains("host/telemetry.toml"), "{v}");
    // Both: the app's own wins, and status names the one not read.
    std::fs::write(etc.join("host/telemetry.toml"), "# nothing to restrict\n").unwrap();
    std::fs::write(etc.join("tally/host.toml"), "telemetry = \"off\"\n").unwrap();
    let v = status(&sb);
    assert_eq!(v["enabled"], true, "{v}");
    let warnings = v["warnings"].to_string();
    assert!(
        warnings.contains("tally/host.toml is not read"),
        "{warnings}"
    );
}

/// `#[derive(Parser)] enum Cmd` has no struct to flatten `TelemetryArgs`
/// into, so it could not take `--no-telemetry`.
#[test]
fn a_cli_whose_root_is_an_enum_takes_no_telemetry() {
    let bin = library_example("enum_root");
    let mut sb = Sandbox::new();
    sb.set("ENUMTOOL_TELEMETRY", "1")
        .set("ENUMTOOL_TELEMETRY_ENDPOINT", "http://127.0.0.1:9/v1/batch");
    let policy = sb.root().join("enumtool-policy.toml").display().to_string();
    sb.set("ENUMTOOL_TELEMETRY_TEST_SYSTEM_POLICY_FILE", policy);
    let help = text(&sb.command(&bin, &["--help"]).output().unwrap().stdout);
    assert!(help.contains("--no-telemetry"), "{help}");
    let before = sb.created();
    let out = sb
        .command(&bin, &["--no-telemetry", "build"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "built\n");
    let out = sb
        .command(&bin, &["build", "--no-telemetry"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(sb.created(), before, "a --no-telemetry run created files");
    let out = sb.command(&bin, &["build"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let show = sb
        .command(&bin, &["telemetry", "show", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert!(v["today"].to_string().contains("\"build\""), "{v}");
    let bad = sb.command(&bin, &["--bogus"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2), "a usage error exits as clap's");
}

fn page(name: &str) -> String {
    std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("crates/tally-telemetry/examples")
            .join(name),
    )
    .unwrap()
}

/// The host's TELEMETRY.md was tally's: half about MCP tool calls a plain
/// CLI never sends, types as regexes, nothing on defaults, turning it
/// off, where data goes or for how long, and upgrades as the app's choice.
/// (Each example's own test keeps its file current.)
#[test]
fn a_plain_clis_telemetry_md_is_written_for_its_users() {
    let p = page("finder-TELEMETRY.md");
    for want in [
        "**on by default**",
        "`finder telemetry off`",
        "`FINDER_TELEMETRY=0`",
        "`DO_NOT_TRACK=1`",
        "`finder --no-telemetry …`",
        "`/etc/finder/telemetry.toml`",
        "https://telemetry.example.com/v1/batch",
        "How long it is kept: 13 months, then deleted.",
        "- `Reindex.All` (sent as `reindex-all`)",
        "- exit code 1: `success`",
        "The telemetry library itself counts an `upgrade`",
    ] {
        assert!(p.contains(want), "finder's page lacks {want:?}:\n{p}");
    }
    for never in ["tool_calls", "clients", "backend_count", "[a-z", "{0,"] {
        assert!(!p.contains(never), "finder's page has {never:?}:\n{p}");
    }
    // A host that declared tool calls and facts gets those sections.
    let h = page("host-TELEMETRY.md");
    assert!(
        h.contains("`tool_calls`") && h.contains("`auth_type`"),
        "{h}"
    );
    assert!(!h.contains("[a-z"), "{h}");
}
