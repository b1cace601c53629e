//! How the delivery helper enters tally's code, and what happens when it
//! cannot: it shows in `ps` under the host's own name, and a helper whose
//! constructor did not run (simulated with the debug-only
//! `__TALLY_TEST_NO_HELPER_ENTRY`) runs none of the host's logic (the
//! example host's parser rejects `--tally-deliver-helper`), sends nothing,
//! and is reported by `telemetry status` instead of being restarted on
//! every run.

use std::time::{Duration, Instant, SystemTime};

use crate::delivery::{D1, D2, host_on, host_sandbox, show, today_commands};
use crate::helper::{helpers_of, state_dir};
use crate::receiver::{Mode, Receiver};
use crate::support::text;

#[test]
fn the_helper_shows_in_ps_under_the_hosts_name() {
    let rx = Receiver::start(Mode::Accept);
    let mut sb = host_sandbox(&rx.url());
    host_on(&sb, D1, &["build"]);
    sb.set("HOST_TELEMETRY_TEST_HELPER_DELAY_MS", "2000");
    host_on(&sb, D2, &["build"]);
    let start = Instant::now();
    // Until the forked child has exec'd its environment is its parent's.
    let pid = loop {
        if let Some(&pid) = helpers_of(&sb).first() {
            break pid;
        }
        assert!(start.elapsed() < Duration::from_secs(2), "no helper");
        std::thread::sleep(Duration::from_millis(10));
    };
    // `comm` is set once the helper runs tally's code; give it a moment.
    let mut comm = String::new();
    while start.elapsed() < Duration::from_secs(2) {
        comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == "host" {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(comm.trim(), "host", "comm (what ps and top show)");
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let argv0 = cmdline.split(|&b| b == 0).next().unwrap();
    assert!(
        text(argv0).ends_with("/host"),
        "argv[0] is the host's: {}",
        text(argv0)
    );
    crate::helper::wait_sent(&sb, 1);
}

#[test]
fn a_helper_that_never_reaches_tally_fails_safe_and_is_reported() {
    let rx = Receiver::start(Mode::Accept);
    let mut sb = host_sandbox(&rx.url());
    sb.set("__TALLY_TEST_NO_HELPER_ENTRY", "1");
    host_on(&sb, D1, &["build"]);
    let out = host_on(&sb, D2, &["build"]);
    assert_eq!(text(&out.stdout), "built\n");
    let crumb = state_dir(&sb).join("helper.started");
    assert!(crumb.exists(), "the starter leaves its breadcrumb");
    // The helper ran the host's main, whose parser refused the helper's
    // argument: nothing of the host's logic ran (it would have counted a
    // command), nothing was sent, the breadcrumb stays.
    std::thread::sleep(Duration::from_millis(500));
    assert!(helpers_of(&sb).is_empty(), "the helper has exited");
    assert!(crumb.exists());
    assert_eq!(rx.connections(), 0);
    assert_eq!(
        today_commands(&show(&sb, D2)),
        vec![("build".into(), 1)],
        "the helper counted no command of its own"
    );
    // Age it past the helper's lifetime rather than wait 6 s.
    std::fs::File::options()
        .write(true)
        .open(&crumb)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(60))
        .unwrap();
    // The next run reports it and backs off instead of starting another.
    let out = host_on(&sb, D2, &["build"]);
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    assert!(!crumb.exists());
    let status = text(&host_on(&sb, D2, &["telemetry", "status"]).stdout);
    assert!(
        status.contains("never reached host's telemetry code"),
        "status says why: {status}"
    );
    assert!(status.contains("backoff:"), "and backs off: {status}");
    host_on(&sb, D2, &["build"]);
    assert!(!crumb.exists(), "no helper during the backoff");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rx.connections(), 0);
}
