//! A hostile file system must never cost the host anything: an unusable
//! state directory, a read-only or full file system, no usable home, and a
//! symlinked spool. In each case the host's exit code, stdout and stderr are
//! what they would be without telemetry, and `telemetry status` tells why
//! nothing is being recorded.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::delivery::{D1, host_sandbox};
use crate::support::{Sandbox, host_bin, text};

/// Runs `host build` and checks it behaved exactly as without telemetry.
fn host_is_unaffected(sb: &Sandbox) {
    for args in [&["build", "x"][..], &["exit-deep", "4"][..]] {
        let out = sb
            .command(&host_bin(), args)
            .env("HOST_TELEMETRY_NOW", D1)
            .output()
            .unwrap();
        match args[0] {
            "build" => {
                assert_eq!(out.status.code(), Some(0));
                assert_eq!(text(&out.stdout), "built\n");
            }
            _ => {
                assert_eq!(out.status.code(), Some(4));
                assert_eq!(text(&out.stdout), "exiting with 4\n");
            }
        }
        assert!(
            out.stderr.is_empty(),
            "telemetry must be silent: {}",
            text(&out.stderr)
        );
    }
}

fn status(sb: &Sandbox) -> serde_json::Value {
    let out = sb.host(&["telemetry", "status", "--json"]);
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A tmpfs mounted for one test, unmounted on drop. Mounting needs root
/// (CI runs as root); `None` when the kernel refuses.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(at: &Path, opts: &str) -> Option<Mount> {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", opts, "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Mount(at.to_owned()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_state_dir_that_is_a_file_costs_the_host_nothing() {
    let mut sb = host_sandbox("http://127.0.0.1:9/v1/batch");
    let bogus = sb.root().join("not-a-dir");
    std::fs::write(&bogus, b"").unwrap();
    sb.set("HOST_TELEMETRY_DIR", bogus.display().to_string());
    host_is_unaffected(&sb);
    let v = status(&sb);
    assert!(
        v["state_dir_problem"]
            .as_str()
            .unwrap()
            .contains("not a directory"),
        "{v}"
    );
}

#[test]
fn a_missing_home_costs_the_host_nothing() {
    let mut sb = host_sandbox("http://127.0.0.1:9/v1/batch");
    // A home that does not exist and cannot be created, and no XDG dirs.
    sb.set("HOME", "/proc/tally-no-such-home");
    for k in [
        "XDG_CONFIG_HOME",
        "XDG_STATE_HOME",
        "XDG_DATA_HOME",
        "XDG_CACHE_HOME",
    ] {
        sb.unset(k);
    }
    host_is_unaffected(&sb);
}

#[test]
fn a_symlinked_spool_is_refused_and_its_target_untouched() {
    let sb = host_sandbox("http://127.0.0.1:9/v1/batch");
    let state = sb.root().join("state/host");
    std::fs::create_dir_all(&state).unwrap();
    let target = sb.root().join("precious.txt");
    std::fs::write(&target, b"do not touch\n").unwrap();
    std::os::unix::fs::symlink(&target, state.join("spool.jsonl")).unwrap();
    host_is_unaffected(&sb);
    assert_eq!(std::fs::read(&target).unwrap(), b"do not touch\n");
    let v = status(&sb);
    assert!(
        v["last_error"].as_str().unwrap().contains("symbolic link"),
        "{v}"
    );
}

#[test]
fn read_only_and_full_file_systems_cost_the_host_nothing() {
    // Root ignores permission bits, so a real read-only and a real full
    // file system are the only honest way to cause these faults.
    let mut sb = host_sandbox("http://127.0.0.1:9/v1/batch");
    let ro_dir = sb.root().join("ro");
    let Some(_ro) = Mount::tmpfs(&ro_dir, "ro,size=64k") else {
        panic!(
            "cannot mount a tmpfs here (needs root): this test covers read-only and full file systems and must not pass without them"
        );
    };
    sb.set(
        "HOST_TELEMETRY_DIR",
        ro_dir.join("state").display().to_string(),
    );
    host_is_unaffected(&sb);
    let v = status(&sb);
    let problem = v["state_dir_problem"].as_str().unwrap_or_default();
    assert!(
        problem.contains("cannot be created") && problem.contains("Read-only file system"),
        "{v}"
    );

    let full_dir = sb.root().join("full");
    let _full = Mount::tmpfs(&full_dir, "size=16k").expect("second tmpfs");
    let state = full_dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    // Fill it to the last byte.
    let mut filler = std::fs::File::create(full_dir.join("filler")).unwrap();
    let chunk = vec![0u8; 1024];
    while std::io::Write::write_all(&mut filler, &chunk).is_ok() {}
    drop(filler);
    sb.set("HOST_TELEMETRY_DIR", state.display().to_string());
    host_is_unaffected(&sb);
    let v = status(&sb);
    assert!(
        v["state_dir_problem"]
            .as_str()
            .unwrap_or_default()
            .contains("full"),
        "{v}"
    );
}

#[test]
fn counts_from_a_failed_flush_are_kept_for_the_next_one() {
    let mut sb = host_sandbox("http://127.0.0.1:9/v1/batch");
    // The state dir is unusable at first (a file stands in its place)...
    let state = sb.root().join("later-state");
    std::fs::write(&state, b"").unwrap();
    sb.set("HOST_TELEMETRY_DIR", state.display().to_string())
        .set("HOST_TELEMETRY_FLUSH_INTERVAL", "1");
    let mut child = sb
        .command(&host_bin(), &["wait-ms", "4000"])
        .env("HOST_TELEMETRY_NOW", D1)
        .spawn()
        .unwrap();
    // ...until the first interval flush has failed; then it is fixed.
    std::thread::sleep(std::time::Duration::from_millis(1800));
    std::fs::remove_file(&state).unwrap();
    assert!(child.wait().unwrap().success());
    let spool = std::fs::read_to_string(state.join("spool.jsonl")).unwrap();
    assert!(
        spool.contains("\"name\":\"wait-ms\""),
        "the command counted before the failed flush survived: {spool}"
    );
}
