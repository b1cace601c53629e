//! The report as one self-contained HTML page (`tally report --html FILE`):
//! inline CSS and SVG, no script, no font or image fetched, so it reads the
//! same offline, attached to an email, or printed. A Content-Security-Policy
//! in the page forbids scripts and every fetch outright, as a second wall
//! behind the escaping of every store string (see `fmt::esc`).
//!
//! It is drawn from the same [`Report`] as the text and the JSON, so it
//! hides exactly what they hide (k-anonymity), plus optionally the report
//! of the previous period of equal length, for the changes. Sections come
//! in the order people look: the headline numbers, activity over time,
//! what is used and what fails, how long it takes, who calls, what runs
//! where, and what was lost on the way. An empty section says so.

mod chart;
mod fleet;
mod fmt;
mod usage;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, Write};

use tally_telemetry::schema::Date;

use crate::report::{CommandRow, Report};
use chart::{BLUE, SKY};
use fmt::{Better, change_count, change_rate, count, esc, pct, share};
use tally_telemetry::schema::parse_day;

const STYLE: &str = include_str!("html/style.css");

/// Writes `r` as a complete HTML page; `prev`, the report of the period of
/// the same length just before, adds the changes.
pub fn render(r: &Report, prev: Option<&Report>, out: &mut dyn Write) -> io::Result<()> {
    out.write_all(page(r, prev).as_bytes())
}

/// The totals the headline shows, from the rows a report shows.
struct Totals {
    machines: u64,
    ci: u64,
    runs: u64,
    failed: u64,
    usage_errors: u64,
    calls: u64,
    call_errors: u64,
}

impl Totals {
    fn of(r: &Report) -> Totals {
        let outcome = |c: &CommandRow, o: &str| c.outcomes.get(o).copied().unwrap_or(0);
        let sum = |it: &mut dyn Iterator<Item = u64>| it.fold(0u64, |s, n| s.saturating_add(n));
        Totals {
            machines: r.machines as u64,
            ci: r.ci_machines as u64,
            runs: sum(&mut r.commands.iter().map(|c| c.count)),
            failed: sum(&mut r.commands.iter().map(|c| outcome(c, "failure"))),
            usage_errors: sum(&mut r.commands.iter().map(|c| outcome(c, "usage_error"))),
            calls: sum(&mut r.tools.iter().map(|t| t.calls)),
            call_errors: sum(&mut r.tools.iter().map(|t| {
                t.calls
                    .saturating_sub(t.outcomes.get("ok").copied().unwrap_or(0))
            })),
        }
    }
}

fn days_between(since: &str, until: &str) -> Option<(Date, usize)> {
    let (s, u) = (parse_day(since)?, parse_day(until)?);
    let n = (u - s) + 1;
    (n > 0).then_some((s, n as usize))
}

fn page(r: &Report, prev: Option<&Report>) -> String {
    let mut s = String::with_capacity(64 * 1024);
    let scope = r.app.as_deref().unwrap_or("all apps");
    let period_days = days_between(&r.since, &r.until).map_or(0, |(_, n)| n);
    let _ = write!(
        s,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="tally {version}">
<title>tally report: {scope}, {since} to {until}</title>
<style>{STYLE}</style></head><body>
{defs}
<header><h1>Usage report <span class="scope">{scope}</span></h1>
<p class="period">{since} to {until} ({period_days} days)"#,
        version = env!("CARGO_PKG_VERSION"),
        scope = esc(scope),
        since = esc(&r.since),
        until = esc(&r.until),
        defs = chart::DEFS,
    );
    match prev {
        Some(p) if p.machines > 0 => {
            let _ = write!(s, ", compared with {} to {}", esc(&p.since), esc(&p.until));
        }
        Some(p) => {
            let _ = write!(
                s,
                "; no data from {} to {} to compare with",
                esc(&p.since),
                esc(&p.until)
            );
        }
        None => {}
    }
    // A previous period without any machine compares with nothing: every
    // change would read "new".
    let prev = prev.filter(|p| p.machines > 0);
    let _ = write!(
        s,
        r#"</p><p class="kanon">Every row rests on at least <b>{k}</b> distinct {machines}; rarer rows are folded into <i>other</i>.</p></header><main>"#,
        k = r.min_machines,
        machines = machines_word(r.min_machines)
    );
    headline(&mut s, r, prev, period_days);
    if r.withheld_rows > 0 {
        let _ = write!(
            s,
            r#"<p class="note">The totals add up the rows shown: {} row(s) backed by fewer than {} machines are withheld and not counted.</p>"#,
            r.withheld_rows, r.min_machines
        );
    }
    daily(&mut s, r, prev);
    usage::commands(&mut s, r, prev);
    usage::tools(&mut s, r, prev);
    distributions(&mut s, r);
    fleet::clients(&mut s, r);
    fleet::versions_and_platforms(&mut s, r);
    fleet::lifecycle_and_facts(&mut s, r);
    fleet::dropped(&mut s, r);
    let _ = writeln!(
        s,
        r#"</main><footer>Made by <code>tally report --html</code> {} from the store <code>tally serve</code> writes. Counts come from clients that said yes to telemetry; nothing here identifies a machine.</footer></body></html>"#,
        env!("CARGO_PKG_VERSION")
    );
    s
}

fn section_open(s: &mut String, id: &str, title: &str, note: &str) {
    let _ = write!(s, r#"<section id="{id}"><h2>{title}</h2>"#);
    if !note.is_empty() {
        let _ = write!(s, r#"<p class="note">{note}</p>"#);
    }
}

/// The empty state of a section. Where k-anonymity withheld rows, an empty
/// table may only mean that each row had too few machines behind it, so
/// the page says so instead of claiming nothing happened.
fn empty(s: &mut String, r: &Report, what: &str) {
    if r.withheld_rows > 0 {
        let k = r.min_machines;
        let _ = write!(
            s,
            r#"<p class="empty">Nothing to show here: {what_lower} Or each row rested on fewer than {k} {machines}, and was withheld.</p>"#,
            what_lower = lower_first(what),
            machines = machines_word(k),
        );
    } else {
        let _ = write!(s, r#"<p class="empty">{what}</p>"#);
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_lowercase().chain(c).collect())
        .unwrap_or_default()
}

/// "machine" or "machines" after a count.
fn machines_word(n: usize) -> &'static str {
    if n == 1 { "machine" } else { "machines" }
}

fn headline(s: &mut String, r: &Report, prev: Option<&Report>, days: usize) {
    let now = Totals::of(r);
    let before = prev.map(Totals::of);
    let _ = write!(
        s,
        r#"<section id="headline" class="cards" aria-label="Headline numbers">"#
    );
    let card = |s: &mut String,
                title: &str,
                value: String,
                sub: String,
                delta: Option<(String, &str, String)>| {
        let _ = write!(
            s,
            r#"<div class="card"><h3>{title}</h3><p class="big">{value}</p><p class="sub">{sub}</p>"#
        );
        match delta {
            Some((text, class, was)) => {
                let _ = write!(
                    s,
                    r#"<p class="delta {class}">{text} <span>vs previous {days} days ({was})</span></p>"#
                );
            }
            None => s.push_str(r#"<p class="delta flat">no earlier data to compare with</p>"#),
        }
        s.push_str("</div>");
    };
    let d = |n: u64, b: Option<u64>, better| {
        b.map(|b| {
            let (t, c) = change_count(n, b, better);
            (t, c, count(b))
        })
    };
    card(
        s,
        "Active machines",
        count(now.machines),
        format!("{} in CI", count(now.ci)),
        d(
            now.machines,
            before.as_ref().map(|b| b.machines),
            Better::Up,
        ),
    );
    card(
        s,
        "Commands run",
        count(now.runs),
        format!("{} commands", r.commands.len()),
        d(now.runs, before.as_ref().map(|b| b.runs), Better::Up),
    );
    card(
        s,
        "MCP tool calls",
        count(now.calls),
        format!(
            "{} ended in an error",
            pct(share(now.call_errors, now.calls))
        ),
        d(now.calls, before.as_ref().map(|b| b.calls), Better::Up),
    );
    let rate = share(now.failed, now.runs);
    card(
        s,
        "Command failure rate",
        pct(rate),
        format!(
            "{} failed runs; usage errors {}",
            count(now.failed),
            pct(share(now.usage_errors, now.runs))
        ),
        before.as_ref().map(|b| {
            let was = share(b.failed, b.runs);
            let (t, c) = change_rate(rate, was, Better::Down);
            (t, c, pct(was))
        }),
    );
    s.push_str("</section>");
}

/// Day labels for an axis: every day of a short window, weekly otherwise.
fn day_label(d: Date, i: usize, n: usize) -> String {
    let every = if n <= 16 {
        1
    } else {
        n.div_ceil(10).div_ceil(7) * 7
    };
    if i.is_multiple_of(every) {
        format!("{} {}", d.month_abbrev(), d.day())
    } else {
        String::new()
    }
}

fn per_day(r: &Report, first: Date, n: usize) -> Vec<Option<usize>> {
    let by_day: HashMap<&str, usize> = r
        .days
        .iter()
        .map(|d| (d.day.as_str(), d.machines))
        .collect();
    (0..n)
        .map(|i| {
            let d = first + (i as i64);
            by_day
                .get(tally_telemetry::schema::format_day(d).as_str())
                .copied()
        })
        .collect()
}

fn daily(s: &mut String, r: &Report, prev: Option<&Report>) {
    section_open(
        s,
        "daily",
        "Active machines per day",
        "Bars: distinct machines that reported each day. Dashed line: the same day of the previous period.",
    );
    let shown = r.days.iter().any(|d| d.day != "other");
    match days_between(&r.since, &r.until).filter(|_| shown) {
        None => empty(s, r, "No activity in this period."),
        Some((first, n)) => {
            // A window of years would draw hair-thin bars: the last year is plenty.
            let keep = n.min(366);
            let first = first + ((n - keep) as i64);
            let cur = per_day(r, first, keep);
            let before = prev
                .and_then(|p| days_between(&p.since, &p.until))
                .zip(prev)
                .map(|((pf, pn), p)| per_day(p, pf + ((pn.saturating_sub(keep)) as i64), keep))
                .unwrap_or_default();
            let labels: Vec<String> = (0..keep)
                .map(|i| day_label(first + (i as i64), i, keep))
                .collect();
            s.push_str(&chart::daily(&cur, &before, &labels));
            if let Some(o) = r.days.iter().find(|d| d.day == "other") {
                let _ = write!(
                    s,
                    r#"<p class="note">Days with fewer than {} machines are not drawn; together they had {} machines.</p>"#,
                    r.min_machines,
                    count(o.machines as u64)
                );
            }
        }
    }
    s.push_str("</section>");
}

/// `<td>` for a name from the store; `other` (folded rows) in italics.
fn name_cell(name: &str) -> String {
    if name == "other" {
        r#"<td class="name"><i title="rows backed by too few machines, folded together">other</i></td>"#.to_owned()
    } else {
        format!(r#"<td class="name">{}</td>"#, esc(name))
    }
}

fn num_cell(text: &str) -> String {
    format!(r#"<td class="num">{}</td>"#, esc(text))
}

fn delta_cell(d: Option<(String, &'static str)>) -> String {
    match d {
        Some((t, c)) => format!(r#"<td class="num delta {c}">{t}</td>"#),
        None => r#"<td class="num delta flat">–</td>"#.to_owned(),
    }
}

fn table_open(s: &mut String, heads: &[(&str, bool)]) {
    s.push_str("<table><thead><tr>");
    for (h, num) in heads {
        let _ = write!(
            s,
            "<th{}>{h}</th>",
            if *num { r#" class="num""# } else { "" }
        );
    }
    s.push_str("</tr></thead><tbody>");
}

fn distributions(s: &mut String, r: &Report) {
    section_open(
        s,
        "time",
        "How long it takes",
        "Share of command runs and of MCP tool calls per time bucket, over every row shown above.",
    );
    s.push_str(r#"<div class="pair">"#);
    let sum = |rows: &mut dyn Iterator<Item = &[u64]>| {
        let mut t = [0u64; tally_telemetry::schema::LATENCY_BUCKETS];
        for row in rows {
            for (a, b) in t.iter_mut().zip(row) {
                *a = a.saturating_add(*b);
            }
        }
        t
    };
    let durations = sum(&mut r.commands.iter().map(|c| &c.duration[..]));
    let latency = sum(&mut r.tools.iter().map(|t| &t.latency[..]));
    for (title, counts, labels, colour, none) in [
        (
            "Command duration",
            durations,
            &r.duration_buckets,
            BLUE,
            "No command reported its duration in this period.",
        ),
        (
            "MCP tool latency",
            latency,
            &r.latency_buckets,
            SKY,
            "No MCP tool call latency in this period.",
        ),
    ] {
        let total: u64 = counts.iter().fold(0, |a, n| a.saturating_add(*n));
        let _ = write!(
            s,
            r#"<div><h3>{title} <span class="sub">{} timed</span></h3>"#,
            count(total)
        );
        if total == 0 {
            empty(s, r, none);
        } else {
            s.push_str(&chart::histogram(&counts, labels, colour, title));
        }
        s.push_str("</div>");
    }
    s.push_str("</div></section>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{
        ClientRow, Dropped, FactRow, LifecycleRow, PlatformRow, ToolRow, ValueRow, VersionRow,
    };

    fn report(name: &str, commands: usize, machines: usize) -> Report {
        let labels = || (0..7).map(|i| format!("b{i}")).collect::<Vec<_>>();
        Report {
            since: "2026-11-01".into(),
            until: "2026-11-30".into(),
            app: Some(name.into()),
            min_machines: 5,
            machines,
            ci_machines: 0,
            days: vec![],
            commands: (0..commands)
                .map(|i| CommandRow {
                    app: None,
                    command: format!("{name}{i}"),
                    count: 10,
                    outcomes: [("success".to_owned(), 10)].into(),
                    failure_rate: 0.0,
                    usage_error_rate: 0.0,
                    duration: [10, 0, 0, 0, 0, 0, 0],
                    machines,
                })
                .collect(),
            duration_buckets: labels(),
            values: vec![ValueRow {
                app: None,
                command: format!("{name}0"),
                value: name.into(),
                count: 5,
                machines,
            }],
            tools: vec![ToolRow {
                app: None,
                tool: name.into(),
                calls: 1,
                outcomes: [("ok".to_owned(), 1)].into(),
                success_rate: 1.0,
                tool_error_rate: 0.0,
                protocol_error_rate: 0.0,
                error_classes: [(name.to_owned(), 1)].into(),
                latency: [1, 0, 0, 0, 0, 0, 0],
                machines,
            }],
            latency_buckets: labels(),
            clients: vec![ClientRow {
                client: name.into(),
                major: None,
                sessions: 1,
                machines,
            }],
            versions: vec![VersionRow {
                app: name.into(),
                version: name.into(),
                machines,
            }],
            platforms: vec![PlatformRow {
                os: name.into(),
                arch: name.into(),
                machines,
            }],
            lifecycle: vec![LifecycleRow {
                kind: name.into(),
                count: 1,
                machines,
            }],
            facts: vec![FactRow {
                fact: name.into(),
                value: name.into(),
                machines,
            }],
            dropped: Dropped::default(),
            withheld_rows: 0,
        }
    }

    #[test]
    fn every_string_field_of_the_report_is_escaped() {
        let evil = r#"<b id="x">'&"#;
        let mut r = report(evil, 1, 5);
        r.since = evil.into();
        r.until = evil.into();
        r.duration_buckets = vec![evil.into(); 7];
        r.latency_buckets = vec![evil.into(); 7];
        let page = page(&r, Some(&r.clone()));
        assert!(!page.contains("<b id"), "raw markup in the page");
        // Every field carries it, so it shows up escaped many times.
        assert!(page.matches("&lt;b id=&quot;x&quot;&gt;&#39;&amp;").count() > 10);
    }

    #[test]
    fn an_empty_previous_period_compares_with_nothing_and_long_tables_are_cut() {
        let r = report("cmd", 60, 7);
        let page = page(&r, Some(&report("x", 0, 0)));
        assert!(page.contains("no data from 2026-11-01 to 2026-11-30 to compare with"));
        assert!(page.contains("no earlier data to compare with"));
        assert!(!page.contains(">new<"), "no row is new against no data");
        assert!(page.contains("10 less used rows not shown (100 runs)"));
        assert!(page.contains(">cmd49<") && !page.contains(">cmd50<"));
    }
}
