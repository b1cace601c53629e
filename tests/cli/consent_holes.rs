//! The consent and privacy holes an audit found, each reproduced as it was
//! reported and named after what broke: consent in the host's own config
//! file, symlinked consent files, `off` with a broken file, the admin
//! policy bypassed from the environment, unknown words keeping an opt-out
//! host on, the notice "shown" to /dev/null, `off` not reaching a running
//! flush, and the smaller ones (`show`'s all-zero id, broken pipes).

use std::process::Stdio;
use std::time::Duration;

use crate::delivery::{D1, D2, host_sandbox};
use crate::receiver::{Mode, Receiver};
use crate::support::{Sandbox, host_bin, text};

fn host_dir(sb: &Sandbox) -> std::path::PathBuf {
    sb.root().join("config").join("host")
}

fn host_status(sb: &Sandbox) -> serde_json::Value {
    let out = sb.host(&["telemetry", "status", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// tally wrote a `[telemetry]` table into the host's own config.toml; a
/// host that rewrote its config from a struct dropped the user's "off".
#[test]
fn consent_in_the_hosts_config_toml_is_moved_to_telemetry_toml_once() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(host_dir(&sb)).unwrap();
    let host_cfg = host_dir(&sb).join("config.toml");
    std::fs::write(
        &host_cfg,
        "# my host settings\ntheme = \"dark\"\n\n# said no in 2025\n[telemetry]\nenabled = false\ndecided_via = \"command\"\n\n[build]\njobs = 2\n",
    )
    .unwrap();
    let v = host_status(&sb);
    assert_eq!(
        (v["enabled"].as_bool(), v["decided_by"].as_str()),
        (Some(false), Some("config"))
    );
    let consent = host_dir(&sb).join("telemetry.toml");
    assert_eq!(
        v["config_path"].as_str().unwrap(),
        consent.display().to_string()
    );
    let moved = std::fs::read_to_string(&consent).unwrap();
    assert!(moved.contains("enabled = false"), "{moved}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&consent).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let rest = std::fs::read_to_string(&host_cfg).unwrap();
    assert!(
        !rest.contains("[telemetry]") && !rest.contains("enabled"),
        "{rest}"
    );
    for kept in [
        "# my host settings",
        "theme = \"dark\"",
        "# said no in 2025",
        "[build]",
        "jobs = 2",
    ] {
        assert!(rest.contains(kept), "{kept:?} lost:\n{rest}");
    }
    // The host now rewrites its own file from a struct: the "off" stays.
    std::fs::write(&host_cfg, "theme = \"dark\"\n").unwrap();
    assert_eq!(host_status(&sb)["enabled"], false);
    // And `telemetry on|off` never touch the host's file again.
    assert!(sb.host(&["telemetry", "on"]).status.success());
    assert_eq!(
        std::fs::read_to_string(&host_cfg).unwrap(),
        "theme = \"dark\"\n"
    );
    let status = text(&sb.host(&["telemetry", "status"]).stdout);
    assert!(status.contains(&consent.display().to_string()), "{status}");
}

/// A symlinked config (dotfile managers) was silently off, and `telemetry
/// on` failed.
#[test]
fn a_symlinked_consent_file_of_the_user_is_followed() {
    let sb = Sandbox::new();
    let dotfiles = sb.root().join("dotfiles");
    std::fs::create_dir_all(&dotfiles).unwrap();
    std::fs::create_dir_all(sb.config_dir()).unwrap();
    std::fs::write(
        dotfiles.join("telemetry.toml"),
        format!(
            "# from my dotfiles\nenabled = true\nconsent_version = {}\n",
            tally_telemetry::schema::CONSENT_VERSION
        ),
    )
    .unwrap();
    std::os::unix::fs::symlink(dotfiles.join("telemetry.toml"), sb.config_file()).unwrap();
    let v = sb.status();
    assert_eq!(
        (v["enabled"].as_bool(), v["config_state"].as_str()),
        (Some(true), Some("loaded"))
    );
    let out = sb.tally(&["telemetry", "off"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        std::fs::symlink_metadata(sb.config_file())
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let t = std::fs::read_to_string(dotfiles.join("telemetry.toml")).unwrap();
    assert!(
        t.contains("# from my dotfiles") && t.contains("enabled = false"),
        "{t}"
    );
    assert_eq!(sb.status()["enabled"], false);
}

#[test]
fn a_symlink_tally_cannot_follow_makes_telemetry_on_fail_saying_why_and_how_to_fix_it() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.config_dir()).unwrap();
    let missing = sb.root().join("not-cloned-yet").join("telemetry.toml");
    std::os::unix::fs::symlink(&missing, sb.config_file()).unwrap();
    let out = sb.tally(&["telemetry", "on"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("symbolic link")
            && err.contains("does not exist")
            && err.contains("remove the link"),
        "{err}"
    );
    assert!(err.contains("TALLY_TELEMETRY=1"), "the way round it: {err}");
    let status = sb.ok(&["telemetry", "status"]);
    assert!(status.contains("remove the link"), "{status}");
}

/// `telemetry off` with a broken config exited 1 and kept the machine id.
#[test]
fn off_with_a_broken_consent_file_works_and_removes_the_machine_id() {
    let rx = Receiver::start(Mode::Accept);
    let mut sb = host_sandbox(&rx.url());
    sb.unset("HOST_TELEMETRY");
    assert!(sb.host(&["telemetry", "on"]).status.success());
    let state = sb.root().join("state/host");
    assert!(state.join("machine_id").exists());
    let consent = host_dir(&sb).join("telemetry.toml");
    std::fs::write(&consent, "enabled = maybe\n").unwrap();
    assert_eq!(host_status(&sb)["config_state"], "broken");
    let out = sb.host(&["telemetry", "off"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.contains("kept as"), "{said}");
    assert!(!state.join("machine_id").exists());
    let v = host_status(&sb);
    assert_eq!(
        (v["enabled"].as_bool(), v["decided_by"].as_str()),
        (Some(false), Some("config"))
    );
    let backup = std::fs::read_dir(host_dir(&sb))
        .unwrap()
        .flatten()
        .find(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("telemetry.toml.broken-")
        })
        .expect("the broken file kept");
    assert_eq!(
        std::fs::read_to_string(backup.path()).unwrap(),
        "enabled = maybe\n"
    );
}

/// With the system policy forcing off,
/// `HOST_POLICY_FILE=/nonexistent HOST_TELEMETRY=1` turned telemetry on.
#[test]
fn an_env_named_policy_file_cannot_bypass_the_system_policy() {
    let mut sb = Sandbox::new();
    std::fs::write(sb.root().join("host-policy.toml"), "telemetry = \"off\"\n").unwrap();
    sb.set("HOST_POLICY_FILE", "/nonexistent")
        .set("HOST_TELEMETRY", "1");
    let v = host_status(&sb);
    assert_eq!(
        (v["enabled"].as_bool(), v["decided_by"].as_str()),
        (Some(false), Some("policy"))
    );
    // A lenient file named by the environment changes nothing either.
    let lenient = sb.root().join("lenient.toml");
    std::fs::write(&lenient, "endpoint = \"http://127.0.0.1:9/v1/batch\"\n").unwrap();
    sb.set("HOST_POLICY_FILE", lenient.display().to_string());
    assert_eq!(host_status(&sb)["enabled"], false);
    // It may add a restriction the system file does not make.
    std::fs::remove_file(sb.root().join("host-policy.toml")).unwrap();
    std::fs::write(&lenient, "telemetry = \"off\"\n").unwrap();
    let v = host_status(&sb);
    assert_eq!(
        (v["enabled"].as_bool(), v["decided_by"].as_str()),
        (Some(false), Some("policy"))
    );
}

/// `HOST_TELEMETRY=disabled` was "garbage" and the opt-out host stayed on.
#[test]
fn unknown_words_in_the_consent_variable_mean_off() {
    for (word, warned) in [
        ("disabled", false),
        ("Disable", false),
        ("never", false),
        ("nah-thanks", true),
    ] {
        let mut sb = Sandbox::new();
        sb.set("HOST_TELEMETRY", word);
        let v = host_status(&sb);
        assert_eq!(
            (v["enabled"].as_bool(), v["decided_by"].as_str()),
            (Some(false), Some("env")),
            "{word}"
        );
        let warnings = v["warnings"].to_string();
        assert_eq!(
            warnings.contains("not understood"),
            warned,
            "{word}: {warnings}"
        );
        let out = sb.host(&["build"]);
        assert!(out.status.success());
        assert!(!sb.root().join("state/host").exists(), "{word}: recorded");
    }
}

/// `host build 2>/dev/null` marked the notice as shown, and the next run
/// sent.
#[test]
fn a_notice_written_to_dev_null_is_not_shown_and_nothing_is_sent() {
    let rx = Receiver::start(Mode::Accept);
    let mut sb = host_sandbox(&rx.url());
    sb.unset("HOST_TELEMETRY");
    let run = |stderr: Stdio, day: &str| {
        let out = sb
            .command(&host_bin(), &["build"])
            .env("HOST_TELEMETRY_NOW", day)
            .stderr(stderr)
            .output()
            .unwrap();
        assert!(out.status.success());
        out
    };
    run(Stdio::null(), D1);
    assert_eq!(host_status(&sb)["notice_shown"], false);
    run(Stdio::null(), D2);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        rx.unique_batches().is_empty(),
        "sent before anyone saw the notice"
    );
    // A pipe (a log, a person reading it) counts.
    let out = run(Stdio::piped(), D2);
    assert!(text(&out.stderr).contains("collects anonymous usage counts"));
    assert_eq!(host_status(&sb)["notice_shown"], true);
}

/// `telemetry off` during a running process re-created send.lock and
/// spool.lock at its next flush cycle.
#[test]
fn off_during_a_running_process_creates_no_lock_file_at_the_next_flush() {
    let rx = Receiver::start(Mode::Accept);
    let mut sb = host_sandbox(&rx.url());
    sb.unset("HOST_TELEMETRY")
        .set("HOST_TELEMETRY_FLUSH_INTERVAL", "1");
    assert!(sb.host(&["telemetry", "on"]).status.success());
    let state = sb.root().join("state/host");
    let mut child = sb
        .command(&host_bin(), &["wait-ms", "3500"])
        .env("HOST_TELEMETRY_NOW", D1)
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(sb.host(&["telemetry", "off"]).status.success());
    assert!(child.wait().unwrap().success());
    let left: Vec<_> = std::fs::read_dir(&state)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "files after off: {left:?}");
}

/// `show` printed an all-zero machine id before one existed.
#[test]
fn show_prints_no_all_zero_machine_id_before_one_exists() {
    let rx = Receiver::start(Mode::Accept);
    let sb = host_sandbox(&rx.url());
    crate::delivery::host_on(&sb, D1, &["build"]);
    std::fs::remove_file(sb.root().join("state/host/machine_id")).ok();
    let out = crate::delivery::host_on(&sb, D2, &["telemetry", "show"]);
    let shown = text(&out.stdout);
    assert!(shown.contains("usage_rollup"), "{shown}");
    assert!(
        !shown.contains("00000000-0000-0000-0000-000000000000"),
        "{shown}"
    );
}

/// `show | head` printed a broken-pipe error.
#[test]
fn show_into_a_closed_pipe_is_not_an_error() {
    let sb = Sandbox::new();
    sb.ok(&["telemetry", "on"]);
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe() returns.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: the read end is ours and closed once: the reader went away.
    unsafe { libc::close(fds[0]) };
    // SAFETY: the write end is a fresh descriptor owned by nothing else.
    let write_end =
        unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fds[1]) };
    for args in [&["telemetry", "show"][..], &["telemetry", "status"]] {
        let out = sb
            .command(&crate::support::tally_bin(), args)
            .stdout(Stdio::from(write_end.try_clone().unwrap()))
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        assert_eq!(text(&out.stderr), "", "{args:?}");
    }
}

/// Nothing called `record_lifecycle`, and uninstallers had no command to
/// call: `telemetry uninstall` records the uninstall, sends what is left
/// (today included, as no later run will) and deletes local data.
#[test]
fn uninstall_sends_what_is_left_with_the_uninstall_and_deletes_local_data() {
    let rx = Receiver::start(Mode::Accept);
    let sb = host_sandbox(&rx.url());
    crate::delivery::host_on(&sb, D1, &["build"]);
    let out = crate::delivery::host_on(&sb, D1, &["telemetry", "uninstall"]);
    let said = text(&out.stdout);
    assert!(said.contains("Sent the last counts"), "{said}");
    let batches = rx.unique_batches();
    let body = serde_json::to_string(&batches).unwrap();
    assert!(
        body.contains("uninstall") && body.contains("build"),
        "{body}"
    );
    assert!(!sb.root().join("state/host").exists(), "{:?}", sb.created());
}
