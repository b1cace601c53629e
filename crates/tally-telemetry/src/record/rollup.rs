//! Turning counts into the schema's shapes: in-memory counters into spool
//! lines for a day, and spool lines into a batch of per-day `usage_rollup`,
//! `lifecycle` and `facts` events. The same serializer builds what is sent,
//! what `telemetry show` prints and what debug mode prints.

use std::collections::BTreeMap;

use crate::record::recorder::Counters;
use crate::record::spool::{Line, Row};
use crate::schema::{
    self, Batch, ClientCount, CommandCount, Envelope, Event, Facts, Lifecycle, Pattern,
    ToolCallCount, UsageRollup,
};

/// Spool lines for everything in `counters`, attributed to `day`.
pub fn lines_from(counters: &Counters, day: &str) -> Vec<Line> {
    let mut out = Vec::new();
    for (name, value, outcome, stats) in counters.command_rows() {
        let mut l = Line::new(
            day,
            Row::Command {
                name: name.to_owned(),
                outcome: Some(outcome),
                value: value.map(str::to_owned),
            },
            stats.count,
        );
        l.lat = Some(stats.latency);
        out.push(l);
    }
    for (name, outcome, stats) in counters.tool_rows() {
        let (outcome, class) = outcome.parts();
        let mut l = Line::new(
            day,
            Row::Tool {
                name: (!name.is_empty()).then(|| name.to_owned()),
                outcome,
                class,
            },
            stats.count,
        );
        l.lat = Some(stats.latency);
        out.push(l);
    }
    for ((client, major), n) in &counters.clients {
        out.push(Line::new(
            day,
            Row::Client {
                name: (*client).to_owned(),
                major: *major,
            },
            *n,
        ));
    }
    if counters.overflow > 0 {
        out.push(Line::new(day, Row::Dropped, counters.overflow));
    }
    for (kind, n) in &counters.lifecycle {
        out.push(Line::new(day, Row::Lifecycle { kind: *kind }, *n));
    }
    for (name, value) in &counters.facts {
        let mut l = Line::new(
            day,
            Row::Fact {
                name: (*name).to_owned(),
            },
            1,
        );
        l.val = Some(value.clone());
        out.push(l);
    }
    out
}

/// Builds the events for `lines`. A line whose values fall outside the
/// schema (a command name a host built from user input, say) is not sent;
/// it is added to that day's `dropped` count instead.
pub fn events_from(lines: &[Line]) -> Vec<Event> {
    let mut days: BTreeMap<&str, (UsageRollup, Facts, bool)> = BTreeMap::new();
    let mut lifecycle: BTreeMap<(&str, schema::LifecycleKind), u64> = BTreeMap::new();
    for l in lines {
        let entry = days.entry(&l.day).or_insert_with(|| {
            (
                UsageRollup {
                    day: l.day.clone(),
                    ..Default::default()
                },
                Facts {
                    day: l.day.clone(),
                    ..Default::default()
                },
                false,
            )
        });
        let (rollup, facts, has_facts) = entry;
        let n = l.n.min(schema::MAX_COUNT);
        match &l.row {
            // A value outside the schema's shape (a spool edited by hand)
            // costs the row, not just the value: it is no longer known to
            // be one of the declared set.
            Row::Command {
                name,
                outcome,
                value,
            } if Pattern::CommandPath.matches(name)
                && value.as_deref().is_none_or(|v| Pattern::Value.matches(v))
                && n > 0 =>
            {
                rollup.commands.push(CommandCount {
                    command: name.clone(),
                    value: value.clone(),
                    outcome: Some(outcome.unwrap_or(schema::CommandOutcome::Unknown)),
                    count: n,
                    duration: l.lat.map(|d| d.map(|x| x.min(schema::MAX_COUNT))),
                })
            }
            Row::Tool {
                name,
                outcome,
                class,
            } if n > 0 && name.as_deref().is_none_or(|t| Pattern::ToolName.matches(t)) => {
                rollup.tool_calls.push(ToolCallCount {
                    tool: name.clone(),
                    outcome: *outcome,
                    error_class: *class,
                    count: n,
                    latency: l.lat.unwrap_or_default().map(|x| x.min(schema::MAX_COUNT)),
                })
            }
            Row::Client { name, major } if schema::CLIENTS.contains(&name.as_str()) && n > 0 => {
                rollup.clients.push(ClientCount {
                    client: name.clone(),
                    major: major.filter(|m| *m <= 9999),
                    count: n,
                })
            }
            Row::Lifecycle { kind } if n > 0 => *lifecycle.entry((&l.day, *kind)).or_default() += n,
            Row::Fact { name } if set_fact(facts, name, l.val.as_deref()) => *has_facts = true,
            Row::Dropped => rollup.dropped = rollup.dropped.saturating_add(n),
            _ => rollup.dropped = rollup.dropped.saturating_add(1),
        }
    }
    let mut events = Vec::new();
    for (_, (mut rollup, facts, has_facts)) in days {
        rollup
            .commands
            .sort_by(|a, b| (&a.command, &a.value).cmp(&(&b.command, &b.value)));
        rollup.dropped = rollup.dropped.min(schema::MAX_COUNT);
        let has_usage = !(rollup.commands.is_empty()
            && rollup.tool_calls.is_empty()
            && rollup.clients.is_empty()
            && rollup.dropped == 0);
        if has_usage {
            events.push(Event::UsageRollup(rollup));
        }
        if has_facts {
            events.push(Event::Facts(facts));
        }
    }
    for ((day, kind), count) in lifecycle {
        events.push(Event::Lifecycle(Lifecycle {
            kind,
            day: day.to_owned(),
            count: count.min(schema::MAX_COUNT),
        }));
    }
    events
}

fn set_fact(f: &mut Facts, name: &str, value: Option<&str>) -> bool {
    let Some(value) = value else { return false };
    let Some(field) = crate::record::recorder::fact_field(name) else {
        return false;
    };
    if !crate::record::recorder::fact_value_ok(&field.kind, value) {
        return false;
    }
    let s = || Some(value.to_owned());
    let b = || Some(value == "true");
    match field.name {
        "backend_count" => f.backend_count = s(),
        "auth_type" => f.auth_type = s(),
        "conflict_strategy" => f.conflict_strategy = s(),
        "uptime" => f.uptime = s(),
        "sessions" => f.sessions = s(),
        "protocol_version" => f.protocol_version = s(),
        "declares_tools" => f.declares_tools = b(),
        "declares_resources" => f.declares_resources = b(),
        "declares_prompts" => f.declares_prompts = b(),
        _ => return false,
    }
    true
}

/// The envelope for this process.
pub fn envelope(app: &str, version: &str, ci: bool, machine_id: &str, batch_id: &str) -> Envelope {
    Envelope::new(app, version, ci, machine_id, batch_id)
}

/// A batch for `lines`.
pub fn batch(envelope: Envelope, lines: &[Line]) -> Batch {
    Batch {
        envelope,
        events: events_from(lines),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::recorder::{CallOutcome, CallStats};

    #[test]
    fn counters_become_valid_events() {
        let mut c = Counters::default();
        let runs = |n| {
            let mut slots = [CallStats::default(); crate::record::recorder::COMMAND_SLOTS];
            slots[0] = CallStats {
                count: n,
                latency: [n, 0, 0, 0, 0, 0, 0],
            };
            slots
        };
        c.commands.insert("telemetry status".into(), runs(2));
        c.commands.insert("/home/CANARY".into(), runs(1));
        let mut slots = [CallStats::default(); 11];
        slots[0] = CallStats {
            count: 3,
            latency: [3, 0, 0, 0, 0, 0, 0],
        };
        c.tools.insert("".into(), slots);
        c.facts.insert("auth_type", "oidc".into());
        c.lifecycle.insert(schema::LifecycleKind::Install, 1);
        let lines = lines_from(&c, "2026-11-20");
        let events = events_from(&lines);
        let b = batch(
            envelope(
                "demo",
                "1.0.0",
                false,
                &crate::os::random::uuid().to_string(),
                &crate::os::random::uuid().to_string(),
            ),
            &lines,
        );
        let body = serde_json::to_vec(&b).unwrap();
        let v = crate::schema::validate::validate(
            &body,
            crate::os::clock::parse_day("2026-11-21").unwrap(),
        )
        .unwrap();
        assert_eq!(v.drops.total(), 0);
        let text = String::from_utf8(body).unwrap();
        assert!(!text.contains("CANARY"));
        let Event::UsageRollup(r) = &events[0] else {
            panic!()
        };
        assert_eq!(r.dropped, 1, "the invalid command is counted as dropped");
        assert_eq!(r.tool_calls[0].count, 3);
        assert_eq!(CallOutcome::Ok.parts().0, r.tool_calls[0].outcome);
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::Facts(f) if f.auth_type.as_deref() == Some("oidc")))
        );
        assert!(events.iter().any(|e| matches!(e, Event::Lifecycle(_))));
    }
}
