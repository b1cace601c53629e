//! What is used and what fails: commands and MCP tools ranked by use,
//! each with its outcome bar, failure rate and the change against the
//! previous period, then the commands failing most often.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::chart::{self, COMMAND_FILLS, Fill, TOOL_FILLS};
use super::fmt::{Better, change_count, change_rate, count, esc, pct, quantile_label};
use super::{delta_cell, empty, name_cell, num_cell, section_open, table_open};
use crate::report::{CommandRow, Report, ToolRow};

/// Rows shown per table: a page to read, not a dump (the JSON has all).
const MAX_ROWS: usize = 50;

/// Says how many rows past [`MAX_ROWS`] were left out and what they add up to.
fn more_rows(s: &mut String, left: usize, total: u64, unit: &str) {
    if left > 0 {
        let _ = write!(
            s,
            r#"<p class="note">{left} less used rows not shown ({} {unit}); <code>tally report --json</code> lists them all.</p>"#,
            count(total)
        );
    }
}

pub(super) fn commands(s: &mut String, r: &Report, prev: Option<&Report>) {
    section_open(
        s,
        "commands",
        "Commands",
        "Most run first. The bar shows how runs ended; changes are against the previous period.",
    );
    if r.commands.is_empty() {
        empty(s, r, "No commands were run in this period.");
        s.push_str("</section>");
        return;
    }
    s.push_str(&chart::legend(&COMMAND_FILLS));
    let key = |c: &'_ CommandRow| (c.app.clone(), c.command.clone());
    let before: HashMap<(Option<String>, String), &CommandRow> = prev
        .map(|p| p.commands.iter().map(|c| (key(c), c)).collect())
        .unwrap_or_default();
    let has_prev = prev.is_some();
    // More than one application in the window: each row says whose.
    let by_app = r.commands.iter().any(|c| c.app.is_some());
    let app_cell = |c: &CommandRow| {
        if by_app {
            name_cell(c.app.as_deref().unwrap_or("other"))
        } else {
            String::new()
        }
    };
    let app_col: &[(&str, bool)] = if by_app { &[("app", false)] } else { &[] };
    table_open(
        s,
        &[
            app_col,
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
        ]
        .concat(),
    );
    for c in r.commands.iter().take(MAX_ROWS) {
        let parts: Vec<(u64, Fill)> = COMMAND_FILLS
            .iter()
            .map(|(o, f)| (c.outcomes.get(*o).copied().unwrap_or(0), *f))
            .collect();
        let b = before.get(&key(c));
        let runs_delta =
            has_prev.then(|| change_count(c.count, b.map_or(0, |b| b.count), Better::Neither));
        let fail_delta = b.map(|b| change_rate(c.failure_rate, b.failure_rate, Better::Down));
        s.push_str("<tr>");
        s.push_str(&app_cell(c));
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
    more_rows(
        s,
        r.commands.len().saturating_sub(MAX_ROWS),
        r.commands.iter().skip(MAX_ROWS).map(|c| c.count).sum(),
        "runs",
    );
    values(s, r, by_app);

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
        empty(s, r, "No command failed in this period.");
    } else {
        let worst = failing.first().map_or(0.0, |c| c.failure_rate);
        table_open(
            s,
            &[
                app_col,
                &[
                    ("command", false),
                    ("failed", true),
                    ("", false),
                    ("failures", true),
                    ("runs", true),
                ],
            ]
            .concat(),
        );
        for c in failing.iter().take(10) {
            let failures = c.outcomes.get("failure").copied().unwrap_or(0);
            s.push_str("<tr>");
            s.push_str(&app_cell(c));
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

pub(super) fn tools(s: &mut String, r: &Report, prev: Option<&Report>) {
    section_open(
        s,
        "tools",
        "MCP tools",
        "Most called first. The bar shows how calls ended; changes are against the previous period.",
    );
    if r.tools.is_empty() {
        empty(s, r, "No MCP tool calls in this period.");
        s.push_str("</section>");
        return;
    }
    s.push_str(&chart::legend(&TOOL_FILLS));
    let key = |t: &'_ ToolRow| (t.app.clone(), t.tool.clone());
    let before: HashMap<(Option<String>, String), &ToolRow> = prev
        .map(|p| p.tools.iter().map(|t| (key(t), t)).collect())
        .unwrap_or_default();
    let has_prev = prev.is_some();
    // More than one application in the window: each row says whose.
    let by_app = r.tools.iter().any(|t| t.app.is_some());
    let app_col: &[(&str, bool)] = if by_app { &[("app", false)] } else { &[] };
    table_open(
        s,
        &[
            app_col,
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
        ]
        .concat(),
    );
    for t in r.tools.iter().take(MAX_ROWS) {
        let parts: Vec<(u64, Fill)> = TOOL_FILLS
            .iter()
            .map(|(o, f)| (t.outcomes.get(*o).copied().unwrap_or(0), *f))
            .collect();
        let err = 1.0 - t.success_rate;
        let b = before.get(&key(t));
        s.push_str("<tr>");
        if by_app {
            s.push_str(&name_cell(t.app.as_deref().unwrap_or("other")));
        }
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
    more_rows(
        s,
        r.tools.len().saturating_sub(MAX_ROWS),
        r.tools.iter().skip(MAX_ROWS).map(|t| t.calls).sum(),
        "calls",
    );
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

/// Commands split by the value of the argument their host records
/// (`Builder::record_value`): shown only when some command has one.
fn values(s: &mut String, r: &Report, by_app: bool) {
    if r.values.is_empty() {
        return;
    }
    s.push_str("<h3>By value</h3>");
    let _ = write!(
        s,
        r#"<p class="note">For commands whose author records one argument's value, one of a fixed set; values behind fewer than {} machines are folded into <i>other</i>.</p>"#,
        r.min_machines
    );
    let app_col: &[(&str, bool)] = if by_app { &[("app", false)] } else { &[] };
    table_open(
        s,
        &[
            app_col,
            &[
                ("command", false),
                ("value", false),
                ("runs", true),
                ("share of the command's runs", true),
                ("machines", true),
            ],
        ]
        .concat(),
    );
    for v in r.values.iter().take(MAX_ROWS) {
        let of = r
            .commands
            .iter()
            .find(|c| c.command == v.command && c.app == v.app)
            .map_or(0, |c| c.count);
        let share = if of == 0 {
            0.0
        } else {
            v.count as f64 / of as f64
        };
        s.push_str("<tr>");
        if by_app {
            s.push_str(&name_cell(v.app.as_deref().unwrap_or("other")));
        }
        s.push_str(&name_cell(&v.command));
        s.push_str(&name_cell(&v.value));
        s.push_str(&num_cell(&count(v.count)));
        s.push_str(&num_cell(&pct(share)));
        s.push_str(&num_cell(&count(v.machines as u64)));
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
    more_rows(
        s,
        r.values.len().saturating_sub(MAX_ROWS),
        r.values.iter().skip(MAX_ROWS).map(|v| v.count).sum(),
        "runs",
    );
}
