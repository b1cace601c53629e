//! `tally report`: what the store says, for a window of days and optionally
//! one application. Active machines per day, commands ranked by use, MCP
//! tool calls with outcome rates and latency buckets, MCP clients, app
//! versions, OS/arch, lifecycle events, facts, and what was dropped.
//!
//! k-anonymity: every row must be backed by at least `min_machines`
//! distinct machines over the window; rows below that are folded into one
//! `other` row per table, and an `other` row that is itself below the
//! threshold is withheld (only how many rows were withheld is shown). The
//! same [`Report`] value feeds the JSON and the tables, so both hide the
//! same things.
//!
//! Where the aggregation runs depends on the store: SQLite is scanned once
//! per table family and aggregated in memory (`report/sqlite.rs`), which
//! keeps a report over a million rows well under a second; ClickHouse runs
//! the aggregation and the k-anonymity fold in SQL (`report/clickhouse.rs`)
//! and returns only the rows to show. Both hand [`build`] the same folded
//! tables (`report/tables.rs`), so the same batches give the same report;
//! this file orders them into the [`Report`] (`report/model.rs`).

use tally_telemetry::schema::Date;

use crate::report::model::*;
use crate::report::tables::{APP_SEP, Query, ReportError, Source, Tables};
use tally_telemetry::schema::{
    COMMAND_OUTCOMES, DURATION_LABELS, ERROR_CLASSES, LATENCY_LABELS, OUTCOMES,
};
use tally_telemetry::schema::{format_day, parse_day};

/// Parses `--since`: `Nd` (N days before `today`) or a `YYYY-MM-DD` date.
pub fn parse_since(s: &str, today: Date) -> Result<Date, ReportError> {
    let s = s.trim();
    if let Some(d) = parse_day(s) {
        // A window that ends before it starts would print as a report of
        // nothing, under a heading whose dates run backwards.
        if d > today {
            return Err(ReportError::SinceAfterUntil {
                since: s.to_owned(),
                until: format_day(today),
            });
        }
        return Ok(d);
    }
    s.strip_suffix('d')
        .and_then(|n| n.parse::<u32>().ok())
        .filter(|n| *n <= 36_500)
        .map(|n| today - (i64::from(n)))
        .ok_or_else(|| ReportError::Since(s.to_owned()))
}
fn rate(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        // Four decimals are plenty for a share, and keep the JSON stable.
        ((part as f64 / whole as f64) * 10_000.0).round() / 10_000.0
    }
}

/// Builds the report for `q` from `store`.
pub fn build(store: &impl Source, q: &Query) -> Result<Report, ReportError> {
    let mut q = q.clone();
    q.min_machines = q.min_machines.max(1);
    let t = store.tables(&q)?;
    Ok(assemble(t, &q))
}

/// Orders the tables the same way whichever store computed them.
fn assemble(t: Tables, q: &Query) -> Report {
    let mut days: Vec<DayRow> = t
        .days
        .into_iter()
        .map(|(day, machines)| DayRow { day, machines })
        .collect();
    days.sort_by(|a, b| {
        (a.day == "other")
            .cmp(&(b.day == "other"))
            .then(a.day.cmp(&b.day))
    });

    // Rows come labelled with their application; it is shown only when
    // the window holds more than one.
    let apps: std::collections::BTreeSet<&str> = t
        .commands
        .iter()
        .map(|(l, _)| l)
        .chain(t.tools.iter().map(|(l, _)| l))
        .filter_map(|l| l.split_once(APP_SEP).map(|(a, _)| a))
        .collect();
    let many_apps = apps.len() > 1;
    let mut commands: Vec<CommandRow> = t
        .commands
        .into_iter()
        .map(|(label, n)| {
            let count = n.outcomes.iter().fold(0u64, |s, x| s.saturating_add(*x));
            let (app, command) = match label.split_once(APP_SEP) {
                Some((a, c)) => (many_apps.then(|| a.to_owned()), c.to_owned()),
                None => (None, label),
            };
            CommandRow {
                app,
                command,
                count,
                outcomes: COMMAND_OUTCOMES
                    .iter()
                    .zip(n.outcomes)
                    .map(|(o, x)| ((*o).to_owned(), x))
                    .collect(),
                failure_rate: rate(n.outcomes[1], count),
                usage_error_rate: rate(n.outcomes[2], count),
                duration: n.duration,
                machines: n.machines,
            }
        })
        .collect();
    commands.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then(a.command.cmp(&b.command))
            .then(a.app.cmp(&b.app))
    });

    let mut values: Vec<ValueRow> = t
        .values
        .into_iter()
        .map(|((label, value), count, machines)| {
            let (app, command) = match label.split_once(APP_SEP) {
                Some((a, c)) => (many_apps.then(|| a.to_owned()), c.to_owned()),
                None => (None, label),
            };
            ValueRow {
                app,
                command,
                value,
                count,
                machines,
            }
        })
        .collect();
    // By command (as the commands table orders them), then most runs
    // first, `other` last.
    let rank = |app: &Option<String>, command: &str| {
        commands
            .iter()
            .position(|c| c.command == command && c.app == *app)
            .unwrap_or(usize::MAX)
    };
    values.sort_by(|a, b| {
        rank(&a.app, &a.command)
            .cmp(&rank(&b.app, &b.command))
            .then((a.value == "other").cmp(&(b.value == "other")))
            .then(b.count.cmp(&a.count))
            .then(a.value.cmp(&b.value))
    });

    let mut tools: Vec<ToolRow> = t
        .tools
        .into_iter()
        .map(|(label, a)| {
            let calls: u64 = a.outcomes.iter().fold(0u64, |s, n| s.saturating_add(*n));
            let (app, tool) = match label.split_once(APP_SEP) {
                Some((a, t)) => (many_apps.then(|| a.to_owned()), t.to_owned()),
                None => (None, label),
            };
            ToolRow {
                app,
                tool,
                calls,
                outcomes: OUTCOMES
                    .iter()
                    .zip(a.outcomes)
                    .map(|(o, n)| ((*o).to_owned(), n))
                    .collect(),
                success_rate: rate(a.outcomes[0], calls),
                tool_error_rate: rate(a.outcomes[1], calls),
                protocol_error_rate: rate(a.outcomes[2], calls),
                error_classes: ERROR_CLASSES
                    .iter()
                    .zip(a.classes)
                    .filter(|(_, n)| *n > 0)
                    .map(|(c, n)| ((*c).to_owned(), n))
                    .collect(),
                latency: a.latency,
                machines: a.machines,
            }
        })
        .collect();
    tools.sort_by(|a, b| {
        b.calls
            .cmp(&a.calls)
            .then(a.tool.cmp(&b.tool))
            .then(a.app.cmp(&b.app))
    });

    let mut clients: Vec<ClientRow> = t
        .clients
        .into_iter()
        .map(|((client, major), sessions, machines)| ClientRow {
            client,
            major,
            sessions,
            machines,
        })
        .collect();
    clients.sort_by(|a, b| {
        b.sessions
            .cmp(&a.sessions)
            .then(a.client.cmp(&b.client))
            .then(a.major.cmp(&b.major))
    });

    let by_machines_then = |a: &usize, b: &usize| b.cmp(a);
    let mut versions: Vec<VersionRow> = t
        .versions
        .into_iter()
        .map(|((app, version), machines)| VersionRow {
            app,
            version,
            machines,
        })
        .collect();
    versions.sort_by(|a, b| {
        by_machines_then(&a.machines, &b.machines)
            .then(a.app.cmp(&b.app))
            .then(a.version.cmp(&b.version))
    });

    let mut platforms: Vec<PlatformRow> = t
        .platforms
        .into_iter()
        .map(|((os, arch), machines)| PlatformRow { os, arch, machines })
        .collect();
    platforms.sort_by(|a, b| {
        by_machines_then(&a.machines, &b.machines)
            .then(a.os.cmp(&b.os))
            .then(a.arch.cmp(&b.arch))
    });

    let mut lifecycle: Vec<LifecycleRow> = t
        .lifecycle
        .into_iter()
        .map(|(kind, count, machines)| LifecycleRow {
            kind,
            count,
            machines,
        })
        .collect();
    lifecycle.sort_by(|a, b| a.kind.cmp(&b.kind));

    let mut facts: Vec<FactRow> = t
        .facts
        .into_iter()
        .map(|((fact, value), machines)| FactRow {
            fact,
            value,
            machines,
        })
        .collect();
    facts.sort_by(|a, b| {
        a.fact
            .cmp(&b.fact)
            .then(by_machines_then(&a.machines, &b.machines))
            .then(a.value.cmp(&b.value))
    });

    Report {
        since: format_day(q.since),
        until: format_day(q.until),
        app: q.app.clone(),
        min_machines: q.min_machines,
        machines: t.machines,
        ci_machines: t.ci_machines,
        days,
        commands,
        values,
        duration_buckets: DURATION_LABELS.iter().map(|l| (*l).to_owned()).collect(),
        tools,
        latency_buckets: LATENCY_LABELS.iter().map(|l| (*l).to_owned()).collect(),
        clients,
        versions,
        platforms,
        lifecycle,
        facts,
        dropped: t.dropped,
        withheld_rows: t.withheld,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::text::render;
    use crate::server::store::{Durability, Store};
    use tally_telemetry::schema::validate::validate;
    use tally_telemetry::schema::*;

    fn today() -> Date {
        parse_day("2026-11-21").unwrap()
    }

    fn post(store: &mut Store, machine: &str, commands: &[(&str, u64)], tool: Option<&str>) {
        let b = Batch {
            envelope: tally_telemetry::schema::Envelope::new(
                "demo",
                "1.0.0",
                false,
                machine,
                &uuid::Uuid::new_v4().to_string(),
            ),
            events: vec![Event::UsageRollup(UsageRollup {
                day: "2026-11-20".into(),
                commands: commands
                    .iter()
                    // `init=bash`: the command `init` with the value `bash`.
                    .map(|(c, n)| CommandCount {
                        command: c.split('=').next().unwrap_or(c).into(),
                        value: c.split_once('=').map(|(_, v)| v.into()),
                        outcome: None,
                        duration: None,
                        count: *n,
                    })
                    .collect(),
                tool_calls: tool
                    .map(|t| {
                        vec![
                            ToolCallCount {
                                tool: Some(t.into()),
                                outcome: Outcome::Ok,
                                error_class: None,
                                count: 3,
                                latency: [3, 0, 0, 0, 0, 0, 0],
                            },
                            ToolCallCount {
                                tool: Some(t.into()),
                                outcome: Outcome::ProtocolError,
                                error_class: Some(ErrorClass::InvalidParams),
                                count: 1,
                                latency: [0, 1, 0, 0, 0, 0, 0],
                            },
                        ]
                    })
                    .unwrap_or_default(),
                ..Default::default()
            })],
        };
        let v = validate(&serde_json::to_vec(&b).unwrap(), today()).unwrap();
        store.ingest(&v, today()).unwrap();
    }

    fn query(k: usize) -> Query {
        Query {
            since: today() - (30),
            until: today(),
            app: None,
            min_machines: k,
        }
    }

    #[test]
    fn values_split_a_command_and_fold_within_it_below_k() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("s.db"), Durability::Normal).unwrap();
        let m = || uuid::Uuid::new_v4().to_string();
        for _ in 0..3 {
            post(&mut s, &m(), &[("init=bash", 2), ("init", 1)], None);
        }
        post(&mut s, &m(), &[("init=zsh", 1)], None);
        post(&mut s, &m(), &[("init=fish", 1)], None);
        post(&mut s, &m(), &[("init=nu", 1), ("build", 1)], None);
        let r = build(&s, &query(2)).unwrap();
        let init = r.commands.iter().find(|c| c.command == "init").unwrap();
        assert_eq!((init.count, init.machines), (12, 6));
        let got: Vec<(&str, &str, u64, usize)> = r
            .values
            .iter()
            .map(|v| (v.command.as_str(), v.value.as_str(), v.count, v.machines))
            .collect();
        // bash stands alone; zsh, fish and nu (one machine each) only as
        // `other` of `init`; runs without a value are not a value row.
        assert_eq!(got, [("init", "bash", 6, 3), ("init", "other", 3, 3)]);
        let mut text = Vec::new();
        render(&r, false, &mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("Commands by value"), "{text}");
        assert!(!text.contains("zsh"), "{text}");
        // At k = 4 no value stands alone; at k = 7 even their fold is
        // withheld.
        let r = build(&s, &query(4)).unwrap();
        let got: Vec<(&str, u64)> = r
            .values
            .iter()
            .map(|v| (v.value.as_str(), v.count))
            .collect();
        assert_eq!(got, [("other", 9)]);
        let r = build(&s, &query(7)).unwrap();
        assert!(r.values.is_empty(), "{:?}", r.values);
        assert!(r.withheld_rows > 0);
    }

    #[test]
    fn rows_below_k_machines_fold_into_other_or_are_withheld() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("s.db"), Durability::Normal).unwrap();
        for _ in 0..3 {
            let m = uuid::Uuid::new_v4().to_string();
            post(&mut s, &m, &[("build", 2)], Some("search"));
        }
        // Two rare commands from one machine each: alone each is below k,
        // folded together they are backed by two machines.
        post(
            &mut s,
            &uuid::Uuid::new_v4().to_string(),
            &[("rare-a", 1)],
            None,
        );
        post(
            &mut s,
            &uuid::Uuid::new_v4().to_string(),
            &[("rare-b", 1)],
            None,
        );
        let r = build(&s, &query(2)).unwrap();
        let names: Vec<&str> = r.commands.iter().map(|c| c.command.as_str()).collect();
        assert_eq!(names, ["build", "other"]);
        assert_eq!(r.commands[1].count, 2);
        assert_eq!(r.commands[1].machines, 2);
        assert_eq!(r.machines, 5);
        let t = &r.tools[0];
        assert_eq!((t.tool.as_str(), t.calls), ("search", 12));
        assert_eq!(t.success_rate, 0.75);
        assert_eq!(t.protocol_error_rate, 0.25);
        assert_eq!(t.error_classes.get("invalid_params"), Some(&3));
        assert_eq!(t.latency[..2], [9, 3]);

        let r = build(&s, &query(4)).unwrap();
        let names: Vec<&str> = r.commands.iter().map(|c| c.command.as_str()).collect();
        assert_eq!(names, ["other"], "build (3 machines) folds in too");
        assert!(r.tools.is_empty(), "three machines are not enough");
        assert!(r.withheld_rows > 0);
        let text = {
            let mut out = Vec::new();
            render(&r, false, &mut out).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert!(
            !text.contains("rare-a") && !text.contains("search"),
            "{text}"
        );
        assert!(!text.contains('\u{1b}'), "no colour when asked for none");
    }

    #[test]
    fn the_app_filter_and_the_window_limit_what_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("s.db"), Durability::Normal).unwrap();
        post(
            &mut s,
            &uuid::Uuid::new_v4().to_string(),
            &[("build", 2)],
            None,
        );
        let mut q = query(1);
        q.app = Some("nope".into());
        assert_eq!(build(&s, &q).unwrap().commands, vec![]);
        q.app = Some("demo".into());
        assert_eq!(build(&s, &q).unwrap().commands.len(), 1);
        q.since = today();
        assert_eq!(build(&s, &q).unwrap().commands, vec![]);
    }

    #[test]
    fn hostile_values_in_the_file_do_not_stop_the_report() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("s.db"), Durability::Normal).unwrap();
        for _ in 0..3 {
            let m = uuid::Uuid::new_v4().to_string();
            post(&mut s, &m, &[("build", 1), ("test", 1)], Some("search"));
        }
        let c = s.connection();
        c.execute_batch(
            "UPDATE usage SET count = 9223372036854775807 WHERE kind = 0;
             UPDATE usage SET l0 = 1.0e30, l1 = 'lots', l2 = x'00ff' WHERE kind = 1;
             INSERT INTO drops (day, app, reason, count) VALUES
               (20777, 1, 'unknown_fields', 9223372036854775807),
               (20776, 1, 'unknown_fields', 9223372036854775807),
               (20775, 1, 'invalid_values', -5),
               (20775, 1, 'nonsense', 'x');
             INSERT INTO dims (id, text) VALUES (424242, x'ff00fe');",
        )
        .unwrap();
        // One command's count a float past i64::MAX, one text, the tool's
        // name a blob of invalid UTF-8.
        c.execute(
            "UPDATE usage SET count = 1.5e300 WHERE kind = 0 AND name =
               (SELECT id FROM dims WHERE text = 'test') AND machine =
               (SELECT MIN(machine) FROM usage)",
            [],
        )
        .unwrap();
        c.execute(
            "UPDATE usage SET count = 'NaN' WHERE kind = 0 AND name =
               (SELECT id FROM dims WHERE text = 'test') AND machine =
               (SELECT MAX(machine) FROM usage)",
            [],
        )
        .unwrap();
        c.execute("UPDATE usage SET name = 424242 WHERE kind = 1", [])
            .unwrap();
        let mut q = query(1);
        q.since = parse_day("2026-01-01").unwrap();
        q.until = parse_day("2027-01-01").unwrap();
        let r = build(&s, &q).unwrap();
        let build_row = r.commands.iter().find(|c| c.command == "build").unwrap();
        assert_eq!(build_row.count, u64::MAX, "summed, saturating");
        let test_row = r.commands.iter().find(|c| c.command == "test").unwrap();
        assert_eq!(
            test_row.count,
            2 * i64::MAX as u64,
            "a float saturated, text counted as 0"
        );
        assert_eq!(r.dropped.unknown_fields, 2 * i64::MAX as u64);
        assert_eq!(r.dropped.invalid_values, 0);
        assert_eq!(r.tools.len(), 1);
        assert_eq!(r.tools[0].tool, "\u{fffd}\u{0}\u{fffd}");
        assert_eq!(r.tools[0].latency[0], u64::MAX);
        assert_eq!(r.tools[0].latency[1], 0, "text and blobs count as 0");
        let mut out = Vec::new();
        render(&r, false, &mut out).unwrap();
        serde_json::to_string(&r).unwrap();
    }

    #[test]
    fn the_previous_period_has_the_same_length_and_ends_the_day_before() {
        let q = query(5);
        let p = q.previous();
        assert_eq!(p.until, q.since - (1));
        assert_eq!(p.until - p.since, q.until - q.since);
        assert_eq!((p.app, p.min_machines), (q.app, q.min_machines));
    }

    #[test]
    fn since_parses_days_and_dates() {
        assert_eq!(
            parse_since("30d", today()).unwrap(),
            parse_day("2026-10-22").unwrap()
        );
        assert_eq!(
            parse_since("2026-01-02", today()).unwrap(),
            parse_day("2026-01-02").unwrap()
        );
        assert!(parse_since("yesterday", today()).is_err());
    }
}
