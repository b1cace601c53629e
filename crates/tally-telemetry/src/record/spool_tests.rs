//! Unit tests of the spool: encoding, merging, the size cap, claims.

use super::*;
use crate::schema::Outcome;

fn state() -> (tempfile::TempDir, StateFiles) {
    let t = tempfile::tempdir().unwrap();
    let s = StateFiles(t.path().join("state"));
    (t, s)
}

fn cmd(day: &str, name: &str, n: u64) -> Line {
    Line::new(
        day,
        Row::Command {
            name: name.into(),
            outcome: None,
            value: None,
        },
        n,
    )
}

#[test]
fn lines_round_trip_and_merge() {
    let mut tool = Line::new(
        "2026-11-20",
        Row::Tool {
            name: None,
            outcome: Outcome::Ok,
            class: None,
        },
        2,
    );
    tool.lat = Some([2, 0, 0, 0, 0, 0, 0]);
    let lines = vec![
        cmd("2026-11-20", "a", 1),
        tool.clone(),
        cmd("2026-11-20", "a", 2),
        tool,
    ];
    let parsed = parse(&encode(&lines));
    assert_eq!(parsed.bad, 0);
    let merged = merge(parsed.lines);
    assert_eq!(merged.len(), 2);
    assert_eq!(merged[0].n, 3);
    assert_eq!(merged[1].lat.unwrap()[0], 4);
}

#[test]
fn corrupt_lines_become_a_dropped_count() {
    let (_t, s) = state();
    append(&s, &[cmd("2026-11-20", "a", 1)], "2026-11-21").unwrap();
    let mut f = files::open_append(&s.spool()).unwrap();
    f.write_all(b"{\"v\":1,\"day\":\"2026-11-20\",\"k\":\"comm\n{not json}\n{\"v\":99,\"day\":\"2026-11-20\",\"k\":\"dropped\",\"n\":1}\n").unwrap();
    append(&s, &[cmd("2026-11-20", "a", 1)], "2026-11-21").unwrap();
    let _l = lock(&s).unwrap();
    let lines = compact(&s, "2026-11-21", CAP_BYTES).unwrap();
    assert_eq!(
        lines
            .iter()
            .find(|l| {
                l.row
                    == Row::Command {
                        name: "a".into(),
                        outcome: None,
                        value: None,
                    }
            })
            .unwrap()
            .n,
        2
    );
    assert_eq!(lines.iter().find(|l| l.row == Row::Dropped).unwrap().n, 3);
}

#[test]
fn never_exceeds_the_cap() {
    let (_t, s) = state();
    for day in 1..=28 {
        let d = format!("2026-10-{day:02}");
        for i in 0..400 {
            append(
                &s,
                &[cmd(&d, &format!("command-number-{i}"), 1)],
                "2026-11-21",
            )
            .unwrap();
            assert!(files::size_of(&s.spool()) <= CAP_BYTES);
        }
    }
    let _l = lock(&s).unwrap();
    let lines = read(&s).unwrap().lines;
    assert!(
        lines.iter().any(|l| l.row == Row::Dropped && l.n > 0),
        "drops are counted"
    );
    assert!(
        lines.iter().any(|l| l.day == "2026-10-28"),
        "newest day kept"
    );
    assert!(
        !lines.iter().any(|l| l.day == "2026-10-01"),
        "oldest day dropped"
    );
}

/// A flood of distinct names today once evicted yesterday's completed
/// day, which was waiting to be sent, leaving only `dropped` lines.
#[test]
fn a_flood_of_new_names_never_evicts_a_completed_day() {
    let (_t, s) = state();
    let today = "2026-11-21";
    append(&s, &[cmd("2026-11-20", "yesterday", 7)], today).unwrap();
    for i in 0..3000 {
        append(&s, &[cmd(today, &format!("flood-name-{i}"), 1)], today).unwrap();
        assert!(files::size_of(&s.spool()) <= CAP_BYTES);
    }
    let _l = lock(&s).unwrap();
    let lines = read(&s).unwrap().lines;
    assert!(
        lines.iter().any(|l| l.day == "2026-11-20" && l.n == 7),
        "the completed day was evicted"
    );
    assert!(lines.iter().any(|l| l.row == Row::Dropped && l.n > 0));
}

#[test]
fn claims_are_stable_until_released() {
    let (_t, s) = state();
    append(
        &s,
        &[cmd("2026-11-19", "a", 1), cmd("2026-11-21", "today", 1)],
        "2026-11-21",
    )
    .unwrap();
    let _l = lock(&s).unwrap();
    let (id, lines) = claim(&s, "2026-11-21", 100).unwrap().unwrap();
    assert_eq!(lines.len(), 1);
    let (again, _) = claim(&s, "2026-11-21", 100).unwrap().unwrap();
    assert_eq!(
        id, again,
        "an unacknowledged claim is resent under the same id"
    );
    release(&s, &id).unwrap();
    assert!(
        claim(&s, "2026-11-21", 100).unwrap().is_none(),
        "today stays local"
    );
    assert_eq!(read(&s).unwrap().lines.len(), 1);
}

#[test]
fn a_huge_spool_is_read_only_up_to_the_cap() {
    let (_t, s) = state();
    files::ensure_private_dir(s.dir()).unwrap();
    let line = encode(&[cmd("2026-11-20", "a", 1)]);
    let mut f = files::open_append(&s.spool()).unwrap();
    let mut written = 0u64;
    while written < 4 * CAP_BYTES {
        f.write_all(&line).unwrap();
        written += line.len() as u64;
    }
    let p = read(&s).unwrap();
    assert!(p.bad >= 1, "the excess counts as dropped");
    assert!(p.lines.len() as u64 <= CAP_BYTES / line.len() as u64);
    append(&s, &[cmd("2026-11-21", "b", 1)], "2026-11-21").unwrap();
    assert!(
        files::size_of(&s.spool()) <= CAP_BYTES,
        "repaired to the cap"
    );
}

#[test]
fn the_head_says_whether_a_send_is_due() {
    let (_t, s) = state();
    assert!(!head_due(&s, "2026-11-21"));
    append(&s, &[cmd("2026-11-21", "a", 1)], "2026-11-21").unwrap();
    assert!(!head_due(&s, "2026-11-21"), "today only");
    assert!(head_due(&s, "2026-11-22"), "yesterday");
}

#[test]
fn symlinked_spool_is_refused() {
    let (t, s) = state();
    files::ensure_private_dir(s.dir()).unwrap();
    let target = t.path().join("elsewhere");
    std::fs::write(&target, b"").unwrap();
    std::os::unix::fs::symlink(&target, s.spool()).unwrap();
    assert!(append(&s, &[cmd("2026-11-20", "a", 1)], "2026-11-21").is_err());
    assert_eq!(std::fs::read(&target).unwrap(), b"");
}

/// With a monthly machine id, November 30th and December 1st wait in one
/// spool: each batch holds one month, so each is sent under its own id.
#[test]
fn a_batch_never_joins_two_rotation_periods() {
    let (_t, s) = state();
    append(
        &s,
        &[cmd("2026-11-30", "a", 1), cmd("2026-12-01", "b", 1)],
        "2026-12-02",
    )
    .unwrap();
    let month = |day: &str| Some(day[..7].to_owned());
    let _l = lock(&s).unwrap();
    let (id, first) = claim_by(&s, "2026-12-02", 100, &month).unwrap().unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].day, "2026-11-30");
    release(&s, &id).unwrap();
    let (_, second) = claim_by(&s, "2026-12-02", 100, &month).unwrap().unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].day, "2026-12-01");
}

/// `telemetry show` shows exactly the first post of a send: at most a
/// batch's lines, and how many wait for later batches (it once printed
/// one body of 600 commands where the send posted three).
#[test]
fn show_peeks_at_the_first_batch_only_and_counts_the_rest() {
    let lines: Vec<Line> = (0..600)
        .map(|i| cmd("2026-11-20", &format!("c{i}"), 1))
        .collect();
    let (id, first, later) = peek_outgoing(&lines, "2026-11-21", 250, &|_: &str| None);
    assert!(id.is_none());
    assert_eq!(first.len(), 250);
    assert_eq!(later, 350);
}

/// A completed day holding 5,000 distinct names (counts of the day that
/// long-running processes persisted after midnight) was dropped whole
/// once the spool passed its compaction mark (`dropped n=2143`, and
/// nothing of the day left). What fits is kept; only the rest is dropped,
/// and counted.
#[test]
fn a_completed_day_too_big_for_the_spool_keeps_what_fits() {
    let (_t, s) = state();
    let (day, today) = ("2026-11-20", "2026-11-21");
    let mut grown = false;
    for i in 0..5000 {
        append(&s, &[cmd(day, &format!("name-number-{i:05}"), 1)], today).unwrap();
        let size = files::size_of(&s.spool());
        assert!(size <= CAP_BYTES);
        grown |= size > COMPACT_AT / 2;
        assert!(
            !grown || size > COMPACT_AT / 4,
            "after {i} names the day was dropped whole: {size} bytes left"
        );
    }
    let _l = lock(&s).unwrap();
    let lines = read(&s).unwrap().lines;
    let kept = lines
        .iter()
        .filter(|l| l.day == day && l.row != Row::Dropped)
        .count() as u64;
    let dropped: u64 = lines
        .iter()
        .filter(|l| l.row == Row::Dropped)
        .map(|l| l.n)
        .sum();
    assert!(kept >= 1000, "the completed day kept only {kept} rows");
    // Every row is either kept or counted as dropped.
    assert_eq!(kept + dropped, 5000, "kept {kept}, dropped {dropped}");
    // And the loss is said where `telemetry status` looks.
    let said = crate::record::state::last_error(&s).unwrap_or_default();
    assert!(
        said.contains("rows (the smallest counts) were dropped"),
        "{said}"
    );
}
