//! Unit tests of the in-memory counters in `recorder.rs`: outcome words,
//! per-map name caps, drain and restore.

#[test]
fn every_call_outcome_word_names_its_own_slot() {
    for (i, w) in super::CALL_WORDS.iter().enumerate() {
        assert_eq!(super::CallOutcome::from_word(w).unwrap().slot(), i, "{w}");
    }
    assert!(super::CallOutcome::from_word("okay").is_none());
}

use super::*;

// The counters are process-global; one test exercises them end to end so
// parallel tests cannot interleave.
#[test]
fn records_only_when_enabled_and_drains() {
    set_enabled(false);
    record_command("off");
    assert!(drain().is_empty());
    set_enabled(true);
    record_command("a b");
    record_command("a b");
    finish_command(CommandOutcome::Failure);
    record_command("still running");
    record_tool_call("", CallOutcome::Ok, Duration::from_millis(3));
    record_tool_call(
        "",
        CallOutcome::ProtocolError(ErrorClass::InvalidParams),
        Duration::from_secs(7),
    );
    record_client("Claude Code", "1.0.3");
    record_client("my-secret-client", "x");
    assert!(set_fact("backend_count", "2-5"));
    assert!(!set_fact("backend_count", "3"));
    assert!(!set_fact("hostname", "x"));
    record_lifecycle(LifecycleKind::Install);
    let c = drain();
    let ab = c.commands.get("a b").unwrap();
    assert_eq!(ab[CommandOutcome::Unknown as usize].count, 1);
    assert_eq!(ab[CommandOutcome::Failure as usize].count, 1);
    assert_eq!(ab[CommandOutcome::Failure as usize].latency[0], 1);
    assert!(!c.commands.contains_key("still running"));
    let rows: Vec<_> = c.tool_rows().collect();
    assert_eq!(rows.len(), 2);
    let err = rows.iter().find(|r| r.1 != CallOutcome::Ok).unwrap();
    assert_eq!(err.2.latency[LATENCY_BUCKETS - 1], 1);
    assert_eq!(c.clients.get(&("claude-code", Some(1))), Some(&1));
    assert_eq!(c.clients.get(&("other", None)), Some(&1));
    assert_eq!(
        c.facts.get("backend_count").map(String::as_str),
        Some("2-5")
    );
    restore(c);
    let again = drain();
    assert_eq!(again.command_rows().map(|r| r.3.count).sum::<u64>(), 2);
    close_running();
    let closed = drain();
    let rows: Vec<_> = closed.command_rows().collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].0, rows[0].1, rows[0].2),
        ("still running", None, CommandOutcome::Unknown)
    );
    assert!(drain().is_empty());
    // A declared value splits a command's runs; a run without one
    // stays apart from every value.
    record_command_value("init", "bash");
    finish_command(CommandOutcome::Success);
    record_command_value("init", "bash");
    finish_command(CommandOutcome::Success);
    record_command_value("init", "zsh");
    record_command("init");
    finish_command(CommandOutcome::Failure);
    let v = drain();
    let mut rows: Vec<_> = v
        .command_rows()
        .map(|(p, v, o, s)| (p.to_owned(), v.map(str::to_owned), o, s.count))
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        [
            ("init".into(), None, CommandOutcome::Failure, 1),
            (
                "init".into(),
                Some("bash".into()),
                CommandOutcome::Success,
                2
            ),
            (
                "init".into(),
                Some("zsh".into()),
                CommandOutcome::Unknown,
                1
            ),
        ]
    );
    set_enabled(false);
    distinct_names_are_capped_and_the_rest_counted_as_overflow();
}

/// 50,000 distinct tool names once took 74 MB and flooded the spool.
/// (Called from the one test that owns the global counters.)
fn distinct_names_are_capped_and_the_rest_counted_as_overflow() {
    let _ = drain();
    set_enabled(true);
    for i in 0..(MAX_NAMES + 100) {
        record_tool_call(&format!("t{i}"), CallOutcome::Ok, Duration::ZERO);
        record_command(&format!("c{i}"));
    }
    close_running();
    // A name seen before the cap still counts as itself.
    record_tool_call("t0", CallOutcome::Ok, Duration::ZERO);
    let c = drain();
    set_enabled(false);
    assert_eq!(c.tools.len(), MAX_NAMES);
    assert_eq!(c.commands.len(), MAX_NAMES);
    assert_eq!(c.overflow, 200);
    assert_eq!(c.tools["t0"][0].count, 2);
}

#[test]
fn slots_round_trip() {
    for slot in 0..SLOTS {
        assert_eq!(CallOutcome::from_slot(slot).slot(), slot);
    }
}
