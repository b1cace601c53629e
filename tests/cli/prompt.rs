//! The first-run question through a real pseudo-terminal: `expectrl` runs
//! the built binaries with the pty as their stdin and stderr, types the
//! answers a person would (y, n, Enter, Ctrl-C, Ctrl-D) and then reads the
//! stored choice back from the config file. A pty is the only honest way to
//! test this: the prompt refuses to appear unless stdin and stderr are
//! terminals, so piped tests can only ever see it stay away.
//!
//! Each run gets the Sandbox's cleared environment; a child that asked when
//! it should not have would block on its read, so every wait for the end of
//! output is bounded by a generous timeout and fails the test instead of
//! hanging it.
//!
//! The cases here are `tally telemetry prompt`'s; the example host's first
//! run, driven with the same harness, is in `prompt_host.rs`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use expectrl::process::unix::WaitStatus;
use expectrl::{Eof, Expect, Session};

use crate::support::{Sandbox, host_bin, tally_bin, text};

/// The question itself, as both binaries word it.
pub(crate) const QUESTION: &str = "Share anonymous usage statistics?";
/// The explanation printed just before the question.
const PREAMBLE: &str = "can send anonymous usage counts";
/// A fixed clock, so `decided_at` can be compared exactly.
const NOW: &str = "2026-03-04T05:06:07Z";
/// An endpoint nothing listens on; the prompt only needs one to exist, and
/// no test here has a completed day to send.
const ENDPOINT: &str = "http://127.0.0.1:9/v1/batch";
/// How long any single wait on the child may take before the test fails.
/// Generous, because a loaded 2-core machine can be slow to start a binary.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Which binary a test drives.
#[derive(Clone, Copy)]
pub(crate) enum App {
    /// The `tally` binary: opt-in, so Enter means No.
    Tally,
    /// The example host with its first-run question switched on (a host
    /// asks on an ordinary command only by choice): opt-out, so Enter means
    /// Yes.
    Host,
}

impl App {
    fn bin(self) -> PathBuf {
        match self {
            App::Tally => tally_bin(),
            App::Host => host_bin(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            App::Tally => "tally",
            App::Host => "host",
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            App::Tally => "TALLY",
            App::Host => "HOST",
        }
    }

    /// The question with its default marker: dialoguer's `[y/N]` or `[Y/n]`.
    fn question(self) -> String {
        match self {
            App::Tally => format!("{QUESTION} [y/N]"),
            App::Host => format!("{QUESTION} [Y/n]"),
        }
    }
}

/// A sandbox set up so the prompt is due for `app`: an endpoint and a fixed
/// clock, nothing decided.
pub(crate) fn sandbox(app: App) -> Sandbox {
    let mut sb = Sandbox::new();
    sb.set(
        format!("{}_TELEMETRY_ENDPOINT", app.prefix()).as_str(),
        ENDPOINT,
    );
    sb.set(format!("{}_TELEMETRY_NOW", app.prefix()).as_str(), NOW);
    if let App::Host = app {
        sb.set("HOST_EXAMPLE_FIRST_RUN_PROMPT", "1");
    }
    sb
}

/// `app args…` with the sandbox's cleared environment, ready for the pty:
/// stdin is put back to "inherit" (the Sandbox default is /dev/null), so the
/// pty that expectrl installs as fds 0, 1 and 2 stays in place.
pub(crate) fn command(sb: &Sandbox, app: App, args: &[&str]) -> Command {
    let mut c = sb.command(&app.bin(), args);
    c.stdin(Stdio::inherit());
    c
}

/// Which standard stream a run has redirected away from the pty.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Away {
    /// stdin from /dev/null.
    Stdin,
    /// stdout into a file.
    Stdout(&'static str),
    /// stderr into a file.
    Stderr(&'static str),
}

/// Like [`command`] with one stream redirected. The redirection is done by
/// `sh` after the fork, because ptyprocess closes every inherited
/// descriptor but the pty before exec, so a `File` handed to
/// `Command::stdout` would be gone by then. `sh` execs the binary, so the
/// pid expectrl waits on is the binary's, with the same cleared environment.
fn redirected(sb: &Sandbox, app: App, args: &[&str], away: Away) -> Command {
    let (redirect, target) = match away {
        Away::Stdin => ("<", "/dev/null".to_owned()),
        Away::Stdout(name) => (">", sb.root().join(name).display().to_string()),
        Away::Stderr(name) => ("2>", sb.root().join(name).display().to_string()),
    };
    let script = format!("target=$1; shift; exec \"$@\" {redirect}\"$target\"");
    let bin = app.bin().display().to_string();
    let mut sh_args = vec!["-c", script.as_str(), "sh", target.as_str(), bin.as_str()];
    sh_args.extend_from_slice(args);
    let mut c = sb.command(Path::new("/bin/sh"), &sh_args);
    c.stdin(Stdio::inherit());
    c
}

/// The usual first-run arguments of each app: `tally telemetry prompt` (the
/// tally binary never asks on its own commands) and `host build x`.
fn first_args(app: App) -> &'static [&'static str] {
    match app {
        App::Tally => &["telemetry", "prompt"],
        App::Host => &["build", "x"],
    }
}

pub(crate) fn first_run(sb: &Sandbox, app: App) -> Command {
    command(sb, app, first_args(app))
}

pub(crate) fn first_run_with(sb: &Sandbox, app: App, away: Away) -> Command {
    redirected(sb, app, first_args(app), away)
}

type Pty = expectrl::session::OsSession;

fn spawn(cmd: Command) -> Pty {
    let mut p = Session::spawn(cmd).expect("spawn under a pty");
    p.set_expect_timeout(Some(TIMEOUT));
    p
}

/// Waits for `needle` on the terminal, failing with what was seen.
fn expect_text(p: &mut Pty, needle: &str) -> String {
    match p.expect(needle) {
        Ok(c) => text(c.before()) + needle,
        Err(e) => panic!("waiting for {needle:?} on the terminal: {e}"),
    }
}

/// How the child ended: what it wrote to the terminal (all of it for
/// [`answer`] and [`run_unattended`]), and its exit code; a death by signal
/// fails the test instead.
pub(crate) struct Ended {
    pub(crate) rest: String,
    pub(crate) code: i32,
}

fn finish(mut p: Pty) -> Ended {
    let rest = match p.expect(Eof) {
        Ok(c) => text(c.as_bytes()),
        Err(e) => panic!("waiting for the child to finish (did it ask when it should not?): {e}"),
    };
    let code = match p.get_process().wait().expect("wait for the child") {
        WaitStatus::Exited(_, code) => code,
        other => panic!("the child did not exit normally: {other:?}; output: {rest}"),
    };
    Ended { rest, code }
}

/// Runs `cmd` under a pty without typing anything and returns all it wrote
/// to the terminal and its exit code: for the cases where no question may
/// appear.
pub(crate) fn run_unattended(cmd: Command) -> Ended {
    finish(spawn(cmd))
}

/// `app`'s consent file, if it exists.
fn stored(sb: &Sandbox, app: App) -> Option<toml::Table> {
    let path = config_file(sb, app);
    let t = std::fs::read_to_string(&path).ok()?;
    Some(t.parse().unwrap_or_else(|e| panic!("{path:?}: {e}\n{t}")))
}

fn config_file(sb: &Sandbox, app: App) -> PathBuf {
    sb.root()
        .join("config")
        .join(app.name())
        .join("telemetry.toml")
}

/// Asserts the config holds `enabled` as a choice made at the prompt, at
/// the sandbox's fixed instant.
pub(crate) fn assert_chosen_at_prompt(sb: &Sandbox, app: App, enabled: bool) {
    let t = stored(sb, app).expect("a consent file");
    assert_eq!(
        t.get("enabled").and_then(|v| v.as_bool()),
        Some(enabled),
        "{t:?}"
    );
    assert_eq!(
        t.get("decided_via").and_then(|v| v.as_str()),
        Some("prompt"),
        "{t:?}"
    );
    assert_eq!(
        t.get("decided_at").and_then(|v| v.as_str()),
        Some(NOW),
        "{t:?}"
    );
}

/// Asserts no choice is stored (the file may exist, e.g. for the notice).
pub(crate) fn assert_undecided(sb: &Sandbox, app: App) {
    if let Some(t) = stored(sb, app) {
        for key in ["enabled", "decided_via", "decided_at"] {
            assert!(t.get(key).is_none(), "{key} was stored: {t:?}");
        }
    }
}

/// Every cursor-hide escape must be followed by a show, so a prompt that is
/// interrupted does not leave the user's terminal without a cursor.
pub(crate) fn assert_cursor_visible(terminal: &str) {
    const HIDE: &str = "\x1b[?25l";
    const SHOW: &str = "\x1b[?25h";
    if let Some(hidden) = terminal.rfind(HIDE) {
        assert!(
            terminal[hidden..].contains(SHOW),
            "the cursor was left hidden: {terminal:?}"
        );
    }
}

/// Starts the first run of `app`, waits for the question, types `keys`,
/// and returns everything the terminal showed and the exit code.
pub(crate) fn answer(app: App, cmd: Command, keys: &[u8]) -> Ended {
    let mut p = spawn(cmd);
    let seen = expect_text(&mut p, &app.question());
    assert!(seen.contains(PREAMBLE), "{seen:?}");
    p.send(keys).expect("type at the prompt");
    let mut end = finish(p);
    end.rest = seen + &end.rest;
    end
}

/// What a terminal sends for Ctrl-C and Ctrl-D when it is in raw mode (in
/// cooked mode the line discipline turns them into SIGINT and end of file).
pub(crate) const CTRL_C: u8 = 0x03;
pub(crate) const CTRL_D: u8 = 0x04;

// ---- tally telemetry prompt: opt-in, Enter means No ----

#[test]
fn tally_prompt_yes_turns_telemetry_on_and_stores_how_and_when() {
    let sb = sandbox(App::Tally);
    let end = answer(App::Tally, first_run(&sb, App::Tally), b"y\r");
    assert_eq!(end.code, 0, "{}", end.rest);
    assert!(
        end.rest.contains("tally: telemetry enabled"),
        "{}",
        end.rest
    );
    assert_chosen_at_prompt(&sb, App::Tally, true);
    let v = sb.status();
    assert_eq!(
        (v["enabled"].as_bool(), v["decided_by"].as_str()),
        (Some(true), Some("config"))
    );
}

#[test]
fn tally_prompt_no_turns_telemetry_off_and_stores_how_and_when() {
    let sb = sandbox(App::Tally);
    let end = answer(App::Tally, first_run(&sb, App::Tally), b"n\r");
    assert_eq!(end.code, 0, "{}", end.rest);
    assert!(
        end.rest.contains("tally: telemetry disabled"),
        "{}",
        end.rest
    );
    assert_chosen_at_prompt(&sb, App::Tally, false);
    assert!(!sb.state_dir().exists(), "no state after answering no");
}

#[test]
fn tally_prompt_enter_takes_the_opt_in_default_no() {
    let sb = sandbox(App::Tally);
    let end = answer(App::Tally, first_run(&sb, App::Tally), b"\r");
    assert_eq!(end.code, 0, "{}", end.rest);
    assert_chosen_at_prompt(&sb, App::Tally, false);
}

#[test]
fn tally_prompt_ctrl_c_decides_nothing_exits_4_and_restores_the_cursor() {
    let sb = sandbox(App::Tally);
    let end = answer(App::Tally, first_run(&sb, App::Tally), &[CTRL_C]);
    assert_eq!(end.code, 4, "{}", end.rest);
    assert!(end.rest.contains("nothing was decided"), "{}", end.rest);
    assert_cursor_visible(&end.rest);
    assert_undecided(&sb, App::Tally);
    assert_eq!(sb.status()["decided_by"], "default");
}

#[test]
fn tally_prompt_ctrl_d_decides_nothing_and_exits_4() {
    let sb = sandbox(App::Tally);
    let end = answer(App::Tally, first_run(&sb, App::Tally), &[CTRL_D]);
    assert_eq!(end.code, 4, "{}", end.rest);
    assert!(end.rest.contains("nothing was decided"), "{}", end.rest);
    assert_cursor_visible(&end.rest);
    assert_undecided(&sb, App::Tally);
}

#[test]
fn tally_prompt_is_not_asked_again_once_answered() {
    let sb = sandbox(App::Tally);
    answer(App::Tally, first_run(&sb, App::Tally), b"y\r");
    let again = run_unattended(first_run(&sb, App::Tally));
    assert_eq!(again.code, 0, "{}", again.rest);
    assert!(
        !again.rest.contains(QUESTION),
        "asked twice: {}",
        again.rest
    );
    assert!(again.rest.contains("nothing to ask"), "{}", again.rest);
    assert!(again.rest.contains("--force"), "{}", again.rest);
    assert_chosen_at_prompt(&sb, App::Tally, true);
}

#[test]
fn tally_prompt_force_asks_again_after_a_choice_was_made() {
    let sb = sandbox(App::Tally);
    sb.ok(&["telemetry", "on"]);
    let cmd = command(&sb, App::Tally, &["telemetry", "prompt", "--force"]);
    let end = answer(App::Tally, cmd, b"n\r");
    assert_eq!(end.code, 0, "{}", end.rest);
    assert_chosen_at_prompt(&sb, App::Tally, false);
}

#[test]
fn tally_prompt_force_does_not_ask_when_a_higher_rule_decides() {
    let mut sb = sandbox(App::Tally);
    sb.set("DO_NOT_TRACK", "1");
    let end = run_unattended(command(
        &sb,
        App::Tally,
        &["telemetry", "prompt", "--force"],
    ));
    assert_eq!(end.code, 0, "{}", end.rest);
    assert!(!end.rest.contains(QUESTION), "{}", end.rest);
    assert!(
        end.rest
            .contains("DO_NOT_TRACK=1, which outranks any stored answer"),
        "{}",
        end.rest
    );
    assert!(sb.created().is_empty(), "created {:?}", sb.created());
}

#[test]
fn tally_prompt_without_an_endpoint_says_why_and_decides_nothing() {
    let mut sb = sandbox(App::Tally);
    sb.unset("TALLY_TELEMETRY_ENDPOINT");
    let end = run_unattended(first_run(&sb, App::Tally));
    assert_eq!(end.code, 3, "{}", end.rest);
    assert!(!end.rest.contains(QUESTION), "{}", end.rest);
    assert!(
        end.rest
            .contains("not asking: no telemetry endpoint is configured"),
        "{}",
        end.rest
    );
    assert!(sb.created().is_empty(), "created {:?}", sb.created());
}

#[test]
fn tally_prompt_in_ci_is_not_asked_even_with_force() {
    let mut sb = sandbox(App::Tally);
    sb.set("CI", "1");
    // Without --force CI has decided (off: exit 0); with it, no one could
    // be asked (exit 3).
    for (args, code) in [
        (&["telemetry", "prompt"][..], 0),
        (&["telemetry", "prompt", "--force"], 3),
    ] {
        let end = run_unattended(command(&sb, App::Tally, args));
        assert_eq!(end.code, code, "{args:?}: {}", end.rest);
        assert!(!end.rest.contains(QUESTION), "{args:?}: {}", end.rest);
        assert!(end.rest.contains("CI"), "{args:?} says why: {}", end.rest);
    }
    assert!(sb.created().is_empty(), "created {:?}", sb.created());
}

#[test]
fn tally_prompt_with_stdin_redirected_is_not_asked_and_says_why() {
    let sb = sandbox(App::Tally);
    let end = run_unattended(first_run_with(&sb, App::Tally, Away::Stdin));
    assert_eq!(end.code, 3, "{}", end.rest);
    assert!(!end.rest.contains(QUESTION), "{}", end.rest);
    assert!(end.rest.contains("not a terminal"), "{}", end.rest);
    assert!(sb.created().is_empty(), "created {:?}", sb.created());
}

#[test]
fn tally_prompt_with_stderr_redirected_is_not_asked_and_says_why_there() {
    let sb = sandbox(App::Tally);
    let end = run_unattended(first_run_with(&sb, App::Tally, Away::Stderr("stderr.txt")));
    assert_eq!(end.code, 3, "{}", end.rest);
    let stderr = std::fs::read_to_string(sb.root().join("stderr.txt")).unwrap();
    assert!(!end.rest.contains(QUESTION), "{}", end.rest);
    assert!(!stderr.contains(QUESTION), "{stderr}");
    assert!(stderr.contains("not a terminal"), "{stderr}");
    assert_undecided(&sb, App::Tally);
}

#[test]
fn tally_prompt_text_goes_to_stderr_never_stdout() {
    let sb = sandbox(App::Tally);
    let cmd = first_run_with(&sb, App::Tally, Away::Stdout("stdout.txt"));
    let end = answer(App::Tally, cmd, b"y\r");
    assert_eq!(end.code, 0, "{}", end.rest);
    let stdout = std::fs::read_to_string(sb.root().join("stdout.txt")).unwrap();
    assert_eq!(stdout, "", "stdout belongs to the host");
    assert_chosen_at_prompt(&sb, App::Tally, true);
}

#[test]
fn tally_prompt_yes_records_an_install() {
    let sb = sandbox(App::Tally);
    answer(App::Tally, first_run(&sb, App::Tally), b"y\r");
    let spool = std::fs::read_to_string(sb.state_dir().join("spool.jsonl")).unwrap();
    assert!(spool.contains("install"), "{spool}");
}

/// An installer had no machine-readable answer, and exit 0 for everything.
#[test]
fn tally_prompt_json_and_exit_code_say_what_happened() {
    let sb = sandbox(App::Tally);
    let out = sb.tally(&["telemetry", "prompt", "--json"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["result"], "not_asked");
    assert_eq!(v["enabled"], false);
    sb.ok(&["telemetry", "off"]);
    let out = sb.tally(&["telemetry", "prompt", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["result"], "already_decided");
    assert_eq!(v["decided_by"], "config");
}
