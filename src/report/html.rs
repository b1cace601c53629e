//! The report as one self-contained HTML page (`tally report --html FILE`):
//! inline CSS and SVG, no script, no font or image fetched, so it reads the
//! same offline, attached to an email, or printed. A Content-Security-Policy
//! in the page forbids scripts and every fetch outright, as a second wall
//! behind the escaping of every store string (see [`fmt::esc`]).
//!
//! It is drawn from the same [`Report`] as the text and the JSON, so it
//! hides exactly what they hide (k-anonymity), plus optionally the report
//! of the previous period of equal length, for the changes. Sections come
//! in the order people look: the headline numbers, activity over time,
//! what is used and what fails, how long it takes, who calls, what runs
//! where, and what was lost on the way. An empty section says so.

mod chart;
mod fmt;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, Write};

use time::Date;

use crate::os::clock::parse_day;
use crate::report::{CommandRow, Report, ToolRow};
use chart::{BLUE, COMMAND_FILLS, Fill, SKY, TOOL_FILLS};
use fmt::{Better, change_count, change_rate, count, esc, pct, quantile_label, share};

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
    let n = (u - s).whole_days() + 1;
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
    if let Some(p) = prev {
        let _ = write!(s, ", compared with {} to {}", esc(&p.since), esc(&p.until));
    }
    let _ = write!(
        s,
        r#"</p><p class="kanon">Every row rests on at least <b>{k}</b> distinct machines; rarer rows are folded into <i>other</i>.</p></header><main>"#,
        k = r.min_machines
    );
    headline(&mut s, r, prev, period_days);
    daily(&mut s, r, prev);
    commands(&mut s, r, prev);
    tools(&mut s, r, prev);
    distributions(&mut s, r);
    clients(&mut s, r);
    versions_and_platforms(&mut s, r);
    lifecycle_and_facts(&mut s, r);
    dropped(&mut s, r);
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

fn empty(s: &mut String, what: &str) {
    let _ = write!(s, r#"<p class="empty">{what}</p>"#);
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
            None => s.push_str(r#"<p class="delta flat">no earlier period</p>"#),
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
        let month = d.month().to_string();
        format!("{} {}", &month[..3], d.day())
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
            let d = first + time::Duration::days(i as i64);
            by_day
                .get(crate::os::clock::format_day(d).as_str())
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
        None => empty(s, "No activity in this period."),
        Some((first, n)) => {
            // A window of years would draw hair-thin bars: the last year is plenty.
            let keep = n.min(366);
            let first = first + time::Duration::days((n - keep) as i64);
            let cur = per_day(r, first, keep);
            let before = prev
                .and_then(|p| days_between(&p.since, &p.until))
                .zip(prev)
                .map(|((pf, pn), p)| {
                    per_day(
                        p,
                        pf + time::Duration::days((pn.saturating_sub(keep)) as i64),
                        keep,
                    )
                })
                .unwrap_or_default();
            let labels: Vec<String> = (0..keep)
                .map(|i| day_label(first + time::Duration::days(i as i64), i, keep))
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

fn commands(s: &mut String, r: &Report, prev: Option<&Report>) {
    section_open(
        s,
        "commands",
        "Commands",
        "Most run first. The bar shows how runs ended; changes are against the previous period.",
    );
    if r.commands.is_empty() {
        empty(s, "No commands were run in this period.");
        s.push_str("</section>");
        return;
    }
    s.push_str(&chart::legend(&COMMAND_FILLS));
    let before: HashMap<&str, &CommandRow> = prev
        .map(|p| p.commands.iter().map(|c| (c.command.as_str(), c)).collect())
        .unwrap_or_default();
    let has_prev = prev.is_some();
    table_open(
        s,
        &[
            ("command", false),
            ("runs", true),
            ("change", true),
            ("outcomes", false),
            ("failed", true),
            ("change", true),
            ("usage errors", true),
            ("median / p90 time", true),
            ("machines", true),
        ],
    );
    for c in &r.commands {
        let parts: Vec<(u64, Fill)> = COMMAND_FILLS
            .iter()
            .map(|(o, f)| (c.outcomes.get(*o).copied().unwrap_or(0), *f))
            .collect();
        let b = before.get(c.command.as_str());
        let runs_delta =
            has_prev.then(|| change_count(c.count, b.map_or(0, |b| b.count), Better::Neither));
        let fail_delta = b.map(|b| change_rate(c.failure_rate, b.failure_rate, Better::Down));
        s.push_str("<tr>");
        s.push_str(&name_cell(&c.command));
        s.push_str(&num_cell(&count(c.count)));
        s.push_str(&delta_cell(runs_delta));
        let _ = write!(s, r#"<td class="bar">{}</td>"#, chart::stacked(&parts));
        s.push_str(&num_cell(&pct(c.failure_rate)));
        s.push_str(&delta_cell(fail_delta));
        s.push_str(&num_cell(&pct(c.usage_error_rate)));
        s.push_str(&num_cell(&quantiles(&c.duration, &r.duration_buckets)));
        s.push_str(&num_cell(&count(c.machines as u64)));
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");

    // The question tool authors ask most: which commands fail.
    let mut failing: Vec<&CommandRow> = r
        .commands
        .iter()
        .filter(|c| c.outcomes.get("failure").copied().unwrap_or(0) > 0)
        .collect();
    failing.sort_by(|a, b| {
        b.failure_rate
            .total_cmp(&a.failure_rate)
            .then(b.count.cmp(&a.count))
            .then(a.command.cmp(&b.command))
    });
    s.push_str("<h3>Failing most often</h3>");
    if failing.is_empty() {
        empty(s, "No command failed in this period.");
    } else {
        let worst = failing.first().map_or(0.0, |c| c.failure_rate);
        table_open(
            s,
            &[
                ("command", false),
                ("failed", true),
                ("", false),
                ("failures", true),
                ("runs", true),
            ],
        );
        for c in failing.iter().take(10) {
            let failures = c.outcomes.get("failure").copied().unwrap_or(0);
            s.push_str("<tr>");
            s.push_str(&name_cell(&c.command));
            s.push_str(&num_cell(&pct(c.failure_rate)));
            let _ = write!(
                s,
                r#"<td class="bar">{}</td>"#,
                chart::hbar(
                    (c.failure_rate * 10_000.0) as u64,
                    (worst * 10_000.0) as u64,
                    "url(#p-fail)"
                )
            );
            s.push_str(&num_cell(&count(failures)));
            s.push_str(&num_cell(&count(c.count)));
            s.push_str("</tr>");
        }
        s.push_str("</tbody></table>");
    }
    s.push_str("</section>");
}

fn quantiles(counts: &[u64], labels: &[String]) -> String {
    match (
        quantile_label(counts, labels, 0.5),
        quantile_label(counts, labels, 0.9),
    ) {
        (Some(m), Some(p)) => format!("{m} / {p}"),
        _ => "–".to_owned(),
    }
}

fn tools(s: &mut String, r: &Report, prev: Option<&Report>) {
    section_open(
        s,
        "tools",
        "MCP tools",
        "Most called first. The bar shows how calls ended; changes are against the previous period.",
    );
    if r.tools.is_empty() {
        empty(s, "No MCP tool calls in this period.");
        s.push_str("</section>");
        return;
    }
    s.push_str(&chart::legend(&TOOL_FILLS));
    let before: HashMap<&str, &ToolRow> = prev
        .map(|p| p.tools.iter().map(|t| (t.tool.as_str(), t)).collect())
        .unwrap_or_default();
    let has_prev = prev.is_some();
    table_open(
        s,
        &[
            ("tool", false),
            ("calls", true),
            ("change", true),
            ("outcomes", false),
            ("errors", true),
            ("change", true),
            ("median / p90 latency", true),
            ("machines", true),
        ],
    );
    for t in &r.tools {
        let parts: Vec<(u64, Fill)> = TOOL_FILLS
            .iter()
            .map(|(o, f)| (t.outcomes.get(*o).copied().unwrap_or(0), *f))
            .collect();
        let err = 1.0 - t.success_rate;
        let b = before.get(t.tool.as_str());
        s.push_str("<tr>");
        s.push_str(&name_cell(&t.tool));
        s.push_str(&num_cell(&count(t.calls)));
        s.push_str(&delta_cell(has_prev.then(|| {
            change_count(t.calls, b.map_or(0, |b| b.calls), Better::Neither)
        })));
        let _ = write!(s, r#"<td class="bar">{}</td>"#, chart::stacked(&parts));
        s.push_str(&num_cell(&pct(if t.calls == 0 { 0.0 } else { err })));
        s.push_str(&delta_cell(
            b.map(|b| change_rate(err, 1.0 - b.success_rate, Better::Down)),
        ));
        s.push_str(&num_cell(&quantiles(&t.latency, &r.latency_buckets)));
        s.push_str(&num_cell(&count(t.machines as u64)));
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
    let mut classes: Vec<(&str, u64)> = Vec::new();
    for t in &r.tools {
        for (c, n) in &t.error_classes {
            match classes.iter_mut().find(|(k, _)| k == c) {
                Some((_, m)) => *m += n,
                None => classes.push((c, *n)),
            }
        }
    }
    if !classes.is_empty() {
        classes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let list: Vec<String> = classes
            .iter()
            .map(|(c, n)| format!("{} {}", esc(c), count(*n)))
            .collect();
        let _ = write!(
            s,
            r#"<p class="note">Protocol errors by kind: {}.</p>"#,
            list.join(", ")
        );
    }
    s.push_str("</section>");
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
        let mut t = [0u64; crate::schema::LATENCY_BUCKETS];
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
            empty(s, none);
        } else {
            s.push_str(&chart::histogram(&counts, labels, colour, title));
        }
        s.push_str("</div>");
    }
    s.push_str("</div></section>");
}

/// A table of `(cells, machines-or-count for the bar)` rows, with a bar
/// column scaled to the largest.
fn bar_table(s: &mut String, heads: &[(&str, bool)], rows: Vec<(Vec<String>, u64)>) {
    let max = rows.iter().map(|(_, n)| *n).max().unwrap_or(0);
    table_open(s, heads);
    for (cells, n) in rows {
        s.push_str("<tr>");
        for c in cells {
            s.push_str(&c);
        }
        let _ = write!(s, r#"<td class="bar">{}</td>"#, chart::hbar(n, max, BLUE));
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
}

fn clients(s: &mut String, r: &Report) {
    section_open(
        s,
        "clients",
        "MCP clients",
        "Sessions per client and major version.",
    );
    if r.clients.is_empty() {
        empty(s, "No MCP sessions in this period.");
    } else {
        let rows = r
            .clients
            .iter()
            .map(|c| {
                let major = c.major.map_or_else(|| "–".to_owned(), |m| m.to_string());
                (
                    vec![
                        name_cell(&c.client),
                        num_cell(&major),
                        num_cell(&count(c.sessions)),
                        num_cell(&count(c.machines as u64)),
                    ],
                    c.sessions,
                )
            })
            .collect();
        bar_table(
            s,
            &[
                ("client", false),
                ("major", true),
                ("sessions", true),
                ("machines", true),
                ("", false),
            ],
            rows,
        );
    }
    s.push_str("</section>");
}

fn versions_and_platforms(s: &mut String, r: &Report) {
    s.push_str(r#"<div class="pair">"#);
    section_open(s, "versions", "App versions", "Machines per version.");
    if r.versions.is_empty() {
        empty(s, "No machines reported in this period.");
    } else {
        let rows = r
            .versions
            .iter()
            .map(|v| {
                (
                    vec![
                        name_cell(&v.app),
                        name_cell(&v.version),
                        num_cell(&count(v.machines as u64)),
                    ],
                    v.machines as u64,
                )
            })
            .collect();
        bar_table(
            s,
            &[
                ("app", false),
                ("version", false),
                ("machines", true),
                ("", false),
            ],
            rows,
        );
    }
    s.push_str("</section>");
    section_open(
        s,
        "platforms",
        "OS and architecture",
        "Machines per platform.",
    );
    if r.platforms.is_empty() {
        empty(s, "No machines reported in this period.");
    } else {
        let rows = r
            .platforms
            .iter()
            .map(|p| {
                (
                    vec![
                        name_cell(&p.os),
                        name_cell(&p.arch),
                        num_cell(&count(p.machines as u64)),
                    ],
                    p.machines as u64,
                )
            })
            .collect();
        bar_table(
            s,
            &[
                ("os", false),
                ("arch", false),
                ("machines", true),
                ("", false),
            ],
            rows,
        );
    }
    s.push_str("</section></div>");
}

fn lifecycle_and_facts(s: &mut String, r: &Report) {
    s.push_str(r#"<div class="pair">"#);
    section_open(
        s,
        "lifecycle",
        "Lifecycle events",
        "Installs, upgrades and uninstalls.",
    );
    if r.lifecycle.is_empty() {
        empty(s, "No installs, upgrades or uninstalls in this period.");
    } else {
        let rows = r
            .lifecycle
            .iter()
            .map(|l| {
                (
                    vec![
                        name_cell(&l.kind),
                        num_cell(&count(l.count)),
                        num_cell(&count(l.machines as u64)),
                    ],
                    l.count,
                )
            })
            .collect();
        bar_table(
            s,
            &[
                ("event", false),
                ("count", true),
                ("machines", true),
                ("", false),
            ],
            rows,
        );
    }
    s.push_str("</section>");
    section_open(
        s,
        "facts",
        "Deployment facts",
        "What deployments reported about themselves.",
    );
    if r.facts.is_empty() {
        empty(s, "No deployment facts in this period.");
    } else {
        let rows = r
            .facts
            .iter()
            .map(|f| {
                (
                    vec![
                        name_cell(&f.fact),
                        name_cell(&f.value),
                        num_cell(&count(f.machines as u64)),
                    ],
                    f.machines as u64,
                )
            })
            .collect();
        bar_table(
            s,
            &[
                ("fact", false),
                ("value", false),
                ("machines", true),
                ("", false),
            ],
            rows,
        );
    }
    s.push_str("</section></div>");
}

fn dropped(s: &mut String, r: &Report) {
    section_open(
        s,
        "dropped",
        "What was dropped, and why",
        "Data that never reached the tables above: lost on the way, refused by the schema, or held back for privacy.",
    );
    let d = &r.dropped;
    let rows = [
        (
            d.client_reported,
            "rows lost on clients",
            "spool full or unreadable; clients report how many",
        ),
        (
            d.unknown_events,
            "unknown events",
            "event types the schema does not define, removed by the server",
        ),
        (
            d.unknown_fields,
            "unknown fields",
            "fields the schema does not define, removed by the server",
        ),
        (
            d.invalid_values,
            "values outside the schema",
            "names or values of the wrong shape, removed by the server",
        ),
        (
            d.out_of_window,
            "days outside the window",
            "events for days too old or in the future",
        ),
    ];
    if rows.iter().all(|(n, _, _)| *n == 0) {
        empty(s, "Nothing was dropped in this period.");
    } else {
        table_open(s, &[("what", false), ("count", true), ("why", false)]);
        for (n, what, why) in rows.iter().filter(|(n, _, _)| *n > 0) {
            let _ = write!(
                s,
                r#"<tr><td class="name">{what}</td>{}<td class="why">{why}</td></tr>"#,
                num_cell(&count(*n))
            );
        }
        s.push_str("</tbody></table>");
    }
    if r.withheld_rows > 0 {
        let _ = write!(
            s,
            r#"<p class="note">Withheld for privacy: {} row(s) backed by fewer than {} machines even when folded into <i>other</i>.</p>"#,
            r.withheld_rows, r.min_machines
        );
    } else {
        let _ = write!(
            s,
            r#"<p class="note">No row was withheld for privacy (k = {}).</p>"#,
            r.min_machines
        );
    }
    s.push_str("</section>");
}
