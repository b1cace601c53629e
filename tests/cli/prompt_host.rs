//! The example host's first-run question through a real pseudo-terminal,
//! with the harness in `prompt.rs`: the host is opt-out, so Enter means
//! Yes; it asks on an ordinary command only when it chose to, never in CI,
//! without an endpoint or without terminals, and the command itself always
//! runs and keeps its exit code.

use crate::prompt::{
    App, Away, CTRL_C, CTRL_D, QUESTION, answer, assert_chosen_at_prompt, assert_cursor_visible,
    assert_undecided, command, first_run, first_run_with, run_unattended, sandbox,
};

/// An opt-out host once stopped its first interactive run of an ordinary
/// command at a blocking `[Y/n]`; a script started from a terminal hung.
#[test]
fn opt_out_host_never_stops_an_ordinary_command_at_a_question() {
    let mut sb = sandbox(App::Host);
    sb.unset("HOST_EXAMPLE_FIRST_RUN_PROMPT");
    let end = run_unattended(first_run(&sb, App::Host));
    assert_eq!(end.code, 0, "{}", end.rest);
    assert!(!end.rest.contains(QUESTION), "{}", end.rest);
    assert!(end.rest.contains("built"), "{}", end.rest);
    assert!(
        end.rest.contains("collects anonymous usage counts"),
        "the notice instead: {}",
        end.rest
    );
    assert_undecided(&sb, App::Host);
    // `host telemetry prompt` (the installer's entry point) does ask.
    let cmd = command(&sb, App::Host, &["telemetry", "prompt"]);
    answer(App::Host, cmd, b"n\r");
    assert_chosen_at_prompt(&sb, App::Host, false);
}

#[test]
fn host_first_run_yes_stores_the_choice_and_runs_the_command() {
    let sb = sandbox(App::Host);
    let end = answer(App::Host, first_run(&sb, App::Host), b"y\r");
    assert_eq!(end.code, 0, "{}", end.rest);
    assert!(end.rest.contains("built"), "{}", end.rest);
    assert_chosen_at_prompt(&sb, App::Host, true);
}

#[test]
fn host_first_run_no_stores_the_choice_runs_the_command_and_records_nothing() {
    let sb = sandbox(App::Host);
    let end = answer(App::Host, first_run(&sb, App::Host), b"n\r");
    assert_eq!(end.code, 0, "{}", end.rest);
    assert!(end.rest.contains("built"), "{}", end.rest);
    assert_chosen_at_prompt(&sb, App::Host, false);
    assert!(
        !sb.root().join("state").join("host").exists(),
        "nothing recorded after answering no"
    );
}

#[test]
fn host_first_run_enter_takes_the_opt_out_default_yes() {
    let sb = sandbox(App::Host);
    let end = answer(App::Host, first_run(&sb, App::Host), b"\r");
    assert_eq!(end.code, 0, "{}", end.rest);
    assert!(end.rest.contains("built"), "{}", end.rest);
    assert_chosen_at_prompt(&sb, App::Host, true);
}

#[test]
fn host_first_run_ctrl_c_decides_nothing_and_the_command_keeps_its_exit_code() {
    let sb = sandbox(App::Host);
    let cmd = command(&sb, App::Host, &["exit-deep", "3"]);
    let end = answer(App::Host, cmd, &[CTRL_C]);
    assert_eq!(end.code, 3, "{}", end.rest);
    assert!(end.rest.contains("exiting with 3"), "{}", end.rest);
    assert_cursor_visible(&end.rest);
    assert_undecided(&sb, App::Host);
    // Unanswered, the opt-out default applied: the notice, and counts kept.
    assert!(
        end.rest.contains("collects anonymous usage counts"),
        "{}",
        end.rest
    );
    let state = sb.root().join("state").join("host");
    assert!(state.join("spool.jsonl").exists());
    // Undecided, so the next run on a terminal asks again; a "no" deletes
    // what the first run kept (it once stayed on disk).
    let end = answer(App::Host, first_run(&sb, App::Host), b"n\r");
    assert_eq!(end.code, 0, "{}", end.rest);
    assert_chosen_at_prompt(&sb, App::Host, false);
    assert!(!state.exists(), "a no left {:?}", sb.created());
}

#[test]
fn host_first_run_ctrl_d_decides_nothing_and_the_command_completes() {
    let sb = sandbox(App::Host);
    let end = answer(App::Host, first_run(&sb, App::Host), &[CTRL_D]);
    assert_eq!(end.code, 0, "{}", end.rest);
    assert!(end.rest.contains("built"), "{}", end.rest);
    assert_cursor_visible(&end.rest);
    assert_undecided(&sb, App::Host);
}

#[test]
fn host_first_run_is_asked_only_once() {
    let sb = sandbox(App::Host);
    answer(App::Host, first_run(&sb, App::Host), b"y\r");
    let again = run_unattended(first_run(&sb, App::Host));
    assert_eq!(again.code, 0, "{}", again.rest);
    assert!(
        !again.rest.contains(QUESTION),
        "asked twice: {}",
        again.rest
    );
    assert!(again.rest.contains("built"), "{}", again.rest);
    assert_chosen_at_prompt(&sb, App::Host, true);
}

#[test]
fn host_first_run_prompt_goes_to_stderr_never_stdout() {
    let sb = sandbox(App::Host);
    let cmd = first_run_with(&sb, App::Host, Away::Stdout("stdout.txt"));
    let end = answer(App::Host, cmd, b"n\r");
    assert_eq!(end.code, 0, "{}", end.rest);
    assert!(end.rest.contains(QUESTION), "{}", end.rest);
    let stdout = std::fs::read_to_string(sb.root().join("stdout.txt")).unwrap();
    assert_eq!(stdout, "built\n", "only the host's own output on stdout");
    assert_chosen_at_prompt(&sb, App::Host, false);
}

/// The ways a host run can be kept from asking.
#[derive(Clone, Copy, Debug)]
enum NoAsk {
    Ci,
    NoEndpoint,
    Away(Away),
}

#[test]
fn host_does_not_ask_in_ci_without_an_endpoint_or_without_terminals() {
    for case in [
        NoAsk::Ci,
        NoAsk::NoEndpoint,
        NoAsk::Away(Away::Stdin),
        NoAsk::Away(Away::Stderr("stderr.txt")),
    ] {
        // A fresh sandbox per case: each run must complete on the pty with
        // no question and leave the choice undecided.
        let mut sb = sandbox(App::Host);
        let cmd = match case {
            NoAsk::Ci => first_run(sb.set("CI", "1"), App::Host),
            NoAsk::NoEndpoint => first_run(sb.unset("HOST_TELEMETRY_ENDPOINT"), App::Host),
            NoAsk::Away(away) => first_run_with(&sb, App::Host, away),
        };
        let end = run_unattended(cmd);
        assert_eq!(end.code, 0, "{case:?}: {}", end.rest);
        assert!(!end.rest.contains(QUESTION), "{case:?}: {}", end.rest);
        assert!(end.rest.contains("built"), "{case:?}: {}", end.rest);
        let stderr = std::fs::read_to_string(sb.root().join("stderr.txt")).unwrap_or_default();
        assert!(!stderr.contains(QUESTION), "{case:?}: {stderr}");
        assert_undecided(&sb, App::Host);
    }
}
